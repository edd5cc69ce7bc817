"""Keep the working layout within a small screen: a 1024x768 projector, a small laptop.

Side by side, the docks need about 1,170 pixels (Controls 370, Weights 340, the plots'
column 460), more than an XGA projector or a 1280-pixel laptop at 125% shows: the window
would run off the screen's right edge, plots, timeline and status bar with it.  There the
Controls become a tab beside Weights (840 pixels).  Checked when the window is first shown,
when presentation mode ends, and whenever the window's screen changes or changes size: a
laptop mirrored to a projector drops to the projector's resolution.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QRect, Qt
from PySide6.QtGui import QScreen
from PySide6.QtWidgets import QDockWidget, QMainWindow

#: Room for the window's frame at the sides, which the available geometry does not subtract.
FRAME_ALLOWANCE = 16
#: The plots' share of the width once Controls and Weights share a column.
PLOTS_SHARE = 0.55


def available_geometry(screen: QScreen) -> QRect:
    """The screen's room for windows, without task bars (one place, which tests replace to
    pretend a small screen)."""
    return screen.availableGeometry()


def fits(window: QMainWindow, available: QRect) -> bool:
    """Whether the window's narrowest layout, frame included, is within ``available``."""
    return window.minimumSizeHint().width() + FRAME_ALLOWANCE <= available.width()


class ScreenFit(QObject):
    """Tabs ``guest`` (Controls) beside ``host`` (Weights) where the screen is too narrow,
    and keeps the window on the screen."""

    def __init__(self, window: QMainWindow, host: QDockWidget, guest: QDockWidget,
                 plots: QDockWidget) -> None:
        super().__init__(window)
        self._window, self._host, self._guest, self._plots = window, host, guest, plots
        self._watching = False
        self._screen: QScreen | None = None

    def watch(self) -> None:
        """Follow the window's screen from now on (it needs a native window: after show)."""
        handle = self._window.windowHandle()
        if handle is None or self._watching:
            return
        self._watching = True
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
        """Tab Controls beside Weights if the docks side by side are wider than the screen
        (True if it did), then keep the window, frame included, on the screen.

        Full screen (presentation mode, which hides Controls anyway; it calls again when
        it ends), a floating or hidden Controls dock, or one already tabbed stays as it is.
        """
        window, guest = self._window, self._guest
        screen = window.screen()
        if screen is None or not window.isVisible() or window.isFullScreen():
            return False
        available = available_geometry(screen)
        tabbed = not (fits(window, available) or guest.isFloating() or guest.isHidden()
                      or guest in window.tabifiedDockWidgets(self._host))
        if tabbed:
            window.tabifyDockWidget(self._host, guest)
            self._host.raise_()  # the live picture in front; Controls one click away
            window.layout().activate()  # the new, narrower minimum size, before resizing
        if not window.isMaximized():
            self._keep_on_screen(available)
        if tabbed:
            width = window.width()
            window.resizeDocks([self._host, self._plots],
                               [round(width * (1 - PLOTS_SHARE)), round(width * PLOTS_SHARE)],
                               Qt.Orientation.Horizontal)
        return tabbed

    def _keep_on_screen(self, available: QRect) -> None:
        """No larger than the screen (down to the window's minimum), then all of it, title
        bar included, within the screen's edges where it fits."""
        window = self._window
        frame = window.frameGeometry().size() - window.size()  # (none offscreen)
        width = min(window.width(), available.width() - max(frame.width(), FRAME_ALLOWANCE))
        height = min(window.height(), available.height() - frame.height())
        if (width, height) != (window.width(), window.height()):
            window.resize(width, height)
        outer = window.frameGeometry()
        x = max(available.left(), min(outer.x(), available.right() + 1 - outer.width()))
        y = max(available.top(), min(outer.y(), available.bottom() + 1 - outer.height()))
        if (x, y) != (outer.x(), outer.y()):
            window.move(x, y)
