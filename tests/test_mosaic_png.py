"""Mosaic layout (UFLDL display_network) and the PNG writer."""

from __future__ import annotations

import zlib

import numpy as np

from core.mosaic import grid_shape, tile_at, tile_mosaic
from core.png import encode_gray_png


def test_grid_is_near_square():
    assert grid_shape(400) == (20, 20)
    assert grid_shape(196) == (14, 14)
    assert grid_shape(25) == (5, 5)
    assert grid_shape(10) == (3, 4)
    assert grid_shape(1) == (1, 1)


def test_tiles_land_in_their_cells_with_one_pixel_borders():
    count, h, w = 5, 2, 3
    weights = np.arange(count * h * w, dtype=np.float32).reshape(count, h * w)
    mosaic = tile_mosaic(weights, (h, w), per_tile=False)
    rows, columns = grid_shape(count)
    assert mosaic.shape == (rows * (h + 1) + 1, columns * (w + 1) + 1)
    assert mosaic.dtype == np.float32 and mosaic.flags.c_contiguous
    centred = weights - weights.mean()
    scale = np.abs(centred).max()
    for unit in range(count):
        r, c = divmod(unit, columns)
        tile = mosaic[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + c * (w + 1):1 + c * (w + 1) + w]
        np.testing.assert_allclose(tile, (centred[unit] / scale).reshape(h, w), rtol=1e-6)
    assert (mosaic[0] == -1).all() and (mosaic[:, 0] == -1).all()


def test_per_tile_normalisation_uses_each_tiles_own_scale():
    weights = np.array([[0.0, 1.0], [0.0, 100.0]], np.float32)
    mosaic = tile_mosaic(weights, (1, 2), per_tile=True)
    assert np.abs(mosaic).max() <= 1.0
    # both tiles reach full contrast although their scales differ by 100
    assert mosaic[1, 1:3].max() == 1.0 or mosaic[1, 1:3].min() == -1.0
    assert np.isclose(np.abs(mosaic[1, 4:6]).max(), 1.0)


def reference_mosaic(weights: np.ndarray, tile_shape: tuple[int, int], per_tile: bool,
                     border: int) -> np.ndarray:
    """UFLDL's display_network written tile by tile: black borders, mid-grey empty cells."""
    h, w = tile_shape
    rows, columns = grid_shape(len(weights))
    mosaic = np.full((rows * (h + border) + border, columns * (w + border) + border), -1.0,
                     np.float32)
    centred = weights - weights.mean()
    for cell in range(rows * columns):
        r, c = divmod(cell, columns)
        top, left = border + r * (h + border), border + c * (w + border)
        if cell >= len(weights):
            mosaic[top:top + h, left:left + w] = 0.0
            continue
        scale = np.abs(centred[cell] if per_tile else centred).max()
        mosaic[top:top + h, left:left + w] = (centred[cell] / max(scale, 1e-12)).reshape(h, w)
    return mosaic


def test_mosaic_equals_the_tile_by_tile_layout_exactly():
    """Every count (full grids and ones with empty cells), both scalings, any border, and
    the decoder's transposed weights: the in-place fast path is exact."""
    generator = np.random.default_rng(3)
    for count, shape in ((400, (28, 28)), (10, (4, 4)), (7, (3, 5)), (1, (2, 2)), (3, (1, 1))):
        weights = (generator.standard_normal((count, shape[0] * shape[1])) * 0.1 + 0.03
                   ).astype(np.float32)
        for source in (weights, np.ascontiguousarray(weights.T).T):
            for per_tile in (True, False):
                for border in (0, 1, 2):
                    mosaic = tile_mosaic(source, shape, per_tile=per_tile, border=border)
                    assert mosaic.dtype == np.float32 and mosaic.flags.c_contiguous
                    np.testing.assert_array_equal(
                        mosaic, reference_mosaic(source, shape, per_tile, border))
    flat = np.zeros((5, 4), np.float32)  # no contrast at all: mid-grey tiles, no NaN
    np.testing.assert_array_equal(tile_mosaic(flat, (2, 2)),
                                  reference_mosaic(flat, (2, 2), True, 1))
    broken = flat.copy()
    broken[0, 0] = np.nan  # a broken weight spoils the tiles, never the empty cells
    empty_cell = tile_mosaic(broken, (2, 2))[4:6, 7:9]  # the sixth cell of a 2x3 grid
    assert empty_cell.shape == (2, 2) and (empty_cell == 0.0).all()


def test_tile_at_inverts_the_layout():
    count, shape = 10, (4, 4)
    _, columns = grid_shape(count)
    for unit in range(count):
        r, c = divmod(unit, columns)
        assert tile_at(1 + r * 5 + 2, 1 + c * 5 + 3, count, shape) == unit
    assert tile_at(0, 0, count, shape) is None  # border
    assert tile_at(5, 2, count, shape) is None  # border row between tiles
    assert tile_at(1 + 2 * 5, 1 + 3 * 5, count, shape) is None  # empty cell (unit 11)


def _decode_gray_png(data: bytes) -> np.ndarray:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, width, height = 8, b"", 0, 0
    while position < len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        kind = data[position + 4:position + 8]
        body = data[position + 8:position + 8 + length]
        crc = int.from_bytes(data[position + 8 + length:position + 12 + length], "big")
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        if kind == b"IHDR":
            width, height = int.from_bytes(body[:4], "big"), int.from_bytes(body[4:8], "big")
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, width + 1)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:]


def test_png_round_trip():
    image = (np.arange(12 * 7) % 256).astype(np.uint8).reshape(12, 7)
    np.testing.assert_array_equal(_decode_gray_png(encode_gray_png(image)), image)
