"""Sparsity per hidden unit: one bar per unit, dead and saturated units coloured apart.

KL (and no penalty) shows rho_hat_j, the mean activation of unit j in (0, 1), against the
target rho.  L1 has no rho: it shows the fraction of each unit's activations within
zero_eps of 0, and the title carries the measured overall fraction, which is what the
notes' "10%" (really the weight 0.1) gets mistaken for.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QWidget

from core.config import BOUNDED_ACTIVATIONS
from core.snapshot import Snapshot
from gui import theme
from gui.panels.base import Panel
from gui.panels.common import (
    DEAD,
    NORMAL,
    RHO_HAT,
    SATURATED,
    format_number,
    stack,
    title_label,
    unit_categories,
    use_dark_palette,
)

BAR_WIDTH = 0.8
#: Room below zero for the dead/saturated markers, as a fraction of the top.
STUB_FRACTION = 0.06
MARKER_SIZE = 9
#: Values of the combo box, in its order.
SOURCES = ("ema", "batch")
SOURCE_LABELS = {"ema": "running average", "batch": "this batch"}


def swatch(colour: str, text: str) -> str:
    """A coloured square and its meaning, for the rich-text colour key."""
    return f'<span style="color:{colour}">&#9632;</span> {text}'


class ColourKey(QLabel):
    """The bars' colours and counts: wide enough for any count, so new numbers never
    widen it; in a narrow dock (the window on a 1280-pixel projector) it gives way,
    clipped on the right, as its tooltip has every count.  Its widths follow its font
    (presentation mode scales it)."""

    def __init__(self) -> None:
        super().__init__()
        self.setTextFormat(Qt.TextFormat.RichText)
        self._fit_font()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._fit_font()

    def _fit_font(self) -> None:
        metrics = self.fontMetrics()
        self.setMaximumWidth(metrics.horizontalAdvance(
            "■ normal    ■ 00000 dead    ■ 00000 saturated"))
        self.setMinimumWidth(metrics.horizontalAdvance("■ normal    ■ 00000 dead"))


class RhoPanel(Panel):
    """Bars updated in place (never one item per unit): height is the unit's sparsity."""

    title = "Sparsity per unit"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        use_dark_palette(self)
        self._snapshot: Snapshot | None = None
        self._sorted = False
        self._source = "ema"
        self._unit_count = -1
        self._y_top = 1.0
        self._axis_labels: tuple[str, str] | None = None
        #: Bar position -> unit index (identity unless sorted).
        self.order = np.zeros(0, np.int64)
        #: The plotted value of every unit, in unit order.
        self.values = np.zeros(0, np.float32)
        #: NORMAL, DEAD or SATURATED per unit, in unit order.
        self.categories = np.zeros(0, np.int8)
        self._brushes = np.array([theme.brush(theme.UNIT_NORMAL), theme.brush(theme.UNIT_DEAD),
                                  theme.brush(theme.UNIT_SATURATED)], dtype=object)

        self.title_label = title_label()
        self.title_label.setTextFormat(Qt.TextFormat.RichText)
        self.detail = QLabel()
        self.detail.setTextFormat(Qt.TextFormat.RichText)
        self.detail.setWordWrap(True)
        font = self.detail.font()
        font.setPointSize(11)
        self.detail.setFont(font)
        self.colour_key = ColourKey()
        self.colour_key.setFont(font)
        self.sort_checkbox = QCheckBox("Sort by value")
        self.sort_checkbox.setToolTip("Order the bars by value, highest first")
        self.source_combo = QComboBox()
        self.source_combo.addItems([SOURCE_LABELS[source] for source in SOURCES])
        self.source_combo.setToolTip("Show the running average over recent batches, or "
                                     "the last batch")

        self.plot_widget = pg.PlotWidget(background=theme.BACKGROUND)
        self.plot: pg.PlotItem = self.plot_widget.getPlotItem()
        theme.style_plot(self.plot)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.hideButtons()
        # Every bar in one colour (pyqtgraph's one-call drawRects path), with the few dead
        # and saturated units drawn again on top in their colours: per-bar brushes would
        # make pyqtgraph paint 400 rectangles one by one on every redraw.
        self.bars = pg.BarGraphItem(x=np.zeros(0), height=np.zeros(0), width=BAR_WIDTH,
                                    pen=None, brush=self._brushes[NORMAL])
        self.plot.addItem(self.bars)
        self.highlight_bars = {
            category: pg.BarGraphItem(x=np.zeros(0), height=np.zeros(0), width=BAR_WIDTH,
                                      pen=None, brush=self._brushes[category])
            for category in (DEAD, SATURATED)
        }
        for item in self.highlight_bars.values():
            item.setZValue(1)
            self.plot.addItem(item)
        self.markers = pg.ScatterPlotItem(symbol="t1", size=MARKER_SIZE, pen=None)
        self.markers.setZValue(4)
        self.plot.addItem(self.markers)
        self.target_line = pg.InfiniteLine(
            pos=0.05, angle=0, movable=False,
            pen=theme.pen(theme.TARGET, Qt.PenStyle.DashLine),
            label="ρ = {value:.3g}",
            labelOpts={"position": 0.98, "color": theme.TARGET, "anchors": [(1, 1), (1, 1)],
                       "fill": theme.brush(theme.BACKGROUND, 200)},
        )
        self.target_line.label.setFont(theme.axis_font(12))
        self.target_line.setZValue(5)
        self.plot.addItem(self.target_line)
        self.plot.setYRange(-STUB_FRACTION, 1.0, padding=0.02)

        self._build_layout()
        self.sort_checkbox.toggled.connect(self.set_sorted)
        self.source_combo.currentIndexChanged.connect(
            lambda index: self.set_source(SOURCES[index]))
        self.plot_widget.scene().sigMouseClicked.connect(self._on_scene_clicked)

    def _build_layout(self) -> None:
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(self.sort_checkbox)
        controls.addSpacing(12)
        controls.addWidget(self.source_combo)
        controls.addStretch(1)
        controls.addWidget(self.colour_key)
        stack(self, self.title_label, self.detail, controls, self.plot_widget)

    # -- public controls -------------------------------------------------------------

    @property
    def is_sorted(self) -> bool:
        return self._sorted

    @property
    def source(self) -> str:
        """'ema' (running average) or 'batch' (the last batch)."""
        return self._source

    def set_sorted(self, enabled: bool) -> None:
        """Order the bars by value, descending; clicks still report the true unit."""
        enabled = bool(enabled)
        if self.sort_checkbox.isChecked() != enabled:
            self.sort_checkbox.setChecked(enabled)  # re-enters through the signal
            return
        self._sorted = enabled
        self._redraw()

    def set_source(self, source: str) -> None:
        """Show the running average ('ema') or the last batch ('batch')."""
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        index = SOURCES.index(source)
        if self.source_combo.currentIndex() != index:
            self.source_combo.setCurrentIndex(index)  # re-enters through the signal
            return
        self._source = source
        self._redraw()

    def unit_at(self, x: float) -> int | None:
        """The unit whose bar (or the column above it) covers view coordinate x."""
        position = int(np.floor(x + 0.5))
        if 0 <= position < len(self.order):
            return int(self.order[position])
        return None

    # -- snapshots -------------------------------------------------------------------

    def show_snapshot(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._redraw()

    def _redraw(self) -> None:
        snapshot = self._snapshot
        if snapshot is None:
            return
        config = snapshot.config
        l1_mode = config.penalty == "l1"
        batch = self._source == "batch"
        if l1_mode:
            values = snapshot.near_zero_batch if batch else snapshot.near_zero_ema
        else:
            values = snapshot.rho_hat_batch if batch else snapshot.rho_hat_ema
        values = np.asarray(values, np.float32)
        rho_hat = snapshot.rho_hat_batch if batch else snapshot.rho_hat_ema
        categories = unit_categories(snapshot, rho_hat)
        self.values, self.categories = values, categories

        count = len(values)
        self._update_ranges(count, values)
        if self._sorted:
            self.order = np.argsort(-values, kind="stable")
        else:
            self.order = np.arange(count)
        self._set_bars(values[self.order], categories[self.order])

        self.target_line.setVisible(config.penalty == "kl")
        if config.penalty == "kl" and self.target_line.value() != config.rho:
            self.target_line.setValue(config.rho)
        self._update_labels(snapshot, values, categories)

    def _set_bars(self, heights: np.ndarray, shown: np.ndarray) -> None:
        """Bar i is the unit at position i; dead and saturated units also get a marker.

        The marker below zero keeps a bar of height ~0 (a dead unit's rho_hat, a
        saturated unit's near-zero fraction) visible among 400 one-pixel bars.
        """
        positions = np.arange(len(heights), dtype=np.float64)
        self.bars.setOpts(x=positions, height=heights)
        for category, item in self.highlight_bars.items():
            chosen = shown == category
            item.setOpts(x=positions[chosen], height=heights[chosen])
        special = np.flatnonzero(shown != NORMAL)
        self.markers.setData(x=positions[special],
                             y=np.full(len(special), -0.5 * STUB_FRACTION * self._y_top),
                             brush=self._brushes[shown[special]])

    def _update_ranges(self, count: int, values: np.ndarray) -> None:
        """Fixed 0..1 so the level reads at a glance; wider only for unbounded relu."""
        y_top = max(1.0, float(values.max()) if len(values) else 1.0)
        if count != self._unit_count or y_top != self._y_top:
            self._unit_count, self._y_top = count, y_top
            self.plot.setXRange(-0.5, max(count, 1) - 0.5, padding=0.01)
            bottom = -STUB_FRACTION * y_top
            self.plot.setYRange(bottom, y_top, padding=0.02)
            self.plot.setLimits(xMin=-1.0, xMax=max(count, 1), yMin=bottom * 1.5,
                                yMax=y_top * 1.05)

    def _update_labels(self, snapshot: Snapshot, values: np.ndarray,
                       categories: np.ndarray) -> None:
        config = snapshot.config
        dead = int(np.count_nonzero(categories == DEAD))
        saturated = int(np.count_nonzero(categories == SATURATED))
        normal = len(values) - dead - saturated
        if config.penalty == "l1":
            measured = float(values.mean()) if len(values) else 0.0
            self.title_label.setText(
                f"L1: <b>{measured:.1%}</b> of activations within {snapshot.zero_eps:g} of 0 "
                f"<span style='color:{theme.TARGET}'>(measured)</span>")
            self.detail.setText(
                f"The notes' '10%' misreads the weight l1_weight = {config.l1_weight:g}: "
                f"a coefficient, not a sparsity.")
            y_label = f"fraction |a| &lt; {snapshot.zero_eps:g}"
        else:
            bounded = config.encoder_activation in BOUNDED_ACTIVATIONS
            measure = RHO_HAT if bounded else "mean activation"
            mean = format_number(float(values.mean()) if len(values) else 0.0)
            target = (f" (target ρ = {config.rho:g})" if config.penalty == "kl"
                      else " · no sparsity penalty")
            counts = f"{dead} dead · {saturated} saturated"
            # (shorter versions stand in where the dock is narrow: the counts stay)
            self.title_label.setText(f"{measure} per unit · mean <b>{mean}</b>{target} · {counts}",
                                     f"mean <b>{mean}</b>{target} · {counts}",
                                     f"mean <b>{mean}</b> · {counts}")
            y_label = f"{RHO_HAT} (mean activation)" if bounded else "mean activation"
        self.detail.setVisible(config.penalty == "l1")
        self.colour_key.setText(" &nbsp; ".join((
            swatch(theme.UNIT_NORMAL, "normal"),
            swatch(theme.UNIT_DEAD, f"{dead} dead"),
            swatch(theme.UNIT_SATURATED, f"{saturated} saturated"),
        )))
        self.colour_key.setToolTip(
            f"{normal} normal, {dead} dead, {saturated} saturated units. "
            f"Dead: never left |a| &lt; {snapshot.zero_eps:g} over the last window; "
            f"saturated: {RHO_HAT} &gt; {snapshot.saturated_above:g}")
        x_label = "unit, sorted by value" if self._sorted else "hidden unit"
        if (x_label, y_label) != self._axis_labels:
            self._axis_labels = (x_label, y_label)
            theme.label_axes(self.plot, x_label, y_label)

    # -- clicks ----------------------------------------------------------------------

    def _on_scene_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        self.click_at_scene(event.scenePos())

    def click_at_scene(self, scene_pos: QPointF) -> int | None:
        """Report the unit under a scene position (what a mouse click does)."""
        view_box = self.plot.getViewBox()
        if not view_box.sceneBoundingRect().contains(scene_pos):
            return None
        unit = self.unit_at(view_box.mapSceneToView(scene_pos).x())
        if unit is not None:
            self.unitClicked.emit(unit)
        return unit
