"""The curve panels: loss history, sparsity per unit, penalty curve.

Each is fed real snapshots from the tiny trainer (tests/conftest.py); a few tests swap
in hand-made arrays (dataclasses.replace) for cases a short run does not produce:
dead and saturated units, a history with zeros for the log axis.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtTest import QTest

from core.history import HistoryArrays
from core.penalties import (
    kl_divergence,
    kl_divergence_curve,
    kl_divergence_gradient,
    kl_gradient_curve,
)
from gui import theme
from gui.panels.common import title_label
from gui.panels.kl_panel import PenaltyCurvePanel
from gui.panels.loss_panel import (
    TERMS,
    LossPanel,
    debiased_ema,
    loss_axis_bounds,
    step_axis_end,
)
from gui.panels.rho_panel import RhoPanel


@pytest.fixture(autouse=True)
def pyqtgraph_theme():
    theme.configure_pyqtgraph()


def shown(qtbot, panel, width: int = 700, height: int = 450):
    qtbot.addWidget(panel)
    panel.resize(width, height)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def assert_not_blank(panel) -> None:
    image = panel.grab().toImage()
    assert image.width() > 100 and image.height() > 100
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7)
               for y in range(0, image.height(), 7)}
    assert len(colours) > 10


def with_units(snapshot, dead=(), saturated=()):
    """The snapshot with some units marked dead and some driven to saturation."""
    dead_units = np.zeros(snapshot.hidden_units, bool)
    dead_units[list(dead)] = True
    ema = np.array(snapshot.rho_hat_ema)
    ema[list(dead)] = 0.001
    ema[list(saturated)] = 0.97
    near_zero = np.array(snapshot.near_zero_ema)
    near_zero[list(dead)] = 1.0
    near_zero[list(saturated)] = 0.0
    return dataclasses.replace(snapshot, dead_units=dead_units, rho_hat_ema=ema,
                               near_zero_ema=near_zero)


def with_history(snapshot, **columns: np.ndarray):
    """The snapshot with a hand-made history (other columns copied from 'total')."""
    rows = len(next(iter(columns.values())))
    names = snapshot.history.columns
    mean = np.ones((rows, len(names)))
    for name, values in columns.items():
        mean[:, names.index(name)] = values
    steps = np.arange(rows, dtype=np.int64) * 4
    history = HistoryArrays(names, steps, steps + 3, mean, mean - np.abs(mean) * 0.2,
                            mean + np.abs(mean) * 0.3)
    return dataclasses.replace(snapshot, history=history)


def click_view(qtbot, panel, x: float, y: float) -> None:
    """A real left click at view coordinates (x, y) of the panel's plot."""
    view_box = panel.plot.getViewBox()
    scene_pos = view_box.mapViewToScene(QPointF(x, y))
    widget_pos = panel.plot_widget.mapFromScene(scene_pos)
    QTest.mouseClick(panel.plot_widget.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, QPoint(widget_pos.x(), widget_pos.y()))


# -- LossPanel ---------------------------------------------------------------------------


def ideal_width(label, html: str) -> float:
    document = QTextDocument()
    document.setDefaultFont(label.font())
    document.setDocumentMargin(0)
    document.setHtml(f"<body>{html}</body>")
    return document.idealWidth()


def test_a_live_label_shows_the_longest_version_that_fits_never_a_cut(qtbot):
    label = title_label()
    qtbot.addWidget(label)
    label.show()
    full, shorter, shortest = ("step <b>12,345</b> · loss <b>1.23</b> = reconstruction "
                               "<b>1.0</b> + penalty <b>0.23</b> · held out <b>1.1</b>",
                               "loss <b>1.23</b> = reconstruction <b>1.0</b> + penalty "
                               "<b>0.23</b>", "loss <b>1.23</b>")
    label.setText(full, shorter, shortest)
    label.resize(round(ideal_width(label, full)) + 12, label.height())
    assert label.shown_text() == full and label.toolTip() == ""
    label.resize(round(ideal_width(label, shorter)) + 12, label.height())
    assert label.shown_text() == shorter and label.toolTip() == full
    label.resize(10, label.height())  # nothing fits: the shortest, clipped
    assert label.shown_text() == shortest
    assert label.text() == full  # what it says, whatever fits
    label.setText("plain")  # one version: as before, no tooltip of its own
    assert label.shown_text() == "plain" and label.toolTip() == ""


