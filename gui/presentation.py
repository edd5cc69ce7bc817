"""Lecture mode: what changes when the studio is projected (F11), and the formula captions.

Entering presentation mode remembers the working layout and restores it exactly on the
way out; it hides the controls (the toolbar keeps Start, Step, Reset and the speed),
goes full screen, and scales fonts and line widths for the back row.
"""

from __future__ import annotations

import contextlib

import pyqtgraph as pg
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QWidget

#: Fonts grow by this factor on a screen this many pixels high, in proportion to the
#: height elsewhere (``font_scale``); curve pens are this many pixels wide.
FONT_SCALE = 1.6
FONT_SCALE_HEIGHT = 1080
PRESENTATION_PEN_WIDTH = 3
TICK_POINT_SIZE = 18


def formula(panel: str, penalty: str) -> str:
    """The one-line formula that a panel shows, in plain Unicode."""
    if panel == "LossPanel":
        term = {"kl": "β Σⱼ KL(ρ‖ρ̂ⱼ)", "l1": "l1 Σ|a|", "none": "0"}[penalty]
        return f"loss = ‖x̂ − x‖² + {term} + (λ/2) Σ W²"
    if panel == "RhoPanel":
        if penalty == "l1":
            return "sparsity of unit j = fraction of samples with |aⱼ(x)| < ε"
        return "ρ̂ⱼ = (1/m) Σᵢ aⱼ(xᵢ)   (tanh: a ↦ (a+1)/2)"
    if panel == "PenaltyCurvePanel":
        if penalty == "l1":
            return "L1: l1 · Σ|a|,  ∂/∂a = l1 · sign(a)  (the same push at any size)"
        return "KL(ρ‖ρ̂) = ρ log ρ/ρ̂ + (1−ρ) log (1−ρ)/(1−ρ̂)"
    if panel == "MosaicPanel":
        return "tile j = W₁[j, :], the input weights of hidden unit j"
    if panel == "ReconstructionPanel":
        return "x̂ = g(W₂ f(W₁ x + b₁) + b₂)"
    return ""


def as_rich_text(text: str) -> str:
    """Plain Unicode for a rich-text label: the combining hat renders reliably in italics."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for hatted in ("ρ̂", "x̂"):
        text = text.replace(hatted, f"<i>{hatted}</i>")
    return text


def font_scale(screen_height: int) -> float:
    """How much larger fonts are when projected on a screen ``screen_height`` pixels high.

    What the back row can read is a font's share of the picture's height, and a projector
    shows 720 pixels as tall as 1080: there 1.6x would take the plots' room (the window
    then no longer fits the screen), so the factor follows the height, between 1 and 2.
    """
    return min(2.0, max(1.0, FONT_SCALE * screen_height / FONT_SCALE_HEIGHT))


class FontScaler:
    """Scales every widget's font (and pyqtgraph's ticks and pens) and puts them back."""

    def __init__(self, factor: float = FONT_SCALE) -> None:
        self.factor = factor
        self._fonts: dict[int, tuple[QWidget, QFont]] = {}
        self._pens: list[tuple[pg.PlotDataItem, object]] = []
        self._ticks: list[tuple[pg.AxisItem, QFont | None]] = []

    def scale(self, root: QWidget) -> None:
        widgets = [root, *root.findChildren(QWidget)]
        # Every original first: a parent's new font propagates to its children at once.
        for widget in widgets:
            self._fonts[id(widget)] = (widget, QFont(widget.font()))
        for widget, original in self._fonts.values():
            if original.pointSizeF() > 0:
                font = QFont(original)
                font.setPointSizeF(original.pointSizeF() * self.factor)
                widget.setFont(font)
            if isinstance(widget, pg.PlotWidget):
                self._scale_plot(widget.getPlotItem())

    def _scale_plot(self, plot: pg.PlotItem) -> None:
        for name in ("left", "bottom", "right"):
            axis = plot.getAxis(name) if name in plot.axes else None
            if axis is None or not axis.isVisible():
                continue
            self._ticks.append((axis, axis.style.get("tickFont")))
            font = QFont()
            font.setPointSizeF(TICK_POINT_SIZE * self.factor / FONT_SCALE)
            axis.setTickFont(font)
        for item in plot.listDataItems():
            pen = item.opts.get("pen")
            if pen is None or pg.mkPen(pen).color().alpha() == 0:  # (the loss range anchor)
                continue
            self._pens.append((item, pen))
            wide = pg.mkPen(pen)
            wide.setWidth(PRESENTATION_PEN_WIDTH)
            item.setPen(wide)

    def restore(self) -> None:
        for widget, font in self._fonts.values():
            with contextlib.suppress(RuntimeError):  # deleted meanwhile (a closed dialog)
                widget.setFont(font)
        for axis, font in self._ticks:
            axis.setTickFont(font)
        for item, pen in self._pens:
            item.setPen(pen)
        self._fonts.clear()
        self._ticks.clear()
        self._pens.clear()
