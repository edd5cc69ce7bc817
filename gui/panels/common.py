"""Building blocks shared by the panels: dark palette, titles, an image canvas."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPalette, QTextDocument
from PySide6.QtWidgets import QLabel, QLayout, QSizePolicy, QVBoxLayout, QWidget

from core.config import BOUNDED_ACTIVATIONS
from core.snapshot import Snapshot
from gui import theme
from gui.panels.screen_image import ScreenImageItem

#: rho-hat for rich text: the combining hat only renders reliably in italics.
RHO_HAT = "<i>ρ̂</i>"
#: How a unit is drawn: as usual, dead (never left rest), or saturated (rho_hat high).
NORMAL, DEAD, SATURATED = 0, 1, 2


def unit_categories(snapshot: Snapshot, rho_hat: np.ndarray) -> np.ndarray:
    """NORMAL, DEAD or SATURATED per unit (int8); saturation needs a bounded activation."""
    categories = np.zeros(len(rho_hat), np.int8)
    if snapshot.config.encoder_activation in BOUNDED_ACTIVATIONS:
        categories[np.asarray(rho_hat) > snapshot.saturated_above] = SATURATED
    categories[np.asarray(snapshot.dead_units, bool)] = DEAD
    return categories

TITLE_POINT_SIZE = 13


def use_dark_palette(widget: QWidget) -> None:
    """Dark background and light text for the widget and its tabs, buttons, check boxes."""
    palette = widget.palette()
    palette.setColor(QPalette.ColorRole.Window, QColor(theme.BACKGROUND))
    for role in (QPalette.ColorRole.Base, QPalette.ColorRole.Button):
        palette.setColor(role, QColor(theme.CONTROL_BACKGROUND))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text,
                 QPalette.ColorRole.ButtonText):
        palette.setColor(role, QColor(theme.FOREGROUND))
    widget.setPalette(palette)
    widget.setAutoFillBackground(True)


def is_plain(text: str | None) -> bool:
    """No markup, entity, tab or line break: text a painter draws as rich text would."""
    return text is not None and not any(mark in text for mark in "<&\n\r\t")


class LiveLabel(QWidget):
    """Rich text that changes ten times a second without ever asking for a new layout.

    A QLabel re-lays out its parent at every new text (its size hint may change), which
    repaints the whole dock several times per frame; this widget has a fixed height, takes
    the width the layout gives it, and only repaints itself.  API like QLabel's: setText,
    text.  ``setText`` also takes shorter versions of the text, which stand in, in turn,
    where it does not fit the width (the whole text is then the tooltip), instead of a
    cut through a word at the edge.  Text without markup is drawn as it is, without a
    document.
    """

    def __init__(self, text: str = "", lines: int = 1, point_size: int = TITLE_POINT_SIZE,
                 colour: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        colour = colour or theme.FOREGROUND  # the palette in use when built
        font = self.font()
        font.setPointSize(point_size)
        self.setFont(font)
        self._document = QTextDocument()
        self._document.setDefaultFont(font)
        self._document.setDocumentMargin(0)
        self._document.setDefaultStyleSheet(f"body {{ color: {colour}; }}")
        self._colour = colour
        self._text = ""
        self._versions: tuple[str, ...] = ("",)  # the text, then shorter stand-ins
        self._shown: str | None = None  # the version laid out, None: pick at the next paint
        self._fitted_width = -1
        self._tooltip_is_text = False  # the whole text is the tooltip (a shorter is shown)
        self._lines = lines
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self.fontMetrics().lineSpacing() * lines + 6)
        self.setText(text)

    def changeEvent(self, event: QEvent) -> None:
        """A new font (presentation mode scales them) resizes the text and the height."""
        if event.type() == QEvent.Type.FontChange and hasattr(self, "_lines"):
            self._document.setDefaultFont(self.font())
            self.setFixedHeight(self.fontMetrics().lineSpacing() * self._lines + 6)
            self._shown = None  # which version fits changes with the font
            self.update()
        super().changeEvent(event)

    def setText(self, text: str, *shorter: str) -> None:
        """Show ``text``, or the first of the ``shorter`` versions that fits the width."""
        versions = (text, *shorter)
        if versions == self._versions:
            return
        self._text, self._versions, self._shown = text, versions, None
        self.update()

    def text(self) -> str:
        return self._text

    def shown_text(self) -> str:
        """The version on screen at this width."""
        self._fit(self.width() - 8)
        return self._shown or ""

    def _fit(self, width: int) -> None:
        """Lay out the first version that fits ``width`` (the last one if none does)."""
        if self._shown is not None and (width == self._fitted_width or len(self._versions) == 1):
            return
        metrics = self.fontMetrics()
        for version in self._versions:
            if is_plain(version):  # (the status bar's: measured without a document)
                if metrics.horizontalAdvance(version) <= width:
                    break
                continue
            self._document.setHtml(f'<body style="color:{self._colour}">{version}</body>')
            self._document.setTextWidth(-1)
            if self._document.idealWidth() <= width:
                break
        self._shown, self._fitted_width = version, width
        if len(self._versions) > 1 or self._tooltip_is_text:  # (never a tooltip set by others)
            self._tooltip_is_text = version != self._text
            self.setToolTip(self._text if self._tooltip_is_text else "")

    def sizeHint(self) -> QSize:
        return QSize(max(self.minimumWidth(), 40), self.height())

    def setTextFormat(self, _format: Qt.TextFormat) -> None:
        """Always rich text (kept so it can stand where a QLabel stood)."""

    def paintEvent(self, event) -> None:
        self._fit(self.width() - 8)
        painter = QPainter(self)
        painter.setClipRect(self.rect())
        painter.translate(4, 2)
        if is_plain(self._shown):
            # Plain text (the status bar's, at every frame) is drawn directly: a rich
            # text document parses and lays it out first, several times the cost.
            painter.setPen(QColor(self._colour))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                             self._shown)
        else:
            self._document.setTextWidth(-1)
            self._document.drawContents(painter)
        painter.end()


def stack(panel: QWidget, *rows: QWidget | QLayout) -> None:
    """The plot panels' layout: rows from top to bottom, the last one (the plot) taking
    the height that is left."""
    layout = QVBoxLayout(panel)
    layout.setContentsMargins(6, 4, 6, 4)
    layout.setSpacing(4)
    for row in rows:
        stretch = 1 if row is rows[-1] else 0
        if isinstance(row, QLayout):
            layout.addLayout(row, stretch)
        else:
            layout.addWidget(row, stretch)


def caption_label(text: str = "") -> QLabel:
    """A large, high-contrast caption that wraps (for text that seldom changes)."""
    label = QLabel(text)
    font = label.font()
    font.setPointSize(TITLE_POINT_SIZE)
    label.setFont(font)
    label.setWordWrap(True)
    label.setContentsMargins(4, 2, 4, 2)
    label.setStyleSheet(f"color: {theme.FOREGROUND};")
    return label


def title_label(text: str = "", lines: int = 1) -> LiveLabel:
    """A caption readable from the back row (large, high contrast) that changes cheaply."""
    return LiveLabel(text, lines)


class ElidedLabel(QLabel):
    """A one-line panel title: never steals height from the picture in a small dock.

    Text that does not fit ends in "…"; the whole text is the tooltip. Put the live
    numbers first so they survive a narrow dock.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        font = self.font()
        font.setPointSize(TITLE_POINT_SIZE)
        self.setFont(font)
        self.setContentsMargins(4, 2, 4, 2)
        self.setStyleSheet(f"color: {theme.FOREGROUND};")
        # The layout decides the width; the text never widens the dock.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self._full_text = ""
        self.set_full_text(text)

    def full_text(self) -> str:
        return self._full_text

    def set_full_text(self, text: str) -> None:
        if text != self._full_text:
            self._full_text = text
            self.setToolTip(text)
            self._elide()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(self.contentsRect().width(), 0)
        self.setText(self.fontMetrics().elidedText(self._full_text, Qt.TextElideMode.ElideRight,
                                                   width))


