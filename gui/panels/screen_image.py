"""An ImageItem that converts only the pixels the screen shows.

pyqtgraph's ImageItem turns its whole image into an 8-bit QImage at every new image,
then Qt scales that QImage into the view.  The weight mosaic (581x581 pixels for 400
MNIST units) changes at every frame and usually shows smaller than it is (about 340x340
in the window), so most of that work is thrown away: 1.5 ms of the GUI thread a frame,
and 6 ms where the view is so small that pyqtgraph first averages the image down.  This
item samples the image at the centres of the screen's own pixels, through an index built
once per view size, converts only those to 8-bit with the same levels, and draws the
result unscaled.  Where the screen shows the image at less than half size it averages
k x k samples per pixel, as pyqtgraph's auto-downsampling averages k x k blocks; between
half and full size each pixel shows the image pixel under its centre, which is what Qt's
own (non-smooth) scaling draws.

Anything else (a colour table, NaNs, a rotated view) is drawn by ImageItem itself.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtGui import QImage, QTransform

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

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._sampling: tuple[tuple, QPointF, list[np.ndarray]] | None = None
        self._picture: tuple[tuple, QImage, np.ndarray] | None = None

    #: Counts new images and levels (the same array may come back changed).
    _version = 0

    def setImage(self, image=None, autoLevels=None, **kwargs) -> None:
        self._version += 1
        super().setImage(image, autoLevels, **kwargs)

    def setLevels(self, levels, update=True) -> None:
        self._version += 1
        super().setLevels(levels, update)

    def paint(self, painter, *args) -> None:
        picture = self._screen_picture(painter)
        if picture is None:
            super().paint(painter, *args)
            return
        position, image = picture
        painter.save()
        painter.resetTransform()
        painter.drawImage(position, image)
        painter.restore()

    def _drawable_here(self) -> bool:
        image = self.image
        return not (image is None or image.ndim != 2 or image.size == 0
                    or self.levels is None or np.ndim(self.levels) != 1
                    or self.lut is not None or self.paintMode is not None
                    or self.border is not None or self.axisOrder != "row-major")

    def _screen_picture(self, painter) -> tuple[QPointF, QImage] | None:
        """The image as the screen shows it, and where (None: leave it to ImageItem)."""
        if not self._drawable_here():
            return None
        transform = painter.worldTransform()
        if (transform.type().value > QTransform.TransformationType.TxScale.value
                or transform.m11() == 0 or transform.m22() == 0):
            return None
        device = painter.device()
        ratio = device.devicePixelRatioF()
        height, width = self.image.shape
        key = (transform.m11(), transform.m22(), transform.dx(), transform.dy(), ratio,
               device.width(), device.height(), height, width)
        if self._sampling is None or self._sampling[0] != key:
            self._sampling = (key, *self._sample(transform, ratio, device, height, width))
        _, position, indices = self._sampling
        if not indices or indices[0].size == 0:
            return None
        picture_key = (key, self._version)
        if self._picture is None or self._picture[0] != picture_key:
            grey = self._grey(indices)
            if grey is None:  # NaNs on screen: ImageItem draws them transparent
                return None
            rows, columns = grey.shape
            image = QImage(grey.data, columns, rows, columns, QImage.Format.Format_Grayscale8)
            image.setDevicePixelRatio(ratio)
            self._picture = (picture_key, image, grey)  # (the QImage borrows grey's memory)
        return position, self._picture[1]

    @staticmethod
    def _sample(transform: QTransform, ratio: float, device, height: int,
                width: int) -> tuple[QPointF, list[np.ndarray]]:
        """Where the picture goes (logical pixels) and, per sample, the flat index of the
        image pixel each of its pixels shows."""
        scale_x, scale_y = transform.m11() * ratio, transform.m22() * ratio
        samples = min(MAX_SAMPLES, max(1, int(1.0 / min(abs(scale_x), abs(scale_y)))))
        left, columns = pixel_samples(scale_x, transform.dx() * ratio, width,
                                      round(device.width() * ratio), samples)
        top, rows = pixel_samples(scale_y, transform.dy() * ratio, height,
                                  round(device.height() * ratio), samples)
        indices = [(row * width)[:, None] + column[None, :] for row in rows for column in columns]
        return QPointF(left / ratio, top / ratio), indices

    def _grey(self, indices: list[np.ndarray]) -> np.ndarray | None:
        """The sampled pixels as 8-bit grey, scaled by the levels as ImageItem scales
        them (``(value - low) * 255 / (high - low)``, clipped, then truncated); None
        where a sample is NaN."""
        flat = self.image.reshape(-1)
        values = flat.take(indices[0]).astype(np.float32)  # (a copy, whatever the dtype)
        for index in indices[1:]:
            values += flat.take(index)
        if len(indices) > 1:
            values /= len(indices)
        if values.dtype.kind == "f" and np.isnan(values.min()):
            return None
        low, high = (float(level) for level in self.levels)
        values -= low
        values *= 255.0 / (high - low if high != low else 1.0)
        np.clip(values, 0.0, 255.0, out=values)
        return values.astype(np.uint8)
