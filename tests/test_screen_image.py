"""ScreenImageItem: the image converted only where the screen shows it, as ImageItem would."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QImage
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QVBoxLayout, QWidget

from gui.panels.common import ImageCanvas
from gui.panels.screen_image import ScreenImageItem, pixel_samples
from gui.theme import configure_pyqtgraph


def grey_pixels(canvas: ImageCanvas) -> np.ndarray:
    """The canvas as painted, gray levels (height, width) as int."""
    image = canvas.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    data = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    pixels = data.reshape(image.height(), image.bytesPerLine() // 4, 4)[:, :image.width()]
    return pixels[..., 1].astype(int)


def mosaic_like(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Random gray values in [-1, 1] with a 1-px black grid every 29 pixels (as the mosaic)."""
    image = np.random.default_rng(seed).uniform(-1, 1, (height, width)).astype(np.float32)
    image[::29, :] = -1.0
    image[:, ::29] = -1.0
    return image


@pytest.fixture
def canvases(qtbot):
    """Two canvases side by side: ours, and one whose item is pyqtgraph's own ImageItem."""
    configure_pyqtgraph()
    made, holders = [], []
    for _ in range(2):
        # (inside a plain widget: pyqtgraph's GraphicsView.close() crashes on a top-level
        # view, which is how qtbot would close it)
        holder = QWidget()
        layout = QVBoxLayout(holder)
        layout.setContentsMargins(0, 0, 0, 0)
        canvas = ImageCanvas()
        layout.addWidget(canvas)
        qtbot.addWidget(holder)
        holders.append(holder)  # (qtbot keeps only a weak reference)
        made.append(canvas)
    ours, reference = made
    reference.view_box.removeItem(reference.image)
    reference.image = pg.ImageItem(axisOrder="row-major")
    reference.view_box.addItem(reference.image)
    assert isinstance(ours.image, ScreenImageItem)
    yield ours, reference
    assert ours.image.screen_error is None
    del holders


@pytest.fixture
def conversions(monkeypatch) -> list[int]:
    """One entry for every time a ScreenImageItem converts pixels to grey."""
    calls: list[int] = []
    convert = ScreenImageItem._grey
    monkeypatch.setattr(ScreenImageItem, "_grey",
                        lambda item, *samples: calls.append(1) or convert(item, *samples))
    return calls


def drawn_by_screen_path(canvas: ImageCanvas) -> bool:
    """Whether the last paint of ``canvas`` went through ScreenImageItem's own picture."""
    picture = getattr(canvas.image, "_picture", None)
    return picture is not None and picture[1] is not None


def show(qtbot, canvas: ImageCanvas, image: np.ndarray, size: tuple[int, int],
         levels=(-1.0, 1.0), screen_path: bool = True) -> np.ndarray:
    """``image`` on ``canvas`` at ``size``, as painted; ours must have drawn it through
    its own picture unless ``screen_path`` is False (so the comparisons below compare
    the new path with ImageItem, not ImageItem with itself)."""
    holder = canvas.parentWidget()
    holder.resize(*size)
    holder.show()
    qtbot.waitExposed(holder)
    assert (canvas.width(), canvas.height()) == size
    if isinstance(canvas.image, ScreenImageItem):
        canvas.image._picture = None
    canvas.set_image(image, levels)
    canvas.fit()
    pixels = grey_pixels(canvas)
    if isinstance(canvas.image, ScreenImageItem):
        assert drawn_by_screen_path(canvas) == screen_path
    return pixels


def assert_alike(mine: np.ndarray, theirs: np.ndarray, canvas: ImageCanvas) -> None:
    """Equal but where Qt rounds a pixel's centre the other way on an image pixel's edge.
    At a fractional screen scaling (125%, 150%) Qt's scaled drawing places many edges a
    pixel off from the pixel-centre rule, so there a pixel may instead equal one of its
    neighbours in ImageItem's picture (a wrong layout or scale still fails)."""
    assert mine.shape == theirs.shape
    alike = np.abs(mine - theirs) <= 1  # (1: float rounding at a level's edge)
    ratio = canvas.devicePixelRatioF()
    if ratio != int(ratio):
        for shift in ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1)):
            alike |= np.abs(mine - np.roll(theirs, shift, axis=(0, 1))) <= 1
    differ = 1.0 - alike.mean()
    assert differ < 0.02, f"{differ:.1%} of pixels differ"


