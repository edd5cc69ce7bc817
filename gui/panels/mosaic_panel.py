"""Every unit's weights as one picture of tiles (UFLDL's display_network), live.

One ``ImageItem`` per tab holds the whole mosaic: a few hundred tiles cost one
``setImage`` per redraw, never one item per unit.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.mosaic import grid_shape, tile_at, tile_mosaic
from core.snapshot import Snapshot
from gui import theme
from gui.panels.base import Panel
from gui.panels.common import (
    TITLE_POINT_SIZE,
    ElidedLabel,
    ImageCanvas,
    use_dark_palette,
)

#: Mosaic values run from -1 (black) through 0 (mid grey) to +1 (white).
WEIGHT_LEVELS = (-1.0, 1.0)
BORDER = 1


class MosaicTab(ImageCanvas):
    """One side of the network (encoder or decoder): its mosaic and its hit test."""

    def __init__(self, side: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.side = side
        self.count = 0
        self.tile_shape: tuple[int, int] = (1, 1)
        #: (snapshot number, per_tile) this tab last drew; redraw when it differs.
        self.drawn: tuple[int, bool] | None = None
        self.selection = pg.QtWidgets.QGraphicsRectItem()
        selection_pen = pg.mkPen(theme.HIGHLIGHT, width=2)
        selection_pen.setCosmetic(True)
        self.selection.setPen(selection_pen)
        self.selection.setZValue(10)
        self.selection.hide()
        self.view_box.addItem(self.selection, ignoreBounds=True)

    def weights(self, snapshot: Snapshot) -> np.ndarray:
        """(hidden, h*w): row j is unit j's input (encoder) or output (decoder) weights."""
        if self.side == "encoder":
            return snapshot.encoder_weights
        return snapshot.decoder_weights.T

    def draw(self, snapshot: Snapshot, per_tile: bool, number: int) -> None:
        self.count = snapshot.hidden_units
        self.tile_shape = tuple(snapshot.image_shape)
        mosaic = tile_mosaic(self.weights(snapshot), self.tile_shape, per_tile=per_tile,
                             border=BORDER)
        self.set_image(mosaic, WEIGHT_LEVELS)
        self.drawn = (number, per_tile)

    def unit_at(self, scene_pos: QPointF) -> int | None:
        pixel = self.pixel_at(scene_pos)
        if pixel is None or self.count == 0:
            return None
        return tile_at(pixel[0], pixel[1], self.count, self.tile_shape, border=BORDER)

    def tile_centre(self, unit: int) -> tuple[float, float]:
        """Image (row, column) of the centre of ``unit``'s tile."""
        top, left = self.tile_origin(unit)
        height, width = self.tile_shape
        return top + height / 2, left + width / 2

    def tile_origin(self, unit: int) -> tuple[int, int]:
        _, columns = grid_shape(self.count)
        height, width = self.tile_shape
        row, column = divmod(unit, columns)
        return BORDER + row * (height + BORDER), BORDER + column * (width + BORDER)

    def select(self, unit: int | None) -> None:
        if unit is None or not 0 <= unit < self.count:
            self.selection.hide()
            return
        top, left = self.tile_origin(unit)
        height, width = self.tile_shape
        # Drawn on the 1-px border around the tile, so the weights stay uncovered.
        self.selection.setRect(QRectF(left - 0.5, top - 0.5, width + 1, height + 1))
        self.selection.show()


