"""Colours and fonts shared by every panel, chosen to survive a projector.

Curves use pen width 1 (cosmetic, the fast path in Qt's raster engine); distinct hues
carry the meaning instead of thickness.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QGraphicsItem

GRID_ALPHA = 0.25

#: Two high-contrast palettes: dark (the default, for screens and dark rooms) and light
#: (for a washed-out projector in a lit hall: black on white, saturated dark hues).
PALETTES: dict[str, dict[str, object]] = {
    "dark": {
        "BACKGROUND": "#101418", "FOREGROUND": "#d8dee9", "CONTROL_BACKGROUND": "#2e3740",
        "REFERENCE": "#7f8a96",
        "LOSS_COLOURS": {"total": "#f5f5f5", "reconstruction": "#4fc3f7",
                         "penalty": "#ffb74d", "weight_decay": "#ba68c8"},
        "UNIT_NORMAL": "#4fc3f7", "UNIT_DEAD": "#ef5350", "UNIT_SATURATED": "#ffca28",
        "TARGET": "#66bb6a", "GRADIENT": "#ff8a65", "HIGHLIGHT": "#ffffff",
    },
    "light": {
        "BACKGROUND": "#ffffff", "FOREGROUND": "#000000", "CONTROL_BACKGROUND": "#e4e4e4",
        "REFERENCE": "#555555",
        "LOSS_COLOURS": {"total": "#000000", "reconstruction": "#0050c8",
                         "penalty": "#d04a00", "weight_decay": "#7b1fa2"},
        "UNIT_NORMAL": "#0050c8", "UNIT_DEAD": "#d00000", "UNIT_SATURATED": "#b07800",
        "TARGET": "#007a1e", "GRADIENT": "#c2185b", "HIGHLIGHT": "#000000",
    },
}

#: The palette in use (module attributes below; panels read them when they are built).
current = "dark"
LOSS_COLOURS: dict[str, str] = {}


def use(name: str) -> None:
    """Make ``name`` ("dark" or "light") the palette of every panel built from now on."""
    global current
    if name not in PALETTES:
        raise ValueError(f"theme = {name!r} is not allowed: one of {', '.join(PALETTES)}")
    current = name
    for key, value in PALETTES[name].items():
        if key == "LOSS_COLOURS":
            LOSS_COLOURS.clear()  # in place: modules holding the dict see the change
            LOSS_COLOURS.update(value)
        else:
            globals()[key] = value
    pg.setConfigOptions(background=BACKGROUND, foreground=FOREGROUND)


BACKGROUND = FOREGROUND = CONTROL_BACKGROUND = REFERENCE = ""
UNIT_NORMAL = UNIT_DEAD = UNIT_SATURATED = TARGET = GRADIENT = HIGHLIGHT = ""
use("dark")


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
    """Readable axes for the back row: larger tick labels, light grid.

    Every axis (with its grid) is kept as a pixmap, redrawn only when its range, size or
    font changes; otherwise pyqtgraph replays the recorded ticks and text at each repaint
    of the plot, in Python, holding the interpreter lock that the training thread needs
    between kernels (measured with benchmarks/bench_gui.py).  So a plot's ranges should
    move in steps, not at every update (see the loss panel's stops).
    """
    for name in ("left", "bottom", "right", "top"):
        plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setTickFont(axis_font())
        axis.setTextPen(pg.mkPen(FOREGROUND))
    if x_label or y_label:
        label_axes(plot, x_label, y_label)
    plot.showGrid(x=True, y=True, alpha=GRID_ALPHA)
    plot.setMenuEnabled(False)
