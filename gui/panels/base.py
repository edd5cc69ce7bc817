"""What every live panel offers the main window."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget


class Panel(QWidget):
    """A view built once (plot items created in ``__init__``) and fed snapshots.

    Subclasses implement ``show_snapshot(snapshot)``, which only updates existing items
    (setData / setImage / setOpts) and stays cheap: it runs on the GUI thread at the
    redraw rate.
    """

    #: Shown as the dock's title and used as its object name (for saved layouts).
    title = "panel"
    #: Emitted when the user picks a hidden unit (a bar, a point, a tile).
    unitClicked = Signal(int)