# ------------------------------------------------------------------ sampling


def test_pixel_samples_at_full_size_is_every_pixel():
    first, (columns,) = pixel_samples(1.0, 10.0, 5, 100, 1)
    assert first == 10
    np.testing.assert_array_equal(columns, [0, 1, 2, 3, 4])


def test_pixel_samples_smaller_and_larger_than_the_image():
    # 10 image pixels on 4 screen pixels: each shows the one under its centre.
    first, (columns,) = pixel_samples(0.4, 0.0, 10, 100, 1)
    assert first == 0
    np.testing.assert_array_equal(columns, [1, 3, 6, 8])  # centres 0.5, 1.5, ... / 0.4
    # 3 image pixels on 9 screen pixels: each repeated 3 times.
    _, (columns,) = pixel_samples(3.0, 0.0, 3, 100, 1)
    np.testing.assert_array_equal(columns, [0, 0, 0, 1, 1, 1, 2, 2, 2])


def test_pixel_samples_spread_over_a_pixel_when_averaging():
    _, (left, right) = pixel_samples(0.25, 0.0, 8, 100, 2)
    # Screen pixel 0 covers image pixels 0-3: its two samples sit at 1 and 3.
    np.testing.assert_array_equal(left, [1, 5])
    np.testing.assert_array_equal(right, [3, 7])


def test_pixel_samples_clip_to_the_screen_and_follow_a_flip():
    first, (columns,) = pixel_samples(1.0, -3.0, 10, 5, 1)  # starts 3 px off screen
    assert first == 0
    np.testing.assert_array_equal(columns, [3, 4, 5, 6, 7])
    first, (columns,) = pixel_samples(-1.0, 4.0, 4, 100, 1)  # x grows leftwards
    np.testing.assert_array_equal(columns, [3, 2, 1, 0])
    first, (columns,) = pixel_samples(1.0, 200.0, 10, 100, 1)  # wholly off screen
    assert columns.size == 0


# ------------------------------------------------------------------ pictures


@pytest.mark.parametrize("size", [(340, 540), (700, 700), (400, 900)])
def test_same_picture_as_imageitem_without_averaging(qtbot, canvases, size):
    """Between half and full size, and enlarged, each screen pixel shows the image pixel
    under its centre, as Qt's scaling of ImageItem's QImage does."""
    ours, reference = canvases
    image = mosaic_like(581, 581) if size != (700, 700) else mosaic_like(40, 60)
    reference.image.setAutoDownsample(False)
    mine = show(qtbot, ours, image, size)
    theirs = show(qtbot, reference, image, size)
    assert_alike(mine, theirs, ours)
    assert len(np.unique(mine)) > 100


def test_much_smaller_averages_as_imageitem_auto_downsampling(qtbot, canvases):
    """Less than half size on screen (a 581-pixel mosaic in 200 pixels): each screen
    pixel averages 2 x 2 samples, where pyqtgraph averages 2 x 2 blocks, then scales."""
    ours, reference = canvases
    reference.image.setAutoDownsample(True)
    side = max(80, round(200 / ours.devicePixelRatioF()))  # about 200 screen pixels
    noise = mosaic_like(581, 581)
    mine = show(qtbot, ours, noise, (side, side))[20:-20, 20:-20]
    theirs = show(qtbot, reference, noise, (side, side))[20:-20, 20:-20]
    sampled = (noise[::3, ::3] + 1) * 127.5  # one pixel in three, not averaged
    # Averages, not samples: random values average towards mid grey, as pyqtgraph's do.
    assert mine.std() < 0.7 * sampled.std() and theirs.std() < 0.7 * sampled.std()
    assert abs(mine.mean() - theirs.mean()) < 3
    # Where neighbouring pixels are alike, the two pictures agree pixel by pixel.
    rows, columns = np.mgrid[0:581, 0:581]
    smooth = (np.sin(rows / 40.0) * np.cos(columns / 55.0)).astype(np.float32)
    smooth_mine = show(qtbot, ours, smooth, (side, side))
    smooth_theirs = show(qtbot, reference, smooth, (side, side))
    # (pyqtgraph picks its blocks by logical pixels, so on a HiDPI screen it averages
    # more and then enlarges: alike only in brightness there)
    if ours.devicePixelRatioF() == 1:
        assert mine.std() == pytest.approx(theirs.std(), rel=0.15)
        assert np.abs(smooth_mine - smooth_theirs).mean() < 3
    else:
        assert abs(smooth_mine.mean() - smooth_theirs.mean()) < 3


