"""An ImageItem that converts only the pixels the screen shows.

pyqtgraph's ImageItem turns its whole image into an 8-bit QImage at every new image, and
Qt then scales that QImage into the view.  The weight mosaic (581x581 pixels for 400 MNIST
units) changes at every frame and usually shows smaller than it is (about 480x480 in a
1600x900 window), so much of that conversion is thrown away; where the view is less than half the
image's size, pyqtgraph first averages the whole image down.  This item looks up, once
per view size, which image rows and columns the screen's own pixels show (the one under
each pixel's centre, as Qt's non-smooth scaling picks it), gathers those pixels, converts
them to 8-bit with ImageItem's level scaling, and draws the result unscaled.  Below half
size each screen pixel averages k x k samples, as pyqtgraph's auto-downsampling averages
k x k blocks, so borders and strokes do not alias into moire.  What it saves is measured
by ``benchmarks/bench_frame.py`` (see benchmarks/README.md).

Anything else ImageItem draws itself: a colour table, NaNs on screen, a rotated view, and
painting that does not rasterize (an SVG export gets the image whole, not as the screen
shows it).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtGui import QImage, QPaintEngine, QPainter, QTransform

#: Never average more than this many samples per screen pixel along an axis.
MAX_SAMPLES = 4


def pixel_samples(scale: float, offset: float, length: int, screen: int,
                  samples: int) -> tuple[int, list[np.ndarray]]:
    """Which image pixels the screen's pixels show along one axis.

    The image's pixel ``x`` covers screen coordinates ``scale * x + offset`` (physical
    pixels) to one ``scale`` further.  Returns the first screen pixel that shows the
    image and, for each of ``samples`` positions spread over a screen pixel, the image
    pixel under it for every screen pixel from there on (empty where none shows).
    """
    ends = (offset, scale * length + offset)
    first = max(0, math.ceil(min(ends) - 0.5))
    stop = min(screen, math.ceil(max(ends) - 0.5))
    if stop <= first:
        return first, [np.zeros(0, np.intp) for _ in range(samples)]
    pixels = np.arange(first, stop, dtype=np.float64)
    columns = []
    for sample in range(samples):
        position = pixels + (sample + 0.5) / samples
        index = np.floor((position - offset) / scale).astype(np.intp)
        columns.append(np.clip(index, 0, length - 1))
    return first, columns


class ScreenImageItem(pg.ImageItem):
    """An ImageItem for a gray image with fixed levels, drawn at the screen's resolution."""

    # (Class attributes: ImageItem.__init__ may call setImage before __init__ below runs.)
    #: Counts new images and levels (the same array may come back changed).
    _version = 0
    #: What stopped the screen-resolution path, if anything (ImageItem draws instead).
    screen_error: Exception | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        #: (key, where, image rows per sample, image columns per sample) for one view
        self._sampling: tuple[tuple, QPointF, list[np.ndarray], list[np.ndarray]] | None = None
        #: (key, QImage, its 8-bit pixels) last drawn; (key, None, None): NaNs on screen
        self._picture: tuple[tuple, QImage | None, np.ndarray | None] | None = None

    def setImage(self, image=None, autoLevels=None, **kwargs) -> None:
        self._version += 1
        super().setImage(image, autoLevels, **kwargs)

    def setLevels(self, levels, update=True) -> None:
        self._version += 1
        super().setLevels(levels, update)

    def save(self, fileName, *args) -> None:
        """As ImageItem's (which saves nothing until it has drawn its own QImage)."""
        if self.qimage is None and self.image is not None:
            self.render()
        super().save(fileName, *args)

    def paint(self, painter: QPainter, *args) -> None:
        picture = None
        if self.screen_error is None:
            try:
                picture = self._screen_picture(painter)
            except Exception as error:  # (an exception must not unwind into Qt's painting)
                self.screen_error = error
                warnings.warn(f"ScreenImageItem: {error!r}; ImageItem draws the image from "
                              "now on", RuntimeWarning, stacklevel=1)
        if picture is None:
            super().paint(painter, *args)
            return
        position, image = picture
        painter.save()
        painter.resetTransform()
        painter.drawImage(position, image)
        painter.restore()

    def _drawable_here(self, painter: QPainter) -> bool:
        image = self.image
        engine = painter.paintEngine()
        return not (image is None or image.ndim != 2 or image.size == 0
                    or self.levels is None or np.ndim(self.levels) != 1
                    or self.lut is not None or self.paintMode is not None
                    or self.border is not None or self.axisOrder != "row-major"
                    or engine is None or engine.type() != QPaintEngine.Type.Raster)

    def _screen_picture(self, painter: QPainter) -> tuple[QPointF, QImage] | None:
        """The image as the screen shows it, and where (None: leave it to ImageItem)."""
        if not self._drawable_here(painter):
            return None
        transform = painter.worldTransform()
        if (transform.type().value > QTransform.TransformationType.TxScale.value
                or transform.m11() == 0 or transform.m22() == 0):
            return None
        # Logical size from the widget painted; pixels per logical pixel from where the
        # pixels go (a widget rendered into a 2x image is painted through a 1x widget).
        device = painter.device()
        ratio = painter.paintEngine().paintDevice().devicePixelRatioF()
        height, width = self.image.shape
        key = (transform.m11(), transform.m22(), transform.dx(), transform.dy(), ratio,
               device.width(), device.height(), height, width, bool(self.autoDownsample))
        if self._sampling is None or self._sampling[0] != key:
            self._sampling = (key, *self._sample(transform, ratio, device.width(),
                                                 device.height(), height, width))
        _, position, rows, columns = self._sampling
        if rows[0].size == 0 or columns[0].size == 0:
            return None
        picture_key = (key, self._version)
        if self._picture is None or self._picture[0] != picture_key:
            grey = self._grey(rows, columns)
            if grey is None:  # NaNs on screen: ImageItem draws them transparent
                self._picture = (picture_key, None, None)
            else:
                image = QImage(grey.data, grey.shape[1], grey.shape[0], grey.shape[1],
                               QImage.Format.Format_Grayscale8)
                image.setDevicePixelRatio(ratio)
                self._picture = (picture_key, image, grey)  # (the QImage borrows grey)
        image = self._picture[1]
        return None if image is None else (position, image)

    def _sample(self, transform: QTransform, ratio: float, device_width: int,
                device_height: int, height: int, width: int
                ) -> tuple[QPointF, list[np.ndarray], list[np.ndarray]]:
        """Where the picture goes (logical pixels), and the image rows and columns each
        of its pixels shows, per sample along that axis."""
        scale_x, scale_y = transform.m11() * ratio, transform.m22() * ratio
        average = bool(self.autoDownsample)  # (off: one sample, as ImageItem's scaling)
        left, columns = pixel_samples(scale_x, transform.dx() * ratio, width,
                                      round(device_width * ratio),
                                      samples_per_pixel(scale_x) if average else 1)
        top, rows = pixel_samples(scale_y, transform.dy() * ratio, height,
                                  round(device_height * ratio),
                                  samples_per_pixel(scale_y) if average else 1)
        return QPointF(left / ratio, top / ratio), rows, columns

    def _grey(self, rows: list[np.ndarray], columns: list[np.ndarray]) -> np.ndarray | None:
        """The screen's pixels as 8-bit grey: the image at the samples (their mean, where
        a pixel has several: rows first, then columns), scaled by the levels as ImageItem
        scales them (``(value - low) * 255 / (high - low)``, clipped, then truncated);
        None where a value is NaN."""
        image = self.image
        # In ImageItem's working precision: float32 unless that would round the values.
        work = np.float32 if np.can_cast(image.dtype, np.float32) else np.float64
        picked = image.take(rows[0], axis=0).astype(work, copy=False)  # (a copy)
        for row in rows[1:]:
            picked += image.take(row, axis=0)
        values = picked.take(columns[0], axis=1)
        for column in columns[1:]:
            values += picked.take(column, axis=1)
        if len(rows) * len(columns) > 1:
            values /= len(rows) * len(columns)
        if np.isnan(values.min()):
            return None
        low, high = (float(level) for level in self.levels)
        values -= low
        values *= 255.0 / (high - low if high != low else 1.0)
        np.clip(values, 0.0, 255.0, out=values)
        return values.astype(np.uint8, order="C")  # (the QImage reads rows in order)


def samples_per_pixel(scale: float) -> int:
    """Samples to average per screen pixel along an axis where an image pixel covers
    ``scale`` screen pixels: as many as pyqtgraph's auto-downsampling averages (one
    above half size), at most MAX_SAMPLES."""
    return min(MAX_SAMPLES, max(1, int(1.0 / abs(scale))))