def test_a_plain_live_label_is_drawn_without_a_document_and_looks_the_same(qtbot):
    """The status bar's labels change at every frame: plain text is measured and drawn
    directly (no rich-text parse), in the same place and colour as the document draws it."""
    from gui.panels.common import is_plain

    assert is_plain("step 12,345") and is_plain("redraw 10.0 Hz · 4 ms behind")
    assert not any(is_plain(text) for text in ("<b>1</b>", "a &amp; b", "two\nlines", "a\tb", None))
    plain_label, rich_label = title_label(), title_label()
    for label in (plain_label, rich_label):
        qtbot.addWidget(label)
        label.resize(300, label.height())
        label.show()
    plain_label.setText("step 12,345 · 31,000 samples/s")
    rich_label.setText("<span>step 12,345 · 31,000 samples/s</span>")  # the document's way
    plain, rich = plain_label.grab().toImage(), rich_label.grab().toImage()
    inked = [(x, y) for x in range(0, plain.width(), 2) for y in range(plain.height())
             if plain.pixelColor(x, y) != plain.pixelColor(0, 0)]
    assert len(inked) > 50  # the text is drawn
    differing = sum(plain.pixelColor(x, y) != rich.pixelColor(x, y)
                    for x in range(plain.width()) for y in range(plain.height()))
    assert differing <= 0.02 * plain.width() * plain.height()
    # Fitting measures plain versions too: the shorter stands in, the whole is the tooltip.
    plain_label.setText("step 12,345 · 31,000 samples/s · epoch 3.25", "step 12,345")
    plain_label.resize(plain_label.fontMetrics().horizontalAdvance("step 12,345") + 20,
                       plain_label.height())
    assert plain_label.shown_text() == "step 12,345"
    assert plain_label.toolTip() == "step 12,345 · 31,000 samples/s · epoch 3.25"


def test_a_narrow_loss_heading_drops_the_step_before_cutting_a_term(qtbot, make_snapshot):
    """At 1600x900 the loss panel is about 620 px wide: its heading used to end in a
    word cut in half ("held")."""
    snapshot = make_snapshot(steps=20)
    panel = shown(qtbot, LossPanel(), width=1400)
    panel.show_snapshot(snapshot)
    heading = panel.title_label
    assert heading.shown_text() == heading.text() and "step" in heading.text()
    without_step = heading.text().split(" · ", 1)[1]
    panel.resize(round(ideal_width(heading, without_step)) + 40, 450)
    qtbot.wait(10)
    assert heading.shown_text() == without_step
    assert f"{snapshot.loss.total:.3g}" in heading.shown_text()
    assert heading.toolTip() == heading.text()


def test_loss_curves_are_built_once_and_show_the_history(qtbot, make_snapshot):
    panel = shown(qtbot, LossPanel())
    curves = dict(panel.curves)
    items = list(panel.plot.items)
    for steps in (5, 20):
        snapshot = make_snapshot(steps=steps)
        panel.show_snapshot(snapshot)
        assert panel.curves == curves and list(panel.plot.items) == items
        for term in TERMS:
            np.testing.assert_array_equal(panel.curves[term].xData, snapshot.history.steps)
            np.testing.assert_array_equal(panel.curves[term].yData,
                                          snapshot.history.column(term))
    assert f"step <b>{snapshot.step:,}</b>" in panel.title_label.text()
    assert f"{snapshot.loss.total:.3g}" in panel.title_label.text()
    for curve in panel.curves.values():
        assert curve.opts["autoDownsample"] and curve.opts["downsampleMethod"] == "peak"
        assert curve.opts["clipToView"]
    assert_not_blank(panel)


