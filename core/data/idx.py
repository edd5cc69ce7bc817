"""Reader for the IDX files MNIST ships in (gzipped or raw), with clear errors."""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
           0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class IdxError(ValueError):
    """An IDX file that cannot be read; the message names the file and the problem."""


def read_idx(path: Path) -> np.ndarray:
    """Read a whole IDX file (``.gz`` decompressed on the fly) into a numpy array."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except PermissionError:
        raise IdxError(f"{path}: permission denied") from None
    except (OSError, EOFError) as error:
        raise IdxError(f"{path}: cannot be read ({error})") from None
    except zlib.error as error:  # a damaged deflate stream inside a valid gzip header
        raise IdxError(f"{path}: damaged gzip data ({error}); download or copy it "
                       f"again") from None
    except MemoryError:
        raise IdxError(f"{path}: too large to read into memory") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise IdxError(f"{path}: not an IDX file (bad magic number)")
    dtype = np.dtype(_DTYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise IdxError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = math.prod(shape) * dtype.itemsize  # Python ints: np.prod would overflow
    if len(raw) - header != expected:
        raise IdxError(f"{path}: truncated or oversized IDX data "
                       f"({len(raw) - header} bytes of data, shape {shape} needs {expected})")
    try:
        array = np.frombuffer(raw, dtype, offset=header).reshape(shape)
    except ValueError:  # e.g. (0, 2**31, 2**31): no data, but numpy cannot index it
        raise IdxError(f"{path}: IDX shape {shape} is not usable") from None
    return array.astype(dtype.newbyteorder("="))
