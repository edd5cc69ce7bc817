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