def test_fixed_range_axes_are_cached_as_pixmaps_yet_follow_a_new_range(qtbot,
                                                                        make_snapshot):
    """A cached axis costs a blit per repaint; when its range does change (here: more
    units), it must show the new ticks, not the cached ones."""
    from PySide6.QtWidgets import QGraphicsItem

    cached = QGraphicsItem.CacheMode.DeviceCoordinateCache
    rho, penalty, loss = (shown(qtbot, RhoPanel()), shown(qtbot, PenaltyCurvePanel()),
                          shown(qtbot, LossPanel()))
    for panel in (rho, penalty, loss):
        for name in ("left", "bottom", "right"):
            assert panel.plot.getAxis(name).cacheMode() == cached
    axis = rho.plot.getAxis("bottom")

    def unit_axis_pixels():
        qtbot.wait(50)  # the range change lands in the next paint
        # the axis strip itself (its bounding rect also spans the grid over the bars)
        rect = axis.parentItem().mapRectToScene(axis.geometry()).toAlignedRect()
        return rho.plot_widget.grab(rho.plot_widget.mapFromScene(rect).boundingRect()
                                    ).toImage()

    rho.show_snapshot(make_snapshot(steps=5, hidden_units=16))
    few = unit_axis_pixels()
    rho.show_snapshot(make_snapshot(steps=5, hidden_units=100))
    assert unit_axis_pixels() != few  # new tick labels, not the cached ones
    assert_not_blank(rho)


@pytest.mark.parametrize("step, end", [(0, 1), (1, 1), (1.2, 1.5), (2, 2), (7, 8), (9, 10),
                                        (10, 10), (11, 15), (999, 1000), (1001, 1500),
                                        (2_000_001, 3_000_000)])
def test_the_step_axis_ends_at_the_next_stop(step, end):
    assert step_axis_end(step) == pytest.approx(end)


def test_the_loss_axis_spans_whole_decades_on_a_log_scale():
    values = [np.array([0.012, 0.4, np.nan, 0.0, -1.0]), np.array([0.03])]
    assert loss_axis_bounds(values, log_scale=True) == pytest.approx((0.01, 1.0))
    assert loss_axis_bounds([np.array([0.1, 1.0])], log_scale=True) == pytest.approx((0.1, 1.0))
    assert loss_axis_bounds(values, log_scale=False) == pytest.approx((-1.0, 0.4))
    assert loss_axis_bounds([np.array([0.012, 0.37])], log_scale=False) == pytest.approx(
        (0.0, 0.4))
    assert loss_axis_bounds([np.array([0.0, 0.0])], log_scale=False) == (0.0, 0.0)
    assert loss_axis_bounds([np.array([np.nan, 0.0])], log_scale=True) is None


def test_the_loss_plot_range_moves_only_at_stops_and_holds_every_point(qtbot,
                                                                       make_snapshot):
    """The axes change only when the run passes a stop, so their cached pixmaps (and the
    curves' clipping) survive most updates; every point stays inside the view; a zoom
    by hand holds until autorange is asked for again."""
    panel = shown(qtbot, LossPanel())
    view_box = panel.plot.getViewBox()

    def show(last_step: int, low: float = 0.05, high: float = 0.9) -> None:
        steps = np.linspace(1, last_step, 50)
        snapshot = with_history(make_snapshot(steps=3), total=np.geomspace(high, low, 50))
        history = dataclasses.replace(snapshot.history, step_first=steps.astype(np.int64),
                                      step_last=steps.astype(np.int64))
        panel.show_snapshot(dataclasses.replace(snapshot, history=history))
        qtbot.wait(20)

    def shown_range(last_step: int, low: float = 0.05, high: float = 0.9):
        show(last_step, low, high)
        (x_low, x_high), (y_low, y_high) = view_box.viewRange()
        assert x_low <= 1 and x_high >= last_step
        assert y_low <= np.log10(low) and y_high >= np.log10(high)
        return view_box.viewRange()

    shown_range(1100)  # (the first paints settle the axes' label widths)
    first = shown_range(1100)
    assert first == shown_range(1300) == shown_range(1450, low=0.06)  # same stop, decade
    assert first[0][1] == pytest.approx(1500, rel=0.05)
    assert shown_range(1600)[0][1] == pytest.approx(2000, rel=0.05)  # the next stop
    assert shown_range(1700, low=0.005)[1][0] <= np.log10(0.005)  # a new decade

    view_box.setXRange(100, 200, padding=0)  # as a zoom by hand does
    show(2500)  # past the next stop: the anchor moves, the zoom holds
    assert view_box.viewRange()[0] == pytest.approx([100, 200])
    panel.plot.enableAutoRange()
    qtbot.wait(20)
    assert view_box.viewRange()[0][1] == pytest.approx(3000, rel=0.05)
    fresh = make_snapshot(steps=0)  # no history yet: around the first evaluation's loss
    panel.show_snapshot(fresh)
    qtbot.wait(20)
    (x_low, x_high), (y_low, y_high) = view_box.viewRange()
    assert -0.2 <= x_low <= 0 and 1 <= x_high <= 1.2  # steps 0 to 1, not -0.5 to 0.5
    assert y_low <= np.log10(fresh.loss.total) <= y_high
    show(2500)  # the same corners as before the fresh one: the anchor is back
    assert view_box.viewRange()[0][1] == pytest.approx(3000, rel=0.05)


