"""The user's own images: a folder of PNG/JPEG files or a .npy/.npz array.

Both end as float32 (n, h, w) in [0, 1], checked as a whole before anything is returned
(nothing half-loaded).  Every refusal is a DataError whose message names the file or
folder, what is wrong and what is allowed, so the GUI and the CLI can show it as it is.
"""

from __future__ import annotations

import functools
import math
import os
import re
import struct
import warnings
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["IMAGE_EXTENSIONS", "MAX_SIDE", "MIN_SIDE", "DataError", "LoadReport",
           "load_array_file", "load_image_folder"]

#: File name endings read as images (case-insensitive); every other file is ignored.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
#: Smallest and largest image side accepted: a 1-pixel image has nothing to learn and a
#: side over 512 makes an input layer no live autoencoder trains at interactive speed.
MIN_SIDE, MAX_SIDE = 2, 512
ARRAY_KEYS = ("images", "x")


class DataError(ValueError):
    """Unusable data; ``str(error)`` is one line naming the file, the problem, what is allowed."""


@dataclass(frozen=True)
class LoadReport:
    """How a folder load went: images loaded, and each unreadable file skipped with why."""

    loaded: int
    skipped: list[tuple[str, str]] = field(default_factory=list)


# ---------------------------------------------------------------------------- image folders


def load_image_folder(folder: Path, image_size: int | None = None
                      ) -> tuple[np.ndarray, LoadReport]:
    """Every PNG/JPEG in ``folder`` (not its subfolders) as grayscale float32 in [0, 1].

    With ``image_size`` each image is resized with antialiasing so its shorter side is
    ``image_size``, then centre-cropped to a square: no distortion, the centre kept.
    Without it all images must share one size.  Unreadable files are skipped and listed
    in the report; files with other extensions are ignored.
    """
    folder = Path(folder)
    if image_size is not None:
        _check_image_size(image_size)
    paths = _image_paths(folder)
    _quiet_decoder_notice()
    kept, sizes, skipped = _decode_all(paths, image_size)
    if not sizes:
        examples = "; ".join(f"{name}: {reason}" for name, reason in skipped[:3])
        raise DataError(f"{folder}: none of the {len(paths)} PNG/JPEG files could be read "
                        f"({examples})")
    if image_size is None:
        _check_one_size(folder, sizes)
    images = np.empty((len(kept), *kept[0].shape), np.float32)
    for index, image in enumerate(kept):
        images[index] = image.numpy()
    np.clip(images, 0.0, 1.0, out=images)
    return images, LoadReport(len(images), skipped)


def _check_image_size(image_size: int) -> None:
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or not (
            MIN_SIDE <= image_size <= MAX_SIDE):
        raise DataError(f"image_size = {image_size!r} is not allowed: an integer from "
                        f"{MIN_SIDE} to {MAX_SIDE}")


def _image_paths(folder: Path) -> list[Path]:
    """The image files, sorted by name so the order is the same on every machine."""
    if not _exists(folder):
        raise DataError(f"{folder}: folder does not exist")
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder (give a folder of PNG/JPEG images, "
                        f"or a .npy/.npz file as an array)")
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except PermissionError:
        raise DataError(f"{folder}: permission denied (the folder cannot be read)") from None
    except OSError as error:
        raise DataError(f"{folder}: cannot be read ({error.strerror or error})") from None
    files = [Path(entry.path) for entry in entries if _is_file(entry)]
    images = [path for path in files if path.suffix.lower() in IMAGE_EXTENSIONS]
    if not images:
        others = f"; {len(files)} other file(s) ignored" if files else ""
        raise DataError(f"{folder}: no PNG or JPEG images (accepted extensions: "
                        f"{', '.join(IMAGE_EXTENSIONS)}, any case{others})")
    return images


