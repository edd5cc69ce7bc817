"""The side panel alone: every field validates as typed, only valid changes leave it."""

from __future__ import annotations

import pytest
from PySide6.QtTest import QTest

from core.config import TrainConfig
from gui.controls import TEXT_FIELDS, ControlPanel

CONFIG = TrainConfig(penalty="kl", optimizer="adam")


@pytest.fixture
def panel(qtbot):
    widget = ControlPanel(CONFIG, "kl-demo", ["cpu"], "auto")
    qtbot.addWidget(widget)
    widget.show()
    return widget


def type_into(panel, name, text):
    editor = panel.editors[name]
    editor.edit.clear()
    QTest.keyClicks(editor.edit, text)
    return editor


@pytest.mark.parametrize("name, text, message", [
    ("hidden_units", "0", "hidden_units = 0 is not allowed: an integer with 1 <= hidden_units"),
    ("hidden_units", "abc", "hidden_units = 'abc' is not allowed"),
    ("hidden_units", "12.5", "hidden_units = '12.5' is not allowed: an integer"),
    ("rho", "1", "rho = 1 is not allowed: a number with 0 < rho < 1"),
    ("rho", "0,05", "use a dot as the decimal separator"),
    ("beta", "-3", "beta = -3 is not allowed: a number with 0 <= beta"),
    ("weight_decay", "lots", "weight_decay = 'lots' is not allowed"),
    ("lr", "0", "lr = 0 is not allowed: a number with 0 < lr <= 1000"),
    ("batch_size", "0", "batch_size = 0 is not allowed"),
    ("seed", "-1", "seed = -1 is not allowed: an integer with 0 <= seed"),
])
def test_bad_text_is_explained_beside_the_field(panel, qtbot, name, text, message):
    with qtbot.assertNotEmitted(panel.changeRequested):
        editor = type_into(panel, name, text)
        assert editor.message.isVisible()
        assert message in editor.message.text()
        editor.edit.editingFinished.emit()
    assert getattr(panel.applied, name) == getattr(CONFIG, name)
    assert panel.has_errors()


def test_fixing_the_text_clears_the_message_and_proposes_the_value(panel, qtbot):
    editor = type_into(panel, "beta", "-1")
    assert editor.message.isVisible()
    editor = type_into(panel, "beta", "0.5")
    assert not editor.message.isVisible()
    with qtbot.waitSignal(panel.changeRequested) as signal:
        editor.edit.editingFinished.emit()
    assert signal.args == [{"beta": 0.5}]


def test_an_unchanged_value_proposes_nothing(panel, qtbot):
    with qtbot.assertNotEmitted(panel.changeRequested):
        panel.editors["rho"].edit.editingFinished.emit()


def test_every_text_field_shows_the_applied_value(panel):
    for name in TEXT_FIELDS:
        value = getattr(CONFIG, name)
        assert panel.editors[name].edit.text() == (f"{value:g}" if isinstance(value, float)
                                                   else str(value))


def test_batch_size_is_checked_against_the_loaded_data(panel):
    panel.set_dataset_size(1000)
    editor = type_into(panel, "batch_size", "1001")
    assert "the data set holds 1000 images (allowed 1 to 1000)" in editor.message.text()


def test_rows_follow_the_penalty_and_the_optimizer(panel):
    def visible(name):
        return panel.editors[name].isVisibleTo(panel)

    assert visible("rho") and visible("beta") and not visible("l1_weight")
    assert not visible("momentum") and visible("batch_size")
    panel.set_applied(CONFIG.replace(penalty="l1", optimizer="sgd"))
    assert visible("l1_weight") and not visible("rho") and visible("momentum")
    assert panel.l1_note.isVisibleTo(panel)
    assert "12.8 × the per-sample Σ|a|" in panel.l1_note.text()
    assert "not a fraction of zeros" in panel.l1_note.text()
    panel.set_applied(CONFIG.replace(optimizer="lbfgs", lr=1.0))
    assert not visible("batch_size")


def test_choices_propose_changes(panel, qtbot):
    combo = panel.combos["optimizer"]
    combo.setCurrentIndex(combo.findData("sgd"))
    with qtbot.waitSignal(panel.changeRequested) as signal:
        combo.activated.emit(combo.currentIndex())
    assert signal.args == [{"optimizer": "sgd"}]
    with qtbot.waitSignal(panel.changeRequested) as signal:
        panel.tied_box.setChecked(True)
    assert signal.args == [{"tied_weights": True}]


def test_an_impossible_choice_is_refused_with_the_reason(panel, qtbot):
    combo = panel.combos["encoder_activation"]
    combo.setCurrentIndex(combo.findData("relu"))
    with qtbot.assertNotEmitted(panel.changeRequested):
        combo.activated.emit(combo.currentIndex())
    assert combo.currentData() == "sigmoid"
    assert "penalty = 'kl' needs activations in (0, 1)" in panel.notice.text()


def test_preset_and_device_requests(panel, qtbot):
    with qtbot.waitSignal(panel.presetRequested) as signal:
        panel.preset_combo.setCurrentIndex(panel.preset_combo.findData("notes-l1"))
        panel.preset_combo.activated.emit(panel.preset_combo.currentIndex())
    assert signal.args == ["notes-l1"]
    panel.revert()
    assert panel.preset == "kl-demo"
    with qtbot.waitSignal(panel.deviceRequested) as signal:
        panel.device_combo.setCurrentIndex(panel.device_combo.findData("cpu"))
        panel.device_combo.activated.emit(panel.device_combo.currentIndex())
    assert signal.args == ["cpu"]


def test_only_present_devices_are_offered(qtbot):
    widget = ControlPanel(CONFIG, "kl-demo", ["cpu"], "auto")
    qtbot.addWidget(widget)
    items = [widget.device_combo.itemData(i) for i in range(widget.device_combo.count())]
    assert items == ["auto", "cpu"]
