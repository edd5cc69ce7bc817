"""Colours and fonts shared by every panel, chosen to survive a projector.

Curves use pen width 1 (cosmetic, the fast path in Qt's raster engine); distinct hues
carry the meaning instead of thickness.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont

BACKGROUND = "#101418"
FOREGROUND = "#d8dee9"
GRID_ALPHA = 0.25

#: One colour per loss term, in core.objective.LOSS_TERMS order.
LOSS_COLOURS = {
    "total": "#f5f5f5",
    "reconstruction": "#4fc3f7",
    "penalty": "#ffb74d",
    "weight_decay": "#ba68c8",
}
UNIT_NORMAL = "#4fc3f7"
UNIT_DEAD = "#ef5350"
UNIT_SATURATED = "#ffca28"
TARGET = "#66bb6a"
GRADIENT = "#ff8a65"
HIGHLIGHT = "#ffffff"


def configure_pyqtgraph() -> None:
    """Global pyqtgraph options: row-major images, no OpenGL, our colours."""
    pg.setConfigOptions(imageAxisOrder="row-major", useOpenGL=False, antialias=False,
                        background=BACKGROUND, foreground=FOREGROUND)


def pen(colour: str, style=None) -> pg.QtGui.QPen:
    p = pg.mkPen(colour, width=1)
    if style is not None:
        p.setStyle(style)
    return p


def brush(colour: str, alpha: int = 255) -> pg.QtGui.QBrush:
    c = QColor(colour)
    c.setAlpha(alpha)
    return pg.mkBrush(c)


def axis_font(point_size: int = 11) -> QFont:
    font = QFont()
    font.setPointSize(point_size)
    return font


def label_axes(plot: pg.PlotItem, x_label: str, y_label: str) -> None:
    """Axis titles in the foreground colour (setLabel replaces the whole label style)."""
    style = {"color": FOREGROUND, "font-size": "11pt"}
    plot.setLabel("bottom", x_label, **style)
    plot.setLabel("left", y_label, **style)


def style_plot(plot: pg.PlotItem, x_label: str = "", y_label: str = "") -> None:
    """Readable axes for the back row: larger tick labels, light grid."""
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setTickFont(axis_font())
        axis.setTextPen(pg.mkPen(FOREGROUND))
    if x_label or y_label:
        label_axes(plot, x_label, y_label)
    plot.showGrid(x=True, y=True, alpha=GRID_ALPHA)
    plot.setMenuEnabled(False)
