"""One hidden unit up close: its weights, its rho_hat over the run, what excites it.

Non-modal, so it can stay open beside the live panels while training runs. The inputs
that activate a unit most need a pass over the data set, which only the worker thread
may run: the inspector asks for them with ``topInputsRequested(unit)`` and shows
whatever ``show_top_inputs`` later brings, if it is still about the unit on show.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from core.snapshot import Snapshot
from gui import theme
from gui.panels.common import ImageCanvas, caption_label, use_dark_palette
from gui.panels.mosaic_panel import WEIGHT_LEVELS
from gui.panels.reconstruction_panel import PIXEL_LEVELS, image_grid
from gui.unit_history import UnitHistory

NEAR_ZERO_COLOUR = "#ce93d8"
TOP_INPUT_COLUMNS = 8
MAX_TOP_INPUTS = 16


def unit_tile(weights: np.ndarray, unit: int, tile_shape: tuple[int, int]) -> np.ndarray:
    """One unit's weights (row ``unit`` of ``weights``) as a tile in [-1, 1], own contrast.

    The whole matrix's mean is removed first, as in the mosaic, so a tile here looks like
    its small copy there, only enlarged.
    """
    centred = weights[unit].astype(np.float32) - np.float32(weights.mean())
    scale = max(float(np.abs(centred).max()), 1e-12)
    return np.ascontiguousarray((centred / scale).reshape(tile_shape), np.float32)


class UnitInspector(QDialog):
    """A window about one unit; built once, reused when another unit is picked."""

    #: Asks the owner (which can reach the trainer) for the inputs driving ``unit`` most.
    topInputsRequested = Signal(int)

    def __init__(self, history: UnitHistory, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModal(False)
        self.setWindowTitle("Unit inspector")
        use_dark_palette(self)
        screen = self.screen().availableGeometry()  # (a 1024x768 projector: within it)
        self.resize(min(760, int(screen.width() * 0.96)), min(720, int(screen.height() * 0.9)))
        self.history = history
        self._unit: int | None = None
        self._snapshot: Snapshot | None = None
        self._pending = False  # a request for the current unit is out
        self._requested_since_hide = False  # so opening after show_unit does not ask twice
        self._top_unit: int | None = None  # the unit whose top inputs are on show

        self.header = caption_label("no unit selected")
        header_font = self.header.font()
        header_font.setPointSize(15)
        header_font.setBold(True)
        self.header.setFont(header_font)
        self.header.setTextFormat(Qt.TextFormat.RichText)

        self.encoder_caption = caption_label("encoder: its input weights")
        self.decoder_caption = caption_label("decoder: its output weights")
        for caption in (self.encoder_caption, self.decoder_caption):
            caption.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.encoder_canvas = ImageCanvas()
        self.decoder_canvas = ImageCanvas()
        tiles = QGridLayout()
        tiles.setSpacing(4)
        tiles.addWidget(self.encoder_caption, 0, 0)
        tiles.addWidget(self.decoder_caption, 0, 1)
        tiles.addWidget(self.encoder_canvas, 1, 0)
        tiles.addWidget(self.decoder_canvas, 1, 1)
        tiles.setRowStretch(1, 1)

        self.plot_widget = pg.PlotWidget(background=theme.BACKGROUND)
        self.plot = self.plot_widget.getPlotItem()
        theme.style_plot(self.plot)
        label_style = {"color": theme.FOREGROUND, "font-size": "11pt"}
        self.plot.setLabel("bottom", "step", **label_style)
        # pyqtgraph's text items drop the combining hat of "ρ̂", so the plot says it in words.
        self.plot.setLabel("left", "mean activation", **label_style)
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.legend = self.plot.addLegend(offset=(-10, 10), labelTextSize="11pt")
        self.rho_curve = self.plot.plot(pen=theme.pen(theme.UNIT_NORMAL),
                                        name="mean activation (running)")
        self.near_zero_curve = self.plot.plot(pen=theme.pen(NEAR_ZERO_COLOUR))
        self.target_curve = self.plot.plot(pen=theme.pen(theme.TARGET, Qt.PenStyle.DashLine))
        self.near_zero_curve.hide()
        self.target_curve.hide()
        self._legend_names: dict[pg.PlotDataItem, str] = {}  # optional curves now listed

        self.top_caption = caption_label("Inputs that activate it most")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setFont(self.top_caption.font())
        self.refresh_button.clicked.connect(self.refresh_top_inputs)
        self.top_canvas = ImageCanvas()
        top_row = QHBoxLayout()
        top_row.addWidget(self.top_caption, 1)
        top_row.addWidget(self.refresh_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        layout.addWidget(self.header)
        layout.addLayout(tiles, 4)
        layout.addWidget(self.plot_widget, 3)
        layout.addLayout(top_row)
        layout.addWidget(self.top_canvas, 2)
        # Let the stretch factors share the height, not the views' large size hints.
        for view in (self.encoder_canvas, self.decoder_canvas, self.plot_widget,
                     self.top_canvas):
            view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Ignored)
            view.setMinimumHeight(80)

    # ---------------------------------------------------------------- public API

    @property
    def unit(self) -> int | None:
        return self._unit

    def show_unit(self, unit: int, snapshot: Snapshot) -> None:
        """Show ``unit`` (reusing every item) and ask for its top inputs."""
        changed = unit != self._unit
        self._unit = int(unit)
        self.setWindowTitle(f"Unit {unit}")
        if changed:
            self._clear_top_inputs()
        self.update_snapshot(snapshot)
        if changed or not self._pending:
            self.refresh_top_inputs()

    def update_snapshot(self, snapshot: Snapshot) -> None:
        """Refresh the tiles, numbers and history of the current unit (cheap)."""
        self._snapshot = snapshot
        unit = self._unit
        if unit is None:
            return
        if unit >= snapshot.hidden_units:
            self.header.setText(f"unit {unit} is not in this model "
                                f"({snapshot.hidden_units} units)")
            return
        shape = tuple(snapshot.image_shape)
        self.encoder_canvas.set_image(unit_tile(snapshot.encoder_weights, unit, shape),
                                      WEIGHT_LEVELS)
        self.decoder_canvas.set_image(unit_tile(snapshot.decoder_weights.T, unit, shape),
                                      WEIGHT_LEVELS)
        self.header.setText(self._header_text(snapshot, unit))
        self._update_history(snapshot, unit)

    def refresh_top_inputs(self) -> None:
        """Ask again for the inputs that drive the current unit hardest."""
        if self._unit is None:
            return
        self._pending = True
        self._requested_since_hide = True
        self.top_caption.setText(f"Inputs that activate unit {self._unit} most: computing…")
        self.topInputsRequested.emit(self._unit)

    def show_top_inputs(self, unit: int, images: np.ndarray, activations: np.ndarray) -> None:
        """Fill the strip with ``images`` (k, h*w), strongest first; stale units ignored."""
        if unit != self._unit or self._snapshot is None:
            return
        self._pending = False
        images = np.asarray(images, np.float32)[:MAX_TOP_INPUTS]
        activations = np.asarray(activations, np.float64)[:MAX_TOP_INPUTS]
        if len(images) == 0:
            self._clear_top_inputs()
            self.top_caption.setText(f"Inputs that activate unit {unit} most: none")
            return
        shape = tuple(self._snapshot.image_shape)
        strip = image_grid([images], shape, TOP_INPUT_COLUMNS)
        self.top_canvas.set_image(strip, PIXEL_LEVELS)
        self.top_canvas.image.show()
        self._top_unit = unit
        self.top_caption.setText(
            f"Inputs that activate unit {unit} most (strongest first): activation "
            f"{activations[0]:.2f} … {activations[-1]:.2f}")

    @property
    def top_inputs_unit(self) -> int | None:
        """The unit whose top inputs are on show (None while there are none)."""
        return self._top_unit

    # ---------------------------------------------------------------- internals

    def _clear_top_inputs(self) -> None:
        self._top_unit = None
        self.top_canvas.image.hide()

    @staticmethod
    def _header_text(snapshot: Snapshot, unit: int) -> str:
        rho_hat = float(snapshot.rho_hat_ema[unit])
        near_zero = float(snapshot.near_zero_ema[unit])
        if snapshot.dead_units[unit]:
            dead = f"<span style='color:{theme.UNIT_DEAD}'>dead: yes</span>"
        else:
            dead = "dead: no"
        if rho_hat > snapshot.saturated_above:
            dead += f" · <span style='color:{theme.UNIT_SATURATED}'>saturated</span>"
        return (f"unit {unit} · ρ̂ = {rho_hat:.3f} (running) · {100 * near_zero:.1f}% of "
                f"activations near 0 · {dead}")

    def _update_history(self, snapshot: Snapshot, unit: int) -> None:
        if unit < self.history.hidden_units:
            steps, rho_hat, near_zero = self.history.series(unit)
        else:  # the owner has not recorded this model yet: show the present point
            steps = np.array([snapshot.step])
            rho_hat = snapshot.rho_hat_ema[unit:unit + 1]
            near_zero = snapshot.near_zero_ema[unit:unit + 1]
        self.rho_curve.setData(steps, rho_hat)
        config = snapshot.config
        show_near_zero = config.penalty == "l1"
        show_target = config.penalty == "kl"
        top = float(rho_hat.max()) if len(rho_hat) else 0.0
        if show_near_zero:
            self.near_zero_curve.setData(steps, near_zero)
            top = max(top, float(near_zero.max()) if len(near_zero) else 0.0)
        if show_target:
            first, last = (int(steps[0]), int(steps[-1])) if len(steps) else (0, 1)
            self.target_curve.setData([first, max(last, first + 1)], [config.rho, config.rho])
            top = max(top, config.rho)
        self._show_curve(self.near_zero_curve, show_near_zero, "fraction near 0")
        y_label = "value" if show_near_zero else "mean activation"  # legend names both
        if self.plot.getAxis("left").labelText != y_label:
            self.plot.setLabel("left", y_label, color=theme.FOREGROUND, **{"font-size": "11pt"})
        self._show_curve(self.target_curve, show_target, f"target ρ = {config.rho:g}")
        self.plot.setYRange(0.0, min(1.0, top * 1.15) if top > 0 else 1.0, padding=0.02)

    def _show_curve(self, curve: pg.PlotDataItem, visible: bool, name: str) -> None:
        """Show or hide an optional curve, listing it in the legend only when shown."""
        listed = self._legend_names.get(curve)
        if visible and listed != name:
            if listed is not None:
                self.legend.removeItem(curve)
            self.legend.addItem(curve, name)
            self._legend_names[curve] = name
        elif not visible and listed is not None:
            self.legend.removeItem(curve)
            del self._legend_names[curve]
        curve.setVisible(visible)

    def showEvent(self, event) -> None:
        """Opening the window again (after a close) fetches fresh top inputs."""
        super().showEvent(event)
        if (not event.spontaneous() and self._unit is not None
                and not self._requested_since_hide):
            self.refresh_top_inputs()

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        if not event.spontaneous():
            self._requested_since_hide = False
