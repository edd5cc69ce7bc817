"""A fixed set of inputs above their live reconstructions: what the code keeps."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PySide6.QtWidgets import QVBoxLayout, QWidget

from core.snapshot import Snapshot
from gui.panels.base import Panel
from gui.panels.common import ElidedLabel, ImageCanvas, use_dark_palette

#: Pixel values are intensities in [0, 1]; anything outside is clipped by the levels.
PIXEL_LEVELS = (0.0, 1.0)
BORDER = 1
#: Extra separation between two rows of pairs, so each input visibly owns its output.
PAIR_GAP = 4
#: Borders are dark grey, not black: MNIST backgrounds are black and would merge.
BORDER_VALUE = 0.28


def image_grid(layers: Sequence[np.ndarray], tile_shape: tuple[int, int], columns: int,
               border: int = BORDER, group_gap: int = BORDER,
               fill: float = BORDER_VALUE) -> np.ndarray:
    """Images laid out in a grid, float32 C-contiguous, without a Python loop over tiles.

    ``layers`` are arrays (k, h*w) of the same k; cell i stacks ``layers[0][i]`` above
    ``layers[1][i]`` and so on (one layer: a plain grid). Tiles are separated by
    ``border`` pixels, rows of cells by ``group_gap``, all of value ``fill``.
    """
    height, width = tile_shape
    depth = len(layers)
    stack = np.stack([np.asarray(layer, np.float32).reshape(-1, height, width)
                      for layer in layers], axis=1)  # (k, depth, h, w)
    count = stack.shape[0]
    columns = max(1, min(columns, count)) if count else 1
    rows = max(1, math.ceil(count / columns))
    cells = np.full((rows * columns, depth, height, width), fill, np.float32)
    cells[:count] = stack
    cell_height = depth * (height + border) - border
    block = group_gap + cell_height  # one row of cells, with the gap above it
    image = np.full((rows * block + group_gap, columns * (width + border) + border), fill,
                    np.float32)
    # Split the image into (row, line in block, column, pixel in column) as a view.
    view = image[:rows * block, border:].reshape(rows, block, columns, width + border)
    for level in range(depth):  # depth is 1 or 2: a loop over layers, not over tiles
        top = group_gap + level * (height + border)
        view[:, top:top + height, :, :width] = (
            cells[:, level].reshape(rows, columns, height, width).transpose(0, 2, 1, 3))
    return image


def best_columns(count: int, tile_shape: tuple[int, int], depth: int, width: float,
                 height: float) -> int:
    """The column count that shows ``count`` cells largest in a width x height area."""
    if count <= 1 or width <= 0 or height <= 0:
        return max(count, 1)
    tile_h, tile_w = tile_shape
    best, best_scale = count, -1.0
    for columns in range(1, count + 1):
        rows = math.ceil(count / columns)
        if rows * columns - count >= columns:  # an empty row of cells: never better
            continue
        image_w = columns * (tile_w + BORDER) + BORDER
        image_h = rows * (PAIR_GAP + depth * (tile_h + BORDER) - BORDER) + PAIR_GAP
        scale = min(width / image_w, height / image_h)
        # Prefer full rows (no empty cells) unless a ragged layout is clearly larger.
        if rows * columns != count:
            scale *= 0.9
        if scale > best_scale:
            best, best_scale = columns, scale
    return best


class ReconstructionPanel(Panel):
    """Inputs (top of each pair) and their reconstructions (below), one ImageItem."""

    title = "Reconstructions"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._snapshot: Snapshot | None = None
        self._columns = 8
        self.label = ElidedLabel("Inputs and their reconstructions · waiting for the first step")
        self.canvas = ImageCanvas()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.label)
        layout.addWidget(self.canvas, 1)
        use_dark_palette(self)
        self.canvas.resized.connect(self._on_canvas_resized)

    @property
    def image_item(self):
        return self.canvas.image

    @property
    def columns(self) -> int:
        """Pairs per row, chosen to show the tiles as large as the panel allows."""
        return self._columns

    def strip(self, snapshot: Snapshot) -> np.ndarray:
        return image_grid([snapshot.sample_inputs, snapshot.sample_reconstructions],
                          tuple(snapshot.image_shape), self._columns, group_gap=PAIR_GAP)

    def show_snapshot(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._columns = self._fitting_columns(snapshot)
        self.canvas.set_image(self.strip(snapshot), PIXEL_LEVELS)
        self.label.set_full_text(
            f"Explained variance {snapshot.explained_variance:.2f} · inputs (top) and their "
            "reconstructions (below)")

    def _fitting_columns(self, snapshot: Snapshot) -> int:
        size = self.canvas.size()
        return best_columns(len(snapshot.sample_inputs), tuple(snapshot.image_shape), 2,
                            size.width(), size.height())

    def _on_canvas_resized(self) -> None:
        if self._snapshot is not None and self._fitting_columns(self._snapshot) != self._columns:
            self.show_snapshot(self._snapshot)