@pytest.mark.parametrize("dtype, levels", [
    (np.uint16, (20, 220)), (np.uint8, (20, 220)), (np.float64, (20, 220)),
    (np.uint32, (2**30, 2**30 + 255)),  # (beyond float32's integers: float64, as ImageItem)
    (np.float32, (100, 100)),  # (equal levels: ImageItem divides by 1 instead)
])
def test_levels_and_dtypes_scale_as_imageitem(qtbot, canvases, dtype, levels):
    ours, reference = canvases
    image = (np.arange(64 * 64).reshape(64, 64) % 300 + (levels[0] - 20)).astype(dtype)
    reference.image.setAutoDownsample(False)
    mine = show(qtbot, ours, image, (256, 256), levels=levels)
    theirs = show(qtbot, reference, image, (256, 256), levels=levels)
    assert_alike(mine, theirs, ours)
    assert mine.min() == 0 and mine.max() == 255  # clipped at both levels


@pytest.mark.parametrize("view", ["y up", "panned", "zoomed", "rect"])
def test_other_views_of_the_image_as_imageitem(qtbot, canvases, view):
    """y growing upwards, an image partly off screen, enlarged past the view, or placed
    by setRect (no new image: only the view changes)."""
    ours, reference = canvases
    image = mosaic_like(120, 90)
    reference.image.setAutoDownsample(False)
    pictures = []
    for canvas in (ours, reference):
        show(qtbot, canvas, image, (300, 240))
        if view == "y up":
            canvas.view_box.invertY(False)
        elif view == "panned":
            canvas.view_box.setRange(xRange=(40, 140), yRange=(-30, 60), padding=0)
        elif view == "zoomed":
            canvas.view_box.setRange(xRange=(30.3, 41.7), yRange=(50.2, 59.9), padding=0)
        else:
            canvas.image.setRect(-30.0, 10.0, 135.0, 180.0)
        pictures.append(grey_pixels(canvas))
    assert drawn_by_screen_path(ours)
    assert_alike(*pictures, ours)
    assert len(np.unique(pictures[0])) > 20


def test_without_auto_downsampling_one_sample_a_pixel(qtbot, canvases):
    ours, reference = canvases
    image = mosaic_like(581, 581)
    for canvas in (ours, reference):
        canvas.image.setAutoDownsample(False)
    assert_alike(show(qtbot, ours, image, (200, 200)),
                 show(qtbot, reference, image, (200, 200)), ours)


def test_a_new_image_or_levels_redraws_and_a_repaint_alone_reuses(qtbot, canvases,
                                                                  conversions):
    ours, _ = canvases
    image = mosaic_like(100, 100)
    first = show(qtbot, ours, image, (300, 300))
    assert len(conversions) == 1
    assert np.array_equal(grey_pixels(ours), first)
    assert len(conversions) == 1  # nothing new: the same picture is drawn again
    image[:] = 1.0  # the same array, changed, handed over again
    ours.set_image(image, (-1.0, 1.0))
    assert grey_pixels(ours)[150, 150] == 255 and first[150, 150] != 255
    assert len(conversions) == 2
    ours.image.setLevels((-3.0, 1.0))
    assert grey_pixels(ours)[150, 150] == 255
    ours.image.setLevels((1.0, 3.0))
    assert grey_pixels(ours)[150, 150] == 0
    ours.image.setLevels((-1.0, 1.0), update=False)  # (ImageItem would wait for a render)
    assert grey_pixels(ours)[150, 150] == 255
    assert len(conversions) == 5


