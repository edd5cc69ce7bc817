"""A minimal PNG writer for grey images, so core needs no imaging library."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_gray_png(image: np.ndarray) -> bytes:
    """8-bit greyscale PNG bytes of a (height, width) uint8 array."""
    image = np.ascontiguousarray(image, np.uint8)
    height, width = image.shape
    raw = np.zeros((height, width + 1), np.uint8)  # filter byte 0 on every row
    raw[:, 1:] = image
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + _chunk(b"IEND", b""))


def save_gray_png(path: str | Path, image: np.ndarray, low: float, high: float,
                  scale: int = 1) -> None:
    """Map [low, high] to 0..255, enlarge by ``scale`` (nearest) and write a PNG.

    Written atomically: on failure the previous file is unchanged and a SaveError (an
    OSError) names the file and the reason.
    """
    values = (np.clip((np.asarray(image, np.float64) - low) / (high - low), 0, 1) * 255).round()
    pixels = values.astype(np.uint8)
    if scale > 1:
        pixels = np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)
    data = encode_gray_png(pixels)
    from core.files import atomic_write

    # Atomic: a full disk midway leaves the previous PNG as it was (SaveError says so).
    atomic_write(Path(path), lambda file: file.write(data))
