"""Loss curves of the whole run: total, reconstruction, penalty and weight decay.

The history arrives bounded and decimated by ``core.history`` (at most 2048 buckets that
still span the run, each with its mean, min and max).  This panel draws the bucket means
as one curve per term, optionally smoothed with a debiased EMA, and the total's min..max
as a translucent band so spikes stay visible even when the curves are smoothed.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPainterPath
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QWidget,
)

from core.snapshot import LOSS_TERMS, Snapshot
from gui import theme
from gui.panels.base import Panel
from gui.panels.common import format_number, stack, title_label, use_dark_palette

#: The loss terms, in history column order.
TERMS = LOSS_TERMS
#: Short names for the heading line.
HEADING_NAMES = {"total": "loss", "reconstruction": "reconstruction", "penalty": "penalty",
                 "weight_decay": "decay"}
SMOOTHING_STEPS = 100  # the slider moves in steps of 0.01
MAX_SMOOTHING = 0.99
ENVELOPE_ALPHA = 60


def debiased_ema(values: np.ndarray, smoothing: float) -> np.ndarray:
    """TensorBoard's smoothing: ema_t = a*ema_(t-1) + (1-a)*x_t, divided by 1 - a^t.

    The division removes the pull towards the zero start, so the first points are not
    biased low.  Non-finite values are passed through and do not poison what follows.
    """
    if smoothing <= 0.0 or len(values) == 0:
        return values
    keep = 1.0 - smoothing
    ema = 0.0
    weight = 0.0
    smoothed = []
    for value in values.tolist():
        if not math.isfinite(value):
            smoothed.append(value)
            continue
        ema = smoothing * ema + keep * value
        weight = smoothing * weight + keep  # equals 1 - a^t after t finite points
        smoothed.append(ema / weight)
    return np.asarray(smoothed)


#: Where the step axis ends: the smallest of these times a power of ten at or above the
#: last step.  The axis then changes only when the run passes one (every 20-50% more
#: steps), not at every update, so the axes stay cached pixmaps and the curves are not
#: clipped twice a frame; at most a third of the plot is ahead of the curve.
STEP_AXIS_STOPS = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def next_stop(value: float) -> float:
    """The smallest STEP_AXIS_STOPS multiple of a power of ten that is >= ``value`` > 0."""
    decade = 10.0 ** math.floor(math.log10(value))
    return next(stop * decade for stop in STEP_AXIS_STOPS if stop * decade >= value)


def step_axis_end(step: float) -> float:
    """Where the step axis ends for a run at ``step``: the next stop, at least 1."""
    return next_stop(step) if step > 1 else 1.0


def loss_axis_bounds(values: list[np.ndarray], log_scale: bool) -> tuple[float, float] | None:
    """The loss axis' range for these curves, moving in steps as the step axis does:
    whole decades on a log axis; on a linear one from 0 (or the next stop below a
    negative value) to the next stop above.  None if no value can be shown."""
    finite = [v[np.isfinite(v) & (v > 0)] if log_scale else v[np.isfinite(v)]
              for v in values]
    finite = [v for v in finite if len(v)]
    if not finite:
        return None
    low, high = min(float(v.min()) for v in finite), max(float(v.max()) for v in finite)
    if not log_scale:
        return (0.0 if low >= 0 else -next_stop(-low)), (next_stop(high) if high > 0 else 0.0)
    return 10.0 ** math.floor(math.log10(low)), 10.0 ** math.ceil(math.log10(high) - 1e-12)


def positive_only(values: np.ndarray) -> np.ndarray:
    """Values a log axis can show; zeros and negatives become gaps (NaN), not warnings."""
    return np.where(values > 0, values, np.nan)


class LossAxis(pg.AxisItem):
    """Log ticks labelled as plain numbers at 1, 2 and 5 per decade, so they never crowd."""

    def logTickStrings(self, values, scale, spacing):
        labels = []
        for exponent in values:
            value = 10.0 ** float(exponent) * scale
            mantissa = value / 10.0 ** math.floor(math.log10(value) + 1e-9)
            labelled = any(abs(mantissa - m) < 1e-6 * m for m in (1.0, 2.0, 5.0))
            labels.append(format_tick(value) if labelled else "")
        return labels


def format_tick(value: float) -> str:
    if value >= 1:
        return f"{value:,.0f}"
    return f"{value:.3g}"


class EnvelopeFill(pg.FillBetweenItem):
    """FillBetweenItem whose path is built with numpy in one step.

    pyqtgraph's own updatePath concatenates QPolygonF objects, about 12 ms for two
    2048-point curves, twice per snapshot; this builds the same closed outline (upper
    curve forward, lower curve back) from the curves' displayed data in well under 1 ms.
    Points where either curve is missing (log axis gaps) are left out.
    """

    def updatePath(self) -> None:
        if self.curves is None:
            self.setPath(QPainterPath())
            return
        (x_low, y_low), (x_high, y_high) = (curve.getData() for curve in self.curves)
        if x_low is None or x_high is None or len(x_low) != len(x_high):
            super().updatePath()
            return
        keep = np.isfinite(y_low) & np.isfinite(y_high) & np.isfinite(x_low)
        x, low, high = x_low[keep], y_low[keep], y_high[keep]
        if len(x) < 2:
            self.setPath(QPainterPath())
            return
        path = pg.arrayToQPath(np.concatenate([x, x[::-1]]), np.concatenate([high, low[::-1]]),
                               finiteCheck=False)
        path.closeSubpath()
        self.setPath(path)


class LossPanel(Panel):
    """One step axis, one curve per loss term, built once and updated in place."""

    title = "Loss"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        use_dark_palette(self)
        self._snapshot: Snapshot | None = None
        self._log_scale = False
        self._smoothing = 0.0
        self._visible_terms: tuple[str, ...] | None = None
        self._anchor_corners: tuple[list[float], list[float]] | None = None

        self.title_label = title_label()
        self.title_label.setTextFormat(Qt.TextFormat.RichText)
        self.log_checkbox = QCheckBox("Log scale")
        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal)
        self.smoothing_slider.setRange(0, round(MAX_SMOOTHING * SMOOTHING_STEPS))
        self.smoothing_slider.setToolTip("Debiased EMA of the plotted points (0 = raw)")
        self.smoothing_value = QLabel()
        self.smoothing_value.setMinimumWidth(self.smoothing_value.fontMetrics()
                                             .horizontalAdvance("0.00 "))
        self.envelope_checkbox = QCheckBox("Min/max envelope")
        self.envelope_checkbox.setToolTip("The range of every history bucket of the total "
                                          "loss: spikes stay visible when smoothed")
        self.envelope_checkbox.setChecked(False)  # a translucent fill costs ~8 ms a frame

        self.plot_widget = pg.PlotWidget(background=theme.BACKGROUND,
                                         axisItems={"left": LossAxis("left")})
        self.plot: pg.PlotItem = self.plot_widget.getPlotItem()
        # The axes' ranges move in steps (see STEP_AXIS_STOPS), so they are cached too.
        theme.style_plot(self.plot)
        theme.label_axes(self.plot, "step", "loss")
        # An invisible diagonal across the range the axes should show: autoRange fits it
        # (and the curves inside it), and pan, zoom and the "A" button work as usual.
        self.range_anchor = self.plot.plot(pen=pg.mkPen(0, 0, 0, 0))
        # No legend box: it would hide the curves as they fall; the heading above names
        # every term in its curve's colour instead.

        self.envelope_low = self._make_curve(theme.brush(theme.LOSS_COLOURS["total"],
                                                         ENVELOPE_ALPHA).color())
        self.envelope_high = self._make_curve(self.envelope_low.opts["pen"].color())
        self.envelope = EnvelopeFill(
            self.envelope_low, self.envelope_high,
            brush=theme.brush(theme.LOSS_COLOURS["total"], ENVELOPE_ALPHA))
        self.plot.addItem(self.envelope)

        self.curves: dict[str, pg.PlotDataItem] = {
            term: self._make_curve(theme.LOSS_COLOURS[term]) for term in TERMS
        }
        for z, term in enumerate(reversed(TERMS)):
            self.curves[term].setZValue(10 + z)  # the total on top
        # The reconstruction error on held-out images: dashed, in the reconstruction's
        # colour, so over-fitting shows as the two curves parting.
        self.validation_curve = self.plot.plot(
            pen=theme.pen(theme.LOSS_COLOURS["reconstruction"], Qt.PenStyle.DashLine),
            symbol="o", symbolSize=4, symbolPen=None,
            symbolBrush=theme.brush(theme.LOSS_COLOURS["reconstruction"]))
        self.validation_curve.setZValue(20)

        self._build_layout()
        self.log_checkbox.toggled.connect(self.set_log_scale)
        # Log by default: the first steps' loss is orders of magnitude above the rest.
        self.set_log_scale(True)
        self.smoothing_slider.valueChanged.connect(
            lambda steps: self.set_smoothing(steps / SMOOTHING_STEPS))
        self.envelope_checkbox.toggled.connect(self.set_envelope_visible)
        self._show_smoothing_value()

    def _make_curve(self, colour) -> pg.PlotDataItem:
        """A curve that stays fast and keeps its peaks however long the run."""
        curve = self.plot.plot(pen=pg.mkPen(colour, width=1))
        curve.setDownsampling(auto=True, method="peak")
        curve.setClipToView(True)
        return curve

    def _build_layout(self) -> None:
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(self.log_checkbox)
        controls.addSpacing(16)
        controls.addWidget(QLabel("Smoothing"))
        controls.addWidget(self.smoothing_slider, stretch=1)
        controls.addWidget(self.smoothing_value)
        controls.addSpacing(16)
        controls.addWidget(self.envelope_checkbox)
        stack(self, self.title_label, controls, self.plot_widget)

    # -- public controls -------------------------------------------------------------

    @property
    def log_scale(self) -> bool:
        return self._log_scale

    @property
    def smoothing(self) -> float:
        return self._smoothing

    def set_log_scale(self, enabled: bool) -> None:
        """Log y axis: zeros and negatives are left out (gaps), never NaN lines."""
        enabled = bool(enabled)
        if self.log_checkbox.isChecked() != enabled:
            self.log_checkbox.setChecked(enabled)  # re-enters through the signal
            return
        self._log_scale = enabled
        self.plot.setLogMode(y=enabled)
        self._redraw()
        self.plot.enableAutoRange()

    def set_smoothing(self, smoothing: float) -> None:
        """Debiased EMA weight in [0, 0.99]; 0 shows the raw bucket means."""
        smoothing = min(max(float(smoothing), 0.0), MAX_SMOOTHING)
        self._smoothing = smoothing
        steps = round(smoothing * SMOOTHING_STEPS)
        if self.smoothing_slider.value() != steps:
            self.smoothing_slider.blockSignals(True)
            self.smoothing_slider.setValue(steps)
            self.smoothing_slider.blockSignals(False)
        self._show_smoothing_value()
        self._redraw()

    def set_envelope_visible(self, visible: bool) -> None:
        visible = bool(visible)
        if self.envelope_checkbox.isChecked() != visible:
            self.envelope_checkbox.setChecked(visible)
            return
        self._redraw()

    def _show_smoothing_value(self) -> None:
        self.smoothing_value.setText(f"{self._smoothing:.2f}")

    # -- snapshots -------------------------------------------------------------------

    def show_snapshot(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._redraw()

    def _redraw(self) -> None:
        snapshot = self._snapshot
        if snapshot is None:
            return
        history = snapshot.history
        steps = np.asarray(history.steps, np.float64)
        present = self._terms_present(snapshot)
        for term in TERMS:
            curve = self.curves[term]
            if term not in present:
                curve.setData([], [])
                continue
            values = debiased_ema(history.column(term), self._smoothing)
            curve.setData(steps, self._displayable(values))
        self._set_visible_terms(present)

        show_envelope = self.envelope_checkbox.isChecked() and len(history) > 0
        if show_envelope:
            column = history.columns.index("total")
            self.envelope_low.setData(steps, self._displayable(history.minimum[:, column]))
            self.envelope_high.setData(steps, self._displayable(history.maximum[:, column]))
        for item in (self.envelope, self.envelope_low, self.envelope_high):
            item.setVisible(show_envelope)
        held_out = snapshot.validation_history
        shown = [self.curves[term].yData for term in present]
        if len(held_out):
            validation = self._displayable(held_out.column("reconstruction"))
            self.validation_curve.setData(np.asarray(held_out.step_last, np.float64),
                                          validation)
            shown.append(validation)
        else:
            self.validation_curve.setData([], [])
        if show_envelope:
            shown += [self.envelope_low.yData, self.envelope_high.yData]
        if len(history):
            self._anchor_range(history.step_first[0], steps[-1], shown)
        else:  # before the first step: steps 0 to 1, around the first evaluation's loss
            self._anchor_range(0.0, 0.0, [self._displayable(
                np.array([getattr(snapshot.loss, term)])) for term in present])
        self.title_label.setText(*self._heading_versions(snapshot, present))

    def _anchor_range(self, first_step: float, last_step: float,
                      shown: list[np.ndarray]) -> None:
        """Move the invisible range anchor only when the axes' range must change."""
        loss_range = loss_axis_bounds([v for v in shown if v is not None], self._log_scale)
        if loss_range is None:
            self.range_anchor.setData([], [])
            self._anchor_corners = None
            return
        corners = ([float(first_step), step_axis_end(float(last_step))], list(loss_range))
        if corners != self._anchor_corners:
            self._anchor_corners = corners
            self.range_anchor.setData(*corners)

    def _displayable(self, values: np.ndarray) -> np.ndarray:
        return positive_only(values) if self._log_scale else values

    @staticmethod
    def _terms_present(snapshot: Snapshot) -> tuple[str, ...]:
        """Terms that are not identically zero in this run (the total always shows)."""
        history = snapshot.history
        present = []
        for term in TERMS:
            if term == "total":
                present.append(term)
                continue
            column = history.columns.index(term)
            ever_nonzero = (np.any(history.minimum[:, column] != 0)
                            or np.any(history.maximum[:, column] != 0)
                            or getattr(snapshot.loss, term) != 0)
            if ever_nonzero:
                present.append(term)
        return tuple(present)

    def _set_visible_terms(self, present: tuple[str, ...]) -> None:
        """Show/hide curves, only when the set changes."""
        if present == self._visible_terms:
            return
        self._visible_terms = present
        for term in TERMS:
            self.curves[term].setVisible(term in present)

    @staticmethod
    def _heading_versions(snapshot: Snapshot, present: tuple[str, ...]) -> tuple[str, ...]:
        """The heading, then shorter versions for a narrow panel: without the step (the
        status bar shows it), then without the held-out error (its dashed curve stays)."""
        def coloured(term: str) -> str:
            value = format_number(getattr(snapshot.loss, term))
            return (f'<span style="color:{theme.LOSS_COLOURS[term]}">'
                    f"{HEADING_NAMES[term]} <b>{value}</b></span>")

        parts = [coloured(term) for term in TERMS[1:] if term in present]
        total = coloured("total")
        equation = f"{total} = {' + '.join(parts)}" if parts else total
        held_out = snapshot.validation_reconstruction
        validation = ""
        if held_out is not None:
            validation = (f' · <span style="color:{theme.LOSS_COLOURS["reconstruction"]}">'
                          f"held out <b>{format_number(held_out)}</b></span>")
        return (f"step <b>{snapshot.step:,}</b> · {equation}{validation}",
                f"{equation}{validation}", equation)