def _is_file(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def _decode_all(paths: list[Path], image_size: int | None
                ) -> tuple[list, Counter, list[tuple[str, str]]]:
    """The images to keep as float (h, w) tensors, every size seen, and the files skipped.

    Each image is resized as soon as it is decoded, and one too large to keep is only
    counted, so a folder of big photos never sits in memory at full size.
    """
    kept = []
    sizes: Counter = Counter()
    skipped: list[tuple[str, str]] = []
    for path in paths:
        try:
            image = _decode(path)
        except DataError as error:
            skipped.append((path.name, str(error)))
            continue
        height, width = image.shape[-2:]
        sizes[(height, width)] += 1
        if image_size is not None:
            kept.append(_resize_square(_to_unit(image), image_size))
        elif _sides_allowed(height, width):
            kept.append(_to_unit(image)[0])
    return kept, sizes, skipped


def _quiet_decoder_notice() -> None:
    """Silence torchvision 0.29's deprecation notice, which it gives for every image decoded.

    The notice points to TorchCodec, which is not a dependency; until torchvision removes
    its decoders they are the PNG/JPEG reader.  A filter for that one message (added again
    on each load, as test runners reset filters), not catch_warnings: that is not thread-safe.
    """
    warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities "
                            "of TorchVision are deprecated", category=DeprecationWarning)


@functools.cache
def _image_decoder():
    from torchvision.io import ImageReadMode, decode_image

    return functools.partial(decode_image, mode=ImageReadMode.GRAY)


def _decode(path: Path):
    import torch

    try:
        data = path.read_bytes()
    except PermissionError:
        raise DataError("permission denied") from None
    except OSError as error:
        raise DataError(f"cannot be read ({error.strerror or error})") from None
    if not data:
        raise DataError("empty file")
    problem = png_problem(data)
    if problem:
        raise DataError(f"damaged PNG ({problem})")
    try:
        image = _image_decoder()(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    except (RuntimeError, ValueError) as error:
        raise DataError(f"not a readable PNG/JPEG ({_short(error)})") from None
    if image.ndim == 4:  # an animated image: its first frame
        image = image[0]
    return image


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Largest image (in pixels) decoded at all: a damaged or hostile header must not make
#: the decoder allocate gigabytes.  (A 12-megapixel photo is 12,000,000.)
MAX_PIXELS = 100_000_000
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
#: Adam7 interlacing: (first column, first row, column step, row step) of each pass.
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
          (0, 1, 1, 2))