def test_nans_and_colour_tables_are_left_to_imageitem(qtbot, canvases, conversions):
    ours, reference = canvases
    image = mosaic_like(100, 100)
    image[40:60, 40:60] = np.nan
    mine = show(qtbot, ours, image, (300, 300), screen_path=False)
    reference.image.setAutoDownsample(False)
    assert_alike(mine, show(qtbot, reference, image, (300, 300)), ours)  # NaN transparent
    grey_pixels(ours)
    assert len(conversions) == 1  # (found once an image, not at every paint)
    ours.image.setLookupTable(pg.colormap.get("viridis").getLookupTable(nPts=256))
    show(qtbot, ours, mosaic_like(100, 100), (300, 300), screen_path=False)
    pixels = ours.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    assert not pixels.isGrayscale()


def test_images_rendered_elsewhere(qtbot, canvases, tmp_path, conversions):
    """A widget rendered into a 2x image gets what ImageItem would draw there; an SVG
    export gets the image whole from ImageItem (vector output, the image embedded as it
    is); and save() writes the image as ImageItem would."""
    ours, reference = canvases
    image = mosaic_like(581, 581)
    reference.image.setAutoDownsample(True)
    rendered = []
    for canvas in (ours, reference):
        show(qtbot, canvas, image, (340, 340))
        target = QImage(680, 680, QImage.Format.Format_RGB32)
        target.setDevicePixelRatio(2.0)
        canvas.parentWidget().render(target)  # (QWidget's render, as the exports use)
        pixels = np.frombuffer(target.constBits(), np.uint8, count=target.sizeInBytes())
        rendered.append(pixels.reshape(680, 680, 4)[..., 1].astype(int))
    assert_alike(*rendered, ours)
    # (at 2x the 581-pixel image shows at 680 pixels: every image pixel, none doubled)
    assert (np.diff(rendered[0], axis=1) == 0).mean() < 0.3

    ours.image._picture = None
    conversions.clear()
    generator = QSvgGenerator()
    generator.setFileName(str(tmp_path / "canvas.svg"))
    generator.setSize(ours.size())
    ours.parentWidget().render(generator)
    del generator
    assert conversions == [] and ours.image._picture is None  # (not a raster engine)
    assert (tmp_path / "canvas.svg").stat().st_size > 100_000  # the whole image embedded

    ours.image.save(str(tmp_path / "image.png"))
    saved = QImage(str(tmp_path / "image.png"))
    assert (saved.width(), saved.height()) == (581, 581)


def test_a_failure_of_the_screen_path_falls_back_to_imageitem(qtbot, canvases, monkeypatch):
    """An exception must never unwind into Qt's painting: ImageItem draws instead."""
    ours, reference = canvases
    image = mosaic_like(100, 100)
    reference.image.setAutoDownsample(False)
    expected = show(qtbot, reference, image, (300, 300))

    def broken(item, painter):
        raise ValueError("broken")

    monkeypatch.setattr(ScreenImageItem, "_screen_picture", broken)
    with pytest.warns(RuntimeWarning, match="broken"):
        drawn = show(qtbot, ours, image, (300, 300), screen_path=False)
    assert isinstance(ours.image.screen_error, ValueError)
    np.testing.assert_array_equal(drawn, expected)
    with warnings.catch_warnings(record=True) as caught:  # the path stays off: no new
        warnings.simplefilter("always")                 # warning, no new attempt
        ours.image.setImage(mosaic_like(100, 100, seed=1))
        grey_pixels(ours)
    assert caught == []
    monkeypatch.undo()
    ours.image.screen_error = None  # (the fixture checks that nothing else failed)


@pytest.mark.skipif(bool(os.environ.get("QT_SCALE_FACTOR")), reason="already scaled")
@pytest.mark.parametrize("factor", ["2", "1.5"])
def test_the_same_pictures_on_a_scaled_screen(factor):
    """HiDPI screens and projectors at 150% or 200%: the checks above, in a Qt application
    scaled by ``factor`` (a fresh process: the scale is fixed when Qt starts)."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__],
        env={**os.environ, "QT_SCALE_FACTOR": factor, "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "skipped" in result.stdout
