"""The sparsity penalty as a function of one unit's activity, with every unit on it.

KL: the bowl KL(rho || rho_hat) over rho_hat in (0, 1), its minimum at the target rho,
and each hidden unit drawn at its running rho_hat, so the audience sees which units the
penalty pushes and (with the gradient curve) how hard.  L1: the V l1_weight * |a| and its
constant-magnitude gradient l1_weight * sign(a).  Both modes' items are built once; a
live change of penalty only toggles which are visible.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QWidget

from core.snapshot import Snapshot
from gui import theme
from gui.panels.base import Panel
from gui.panels.common import (
    RHO_HAT,
    format_number,
    stack,
    title_label,
    unit_categories,
    use_dark_palette,
)

POINT_SIZE = 9
#: The y range shows KL over this rho_hat interval (KL grows without bound at 0 and 1).
KL_VIEW = (0.005, 0.995)
#: The gradient axis is scaled to show beta * dKL/drho_hat over this interval.
GRADIENT_VIEW = (0.01, 0.9)
#: The relu axis never shrinks below this (all units dead would give a zero-width axis).
RELU_MIN_TOP = 0.5


def rho_hat_grid(points: int = 400) -> np.ndarray:
    """(0, 1) sampled densely near both ends, where KL bends sharply."""
    half = np.geomspace(1e-4, 0.5, points // 2)
    return np.concatenate([half, 1.0 - half[::-1][1:]])


def gradient_pen(colour: str):
    """Dashed, so the gradient never reads as a second penalty curve."""
    return theme.pen(colour, Qt.PenStyle.DashLine)


def nice_ceiling(value: float) -> float:
    """The next of 1, 2, 5 x 10^k at or above value (a stable axis end for relu)."""
    value = max(value, 1e-6)
    exponent = np.floor(np.log10(value))
    for mantissa in (1.0, 2.0, 5.0, 10.0):
        if mantissa * 10.0**exponent >= value * (1 - 1e-9):
            return float(mantissa * 10.0**exponent)
    return float(10.0 ** (exponent + 1))


class PenaltyCurvePanel(Panel):
    """Penalty vs one unit's activity, every unit a clickable point on the curve."""

    title = "Penalty curve"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        use_dark_palette(self)
        self._snapshot: Snapshot | None = None
        self._mode: str | None = None  # 'kl', 'none' or 'l1'
        self._curve_key: tuple | None = None  # what the curves were last computed for
        self._range_key: tuple | None = None
        self._axis_labels: tuple[str, str, str] | None = None
        self._relu_top = 0.0
        self._brushes = np.array([theme.brush(theme.UNIT_NORMAL), theme.brush(theme.UNIT_DEAD),
                                  theme.brush(theme.UNIT_SATURATED)], dtype=object)
        self._grid = rho_hat_grid()

        self.title_label = title_label()
        self.title_label.setTextFormat(Qt.TextFormat.RichText)
        self.formula = QLabel()
        self.formula.setTextFormat(Qt.TextFormat.RichText)
        font = self.formula.font()
        font.setPointSize(11)
        self.formula.setFont(font)
        self.formula.setWordWrap(True)
        self.gradient_checkbox = QCheckBox("Show gradient")
        self.gradient_checkbox.setToolTip("The penalty's gradient per unit, on the right axis")

        self.plot_widget = pg.PlotWidget(background=theme.BACKGROUND)
        self.plot: pg.PlotItem = self.plot_widget.getPlotItem()
        theme.style_plot(self.plot)
        self.plot.hideButtons()
        self.plot.disableAutoRange()
        self._build_gradient_axis()

        # KL mode (also drawn, greyed, when no penalty is active).
        self.kl_curve = self.plot.plot(pen=theme.pen(theme.LOSS_COLOURS["penalty"]))
        self.rho_marker = pg.InfiniteLine(
            pos=0.05, angle=90, movable=False,
            pen=theme.pen(theme.TARGET, Qt.PenStyle.DashLine), label="ρ = {value:.3g}",
            labelOpts={"position": 0.97, "color": theme.TARGET, "anchors": [(0, 0), (0, 0)],
                       "fill": theme.brush(theme.BACKGROUND, 200)})
        self.rho_marker.label.setFont(theme.axis_font(12))
        self.plot.addItem(self.rho_marker)
        self.kl_gradient_curve = pg.PlotDataItem(pen=gradient_pen(theme.GRADIENT))
        self.gradient_view.addItem(self.kl_gradient_curve)
        # L1 mode.
        self.l1_curve = self.plot.plot(pen=theme.pen(theme.LOSS_COLOURS["penalty"]))
        self.l1_gradient_curve = pg.PlotDataItem(pen=gradient_pen(theme.GRADIENT))
        self.gradient_view.addItem(self.l1_gradient_curve)
        self.gradient_zero = pg.InfiniteLine(pos=0.0, angle=0, movable=False,
                                             pen=theme.pen(theme.GRADIENT, Qt.PenStyle.DotLine))
        self.gradient_view.addItem(self.gradient_zero)
        # Both modes: one point per unit.
        self.points = pg.ScatterPlotItem(size=POINT_SIZE, pen=None, hoverable=True,
                                         tip=self._point_tip)
        self.points.setZValue(10)
        self.plot.addItem(self.points)

        self._build_layout()
        self.gradient_checkbox.toggled.connect(self.set_show_gradient)
        self.points.sigClicked.connect(self._on_points_clicked)
        self._apply_gradient_visibility()

    def _build_gradient_axis(self) -> None:
        """A second ViewBox sharing x, drawn on the right axis (pyqtgraph's MultiplePlotAxes)."""
        self.gradient_view = pg.ViewBox(enableMouse=False)
        self.gradient_view.setMenuEnabled(False)
        self.plot.showAxis("right")
        right = self.plot.getAxis("right")
        right.setTickFont(theme.axis_font())
        right.setTextPen(pg.mkPen(theme.GRADIENT))
        right.setGrid(False)
        for name in ("left", "right", "bottom"):
            self.plot.getAxis(name).enableAutoSIPrefix(False)
        self.plot.scene().addItem(self.gradient_view)
        right.linkToView(self.gradient_view)
        self.gradient_view.setXLink(self.plot)
        self.plot.getViewBox().sigResized.connect(self._sync_gradient_view)

    def _sync_gradient_view(self) -> None:
        main = self.plot.getViewBox()
        self.gradient_view.setGeometry(main.sceneBoundingRect())
        self.gradient_view.linkedViewChanged(main, self.gradient_view.XAxis)

    def _build_layout(self) -> None:
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(self.formula, stretch=1)
        controls.addWidget(self.gradient_checkbox)
        stack(self, self.title_label, controls, self.plot_widget)

    # -- public controls -------------------------------------------------------------

    @property
    def mode(self) -> str | None:
        """'kl', 'none' (KL shown for reference) or 'l1'; None before the first snapshot."""
        return self._mode

    @property
    def show_gradient(self) -> bool:
        return self.gradient_checkbox.isChecked()

    def set_show_gradient(self, visible: bool) -> None:
        visible = bool(visible)
        if self.gradient_checkbox.isChecked() != visible:
            self.gradient_checkbox.setChecked(visible)  # re-enters through the signal
            return
        self._apply_gradient_visibility()
        self._range_key = None
        self._redraw()

    def _apply_gradient_visibility(self) -> None:
        visible = self.show_gradient
        self.plot.showAxis("right", visible)
        self.gradient_zero.setVisible(visible)
        self.kl_gradient_curve.setVisible(visible and self._mode in ("kl", "none"))
        self.l1_gradient_curve.setVisible(visible and self._mode == "l1")

    # -- snapshots -------------------------------------------------------------------

    def show_snapshot(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._redraw()

    def _redraw(self) -> None:
        snapshot = self._snapshot
        if snapshot is None:
            return
        mode = snapshot.config.penalty if snapshot.config.penalty in ("kl", "l1") else "none"
        if mode != self._mode:
            self._switch_mode(mode)
        if mode == "l1":
            self._draw_l1(snapshot)
        else:
            self._draw_kl(snapshot)

    def _switch_mode(self, mode: str) -> None:
        """Show one mode's items and hide the other's; nothing is created or removed."""
        self._mode = mode
        kl_like = mode in ("kl", "none")
        for item in (self.kl_curve, self.rho_marker):
            item.setVisible(kl_like)
        self.l1_curve.setVisible(not kl_like)
        colour = theme.LOSS_COLOURS["penalty"] if mode != "none" else theme.REFERENCE
        self.kl_curve.setPen(theme.pen(colour))
        self.kl_gradient_curve.setPen(gradient_pen(theme.GRADIENT if mode != "none"
                                                   else theme.REFERENCE))
        self._apply_gradient_visibility()
        self._curve_key = self._range_key = None
        self._relu_top = 0.0

    def _set_points(self, x: np.ndarray, y: np.ndarray, snapshot: Snapshot) -> None:
        self.points.setData(x=x, y=y, data=np.arange(len(x)),
                            brush=self._brushes[unit_categories(snapshot, snapshot.rho_hat_ema)])

    # KL -----------------------------------------------------------------------------

    def _draw_kl(self, snapshot: Snapshot) -> None:
        # The one formula training uses; imported here because it brings torch, which the
        # window must not wait for at start-up (the first snapshot has loaded it already).
        from core.penalties import kl_divergence_curve, kl_gradient_curve

        config = snapshot.config
        rho, beta = float(config.rho), float(config.beta)
        if self._curve_key != ("kl", rho, beta):
            self._curve_key = ("kl", rho, beta)
            self.kl_curve.setData(self._grid, kl_divergence_curve(rho, self._grid))
            self.kl_gradient_curve.setData(self._grid, beta * kl_gradient_curve(rho, self._grid))
            self.rho_marker.setValue(rho)
        top = 1.05 * float(kl_divergence_curve(rho, np.array(KL_VIEW)).max())
        gradient = beta * kl_gradient_curve(rho, np.array(GRADIENT_VIEW))
        gradient_top = max(float(np.abs(gradient).max()), 1e-9) * 1.05
        below = min(abs(float(gradient[0])) * 1.05 / gradient_top, 1.0)
        self._set_ranges(("kl", rho, beta), (0.0, 1.0), top, gradient_top, below)

        rho_hat = np.clip(snapshot.rho_hat_ema, 0.0, 1.0)
        # Off-scale units sit on the top edge.
        y = np.minimum(kl_divergence_curve(rho, rho_hat), top)
        self._set_points(rho_hat, y, snapshot)

        penalty = format_number(snapshot.loss.penalty)
        if self._mode == "kl":
            self.title_label.setText(f"ρ = <b>{rho:g}</b> · β = <b>{beta:g}</b> · "
                                 f"penalty β·ΣKL = <b>{penalty}</b>")
        else:
            self.title_label.setText(f"<span style='color:{theme.REFERENCE}'>no penalty: "
                                     f"showing KL for reference</span> · ρ = {rho:g} · "
                                     f"β = {beta:g}")
        # (the formula itself is the panel's caption, shown with the others)
        self.formula.setText(f"each point: one hidden unit at its running mean {RHO_HAT}")
        self.formula.setToolTip("Each point is a hidden unit at its running mean activation")
        self._label_axes(f"{RHO_HAT} (unit's mean activation)", f"KL(ρ‖{RHO_HAT})",
                         f"β·dKL/d{RHO_HAT}")

    # L1 -----------------------------------------------------------------------------

    def _draw_l1(self, snapshot: Snapshot) -> None:
        config = snapshot.config
        weight = float(config.l1_weight)
        activation = config.encoder_activation
        if activation == "tanh":
            low, high = -1.0, 1.0
        elif activation == "sigmoid":
            low, high = 0.0, 1.0
        else:  # relu: up to the largest unit's mean |a|, growing in 1-2-5 steps
            seen = float(snapshot.mean_abs_batch.max(initial=0.0))
            self._relu_top = max(self._relu_top, nice_ceiling(seen), RELU_MIN_TOP)
            low, high = 0.0, self._relu_top
        if self._curve_key != ("l1", weight, low, high):
            self._curve_key = ("l1", weight, low, high)
            x = np.array([low, 0.0, high]) if low < 0 else np.array([low, high])
            self.l1_curve.setData(x, weight * np.abs(x))
            left = -weight if low < 0 else 0.0
            self.l1_gradient_curve.setData([low, 0.0, 0.0, high], [left, left, weight, weight])
        scale = weight if weight > 0 else 1.0  # l1_weight 0: a flat line, still on an axis
        top = 1.05 * scale * max(abs(low), high)
        self._set_ranges(("l1", weight, low, high), (low, high), top, 1.25 * scale,
                         1.0 if low < 0 else 0.1)

        mean_abs = np.asarray(snapshot.mean_abs_batch, np.float64)
        self._set_points(mean_abs, weight * mean_abs, snapshot)

        batch = config.batch_size
        penalty = format_number(snapshot.loss.penalty)
        self.title_label.setText(f"L1Penalty: loss l1·Σ|a| = <b>{penalty}</b> · "
                                 f"gradient l1·sign(a) = <b>±{weight:g}</b>")
        self.formula.setText(f"Σ over units and batch (×{batch} samples) · "
                             f"units at their mean |a|")
        self._label_axes("activation a (units at mean |a|)", "l1·|a|", "l1·sign(a)")

    # shared -------------------------------------------------------------------------

    def _set_ranges(self, key: tuple, x_range: tuple[float, float], top: float,
                    gradient_top: float, below: float) -> None:
        """Fixed ranges per setting; both axes share the height of zero when the
        gradient shows (``below`` is the fraction of the axis given to negatives)."""
        key = (*key, self.show_gradient)
        if key == self._range_key:
            return
        self._range_key = key
        if not self.show_gradient:
            below = 0.02
        self.plot.setXRange(*x_range, padding=0.02)
        self.plot.setYRange(-below * top, top, padding=0.0)
        self.gradient_view.setYRange(-below * gradient_top, gradient_top, padding=0.0)
        self._sync_gradient_view()

    def _label_axes(self, x_label: str, y_label: str, gradient_label: str) -> None:
        labels = (x_label, y_label, gradient_label)
        if labels == self._axis_labels:
            return
        self._axis_labels = labels
        theme.label_axes(self.plot, x_label, y_label)
        self.plot.setLabel("right", gradient_label,
                           **{"color": theme.GRADIENT, "font-size": "11pt"})
        self.plot.showAxis("right", self.show_gradient)  # setLabel showed it

    # -- clicks and hover ------------------------------------------------------------

    def _on_points_clicked(self, item, points, event=None) -> None:
        """Of the points under the cursor (they overlap), report the nearest one."""
        if not len(points):
            return
        chosen = points[0]
        if event is not None:
            click = event.scenePos()

            def distance(point) -> float:
                offset = item.mapToScene(point.pos()) - click
                return offset.x() ** 2 + offset.y() ** 2

            chosen = min(points, key=distance)
        self.unitClicked.emit(int(chosen.data()))

    def _point_tip(self, x: float, y: float, data) -> str:
        if self._mode == "l1":
            return f"unit {data}: mean |a| = {x:.3g}, l1·|a| = {y:.3g}"
        return f"unit {data}: ρ̂ = {x:.3g}, KL = {y:.3g}"