class ImageCanvas(pg.GraphicsLayoutWidget):
    """One gray ``ImageItem`` in an axis-free, aspect-locked view that fills the widget.

    The image's row 0 is at the top; the view refits (and stays centred) whenever the
    image changes size or the widget is resized. Mouse pan/zoom is off so a stray drag
    in a lecture never loses the picture; clicks still reach the scene.
    """

    #: Emitted after the widget changed size (layouts that depend on it can adapt).
    resized = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground(theme.BACKGROUND)
        self.ci.setContentsMargins(0, 0, 0, 0)
        self.ci.layout.setSpacing(0)
        self.view_box: pg.ViewBox = self.addViewBox(
            lockAspect=True, invertY=True, enableMouse=False, enableMenu=False,
            defaultPadding=0.0)
        # No lookup table: gray levels without building a colour table each frame.  The
        # item converts only the pixels the screen shows (the mosaic changes at every
        # frame and usually shows smaller than it is); smaller than half size on screen
        # (400 tiles in a small dock) it averages pixels rather than skip them, so
        # borders and strokes do not alias into moire.
        self.image = ScreenImageItem(axisOrder="row-major")
        self.image.setAutoDownsample(True)  # (that averaging; ImageItem's too, where it draws)
        self.view_box.addItem(self.image)
        self._shape: tuple[int, int] | None = None

    def set_image(self, image: np.ndarray, levels: tuple[float, float]) -> None:
        """Show ``image`` (float32, row-major) with fixed levels; refit on a new size."""
        self.image.setImage(image, autoLevels=False, levels=levels)
        if image.shape != self._shape:
            self._shape = image.shape
            self.fit()

    def fit(self) -> None:
        """Show the whole image, as large as the widget allows, centred."""
        if getattr(self, "_shape", None) is not None:  # pyqtgraph resizes during __init__
            height, width = self._shape
            self.view_box.setRange(QRectF(0, 0, width, height), padding=0.0)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit()
        self.resized.emit()

    def pixel_at(self, scene_pos: QPointF) -> tuple[int, int] | None:
        """(row, column) of the image pixel under a scene position, or None outside."""
        if self._shape is None:
            return None
        self.view_box.updateMatrix()  # no-op unless the range changed since the last paint
        point = self.image.mapFromScene(scene_pos)
        row, column = math.floor(point.y()), math.floor(point.x())
        height, width = self._shape
        if 0 <= row < height and 0 <= column < width:
            return row, column
        return None

    def scene_pos(self, row: float, column: float) -> QPointF:
        """The scene position of image coordinates (row, column)."""
        self.view_box.updateMatrix()
        return self.image.mapToScene(QPointF(column, row))

    def viewport_pos(self, row: float, column: float) -> QPointF:
        """Where image coordinates (row, column) are on the viewport (for tests, hints)."""
        return self.viewportTransform().map(self.scene_pos(row, column))



def format_number(value: float) -> str:
    """Three significant digits, no exponent for everyday magnitudes."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    return f"{value:.3g}"
