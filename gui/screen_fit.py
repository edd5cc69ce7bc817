"""Keep the working layout within a small screen: a 1024x768 projector, a small laptop.

Side by side, the docks need about 1,170 pixels (Controls 370, Weights 340, the plots'
column 460), more than an XGA projector or a 1280-pixel laptop at 125% shows: the window
would run off the screen's right edge, plots, timeline and status bar with it.  There the
Controls become a tab beside Weights (840 pixels).  Checked when the window is first shown
and whenever its screen changes or changes size: a laptop mirrored to a projector drops to
the projector's resolution.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QRect, Qt
from PySide6.QtGui import QScreen
from PySide6.QtWidgets import QDockWidget, QMainWindow

#: Room for the window's frame, which the screen's available geometry does not subtract.
FRAME_ALLOWANCE = 16
#: The plots' share of the width once Controls and Weights share a column.
PLOTS_SHARE = 0.55


def available_geometry(screen: QScreen) -> QRect:
    """The screen's room for windows (without task bars and docks)."""
    return screen.availableGeometry()


def fits(window: QMainWindow, available: QRect) -> bool:
    """Whether the window's narrowest layout, frame included, is within ``available``."""
    return window.minimumSizeHint().width() + FRAME_ALLOWANCE <= available.width()


class ScreenFit(QObject):
    """Tabs ``guest`` (Controls) beside ``host`` (Weights) where the screen is too narrow."""

    def __init__(self, window: QMainWindow, host: QDockWidget, guest: QDockWidget,
                 plots: QDockWidget) -> None:
        super().__init__(window)
        self._window, self._host, self._guest, self._plots = window, host, guest, plots
        self._screen: QScreen | None = None

    def watch(self) -> None:
        """Follow the window's screen from now on (it needs a native window: after show)."""
        handle = self._window.windowHandle()
        if handle is None or self._screen is not None:
            return
        handle.screenChanged.connect(self._on_screen)
        self._on_screen(handle.screen())

    def _on_screen(self, screen: QScreen | None) -> None:
        if self._screen is not None:
            self._screen.availableGeometryChanged.disconnect(self._on_geometry)
        self._screen = screen
        if screen is not None:
            screen.availableGeometryChanged.connect(self._on_geometry)
        self.fit()

    def _on_geometry(self, _geometry: QRect) -> None:
        self.fit()

    def fit(self) -> bool:
        """Tab Controls beside Weights if the docks side by side are wider than the
        screen; True if it did.  Full screen (presentation mode hides Controls anyway),
        a floating or hidden Controls dock, or one already tabbed is left as it is."""
        window, guest = self._window, self._guest
        screen = window.screen()
        if (screen is None or window.isFullScreen() or guest.isFloating() or guest.isHidden()
                or guest in window.tabifiedDockWidgets(self._host)):
            return False
        available = available_geometry(screen)
        if fits(window, available):
            return False
        window.tabifyDockWidget(self._host, guest)
        self._host.raise_()  # the live picture in front; Controls one click away
        window.layout().activate()  # the new, narrower minimum size, before resizing
        width = min(window.width(), available.width() - FRAME_ALLOWANCE)
        if not window.isMaximized():
            window.resize(width, min(window.height(), available.height()))
            if window.frameGeometry().right() > available.right():  # (all of it on screen)
                window.move(available.left(), max(window.y(), available.top()))
        window.resizeDocks([self._host, self._plots],
                           [round(width * (1 - PLOTS_SHARE)), round(width * PLOTS_SHARE)],
                           Qt.Orientation.Horizontal)
        return True