def test_terms_that_are_zero_all_run_are_hidden_from_plot_and_heading(qtbot, make_snapshot):
    panel = shown(qtbot, LossPanel())
    panel.show_snapshot(make_snapshot(penalty="none", weight_decay=0.0))
    visible = {term for term, curve in panel.curves.items() if curve.isVisible()}
    assert visible == {"total", "reconstruction"}
    heading = panel.title_label.text()
    assert "reconstruction" in heading
    assert "penalty" not in heading and "decay" not in heading
    panel.show_snapshot(make_snapshot())  # KL and weight decay on: all four
    assert all(curve.isVisible() for curve in panel.curves.values())
    heading = panel.title_label.text()
    for term in ("reconstruction", "penalty", "decay"):
        assert term in heading
    # the heading is the legend: each name in its curve's colour
    for term in ("reconstruction", "penalty", "weight_decay"):
        assert theme.LOSS_COLOURS[term] in heading


def test_log_scale_leaves_zeros_and_negatives_out_without_warnings(qtbot, make_snapshot):
    penalty = np.array([0.0, 0.0, 2.0, 1.0, -1.0, 0.5])  # switched on mid-run, one glitch
    snapshot = with_history(make_snapshot(), total=np.linspace(9, 4, 6), penalty=penalty)
    panel = shown(qtbot, LossPanel())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        panel.show_snapshot(snapshot)
        panel.set_log_scale(True)
        assert panel.log_checkbox.isChecked() and panel.plot.getAxis("left").logMode
        y = panel.curves["penalty"].yData
        assert np.isnan(y[[0, 1, 4]]).all() and np.array_equal(y[[2, 3, 5]], [2.0, 1.0, 0.5])
        panel.grab()  # painting the log curves warns about nothing
        display_y = panel.curves["penalty"].getData()[1]
        assert np.isfinite(display_y[[2, 3, 5]]).all()
    panel.log_checkbox.setChecked(False)  # the check box drives the same switch
    assert not panel.log_scale
    np.testing.assert_array_equal(panel.curves["penalty"].yData, penalty)


def test_smoothing_is_a_debiased_ema_of_the_points(qtbot, make_snapshot):
    snapshot = make_snapshot()
    raw = snapshot.history.column("total")
    panel = shown(qtbot, LossPanel())
    panel.show_snapshot(snapshot)
    panel.set_smoothing(0.9)
    assert panel.smoothing_slider.value() == 90
    smoothed = panel.curves["total"].yData
    t = np.arange(1, len(raw) + 1)
    weights = 0.9 ** (t[:, None] - t[None, :]) * np.tri(len(raw))  # a^(t-k) for k <= t
    expected = 0.1 * weights @ raw / (1 - 0.9**t)
    np.testing.assert_allclose(smoothed, expected, rtol=1e-10)
    assert smoothed[0] == pytest.approx(raw[0])  # debiased: no pull towards 0
    assert np.ptp(np.diff(smoothed)) < np.ptp(np.diff(raw))
    panel.smoothing_slider.setValue(0)  # the slider drives it too
    assert panel.smoothing == 0.0
    np.testing.assert_array_equal(panel.curves["total"].yData, raw)
    assert np.isnan(debiased_ema(np.array([1.0, np.nan, 3.0]), 0.5)[1])
    assert np.isfinite(debiased_ema(np.array([1.0, np.nan, 3.0]), 0.5)[2])


