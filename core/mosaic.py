"""Unit weights laid out as one image of tiles, as UFLDL's display_network does."""

from __future__ import annotations

import math

import numpy as np


def grid_shape(count: int) -> tuple[int, int]:
    """Rows and columns of a near-square grid holding ``count`` tiles."""
    columns = max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / columns))
    return rows, columns


def tile_mosaic(weights: np.ndarray, tile_shape: tuple[int, int], per_tile: bool = True,
                border: int = 1) -> np.ndarray:
    """Tiles of ``weights`` (n, h*w) in a grid, float32 C-contiguous, values in [-1, 1].

    The overall mean is removed, then each tile is divided by its own largest magnitude
    (``per_tile``) or all by the global one, so 0 is mid-grey; borders are -1 (black).
    """
    mean, scale = _centre_and_scale(weights, per_tile)
    centred = np.subtract(weights, mean, dtype=np.float32)
    np.divide(centred, scale[:, None], out=centred)
    return _lay_out(centred, tile_shape, border, np.float32, border_value=-1.0,
                    empty_value=0.0)


def tile_mosaic_bytes(weights: np.ndarray, tile_shape: tuple[int, int],
                      per_tile: bool = True, border: int = 1) -> np.ndarray:
    """``tile_mosaic`` as 8-bit grey, ready for the screen: -1 -> 0, 0 -> 127, +1 -> 255.

    The window tiles the encoder's weights at every redraw, and pyqtgraph would turn a
    float mosaic into these bytes again at every paint (4 passes, clipped): tiling straight
    to bytes takes the float mosaic's time or less and spares that conversion, 0.1-0.5 ms
    of the GUI thread a frame (``benchmarks/bench_frame.py``).
    """
    mean, scale = _centre_and_scale(weights, per_tile)
    grey = np.subtract(weights, mean, dtype=np.float32)  # in [-scale, scale] exactly
    np.multiply(grey, (np.float32(127.5) / scale)[:, None], out=grey)
    np.add(grey, np.float32(127.5), out=grey)  # in [0, 255] up to rounding, truncated below
    with np.errstate(invalid="ignore"):  # NaN weights: whatever byte, as the float's NaN
        return _lay_out(grey, tile_shape, border, np.uint8, border_value=0, empty_value=127)


def _centre_and_scale(weights: np.ndarray, per_tile: bool) -> tuple[np.float32, np.ndarray]:
    """The overall mean and, per tile, the largest magnitude of the centred weights.

    From each row's extremes: subtraction rounds monotonically, so these equal the
    largest magnitudes of ``weights - mean`` exactly, without a pass over its absolute
    values.
    """
    weights = np.asarray(weights, np.float32)
    mean = weights.mean()
    if per_tile:
        top, bottom = weights.max(axis=1), weights.min(axis=1)
    else:
        top, bottom = weights.max(keepdims=True)[0], weights.min(keepdims=True)[0]
    scale = np.maximum(np.maximum(top - mean, mean - bottom), 1e-12, dtype=np.float32)
    return mean, np.broadcast_to(scale, (weights.shape[0],))


def _lay_out(tiles: np.ndarray, tile_shape: tuple[int, int], border: int, dtype: type,
             border_value: float, empty_value: float) -> np.ndarray:
    """``tiles`` (n, h*w), one per cell of a near-square grid, row by row, cast to
    ``dtype``; cells after the last tile hold ``empty_value`` (even if tiles are NaN).

    The tiles are computed contiguous and copied once through a strided view of the
    mosaic (no Python loop over tiles): strided arithmetic, 28 values at a time, was the
    slow part of tiling.
    """
    count = tiles.shape[0]
    height, width = tile_shape
    rows, columns = grid_shape(count)
    mosaic = np.full((rows * (height + border) + border, columns * (width + border) + border),
                     border_value, dtype)
    cells = mosaic[border:, border:].reshape(rows, height + border, columns, width + border)
    grid = cells[:, :height, :, :width].transpose(0, 2, 1, 3)  # (row, column, h, w)
    tiles = tiles.reshape(count, height, width)
    full_rows = count // columns
    grid[:full_rows] = tiles[:full_rows * columns].reshape(full_rows, columns, height, width)
    if full_rows < rows:  # a last row that is not full
        last = count - full_rows * columns
        grid[full_rows, :last] = tiles[full_rows * columns:]
        grid[full_rows, last:] = empty_value
    return mosaic


def tile_at(mosaic_row: int, mosaic_column: int, count: int, tile_shape: tuple[int, int],
            border: int = 1) -> int | None:
    """Which unit's tile covers a mosaic pixel (None on a border or empty cell)."""
    height, width = tile_shape
    _, columns = grid_shape(count)
    r, rr = divmod(mosaic_row - border, height + border)
    c, cc = divmod(mosaic_column - border, width + border)
    if mosaic_row < border or mosaic_column < border or rr >= height or cc >= width:
        return None
    if c >= columns:
        return None
    unit = r * columns + c
    return unit if 0 <= unit < count else None
