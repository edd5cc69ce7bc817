"""The image views: weight mosaic, reconstructions, unit history and unit inspector."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest

from core.mosaic import grid_shape, tile_mosaic
from gui.panels.mosaic_panel import BORDER, MosaicPanel
from gui.panels.reconstruction_panel import PAIR_GAP, ReconstructionPanel, image_grid
from gui.unit_history import UnitHistory
from gui.unit_inspector import UnitInspector, unit_tile

# ------------------------------------------------------------------ helpers


def rendered_pixels(widget) -> np.ndarray:
    """The widget as painted, (height, width, 4) uint8."""
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    data = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    return data.reshape(image.height(), image.bytesPerLine() // 4, 4)[:, :image.width()]


def assert_not_blank(widget) -> None:
    pixels = rendered_pixels(widget)[..., :3].reshape(-1, 3)
    distinct = np.unique(pixels, axis=0)
    assert len(distinct) > 20, f"only {len(distinct)} colours: the view looks blank"


def record_set_image(image_item: pg.ImageItem) -> list[dict]:
    """Spy on setImage: every call's keyword arguments (the call still happens)."""
    calls: list[dict] = []
    original = image_item.setImage

    def spy(image=None, **kwargs):
        calls.append(kwargs)
        return original(image, **kwargs)

    image_item.setImage = spy
    return calls


def image_items(view_box: pg.ViewBox) -> list[pg.ImageItem]:
    return [item for item in view_box.addedItems if isinstance(item, pg.ImageItem)]


def click(widget, viewport_pos: QPointF) -> None:
    QTest.mouseClick(widget.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, viewport_pos.toPoint())


@pytest.fixture
def mosaic_panel(qtbot):
    panel = MosaicPanel()
    qtbot.addWidget(panel)
    panel.resize(700, 450)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


# ------------------------------------------------------------------ mosaic panel


def test_mosaic_is_one_image_item_reused_with_fixed_levels(mosaic_panel, make_snapshot):
    tab = mosaic_panel.tabs["encoder"]
    item = tab.image
    decoder_item = mosaic_panel.tabs["decoder"].image
    assert mosaic_panel.image_items == {"encoder": item, "decoder": decoder_item}
    calls = record_set_image(item)
    for steps in (5, 10, 20):
        snapshot = make_snapshot(steps=steps)
        mosaic_panel.show_snapshot(snapshot)
        assert tab.image is item
        assert image_items(tab.view_box) == [item]
        expected = tile_mosaic(snapshot.encoder_weights, snapshot.image_shape)
        np.testing.assert_array_equal(item.image, expected)
        assert item.image.dtype == np.float32 and item.image.flags.c_contiguous
    assert len(calls) == 3
    assert all(call["autoLevels"] is False and tuple(call["levels"]) == (-1, 1)
               for call in calls)
    assert tuple(item.getLevels()) == (-1, 1)
    title = mosaic_panel.label.full_text()
    assert title.startswith("Encoder weights · 36 units") and "28×28" in title


def test_only_the_visible_tab_is_drawn_and_the_other_catches_up(mosaic_panel, make_snapshot):
    first, second = make_snapshot(steps=5), make_snapshot(steps=20)
    decoder = mosaic_panel.tabs["decoder"]
    mosaic_panel.show_snapshot(first)
    assert decoder.image.image is None  # hidden tab: nothing computed yet
    mosaic_panel.set_side("decoder")
    np.testing.assert_array_equal(
        decoder.image.image, tile_mosaic(first.decoder_weights.T, first.image_shape))
    assert "Decoder weights" in mosaic_panel.label.full_text()

    mosaic_panel.set_side("encoder")
    mosaic_panel.show_snapshot(second)
    np.testing.assert_array_equal(  # still the old one while hidden
        decoder.image.image, tile_mosaic(first.decoder_weights.T, first.image_shape))
    item = decoder.image
    mosaic_panel.set_side("decoder")
    assert decoder.image is item
    np.testing.assert_array_equal(
        decoder.image.image, tile_mosaic(second.decoder_weights.T, second.image_shape))