def test_envelope_shows_each_bucket_min_and_max_and_toggles(qtbot, make_snapshot):
    snapshot = make_snapshot()
    history = snapshot.history
    panel = shown(qtbot, LossPanel())
    envelope_items = (panel.envelope, panel.envelope_low, panel.envelope_high)
    panel.show_snapshot(snapshot)
    assert not any(item.isVisible() for item in envelope_items)  # off by default: it is costly
    panel.set_envelope_visible(True)
    column = history.columns.index("total")
    assert all(item.isVisible() for item in envelope_items)
    np.testing.assert_array_equal(panel.envelope_low.yData, history.minimum[:, column])
    np.testing.assert_array_equal(panel.envelope_high.yData, history.maximum[:, column])
    assert not panel.envelope.path().isEmpty()
    panel.set_smoothing(0.95)  # the band keeps the raw peaks when the curve is smoothed
    np.testing.assert_array_equal(panel.envelope_high.yData, history.maximum[:, column])
    panel.set_envelope_visible(False)
    assert not panel.envelope_checkbox.isChecked()
    assert not any(item.isVisible() for item in envelope_items)
    panel.show_snapshot(make_snapshot(steps=5))
    assert (panel.envelope, panel.envelope_low, panel.envelope_high) == envelope_items


# -- RhoPanel ----------------------------------------------------------------------------


def bar_heights(panel) -> np.ndarray:
    """Bar heights by bar position."""
    opts = panel.bars.opts
    heights = np.empty(len(opts["x"]))
    heights[np.asarray(opts["x"], int)] = opts["height"]
    return heights


def bar_colours(panel) -> list[str]:
    """The colour seen at each bar position: the highlight drawn on top, else the base."""
    base = panel.bars.opts
    by_position = [panel.bars.opts["brush"].color().name()] * len(base["x"])
    for item in panel.highlight_bars.values():
        colour = item.opts["brush"].color().name()
        for x in item.opts["x"]:
            by_position[int(x)] = colour
    return by_position


def test_rho_bars_are_one_item_updated_in_place(qtbot, make_snapshot):
    panel = shown(qtbot, RhoPanel())
    bars, line, items = panel.bars, panel.target_line, list(panel.plot.items)
    for steps in (5, 20):
        snapshot = make_snapshot(steps=steps)
        panel.show_snapshot(snapshot)
        assert panel.bars is bars and panel.target_line is line
        assert list(panel.plot.items) == items
        np.testing.assert_array_equal(bar_heights(panel), snapshot.rho_hat_ema)
    assert panel.bars.opts["width"] == pytest.approx(0.8)
    assert panel.bars.opts["pen"] is None
    assert line.isVisible() and line.value() == pytest.approx(snapshot.config.rho)
    assert "ρ" in panel.title_label.text() and f"{snapshot.rho_hat_mean:.3g}" in \
        panel.title_label.text()
    y_low, y_high = panel.plot.getViewBox().viewRange()[1]
    assert y_low < 0 < 1.0 <= y_high < 1.2  # 0..1 fixed (room below for the markers)
    assert_not_blank(panel)


def test_rho_target_line_follows_rho(qtbot, make_snapshot):
    panel = shown(qtbot, RhoPanel())
    panel.show_snapshot(make_snapshot(rho=0.1))
    assert panel.target_line.value() == pytest.approx(0.1)
    assert "0.1" in panel.target_line.label.toPlainText()
    panel.show_snapshot(make_snapshot(rho=0.05))
    assert panel.target_line.value() == pytest.approx(0.05)
    assert "0.05" in panel.target_line.label.toPlainText()


def test_rho_dead_and_saturated_units_are_coloured_apart_and_counted(qtbot, make_snapshot):
    snapshot = with_units(make_snapshot(), dead=(3, 7, 11), saturated=(20,))
    panel = shown(qtbot, RhoPanel())
    panel.show_snapshot(snapshot)
    colours = bar_colours(panel)
    assert {colours[i] for i in (3, 7, 11)} == {theme.UNIT_DEAD}
    assert colours[20] == theme.UNIT_SATURATED
    assert colours.count(theme.UNIT_NORMAL) == snapshot.hidden_units - 4
    np.testing.assert_array_equal(np.sort(panel.markers.data["x"]), [3, 7, 11, 20])
    assert "3 dead · 1 saturated" in panel.title_label.text()
    assert "3 dead" in panel.colour_key.text() and "1 saturated" in panel.colour_key.text()
    panel.resize(330, panel.height())  # a narrow dock (a 1024-pixel projector)
    qtbot.waitUntil(lambda: panel.title_label.shown_text() != panel.title_label.text())
    assert panel.title_label.shown_text().endswith("3 dead · 1 saturated")