def png_problem(data: bytes) -> str:
    """What is wrong with a PNG's image data, or "" when it is sound (or not a PNG).

    torchvision 0.29's PNG decoder crashes the whole process (a segmentation fault, no
    exception) when libpng finds an error while reading the rows: a CRC error, damaged
    compressed data, a bad row filter, data cut short.  So every chunk's CRC, the
    compressed stream and the row filters are checked here first, in Python.  Errors in
    the header are left to the decoder, which reports them properly.
    """
    if not data.startswith(PNG_SIGNATURE):
        return ""
    position, header, compressed = len(PNG_SIGNATURE), None, []
    while True:
        if position + 12 > len(data):
            return "the file is cut short (no IEND chunk)"
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        end = position + 12 + length
        if end > len(data):
            return f"the file is cut short in its {kind.decode('latin-1')!r} chunk"
        body = data[position + 8:end - 4]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[end - 4:end])[0]:
            return f"CRC error in the {kind.decode('latin-1')!r} chunk"
        if header is None:
            if kind != b"IHDR" or length != 13:
                return ""  # the decoder says what is wrong
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            compressed.append(body)
        elif kind == b"IEND":
            break
        position = end
    width, height, depth, colour, compression, filtering, interlace = header
    if (colour not in _PNG_CHANNELS or depth not in _PNG_DEPTHS[colour] or compression
            or filtering or interlace > 1 or not width or not height):
        return ""  # an invalid header: the decoder refuses it with its own message
    if width * height > MAX_PIXELS:
        return f"{width}x{height} pixels, more than {MAX_PIXELS:,} are not decoded"
    bits = depth * _PNG_CHANNELS[colour]
    passes = [(width, height)] if not interlace else [
        ((width - x + dx - 1) // dx, (height - y + dy - 1) // dy) for x, y, dx, dy in _ADAM7]
    rows = [(1 + (w * bits + 7) // 8, h) for w, h in passes if w and h]
    expected = sum(row_bytes * count for row_bytes, count in rows)
    stream = zlib.decompressobj()
    try:
        raw = stream.decompress(b"".join(compressed), expected + 1)
    except zlib.error as error:
        return f"damaged image data: {error}"
    # Fewer bytes than expected, or exactly enough from a stream that never ended (an
    # output limit not reached means zlib used up all the input): libpng fails on both.
    # More than expected is only a warning to libpng.
    if len(raw) < expected or (len(raw) == expected and not stream.eof):
        return "the image data is cut short"
    offset = 0
    for row_bytes, count in rows:
        filters = raw[offset:offset + row_bytes * count:row_bytes]
        if max(filters) > 4:
            return "a row has an invalid filter type"
        offset += row_bytes * count
    return ""


def _to_unit(image):
    """(1, h, w) uint8 or 16-bit tensor -> float32 in [0, 1]."""
    import torch

    scale = 65535.0 if image.dtype == torch.uint16 else 255.0
    return image.to(torch.float32) / scale


def _short(error: Exception) -> str:
    """The first sentence of an error, without torchvision's "decode_png, /src/x.cpp:62, "."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    text = re.sub(r"^\w+, \S+:\d+, ", "", text)
    return text.split(". ", 1)[0].rstrip(".")


def _check_one_size(folder: Path, sizes: Counter) -> None:
    if len(sizes) > 1:
        listed = ", ".join(f"{w}x{h} ({count} file{'s' * (count > 1)})"
                           for (h, w), count in sizes.most_common())
        raise DataError(f"{folder}: images of {len(sizes)} sizes (width x height): {listed}; "
                        f"choose an image size to resize them all to one square size")
    (height, width), = sizes
    _check_sides(str(folder), height, width, "choose an image size to resize them")


def _resize_square(image, size: int):
    """Shorter side to ``size`` (antialiased), then the centre ``size`` x ``size`` square."""
    import torch.nn.functional as F

    height, width = image.shape[-2:]
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    if (new_h, new_w) != (height, width):
        image = F.interpolate(image[None], size=(new_h, new_w), mode="bilinear",
                              antialias=True, align_corners=False)[0]
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return image[0, top:top + size, left:left + size]


# ---------------------------------------------------------------------------------- arrays


def load_array_file(path: Path) -> np.ndarray:
    """Images from a .npy/.npz file as float32 (n, h, w) in [0, 1], C-contiguous.

    Accepted shapes: (n, h, w), (n, h, w, 1), or (n, d) with d a perfect square.
    Accepted values: uint8 (0..255), other integers in 0..255 (both divided by 255),
    floats in [0, 1], or bool (False/True as 0/1, e.g. binarised MNIST).  Pickled object
    arrays are refused: loading a pickle can run code.
    """
    path = Path(path)
    array = _read_array(path)
    images = _as_images(path, array)
    return np.ascontiguousarray(_as_unit_floats(path, images), dtype=np.float32)


def _exists(path: Path) -> bool:
    """Whether ``path`` exists; a name the system refuses (too long...) is a DataError."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except PermissionError:
        raise DataError(f"{path}: permission denied") from None
    except OSError as error:
        raise DataError(f"{_short_path(path)}: cannot be read ({error.strerror or error})") \
            from None
    except ValueError:  # a NUL character in the name
        raise DataError(f"{_short_path(path)}: not a valid file name") from None
    return True


def _short_path(path: Path) -> str:
    text = str(path)
    return text if len(text) <= 120 else text[:60] + "..." + text[-40:]


def _read_array(path: Path) -> np.ndarray:
    if not _exists(path):
        raise DataError(f"{path}: file does not exist")
    if path.is_dir():
        raise DataError(f"{path}: a folder, not a .npy/.npz file (a folder of images is "
                        f"the 'folder' data set)")
    if path.suffix.lower() not in (".npy", ".npz"):
        raise DataError(f"{path}: not an array file (accepted: .npy, .npz)")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                return loaded[_choose_key(path, loaded.files)]
        return loaded
    except DataError:
        raise
    except PermissionError:
        raise DataError(f"{path}: permission denied") from None
    except ValueError as error:
        if "allow_pickle" in str(error) or "pickle" in str(error).lower():
            raise DataError(f"{path}: holds a pickled object array, which is refused (loading "
                            f"a pickle can run code): save a numeric array") from None
        raise DataError(f"{path}: not a valid .npy/.npz file ({_short(error)})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: not a valid .npy/.npz file ({_short(error)})") from None
    except MemoryError:  # a header that claims more than this machine holds
        raise DataError(f"{path}: the array is too large to load into memory (damaged, or "
                        f"too many images: save fewer)") from None


def _choose_key(path: Path, keys: list[str]) -> str:
    for key in ARRAY_KEYS:
        if key in keys:
            return key
    if len(keys) == 1:
        return keys[0]
    if not keys:
        raise DataError(f"{path}: holds no arrays")
    raise DataError(f"{path}: holds {len(keys)} arrays ({', '.join(keys)}) and none is named "
                    f"{' or '.join(ARRAY_KEYS)}: name the images array 'images'")


def _as_images(path: Path, array: np.ndarray) -> np.ndarray:
    """(n, h, w) view of an accepted shape; a DataError naming the shape otherwise."""
    shape = array.shape
    if array.ndim == 4 and shape[3] == 1:
        array = array[..., 0]
    elif array.ndim == 2 and shape[1] > 0 and math.isqrt(shape[1]) ** 2 == shape[1]:
        side = math.isqrt(shape[1])
        array = array.reshape(shape[0], side, side)
    elif array.ndim != 3:
        raise DataError(f"{path}: shape {shape} is not allowed: (n, h, w), (n, h, w, 1) or "
                        f"(n, d) with d a perfect square such as 784 = 28x28 (colour images "
                        f"must be made grayscale first)")
    if array.shape[0] < 1:
        raise DataError(f"{path}: holds no images (shape {shape})")
    height, width = array.shape[1:]
    _check_sides(str(path), height, width, "resize the images")
    return array


def _sides_allowed(height: int, width: int) -> bool:
    return MIN_SIDE <= height <= MAX_SIDE and MIN_SIDE <= width <= MAX_SIDE


def _check_sides(where: str, height: int, width: int, advice: str) -> None:
    if not _sides_allowed(height, width):
        raise DataError(f"{where}: images of {width}x{height} are not allowed: each side must "
                        f"be from {MIN_SIDE} to {MAX_SIDE} pixels ({advice})")


def _as_unit_floats(path: Path, images: np.ndarray) -> np.ndarray:
    """Values scaled to [0, 1], after checking they are finite and in the allowed range."""
    kind = images.dtype.kind
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    if kind == "b":
        return images.astype(np.float32)
    if kind in "iu":
        _check_range(path, images, 0, 255, "integer arrays must hold 0..255")
        return images.astype(np.float32) / 255.0
    if kind == "f":
        _check_finite(path, images)
        _check_range(path, images, 0.0, 1.0, "float arrays must hold values in [0, 1] "
                     "(divide 0..255 data by 255)")
        return images.astype(np.float32)
    raise DataError(f"{path}: dtype {images.dtype} is not allowed: uint8, integers in 0..255, "
                    f"floats in [0, 1], or bool")


def _check_finite(path: Path, images: np.ndarray) -> None:
    finite = np.isfinite(images)
    bad = images.size - int(np.count_nonzero(finite))
    if bad:
        values = images[finite]
        found = f"{values.min():g} to {values.max():g}" if values.size else "none"
        raise DataError(f"{path}: {bad} value(s) are NaN or infinite (finite values range "
                        f"{found}); values must be finite numbers in [0, 1]")


def _check_range(path: Path, images: np.ndarray, low: float, high: float, rule: str) -> None:
    low_found, high_found = images.min(), images.max()
    if low_found >= low and high_found <= high:
        return
    bad = int(np.count_nonzero((images < low) | (images > high)))
    raise DataError(f"{path}: {bad} value(s) out of range (found {low_found:g} to "
                    f"{high_found:g}): {rule}")