def test_per_tile_toggle_switches_to_one_global_scale(mosaic_panel, make_snapshot):
    snapshot = make_snapshot()
    mosaic_panel.show_snapshot(snapshot)
    item = mosaic_panel.tabs["encoder"].image
    per_tile = item.image.copy()
    assert mosaic_panel.per_tile and "per-tile contrast" in mosaic_panel.label.full_text()

    mosaic_panel.per_tile_box.click()
    assert not mosaic_panel.per_tile
    global_scale = tile_mosaic(snapshot.encoder_weights, snapshot.image_shape, per_tile=False)
    np.testing.assert_array_equal(item.image, global_scale)
    assert not np.array_equal(item.image, per_tile)
    assert "one global scale" in mosaic_panel.label.full_text()
    # The decoder tab uses the same choice when it is shown.
    mosaic_panel.set_side("decoder")
    np.testing.assert_array_equal(
        mosaic_panel.tabs["decoder"].image.image,
        tile_mosaic(snapshot.decoder_weights.T, snapshot.image_shape, per_tile=False))


@pytest.mark.parametrize("side", ["encoder", "decoder"])
def test_click_on_a_tile_centre_emits_its_unit(qtbot, mosaic_panel, make_snapshot, side):
    mosaic_panel.show_snapshot(make_snapshot())
    mosaic_panel.set_side(side)
    tab = mosaic_panel.tabs[side]
    for unit in (0, 7, 35):
        with qtbot.waitSignal(mosaic_panel.unitClicked, timeout=1000) as blocker:
            click(tab, tab.viewport_pos(*tab.tile_centre(unit)))
        assert blocker.args == [unit]


def test_click_on_a_border_or_an_empty_cell_emits_nothing(qtbot, mosaic_panel, make_snapshot):
    snapshot = make_snapshot(hidden_units=34, steps=2)  # 6x6 grid: two empty cells
    mosaic_panel.show_snapshot(snapshot)
    tab = mosaic_panel.tabs["encoder"]
    height, width = snapshot.image_shape
    centre_row, _ = tab.tile_centre(0)
    border_column = BORDER + width + 0.5  # the border between tiles 0 and 1
    empty_row, empty_column = tab.tile_centre(35)
    with qtbot.assertNotEmitted(mosaic_panel.unitClicked):
        click(tab, tab.viewport_pos(centre_row, border_column))
        click(tab, tab.viewport_pos(0.5, width / 2))  # the top border
        click(tab, tab.viewport_pos(empty_row, empty_column))
    assert grid_shape(34) == (6, 6)


def test_hover_names_the_unit_under_the_pointer(mosaic_panel, make_snapshot):
    mosaic_panel.show_snapshot(make_snapshot())
    tab = mosaic_panel.tabs["encoder"]
    tab.scene().sigMouseMoved.emit(tab.scene_pos(*tab.tile_centre(8)))
    assert "unit 8" in mosaic_panel.label.full_text()


def test_selected_unit_is_outlined_by_one_reused_rectangle(mosaic_panel, make_snapshot):
    mosaic_panel.show_snapshot(make_snapshot())
    tab = mosaic_panel.tabs["encoder"]
    rectangle = tab.selection
    mosaic_panel.set_selected_unit(7)
    assert rectangle.isVisible()
    top, left = tab.tile_origin(7)
    assert rectangle.rect().contains(QPointF(left + 14, top + 14))
    assert rectangle.rect().width() == tab.tile_shape[1] + 1
    mosaic_panel.set_selected_unit(None)
    assert not rectangle.isVisible()
    assert tab.selection is rectangle


def test_a_new_model_size_reuses_the_image_and_refits_the_view(qtbot, mosaic_panel,
                                                               make_snapshot):
    tab = mosaic_panel.tabs["encoder"]
    item = tab.image
    mosaic_panel.show_snapshot(make_snapshot())
    small_shape = item.image.shape
    bigger = make_snapshot(hidden_units=100, steps=2)
    mosaic_panel.show_snapshot(bigger)
    assert tab.image is item and image_items(tab.view_box) == [item]
    assert item.image.shape != small_shape
    np.testing.assert_array_equal(item.image, tile_mosaic(bigger.encoder_weights, (28, 28)))
    (x0, x1), (y0, y1) = tab.view_box.viewRange()
    height, width = item.image.shape
    assert x0 <= 0.5 and x1 >= width - 0.5 and y0 <= 0.5 and y1 >= height - 0.5
    assert "100 units" in mosaic_panel.label.full_text()
    with qtbot.waitSignal(mosaic_panel.unitClicked, timeout=1000) as blocker:
        click(tab, tab.viewport_pos(*tab.tile_centre(99)))
    assert blocker.args == [99]