class MosaicPanel(Panel):
    """Encoder and decoder weights as tile mosaics; click a tile to pick its unit."""

    title = "Weights"
    SIDES = ("encoder", "decoder")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._snapshot: Snapshot | None = None
        self._snapshot_number = 0  # counts show_snapshot calls (ids of freed objects recur)
        self._hovered: int | None = None
        self._selected: int | None = None

        self.label = ElidedLabel("Encoder weights · waiting for the first step")
        self.per_tile_box = QCheckBox("Per-tile contrast")
        self.per_tile_box.setChecked(True)
        self.per_tile_box.setToolTip(
            "On: each tile scaled by its own largest weight (UFLDL's display_network).\n"
            "Off: one global scale, so weak units look faint.")
        font = self.per_tile_box.font()
        font.setPointSize(TITLE_POINT_SIZE - 1)
        self.per_tile_box.setFont(font)

        self.tabs_widget = QTabWidget()
        self.tabs_widget.setDocumentMode(True)
        self.tabs_widget.tabBar().setFont(font)
        self.tabs_widget.setUsesScrollButtons(False)  # narrow docks: squeeze, no arrows
        self.tabs: dict[str, MosaicTab] = {}
        for side in self.SIDES:
            tab = MosaicTab(side)
            tab.scene().sigMouseClicked.connect(self._on_click)
            tab.scene().sigMouseMoved.connect(self._on_move)
            self.tabs[side] = tab
            self.tabs_widget.addTab(tab, side.capitalize())
        self.tabs_widget.setCornerWidget(self.per_tile_box, Qt.Corner.TopRightCorner)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.label)
        layout.addWidget(self.tabs_widget, 1)
        use_dark_palette(self)

        self.per_tile_box.toggled.connect(self._redraw_visible)
        self.tabs_widget.currentChanged.connect(self._redraw_visible)

    # ---------------------------------------------------------------- public API

    @property
    def per_tile(self) -> bool:
        return self.per_tile_box.isChecked()

    def set_per_tile(self, on: bool) -> None:
        self.per_tile_box.setChecked(on)

    @property
    def side(self) -> str:
        """The visible tab: "encoder" or "decoder"."""
        return self.SIDES[self.tabs_widget.currentIndex()]

    def set_side(self, side: str) -> None:
        self.tabs_widget.setCurrentIndex(self.SIDES.index(side))

    @property
    def image_items(self) -> dict[str, pg.ImageItem]:
        """The one ImageItem of each tab, by side ("encoder", "decoder")."""
        return {side: tab.image for side, tab in self.tabs.items()}

    @property
    def current_tab(self) -> MosaicTab:
        return self.tabs[self.side]

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Redraw only the visible tab; the other catches up when it is shown."""
        self._snapshot = snapshot
        self._snapshot_number += 1
        self._redraw_visible()

    def set_selected_unit(self, unit: int | None) -> None:
        """Outline one unit's tile in both tabs (None: no outline)."""
        self._selected = unit
        for tab in self.tabs.values():
            tab.select(unit)

    # ---------------------------------------------------------------- drawing

    def _redraw_visible(self, *_ignored) -> None:
        snapshot = self._snapshot
        if snapshot is None:
            return
        tab = self.current_tab
        if tab.drawn != (self._snapshot_number, self.per_tile):
            tab.draw(snapshot, self.per_tile, self._snapshot_number)
            tab.select(self._selected)  # the tile may have moved (new size)
        self._update_label()

    def _update_label(self) -> None:
        snapshot = self._snapshot
        if snapshot is None:
            return
        height, width = snapshot.image_shape
        rows, columns = grid_shape(snapshot.hidden_units)
        which = "input" if self.side == "encoder" else "output"
        scale = "per-tile contrast" if self.per_tile else "one global scale"
        pointer = f" · pointer: unit {self._hovered}" if self._hovered is not None else ""
        self.label.set_full_text(
            f"{self.side.capitalize()} weights · {snapshot.hidden_units} units{pointer} · "
            f"each tile: one unit's {height}×{width} {which} weights ({rows}×{columns} "
            f"tiles) · {scale}")

    # ---------------------------------------------------------------- mouse

    def _on_click(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        tab = self.current_tab
        unit = tab.unit_at(event.scenePos())
        if unit is not None:
            event.accept()
            self.unitClicked.emit(unit)

    def _on_move(self, scene_pos: QPointF) -> None:
        unit = self.current_tab.unit_at(scene_pos)
        if unit != self._hovered:
            self._hovered = unit
            self._update_label()

    def leaveEvent(self, event) -> None:
        super().leaveEvent(event)
        if self._hovered is not None:
            self._hovered = None
            self._update_label()