def test_rho_sorting_orders_bars_and_clicks_report_the_true_unit(qtbot, make_snapshot):
    snapshot = with_units(make_snapshot(), dead=(4,), saturated=(30,))
    panel = shown(qtbot, RhoPanel())
    panel.show_snapshot(snapshot)
    with qtbot.waitSignal(panel.unitClicked) as clicked:
        click_view(qtbot, panel, 4.0, 0.5)
    assert clicked.args == [4]

    panel.sort_checkbox.setChecked(True)
    assert panel.is_sorted
    heights = bar_heights(panel)
    assert np.all(np.diff(heights) <= 0)
    np.testing.assert_array_equal(heights, snapshot.rho_hat_ema[panel.order])
    assert panel.order[0] == 30 and panel.order[-1] == 4
    assert bar_colours(panel)[0] == theme.UNIT_SATURATED
    for position, unit in ((0, 30), (len(heights) - 1, 4), (5, int(panel.order[5]))):
        with qtbot.waitSignal(panel.unitClicked) as clicked:
            click_view(qtbot, panel, float(position), 0.5)
        assert clicked.args == [unit]
    assert panel.unit_at(-3.0) is None and panel.unit_at(1e6) is None

    panel.set_sorted(False)
    np.testing.assert_array_equal(bar_heights(panel), snapshot.rho_hat_ema)


def test_rho_running_average_or_this_batch(qtbot, make_snapshot):
    snapshot = make_snapshot()
    assert not np.array_equal(snapshot.rho_hat_ema, snapshot.rho_hat_batch)
    panel = shown(qtbot, RhoPanel())
    panel.show_snapshot(snapshot)
    assert panel.source == "ema"
    panel.source_combo.setCurrentIndex(1)
    assert panel.source == "batch"
    np.testing.assert_array_equal(bar_heights(panel), snapshot.rho_hat_batch)
    panel.set_source("ema")
    assert panel.source_combo.currentIndex() == 0
    np.testing.assert_array_equal(bar_heights(panel), snapshot.rho_hat_ema)
    with pytest.raises(ValueError, match="source"):
        panel.set_source("median")


def test_rho_modes_l1_none_kl_switch_live(qtbot, make_snapshot):
    panel = shown(qtbot, RhoPanel())
    bars = panel.bars
    l1 = make_snapshot(penalty="l1", encoder_activation="tanh")
    panel.show_snapshot(l1)
    np.testing.assert_array_equal(bar_heights(panel), l1.near_zero_ema)
    assert not panel.target_line.isVisible()
    assert f"{float(l1.near_zero_ema.mean()):.1%}" in panel.title_label.text()
    assert "measured" in panel.title_label.text() and "10%" in panel.detail.text()
    assert panel.detail.isVisibleTo(panel)
    panel.set_source("batch")
    np.testing.assert_array_equal(bar_heights(panel), l1.near_zero_batch)
    assert f"{l1.fraction_near_zero:.1%}" in panel.title_label.text()
    assert_not_blank(panel)

    none = make_snapshot(penalty="none")
    panel.show_snapshot(none)
    np.testing.assert_array_equal(bar_heights(panel), none.rho_hat_batch)
    assert not panel.target_line.isVisible() and not panel.detail.isVisibleTo(panel)
    assert "no sparsity penalty" in panel.title_label.text()

    kl = make_snapshot()
    panel.show_snapshot(kl)
    assert panel.bars is bars and panel.target_line.isVisible()
    np.testing.assert_array_equal(bar_heights(panel), kl.rho_hat_batch)


def test_rho_400_units(qtbot, make_snapshot):
    snapshot = make_snapshot(hidden_units=400, steps=5)
    panel = shown(qtbot, RhoPanel())
    panel.show_snapshot(snapshot)
    assert len(panel.bars.opts["height"]) == 400
    x_low, x_high = panel.plot.getViewBox().viewRange()[0]
    assert x_low <= -0.4 and x_high >= 399.4
    assert_not_blank(panel)


# -- PenaltyCurvePanel -------------------------------------------------------------------