def test_the_mosaic_stays_whole_and_centred_when_resized(qtbot, mosaic_panel, make_snapshot):
    mosaic_panel.show_snapshot(make_snapshot())
    tab = mosaic_panel.tabs["encoder"]
    height, width = tab.image.image.shape
    for size in ((400, 700), (900, 300)):
        mosaic_panel.resize(*size)
        qtbot.waitUntil(lambda size=size: mosaic_panel.size().width() == size[0])
        tab.view_box.updateMatrix()
        (x0, x1), (y0, y1) = tab.view_box.viewRange()
        assert x0 <= 0.5 and x1 >= width - 0.5 and y0 <= 0.5 and y1 >= height - 0.5
        assert (x0 + x1) / 2 == pytest.approx(width / 2, abs=0.5)
        assert (y0 + y1) / 2 == pytest.approx(height / 2, abs=0.5)
        # One axis is tight: the picture fills the view in that direction.
        assert min((x1 - x0) / width, (y1 - y0) / height) == pytest.approx(1, abs=0.02)


def test_a_new_image_shape_changes_the_tiles(mosaic_panel, make_snapshot):
    snapshot = make_snapshot()
    wide = dataclasses.replace(snapshot, image_shape=(14, 56))
    mosaic_panel.show_snapshot(wide)
    item = mosaic_panel.tabs["encoder"].image
    np.testing.assert_array_equal(item.image, tile_mosaic(snapshot.encoder_weights, (14, 56)))
    assert "14×56" in mosaic_panel.label.full_text()


def test_a_narrow_dock_keeps_the_title_on_one_line(qtbot, mosaic_panel, make_snapshot):
    mosaic_panel.show_snapshot(make_snapshot())
    mosaic_panel.resize(280, 400)
    qtbot.waitUntil(lambda: mosaic_panel.label.text().endswith("…"))
    assert mosaic_panel.label.text().startswith("Encoder weights · 36 units")
    assert mosaic_panel.label.toolTip() == mosaic_panel.label.full_text()
    assert mosaic_panel.label.height() < 2 * mosaic_panel.label.fontMetrics().height() + 8


def test_mosaic_renders_a_picture(mosaic_panel, make_snapshot):
    mosaic_panel.show_snapshot(make_snapshot())
    assert_not_blank(mosaic_panel.tabs["encoder"])


# ------------------------------------------------------------------ reconstructions


def test_image_grid_places_every_tile_and_fills_the_rest():
    tiles = np.arange(5 * 6, dtype=np.float32).reshape(5, 6) / 30  # five 2x3 images
    grid = image_grid([tiles], (2, 3), columns=3, border=1, group_gap=1, fill=-1)
    assert grid.shape == (2 * 3 + 1, 3 * 4 + 1) and grid.dtype == np.float32
    for index in range(5):
        row, column = divmod(index, 3)
        top, left = 1 + row * 3, 1 + column * 4
        np.testing.assert_array_equal(grid[top:top + 2, left:left + 3],
                                      tiles[index].reshape(2, 3))
    np.testing.assert_array_equal(grid[4:6, 9:12], -1)  # the empty sixth cell
    assert grid[0].tolist() == [-1] * 13


def test_reconstruction_strip_holds_inputs_above_reconstructions(qtbot, make_snapshot):
    panel = ReconstructionPanel()
    qtbot.addWidget(panel)
    panel.resize(700, 450)
    panel.show()
    qtbot.waitExposed(panel)
    item = panel.image_item
    calls = record_set_image(item)
    for steps in (5, 20):
        snapshot = make_snapshot(steps=steps)
        panel.show_snapshot(snapshot)
        assert panel.image_item is item and image_items(panel.canvas.view_box) == [item]
        height, width = snapshot.image_shape
        block = PAIR_GAP + 2 * height + BORDER
        image = item.image
        for index in range(len(snapshot.sample_inputs)):
            row, column = divmod(index, panel.columns)
            top, left = PAIR_GAP + row * block, BORDER + column * (width + BORDER)
            np.testing.assert_array_equal(image[top:top + height, left:left + width],
                                          snapshot.sample_inputs[index].reshape(height, width))
            below = top + height + BORDER
            np.testing.assert_array_equal(
                image[below:below + height, left:left + width],
                snapshot.sample_reconstructions[index].reshape(height, width))
        assert f"Explained variance {snapshot.explained_variance:.2f}" in panel.label.full_text()
    assert all(call["autoLevels"] is False and tuple(call["levels"]) == (0, 1)
               for call in calls)
    assert_not_blank(panel.canvas)


