"""A/B comparison from the main window: two clicks, lockstep runs drawn side by side."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from test_window import make_settings, open_window, press

from gui.comparison_window import CHOICES, CompareDialog, comparison_configs


@pytest.fixture
def window(qtbot, tmp_path):
    win = open_window(qtbot, make_settings(tmp_path / "settings.ini"))
    yield win
    win.close()


def open_comparison(window, qtbot, monkeypatch, choice: int = 0):
    def accept(dialog):  # the second click: "Compare" on the ready choice
        dialog.choice.setCurrentIndex(choice)
        return CompareDialog.DialogCode.Accepted

    monkeypatch.setattr(CompareDialog, "exec", accept)
    toolbar_button = window.findChild(type(window.start_action), "compare")
    toolbar_button.trigger()  # the first click
    comparison = window.comparison
    qtbot.waitUntil(lambda: comparison.snapshot is not None, timeout=20000)
    return comparison


def test_two_clicks_open_lockstep_runs_from_the_same_weights(window, qtbot, monkeypatch):
    comparison = open_comparison(window, qtbot, monkeypatch, choice=0)  # beta 0 vs 3
    first = comparison.snapshot
    assert first.a.config.beta == 0.0 and first.b.config.beta == 3.0
    assert "β" in comparison.caption.text() or "beta" in comparison.caption.text()
    np.testing.assert_array_equal(first.a.encoder_weights, first.b.encoder_weights)

    for _ in range(3):
        target = comparison.snapshot.a.step + 1
        press(comparison, Qt.Key.Key_S)
        qtbot.waitUntil(lambda t=target: comparison.snapshot.a.step == t, timeout=10000)
    snapshot = comparison.snapshot
    assert snapshot.a.step == snapshot.b.step == 3
    assert not np.array_equal(snapshot.a.encoder_weights, snapshot.b.encoder_weights)
    # every panel on each side shows its own run
    for side, run in (("A", snapshot.a), ("B", snapshot.b)):
        mosaic, loss, rho, curve = comparison.panels[side]
        assert loss._snapshot is run and curve.isVisible()
    assert "B" in comparison.side_titles[1].text()
    comparison.close()
    assert not comparison.worker.running


def test_equal_settings_stay_identical(window, qtbot, monkeypatch):
    import gui.comparison_window as module

    monkeypatch.setattr(module, "CHOICES", ((("same", {"beta": 3.0}, {"beta": 3.0}),)))
    comparison = open_comparison(window, qtbot, monkeypatch, choice=0)
    press(comparison, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: comparison.snapshot.a.step > 20, timeout=20000)
    press(comparison, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: comparison.state == "paused", timeout=5000)
    qtbot.wait(200)
    snapshot = comparison.snapshot
    assert snapshot.a.step == snapshot.b.step
    np.testing.assert_array_equal(snapshot.a.encoder_weights, snapshot.b.encoder_weights)
    comparison.close()


def test_the_main_run_pauses_and_closing_the_studio_closes_the_comparison(window, qtbot,
                                                                          monkeypatch):
    press(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.state == "running", timeout=5000)
    comparison = open_comparison(window, qtbot, monkeypatch, choice=1)  # L1 vs KL
    qtbot.waitUntil(lambda: window.state == "paused", timeout=5000)
    assert comparison.snapshot.a.config.penalty == "l1"
    assert comparison.snapshot.b.config.penalty == "kl"
    window.close()
    assert not comparison.worker.running


def test_kl_choices_give_relu_models_a_bounded_activation():
    from core.config import TrainConfig

    relu = TrainConfig(encoder_activation="relu", penalty="l1")
    for index in range(len(CHOICES)):
        a, b = comparison_configs(relu, index)
        for config in (a, b):
            if config.penalty == "kl":
                assert config.encoder_activation == "sigmoid"


def test_a_comparison_saves_and_reopens_both_runs(window, qtbot, monkeypatch, tmp_path):
    from core.checkpoint import load_run

    comparison = open_comparison(window, qtbot, monkeypatch, choice=0)  # beta 0 vs 3
    for _ in range(2):
        target = comparison.snapshot.a.step + 1
        press(comparison, Qt.Key.Key_S)
        qtbot.waitUntil(lambda t=target: comparison.snapshot.a.step == t, timeout=10000)
    saved = comparison.snapshot
    path = tmp_path / "ab.pt"
    comparison.save(str(path))
    qtbot.waitUntil(lambda: "Saved both runs" in comparison.banner.text, timeout=10000)
    assert load_run(path)["config"].beta == 0.0  # the studio would open run A

    press(comparison, Qt.Key.Key_R)  # start both over...
    qtbot.waitUntil(lambda: comparison.snapshot.a.step == 0, timeout=10000)
    comparison.open(str(path))  # ...and come back to the saved pair
    qtbot.waitUntil(lambda: "Opened" in comparison.banner.text, timeout=10000)
    qtbot.waitUntil(lambda: comparison.snapshot.a.step == 2, timeout=10000)
    reopened = comparison.snapshot
    for side in ("a", "b"):
        np.testing.assert_array_equal(getattr(reopened, side).encoder_weights,
                                      getattr(saved, side).encoder_weights)
    assert reopened.b.config.beta == 3.0
    press(comparison, Qt.Key.Key_S)  # and both train on
    qtbot.waitUntil(lambda: comparison.snapshot.b.step == 3, timeout=10000)


def test_a_single_run_file_is_refused_by_the_comparison(window, qtbot, monkeypatch,
                                                        tmp_path):
    single = tmp_path / "single.pt"
    window.save_run(str(single))
    qtbot.waitUntil(lambda: "Saved the run" in window.banner.text, timeout=10000)
    comparison = open_comparison(window, qtbot, monkeypatch)
    comparison.open(str(single))
    qtbot.waitUntil(lambda: "not an A/B comparison" in comparison.banner.text, timeout=10000)
    press(comparison, Qt.Key.Key_S)  # both runs go on
    qtbot.waitUntil(lambda: comparison.snapshot.a.step == 1, timeout=10000)


def test_on_a_small_projector_the_columns_scroll_instead_of_running_off(window, qtbot,
                                                                         monkeypatch):
    """The window needs about 860 pixels of height (its columns about 800); it stays
    small enough for a 1280x720 projector and scrolls, the wheel over a plot scrolling
    too, and on a desktop shows the columns whole, filling it."""
    comparison = open_comparison(window, qtbot, monkeypatch)
    scroll, columns = comparison.scroll, comparison.scroll.widget()
    bar = scroll.verticalScrollBar()
    assert columns.minimumSizeHint().height() > 720 - 40  # (what needs the scrolling)
    hint = comparison.minimumSizeHint()
    assert hint.height() <= 720 - 40 and hint.width() <= 1024 - 16, hint
    qtbot.waitUntil(lambda: bar.maximum() == 0, timeout=3000)  # 1920 x 1080: all of it
    assert columns.size() == scroll.viewport().size()

    comparison.resize(comparison.width(), 600)
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.isVisible(), timeout=3000)
    assert not scroll.horizontalScrollBar().isVisible()
    plot = comparison.panels["A"][1].plot_widget  # the loss plot
    x_range = plot.getPlotItem().viewRange()[0]
    wheel(plot.viewport(), Qt.KeyboardModifier.NoModifier)
    assert bar.value() > 0 and plot.getPlotItem().viewRange()[0] == x_range
    wheel(plot.viewport(), Qt.KeyboardModifier.ControlModifier)  # Ctrl: the plot zooms
    qtbot.waitUntil(lambda: plot.getPlotItem().viewRange()[0] != x_range, timeout=3000)

    # A taller minimum (a panel's) makes the columns taller, the window unchanged.
    before = columns.height()
    comparison.panels["A"][0].setMinimumHeight(600)
    qtbot.waitUntil(lambda: columns.height() >= before + 200, timeout=3000)
    comparison.close()


def wheel(widget, modifiers) -> None:
    """One notch of the mouse wheel, down, at the widget's centre."""
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    centre = QPointF(widget.rect().center())
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0),
                        QPoint(0, -120), Qt.MouseButton.NoButton, modifiers,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_with_the_studio_on_auto_the_comparison_keeps_to_the_budget(window, qtbot, monkeypatch):
    import time

    from gui.redraw_pacer import GUI_CPU_BUDGET

    window.redraw_spin.setValue(0)  # Auto: the comparison's redraws share the budget
    comparison = open_comparison(window, qtbot, monkeypatch)
    assert comparison.pacer.budget == GUI_CPU_BUDGET and comparison.timer.interval() == 100
    mosaic = comparison.panels["A"][0]
    original = mosaic.show_snapshot

    def dear_show_snapshot(snapshot):  # 15 ms more a frame, busy as painting is
        end = time.thread_time() + 0.015
        while time.thread_time() < end:
            pass
        original(snapshot)

    mosaic.show_snapshot = dear_show_snapshot
    press(comparison, Qt.Key.Key_Space)
    slowest_interval = round(1000 * 0.015 / GUI_CPU_BUDGET)
    qtbot.waitUntil(lambda: comparison.timer.interval() >= slowest_interval, timeout=15000)
    press(comparison, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not comparison.pacer.measuring, timeout=5000)
    comparison.close()


def test_at_a_chosen_rate_the_comparison_redraws_at_it(window, qtbot, monkeypatch):
    comparison = open_comparison(window, qtbot, monkeypatch)  # the studio at 30 Hz
    assert comparison.pacer.budget is None and comparison.timer.interval() == 33
    comparison.close()