def test_kl_curve_and_units_on_it(qtbot, make_snapshot):
    snapshot = with_units(make_snapshot(), dead=(2,), saturated=(9,))
    panel = shown(qtbot, PenaltyCurvePanel())
    items = list(panel.plot.items)
    panel.show_snapshot(snapshot)
    assert panel.mode == "kl" and list(panel.plot.items) == items
    rho = snapshot.config.rho
    x, y = panel.kl_curve.xData, panel.kl_curve.yData
    assert 0 < x.min() < 0.001 and 0.999 < x.max() < 1
    np.testing.assert_allclose(y, kl_divergence_curve(rho, x))
    core_kl = kl_divergence(rho, torch.as_tensor(x, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(y, core_kl, rtol=1e-9)  # the same formula as training
    assert x[np.argmin(y)] == pytest.approx(rho, abs=0.005)
    assert panel.rho_marker.value() == pytest.approx(rho)
    top = panel.plot.getViewBox().viewRange()[1][1]
    np.testing.assert_allclose(panel.points.data["x"], snapshot.rho_hat_ema)
    expected = np.minimum(kl_divergence_curve(rho, snapshot.rho_hat_ema), top)
    np.testing.assert_allclose(panel.points.data["y"], expected, rtol=1e-6)
    np.testing.assert_array_equal(panel.points.data["data"], np.arange(snapshot.hidden_units))
    colours = [brush.color().name() for brush in panel.points.data["brush"]]
    assert colours[2] == theme.UNIT_DEAD and colours[9] == theme.UNIT_SATURATED
    assert colours.count(theme.UNIT_NORMAL) == snapshot.hidden_units - 2
    text = panel.title_label.text()
    assert f"ρ = <b>{rho:g}</b>" in text and f"{snapshot.loss.penalty:.3g}" in text
    assert "one hidden unit at its running mean" in panel.formula.text()
    assert_not_blank(panel)


def test_kl_curve_is_recomputed_only_when_rho_changes(qtbot, make_snapshot, monkeypatch):
    panel = shown(qtbot, PenaltyCurvePanel())
    calls = []
    original = panel.kl_curve.setData
    monkeypatch.setattr(panel.kl_curve, "setData",
                        lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs))
    panel.show_snapshot(make_snapshot(steps=5))
    panel.show_snapshot(make_snapshot(steps=20))
    assert len(calls) == 1
    panel.show_snapshot(make_snapshot(rho=0.1))
    assert len(calls) == 2
    assert panel.rho_marker.value() == pytest.approx(0.1)
    x, y = panel.kl_curve.xData, panel.kl_curve.yData
    assert x[np.argmin(y)] == pytest.approx(0.1, abs=0.005)


def test_kl_gradient_curve_toggles_on_the_right_axis(qtbot, make_snapshot):
    snapshot = make_snapshot(beta=2.0)
    panel = shown(qtbot, PenaltyCurvePanel())
    panel.show_snapshot(snapshot)
    assert not panel.kl_gradient_curve.isVisible()
    assert not panel.plot.getAxis("right").isVisible()
    panel.gradient_checkbox.setChecked(True)
    assert panel.show_gradient and panel.kl_gradient_curve.isVisible()
    assert panel.plot.getAxis("right").isVisible()
    assert panel.kl_gradient_curve.getViewBox() is panel.gradient_view
    x, y = panel.kl_gradient_curve.xData, panel.kl_gradient_curve.yData
    np.testing.assert_allclose(y, 2.0 * kl_gradient_curve(snapshot.config.rho, x))
    core_gradient = kl_divergence_gradient(snapshot.config.rho,
                                           torch.as_tensor(x, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(y, 2.0 * core_gradient, rtol=1e-9)
    # both axes put zero at the same height
    low, high = panel.plot.getViewBox().viewRange()[1]
    g_low, g_high = panel.gradient_view.viewRange()[1]
    assert low / high == pytest.approx(g_low / g_high)
    assert_not_blank(panel)
    panel.set_show_gradient(False)
    assert not panel.kl_gradient_curve.isVisible()


def test_l1_mode_shows_the_l1_curve_and_its_constant_gradient(qtbot, make_snapshot):
    snapshot = make_snapshot(penalty="l1", encoder_activation="tanh", l1_weight=0.2)
    panel = shown(qtbot, PenaltyCurvePanel())
    panel.set_show_gradient(True)
    panel.show_snapshot(snapshot)
    assert panel.mode == "l1"
    assert panel.l1_curve.isVisible() and not panel.kl_curve.isVisible()
    assert not panel.rho_marker.isVisible()
    assert panel.l1_gradient_curve.isVisible() and not panel.kl_gradient_curve.isVisible()
    x, y = panel.l1_curve.xData, panel.l1_curve.yData
    assert x.min() == -1.0 and x.max() == 1.0
    np.testing.assert_allclose(y, 0.2 * np.abs(x))
    assert set(np.abs(panel.l1_gradient_curve.yData)) == {0.2}
    np.testing.assert_allclose(panel.points.data["x"], snapshot.mean_abs_batch)
    np.testing.assert_allclose(panel.points.data["y"], 0.2 * snapshot.mean_abs_batch)
    assert "L1Penalty" in panel.title_label.text() and "±0.2" in panel.title_label.text()
    assert f"×{snapshot.config.batch_size}" in panel.formula.text()
    assert_not_blank(panel)

    sigmoid = make_snapshot(penalty="l1", l1_weight=0.2)
    panel.show_snapshot(sigmoid)
    assert panel.l1_curve.xData.min() == 0.0 and panel.l1_curve.xData.max() == 1.0


def test_no_penalty_shows_kl_greyed_for_reference(qtbot, make_snapshot):
    panel = shown(qtbot, PenaltyCurvePanel())
    panel.show_snapshot(make_snapshot(penalty="none"))
    assert panel.mode == "none" and panel.kl_curve.isVisible()
    assert "no penalty: showing KL for reference" in panel.title_label.text()
    assert panel.kl_curve.opts["pen"].color().name() != theme.LOSS_COLOURS["penalty"]


def test_penalty_switches_modes_with_the_same_items(qtbot, make_snapshot):
    panel = shown(qtbot, PenaltyCurvePanel())
    items = list(panel.plot.items)
    gradient_items = list(panel.gradient_view.addedItems)
    points = panel.points
    sequence = [make_snapshot(), make_snapshot(penalty="l1", encoder_activation="tanh"),
                make_snapshot(penalty="none"), make_snapshot(penalty="l1"), make_snapshot()]
    for snapshot in sequence:
        panel.show_snapshot(snapshot)
        mode = snapshot.config.penalty
        assert panel.mode == mode
        assert list(panel.plot.items) == items and panel.points is points
        assert list(panel.gradient_view.addedItems) == gradient_items
        assert panel.kl_curve.isVisible() == (mode != "l1")
        assert panel.l1_curve.isVisible() == (mode == "l1")
        assert len(panel.points.data) == snapshot.hidden_units
    assert panel.kl_curve.opts["pen"].color().name() == theme.LOSS_COLOURS["penalty"]


def test_clicking_a_unit_point_emits_its_index(qtbot, make_snapshot):
    snapshot = make_snapshot(penalty="none")  # rho_hat spread out: points apart
    panel = shown(qtbot, PenaltyCurvePanel())
    panel.show_snapshot(snapshot)
    unit = int(np.argmax(snapshot.rho_hat_ema))
    spot_x, spot_y = panel.points.data["x"][unit], panel.points.data["y"][unit]
    with qtbot.waitSignal(panel.unitClicked) as clicked:
        click_view(qtbot, panel, float(spot_x), float(spot_y))
    assert clicked.args == [unit]


@pytest.mark.parametrize("steps, settings", [
    (0, {}),  # before the first step: empty history, running averages at 0
    (10, {"encoder_activation": "relu", "penalty": "none"}),  # mean activation above 1
    (10, {"encoder_activation": "relu", "penalty": "l1"}),  # relu axis from the data
    (3, {"penalty": "l1", "l1_weight": 0.0}),
])
def test_panels_take_edge_snapshots_without_warnings(qtbot, make_snapshot, steps, settings):
    snapshot = make_snapshot(steps=steps, **settings)
    panels = [shown(qtbot, LossPanel()), shown(qtbot, RhoPanel()),
              shown(qtbot, PenaltyCurvePanel())]
    panels[0].set_log_scale(True)
    panels[2].set_show_gradient(True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for panel in panels:
            panel.show_snapshot(snapshot)
            panel.grab()
    rho_panel, penalty_panel = panels[1], panels[2]
    top = rho_panel.plot.getViewBox().viewRange()[1][1]
    assert top >= max(1.0, float(np.max(bar_heights(rho_panel))))
    x_low, x_high = penalty_panel.plot.getViewBox().viewRange()[0]
    y_low, y_high = penalty_panel.plot.getViewBox().viewRange()[1]
    assert x_high - x_low > 0.4 and y_high - y_low > 0