def test_reconstruction_layout_follows_the_panel_shape(qtbot, make_snapshot):
    panel = ReconstructionPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.show_snapshot(make_snapshot())
    panel.resize(1200, 220)
    qtbot.waitUntil(lambda: panel.columns == 16, timeout=2000)
    panel.resize(300, 800)
    qtbot.waitUntil(lambda: panel.columns <= 4, timeout=2000)
    assert panel.image_item.image.shape[0] > panel.image_item.image.shape[1]


# ------------------------------------------------------------------ unit history


def rows(step: int, hidden: int) -> tuple[np.ndarray, np.ndarray]:
    units = np.arange(hidden, dtype=np.float32)
    return step + units / 100, units / 1000 + step / 1e6


def test_history_keeps_each_units_series_in_order():
    history = UnitHistory(capacity=100)
    for step in range(0, 50, 5):
        history.append(step, *rows(step, 4))
    assert len(history) == 10
    for unit in range(4):
        steps, rho_hat, near_zero = history.series(unit)
        assert steps.tolist() == list(range(0, 50, 5))
        np.testing.assert_allclose(rho_hat, steps + unit / 100, rtol=1e-6)
        np.testing.assert_allclose(near_zero, unit / 1000 + steps / 1e6, rtol=1e-5)


def test_history_memory_is_bounded_and_still_spans_the_whole_run():
    capacity, hidden = 50, 8
    history = UnitHistory(capacity=capacity)
    history.append(0, *rows(0, hidden))
    memory = history.nbytes
    for step in range(1, 10 * capacity):
        history.append(step, *rows(step, hidden))
        assert len(history) <= capacity + 1
    assert history.nbytes == memory
    steps, rho_hat, _ = history.series(3)
    assert steps[0] == 0 and steps[-1] == 10 * capacity - 1  # first step to now
    assert np.all(np.diff(steps) > 0)
    spacing = np.diff(steps[:-1])
    assert np.all(spacing == spacing[0]) and spacing[0] == history.stride > 1
    assert len(steps) >= capacity // 2
    np.testing.assert_allclose(rho_hat, steps + 0.03, rtol=1e-6)


def test_history_restarts_for_another_model_or_a_reset_run():
    history = UnitHistory(capacity=10)
    for step in range(5):
        history.append(step, *rows(step, 8))
    history.append(4, *rows(4, 8))  # the same snapshot again: ignored
    assert len(history) == 5
    history.append(7, *rows(7, 5))  # another hidden size
    assert len(history) == 1 and history.hidden_units == 5
    assert history.series(4)[0].tolist() == [7]
    with pytest.raises(IndexError):
        history.series(7)
    history.append(8, *rows(8, 5))
    history.append(2, *rows(2, 5))  # the step went back: training restarted
    assert history.series(0)[0].tolist() == [2]
    history.clear()
    assert len(history) == 0


# ------------------------------------------------------------------ unit inspector


@pytest.fixture
def inspector(qtbot):
    dialog = UnitInspector(UnitHistory(capacity=100))
    qtbot.addWidget(dialog)
    dialog.resize(760, 720)
    return dialog


def record(history: UnitHistory, snapshot) -> None:
    history.append(snapshot.step, snapshot.rho_hat_ema, snapshot.near_zero_ema)


