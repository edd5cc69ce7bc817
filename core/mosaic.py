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
    weights = np.asarray(weights, np.float32)
    count = weights.shape[0]
    height, width = tile_shape
    rows, columns = grid_shape(count)
    centred = weights - weights.mean()
    if per_tile:
        scale = np.abs(centred).max(axis=1, keepdims=True)
    else:
        scale = np.full((count, 1), np.abs(centred).max(), np.float32)
    tiles = centred / np.maximum(scale, 1e-12)
    mosaic = np.full((rows * (height + border) + border, columns * (width + border) + border),
                     -1.0, np.float32)
    padded = np.full((rows * columns, height, width), 0.0, np.float32)
    padded[:count] = tiles.reshape(count, height, width)
    # Place every tile with one strided assignment rather than a Python loop.
    view = mosaic[border:, border:].reshape(rows, height + border, columns, width + border)
    view[:, :height, :, :width] = padded.reshape(rows, columns, height, width).transpose(0, 2, 1, 3)
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