def test_inspector_asks_for_top_inputs_and_shows_only_the_current_units(qtbot, inspector,
                                                                        make_snapshot):
    snapshot = make_snapshot()
    record(inspector.history, snapshot)
    assert not inspector.isModal()
    with qtbot.waitSignal(inspector.topInputsRequested, timeout=1000) as blocker:
        inspector.show_unit(5, snapshot)
    assert blocker.args == [5] and inspector.unit == 5
    assert inspector.windowTitle() == "Unit 5"
    assert "computing" in inspector.top_caption.text()
    assert not inspector.top_canvas.image.isVisible()

    images = snapshot.sample_inputs[:12]
    activations = np.linspace(0.9, 0.4, 12)
    inspector.show_top_inputs(6, images, activations)  # a late answer for another unit
    assert inspector.top_inputs_unit is None
    assert "computing" in inspector.top_caption.text()

    inspector.show_top_inputs(5, images, activations)
    assert inspector.top_inputs_unit == 5
    np.testing.assert_array_equal(inspector.top_canvas.image.image,
                                  image_grid([images], snapshot.image_shape, 8))
    assert "computing" not in inspector.top_caption.text()
    assert "0.90" in inspector.top_caption.text()

    with qtbot.waitSignal(inspector.topInputsRequested, timeout=1000) as blocker:
        inspector.refresh_button.click()
    assert blocker.args == [5]
    with qtbot.waitSignal(inspector.topInputsRequested, timeout=1000) as blocker:
        inspector.show_unit(9, snapshot)
    assert blocker.args == [9] and inspector.top_inputs_unit is None


def test_inspector_updates_its_items_per_snapshot(inspector, make_snapshot):
    first, second = make_snapshot(steps=5), make_snapshot(steps=20)
    record(inspector.history, first)
    inspector.show_unit(3, first)
    encoder_item = inspector.encoder_canvas.image
    curve = inspector.rho_curve
    np.testing.assert_array_equal(encoder_item.image,
                                  unit_tile(first.encoder_weights, 3, first.image_shape))
    assert len(curve.getData()[0]) == 1

    record(inspector.history, second)
    inspector.update_snapshot(second)
    assert inspector.encoder_canvas.image is encoder_item and inspector.rho_curve is curve
    np.testing.assert_array_equal(encoder_item.image,
                                  unit_tile(second.encoder_weights, 3, second.image_shape))
    np.testing.assert_array_equal(
        inspector.decoder_canvas.image.image,
        unit_tile(second.decoder_weights.T, 3, second.image_shape))
    steps, rho_hat = curve.getData()
    assert steps.tolist() == [first.step, second.step]
    np.testing.assert_allclose(rho_hat, [first.rho_hat_ema[3], second.rho_hat_ema[3]])
    assert f"ρ̂ = {second.rho_hat_ema[3]:.3f}" in inspector.header.text()
    assert tuple(encoder_item.getLevels()) == (-1, 1)

    inspector.show_unit(4, second)  # another unit: the same items
    assert inspector.encoder_canvas.image is encoder_item and inspector.rho_curve is curve
    np.testing.assert_array_equal(encoder_item.image,
                                  unit_tile(second.encoder_weights, 4, second.image_shape))


def test_inspector_shows_the_curves_that_fit_the_penalty(inspector, make_snapshot):
    kl = make_snapshot()
    inspector.show_unit(0, kl)
    assert inspector.target_curve.isVisible() and not inspector.near_zero_curve.isVisible()
    assert inspector.target_curve.getData()[1].tolist() == [kl.config.rho] * 2
    l1 = make_snapshot(penalty="l1", encoder_activation="tanh")
    inspector.update_snapshot(l1)
    assert inspector.near_zero_curve.isVisible() and not inspector.target_curve.isVisible()


def test_inspector_renders_and_refetches_when_reopened(qtbot, inspector, make_snapshot):
    snapshot = make_snapshot()
    record(inspector.history, snapshot)
    requests: list[int] = []
    inspector.topInputsRequested.connect(requests.append)
    inspector.show_unit(2, snapshot)
    inspector.show_top_inputs(2, snapshot.sample_inputs, np.ones(16))
    inspector.show()
    qtbot.waitExposed(inspector)
    assert requests == [2]  # show_unit then show(): asked once
    assert_not_blank(inspector.encoder_canvas)
    assert_not_blank(inspector.top_canvas)
    inspector.hide()
    with qtbot.waitSignal(inspector.topInputsRequested, timeout=1000) as blocker:
        inspector.show()
    assert blocker.args == [2]
