"""The studio window driven like a user: keys, buttons, fields, live panels, closing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest

from core.config import TrainConfig
from gui.settings import SPEEDS, AppSettings

SMALL = TrainConfig(hidden_units=36, samples=1500, batch_size=50, lr=3e-3)


def make_settings(path, config: TrainConfig = SMALL, preset: str = "custom") -> AppSettings:
    settings = AppSettings(QSettings(str(path), QSettings.Format.IniFormat))
    settings.save_run_settings(preset, config)
    settings.redraw_hz = 30
    settings.sync()
    return settings


def open_window(qtbot, settings: AppSettings, **options):
    from gui.main_window import MainWindow
    from gui.theme import configure_pyqtgraph

    configure_pyqtgraph()
    win = MainWindow(settings, device="cpu", **options)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win._painted is not None, timeout=20000)
    return win


@pytest.fixture
def window(qtbot, tmp_path):
    win = open_window(qtbot, make_settings(tmp_path / "settings.ini"))
    yield win
    win.close()


def trainer(win):
    return win.worker.loop.trainer


def press(win, key, modifier=Qt.KeyboardModifier.NoModifier):
    QTest.keyClick(win, key, modifier)


def test_starts_paused_with_every_panel_drawn(window):
    assert window.state == "paused"
    snapshot = window._painted
    assert snapshot.step == 0 and snapshot.hidden_units == 36
    for name, panel in window.panels.items():
        image = panel.grab().toImage()
        assert image.width() > 50 and image.height() > 50, name


def test_space_starts_and_pauses_and_every_panel_moves(window, qtbot):
    press(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.state == "running", timeout=5000)
    qtbot.waitUntil(lambda: window._painted.step > 40, timeout=20000)
    mosaic = window.panels["MosaicPanel"]
    assert mosaic.image_items["encoder"].image is not None
    press(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.state == "paused", timeout=5000)
    qtbot.waitUntil(lambda: window._painted.step == window.worker.loop.trainer.step_count,
                    timeout=5000)
    snapshot = window._painted
    # pausing shows the step it stopped at in every panel, with this snapshot's numbers
    loss = window.panels["LossPanel"]
    y = loss.curves["total"].yData  # the data as given (the display may be log10 of it)
    assert len(y) > 0 and y[-1] == pytest.approx(snapshot.history.column("total")[-1])
    rho = window.panels["RhoPanel"]
    np.testing.assert_allclose(np.sort(rho.bars.opts["height"]),
                               np.sort(snapshot.rho_hat_ema), rtol=1e-6)
    step = trainer(window).step_count
    qtbot.wait(300)
    assert trainer(window).step_count == step
    assert "samples/s" in window.status_labels["speed"].text()
    assert "redraw" in window.status_labels["redraw"].text()


def test_step_and_reset_keys(window, qtbot):
    press(window, Qt.Key.Key_S)
    qtbot.waitUntil(lambda: window._painted.step == 1, timeout=5000)
    press(window, Qt.Key.Key_S)
    qtbot.waitUntil(lambda: window._painted.step == 2, timeout=5000)
    assert window.state == "paused"
    press(window, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: window._painted.step == 0 and trainer(window).step_count == 0,
                    timeout=5000)


def test_a_bad_value_is_explained_beside_the_field_and_never_applied(window, qtbot):
    editor = window.controls.editors["rho"]
    editor.edit.clear()
    QTest.keyClicks(editor.edit, "1.5")
    assert editor.message.isVisible()
    assert editor.message.text() == "rho = 1.5 is not allowed: a number with 0 < rho < 1"
    editor.edit.editingFinished.emit()
    qtbot.wait(100)
    assert trainer(window).config.rho == SMALL.rho
    editor.edit.clear()
    QTest.keyClicks(editor.edit, "0,2")
    assert "decimal separator" in editor.message.text()


def test_coefficients_apply_live_without_a_reset(window, qtbot):
    press(window, Qt.Key.Key_S)
    qtbot.waitUntil(lambda: window._painted.step == 1, timeout=5000)
    for name, text in (("beta", "1.5"), ("rho", "0.1"), ("lr", "0.001"),
                       ("weight_decay", "0.0001")):
        editor = window.controls.editors[name]
        editor.edit.setText(text)
        editor.edit.editingFinished.emit()
    qtbot.waitUntil(lambda: trainer(window).config.beta == 1.5
                    and trainer(window).config.weight_decay == 1e-4, timeout=5000)
    config = trainer(window).config
    assert config.rho == 0.1 and config.lr == 0.001
    assert trainer(window).step_count == 1  # same run, same model
    assert window.controls.preset == "custom"


def test_penalty_switch_is_live_and_panels_follow(window, qtbot):
    combo = window.controls.combos["penalty"]
    combo.setCurrentIndex(combo.findData("l1"))
    combo.activated.emit(combo.currentIndex())
    qtbot.waitUntil(lambda: trainer(window).config.penalty == "l1", timeout=5000)
    press(window, Qt.Key.Key_S)
    qtbot.waitUntil(lambda: window._painted.config.penalty == "l1", timeout=5000)
    assert window.controls.l1_note.isVisibleTo(window.controls)
    assert "L1" in window.panels["RhoPanel"].title_label.text()


def test_kl_with_relu_is_refused_with_a_reason(window, qtbot):
    combo = window.controls.combos["encoder_activation"]
    combo.setCurrentIndex(combo.findData("relu"))
    combo.activated.emit(combo.currentIndex())
    assert window.controls.notice.isVisibleTo(window.controls)
    assert "needs activations in (0, 1)" in window.controls.notice.text()
    assert combo.currentData() == "sigmoid"
    qtbot.wait(100)
    assert trainer(window).config.encoder_activation == "sigmoid"


def test_a_new_model_asks_first(window, qtbot, monkeypatch):
    press(window, Qt.Key.Key_S)
    qtbot.waitUntil(lambda: window._painted.step == 1, timeout=5000)
    answers = []
    monkeypatch.setattr(window, "confirm", lambda title, text: answers.append(text) or False)
    editor = window.controls.editors["hidden_units"]
    editor.edit.setText("25")
    editor.edit.editingFinished.emit()
    assert answers and "hidden_units" in answers[0]
    assert editor.edit.text() == "36"  # declined: the field shows what is in force
    monkeypatch.setattr(window, "confirm", lambda title, text: True)
    editor.edit.setText("25")
    editor.edit.editingFinished.emit()
    qtbot.waitUntil(lambda: window._painted.hidden_units == 25, timeout=10000)
    assert window._painted.step == 0


def test_slow_motion(window, qtbot):
    window.speed_combo.setCurrentIndex([label for label, _ in SPEEDS].index("10 steps/s"))
    press(window, Qt.Key.Key_Space)
    qtbot.wait(1000)
    press(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.state == "paused", timeout=5000)
    assert 4 <= trainer(window).step_count <= 16


def test_redraw_rate_sets_the_timer(window):
    window.redraw_spin.setValue(5)
    assert window.redraw_timer.interval() == 200
    assert window.settings.redraw_hz == 5


def test_auto_is_the_first_launch_redraw_rate(qtbot, tmp_path):
    settings = AppSettings(QSettings(str(tmp_path / "fresh.ini"), QSettings.Format.IniFormat))
    win = open_window(qtbot, settings)
    assert win.auto_redraw and win.redraw_spin.text() == "Auto"
    assert win.redraw_timer.interval() == 100  # the CPU's 10 Hz until a frame is measured
    win.redraw_spin.setValue(12)
    assert not win.auto_redraw and win.redraw_timer.interval() == 83
    win.redraw_spin.setValue(0)
    assert win.auto_redraw and settings.redraw_hz == 0
    win.close()


def test_a_step_up_from_auto_starts_at_auto_s_rate(window):
    window.redraw_spin.setValue(0)
    window.pacer.observe(0.7, frames=7)  # 100 ms a frame: Auto at its 4 Hz floor
    window.redraw_spin.stepBy(1)
    assert window.redraw_spin.value() == 4 and not window.auto_redraw  # not 1 Hz
    window.redraw_spin.stepBy(1)
    assert window.redraw_spin.value() == 5
    window.redraw_spin.setValue(1)
    window.redraw_spin.stepBy(-1)
    assert window.auto_redraw and window.redraw_spin.text() == "Auto"


def slow_down_the_mosaic(window, cpu_seconds: float) -> None:
    """Every frame costs the GUI thread ``cpu_seconds`` more (busy, as painting is)."""
    import time

    panel = window.panels["MosaicPanel"]
    original = panel.show_snapshot

    def show_snapshot(snapshot):
        end = time.thread_time() + cpu_seconds
        while time.thread_time() < end:
            pass
        original(snapshot)

    panel.show_snapshot = show_snapshot


def test_auto_redraws_less_often_where_a_frame_costs_more_than_its_budget(window, qtbot):
    from gui.redraw_pacer import GUI_CPU_BUDGET

    slow_down_the_mosaic(window, 0.015)  # 15 ms more a frame: 15% of a core at 10 Hz
    window.redraw_spin.setValue(0)
    assert window.redraw_timer.interval() == 100
    press(window, Qt.Key.Key_Space)
    # At most the budget's worth: 0.07 / (15 ms + the real frame), under 4.7 Hz.
    slowest_interval = round(1000 * 0.015 / GUI_CPU_BUDGET)
    qtbot.waitUntil(lambda: window.redraw_timer.interval() >= slowest_interval, timeout=15000)
    assert window.pacer.hz <= GUI_CPU_BUDGET / 0.015
    assert "(auto)" in window.status_labels["redraw"].text()
    press(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.state == "paused", timeout=5000)
    assert not window.pacer.measuring  # the pause is not counted as a redraw's cost


def test_auto_on_a_gpu_keeps_its_30_hz(window):
    import dataclasses

    window.redraw_spin.setValue(0)
    from gui.redraw_pacer import MIN_AUTO_HZ

    window.pacer.observe(1.0, frames=2)  # however dear a frame
    assert window.redraw_hz == MIN_AUTO_HZ
    window._on_snapshot(dataclasses.replace(window._snapshot, device="cuda:0"))
    assert window.redraw_hz == 30.0 and window.redraw_timer.interval() == 33


def test_a_chosen_rate_is_kept_however_dear_a_frame(window, qtbot):
    slow_down_the_mosaic(window, 0.030)
    window.redraw_spin.setValue(10)
    press(window, Qt.Key.Key_Space)
    qtbot.wait(2500)
    press(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.state == "paused", timeout=5000)
    assert window.redraw_timer.interval() == 100
    assert "(auto)" not in window.status_labels["redraw"].text()


def test_a_worker_error_shows_a_banner_with_a_way_on(window, qtbot):
    def explode(trainer):
        raise RuntimeError("device vanished")

    window.worker.call("boom", explode)
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=5000)
    assert "RuntimeError: device vanished" in window.banner.text
    assert window.banner.findChild(type(window.banner._buttons[0]), "banner_reset")
    press(window, Qt.Key.Key_S)  # still responsive, the run goes on
    qtbot.waitUntil(lambda: window._painted.step == 1, timeout=5000)


def test_divergence_offers_a_lower_learning_rate(qtbot, tmp_path):
    unstable = SMALL.replace(penalty="none", encoder_activation="relu",
                             decoder_activation="identity", optimizer="sgd", momentum=0.0,
                             lr=1000.0)
    window = open_window(qtbot, make_settings(tmp_path / "s.ini", unstable))
    press(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: "diverged" in window.banner.text, timeout=20000)
    assert window.state == "paused"
    assert all(np.isfinite(window._snapshot.encoder_weights).ravel())
    button = window.banner.findChild(type(window.banner._buttons[0]),
                                     "banner_lower_learning_rate_×0.1")
    button.click()
    qtbot.waitUntil(lambda: trainer(window).config.lr == pytest.approx(100), timeout=5000)
    window.close()


def test_clicking_a_unit_opens_the_inspector_with_its_top_inputs(window, qtbot):
    window.panels["RhoPanel"].unitClicked.emit(5)
    qtbot.waitUntil(lambda: window.inspector is not None and window.inspector.isVisible(),
                    timeout=5000)
    assert window.inspector.unit == 5
    qtbot.waitUntil(lambda: window.inspector.top_inputs_unit == 5, timeout=10000)


def test_closing_while_training_stops_the_worker_quickly(window, qtbot):
    import time

    press(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.state == "running", timeout=5000)
    qtbot.wait(200)
    started = time.monotonic()
    window.close()
    assert time.monotonic() - started < 1.0
    assert not window.worker.running


def test_settings_persist_across_launches(qtbot, tmp_path):
    path = tmp_path / "settings.ini"
    first = open_window(qtbot, make_settings(path))
    editor = first.controls.editors["beta"]
    editor.edit.setText("2.5")
    editor.edit.editingFinished.emit()
    first.docks["ReconstructionPanel"].hide()
    first.redraw_spin.setValue(7)
    first.close()

    second = open_window(qtbot, AppSettings(QSettings(str(path), QSettings.Format.IniFormat)))
    assert second.controls.applied.beta == 2.5
    assert second.redraw_spin.value() == 7
    assert second.docks["ReconstructionPanel"].isHidden()
    second.close()


def test_a_corrupt_settings_store_falls_back_to_defaults(qtbot, tmp_path):
    path = tmp_path / "settings.ini"
    path.write_text("[run]\nconfig=\"{not json\"\npreset=nonsense\n[view]\nredraw_hz=fast\n"
                    "speed_index=99\n[window]\ngeometry=garbage\n")
    win = open_window(qtbot, AppSettings(QSettings(str(path), QSettings.Format.IniFormat)))
    assert win.banner.isVisible() and "unreadable" in win.banner.text
    assert win.controls.applied.dataset == "digits"
    win.close()


def test_missing_mnist_falls_back_to_the_built_in_digits(qtbot, tmp_path):
    settings = make_settings(tmp_path / "s.ini", SMALL.replace(dataset="mnist", samples=0))
    win = open_window(qtbot, settings, data_dir=str(tmp_path / "no-mnist"))
    assert win._painted.config.dataset == "digits"
    assert "MNIST is not in" in win.banner.text
    win.close()


def test_choosing_a_preset_resets_to_it_after_asking(window, qtbot, monkeypatch):
    press(window, Qt.Key.Key_S)
    qtbot.waitUntil(lambda: window._painted.step == 1, timeout=5000)
    monkeypatch.setattr(window, "confirm", lambda title, text: True)
    combo = window.controls.preset_combo
    combo.setCurrentIndex(combo.findData("kl-demo"))
    combo.activated.emit(combo.currentIndex())
    qtbot.waitUntil(lambda: window._painted.hidden_units == 400, timeout=20000)
    assert window._painted.step == 0
    assert window._painted.config.rho == 0.05 and window.controls.preset == "kl-demo"


def test_the_real_mnist_files_can_be_chosen(qtbot, tmp_path, mnist_dir, monkeypatch):
    window = open_window(qtbot, make_settings(tmp_path / "s.ini"), data_dir=str(mnist_dir))
    monkeypatch.setattr(window, "confirm", lambda title, text: True)
    combo = window.controls.combos["dataset"]
    combo.setCurrentIndex(combo.findData("mnist"))
    combo.activated.emit(combo.currentIndex())
    qtbot.waitUntil(lambda: window._painted.config.dataset == "mnist", timeout=20000)
    # a new data set takes all its images: the 10k test file, 10% held out
    assert window._painted.dataset_size == 9000
    assert "held out" in window.controls.data_info.text()
    assert window.controls.preview.pixmap() is not None
    window.close()


def record_panel_updates(window, names, mark) -> dict[str, list]:
    """Per panel, ``mark(snapshot)`` of every snapshot the panel is given to show."""
    seen = {name: [] for name in names}
    for name, marks in seen.items():
        panel = window.panels[name]
        original = panel.show_snapshot
        panel.show_snapshot = lambda s, original=original, marks=marks: (marks.append(mark(s)),
                                                                         original(s))
    return seen


def train_for_two_seconds(window, qtbot, redraw_hz: int) -> None:
    window.redraw_spin.setValue(redraw_hz)
    press(window, Qt.Key.Key_Space)
    qtbot.wait(2000)
    press(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.state == "paused", timeout=5000)
    qtbot.wait(200)


def test_plots_refresh_at_a_bounded_rate_while_the_mosaic_follows_every_frame(window, qtbot):
    from gui.main_window import PLOT_MAX_HZ

    calls = record_panel_updates(window, ("MosaicPanel", "LossPanel"), lambda s: s.step)
    train_for_two_seconds(window, qtbot, 20)
    # (how many frames the mosaic gets depends on the machine's load; never fewer)
    assert len(calls["MosaicPanel"]) >= len(calls["LossPanel"])
    assert len(calls["LossPanel"]) <= 2.5 * PLOT_MAX_HZ + 2
    assert calls["LossPanel"][-1] == calls["MosaicPanel"][-1]  # pausing shows everything


def test_at_a_lower_rate_the_plots_slow_down_with_the_mosaic(window, qtbot):
    """A plot refreshes at most every fifth frame, so a lower rate spares its cost too."""
    calls = record_panel_updates(window, ("MosaicPanel", "LossPanel"), lambda s: s.step)
    window.redraw_spin.setValue(5)
    press(window, Qt.Key.Key_Space)
    qtbot.wait(3000)
    press(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.state == "paused", timeout=5000)
    qtbot.wait(200)
    # 1 Hz over 3 s, and the paused frame (at 2 Hz it would be about 7)
    assert 2 <= len(calls["LossPanel"]) <= 5
    assert len(calls["MosaicPanel"]) >= 6  # every frame (about 15)


def test_the_numbers_people_read_change_at_a_readable_rate(window, qtbot):
    """At up to 30 frames a second the status bar's numbers and the toolbar's summary
    change at most TEXT_MAX_HZ; the paused frame shows the step it stopped at."""
    from gui.main_window import TEXT_MAX_HZ

    texts = {"step": [], "annotation": []}
    for name, label in (("step", window.status_labels["step"]), ("annotation", window.annotation)):
        original = label.setText
        label.setText = lambda *text, original=original, seen=texts[name]: (
            seen.append(text[0]), original(*text))
    frames = record_panel_updates(window, ("MosaicPanel",), lambda s: s.step)
    train_for_two_seconds(window, qtbot, 30)
    # (more frames than the texts may have, or the test could not tell)
    assert len(frames["MosaicPanel"]) > 2.5 * TEXT_MAX_HZ + 3
    for seen in texts.values():
        assert 2 <= len(seen) <= 2.5 * TEXT_MAX_HZ + 3
    assert window.status_labels["step"].text() == f"step {window._painted.step:,}"
    assert window._painted.step == frames["MosaicPanel"][-1]


def test_while_training_at_10_hz_at_most_one_plot_is_redrawn_per_frame(window, qtbot):
    """The plots take turns (each costs 6-12 ms to draw), so no frame draws two of them."""
    from gui.main_window import THROTTLED_PANELS

    frame = [0]  # frames painted while training runs; 0 before Start
    original_paint = window.paint

    def paint(snapshot, record=True):
        running = window.state == "running" and record
        frame[0] = frame[0] + 1 if running else -1  # -1: a frame that draws everything
        original_paint(snapshot, record)

    window.paint = paint
    frames = record_panel_updates(window, THROTTLED_PANELS, lambda s: frame[0])
    train_for_two_seconds(window, qtbot, 10)
    while_running = [f for seen in frames.values() for f in seen if f > 0]
    assert all(any(f > 0 for f in seen) for seen in frames.values())  # each had its turn
    assert len(while_running) == len(set(while_running))
    assert all(seen[-1] == -1 for seen in frames.values())  # the paused frame: all of them


def test_the_status_bar_fields_sit_side_by_side(window, qtbot):
    qtbot.waitUntil(lambda: "step" in window.status_labels["step"].text(), timeout=5000)
    boxes = sorted((label.geometry() for label in window.status_labels.values()),
                   key=lambda box: box.x())
    for box in boxes:
        assert box.width() > 40 and box.height() > 5
    for left, right in zip(boxes, boxes[1:], strict=False):
        assert left.right() < right.left()  # no two fields drawn over each other


def test_closing_autosaves_the_run_and_the_next_launch_resumes_it(qtbot, tmp_path):
    path = tmp_path / "settings.ini"
    first = open_window(qtbot, make_settings(path))
    press(first, Qt.Key.Key_S)
    press(first, Qt.Key.Key_S)
    qtbot.waitUntil(lambda: first._painted.step == 2, timeout=5000)
    weights = first._painted.encoder_weights
    first.close()
    autosave = first.settings.autosave_path()
    assert autosave.is_file() and autosave.parent == tmp_path

    second = open_window(qtbot, AppSettings(QSettings(str(path), QSettings.Format.IniFormat)))
    assert second._painted.step == 0  # a launch starts afresh...
    second.resume_action.trigger()  # ...and File > Resume the last session continues
    qtbot.waitUntil(lambda: second._painted.step == 2, timeout=10000)
    np.testing.assert_array_equal(second._painted.encoder_weights, weights)
    assert "Opened" in second.banner.text
    press(second, Qt.Key.Key_S)
    qtbot.waitUntil(lambda: second._painted.step == 3, timeout=5000)
    second.close()


def test_a_saved_run_opens_with_its_settings_and_joins_the_recent_runs(window, qtbot,
                                                                       tmp_path):
    press(window, Qt.Key.Key_S)
    qtbot.waitUntil(lambda: window._painted.step == 1, timeout=5000)
    saved = tmp_path / "lecture.pt"
    window.save_run(str(saved))
    qtbot.waitUntil(lambda: "Saved the run" in window.banner.text, timeout=5000)
    window.controls.editors["beta"].edit.setText("0.5")
    window.controls.editors["beta"].edit.editingFinished.emit()
    qtbot.waitUntil(lambda: trainer(window).config.beta == 0.5, timeout=5000)
    window.confirm = lambda title, text: True
    window.open_run(str(saved))
    qtbot.waitUntil(lambda: "Opened" in window.banner.text, timeout=10000)
    assert list(window.timeline.steps()) == [0, 1]  # the replay came back with the run
    assert trainer(window).config.beta == SMALL.beta
    assert window.controls.applied.beta == SMALL.beta
    assert window.settings.recent_runs[0] == str(saved.resolve())
    window._fill_recent_menu()
    assert [a.text() for a in window.recent_menu.actions()] == [str(saved.resolve())]


def test_a_damaged_run_file_is_refused_and_the_run_goes_on(window, qtbot, tmp_path):
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"\x80\x04garbage")
    window.open_run(str(damaged))
    qtbot.waitUntil(lambda: "not a readable Rhoscope run file" in window.banner.text,
                    timeout=5000)
    press(window, Qt.Key.Key_S)
    qtbot.waitUntil(lambda: window._painted.step == 1, timeout=5000)


def test_a_failed_gpu_offers_to_continue_on_the_cpu(window, qtbot):
    window._on_error("The CUDA device failed at step 5 (OutOfMemoryError: CUDA out of "
                     "memory). Training is paused; the run can continue on the CPU from "
                     "its last good state.", "")
    button = window.banner.findChild(type(window.banner._buttons[0]),
                                     "banner_continue_on_the_cpu")
    assert button is not None
    button.click()
    qtbot.waitUntil(lambda: "Continuing on the CPU" in window.banner.text, timeout=10000)


def test_the_window_modules_load_without_torch():
    """torch takes a second or more to import: the training thread loads it while the
    window is already on screen (benchmarks/bench_startup.py), so no module the window
    imports may load it."""
    script = ("import sys\nimport gui.app, gui.main_window, gui.comparison_window\n"
              "print(sorted({'torch'} & set(sys.modules)))")
    env = dict(os.environ)  # (the platform conftest chose)
    result = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[1],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_at_most_one_frame_request_is_on_its_way(monkeypatch):
    """The redraw timer asks for a frame only when the last one has arrived, or when it
    has waited FRAME_REQUEST_TIMEOUT (a request lost to an error must not freeze it)."""
    from gui import worker as worker_module

    worker = worker_module.TrainingWorker(TrainConfig(), "cpu")  # its thread never starts
    sent = []
    monkeypatch.setattr(worker.loop, "request_snapshot", lambda full=False: sent.append(full))
    clock = [100.0]
    monkeypatch.setattr(worker_module.time, "monotonic", lambda: clock[0])
    worker.request_frame()
    worker.request_frame()
    assert sent == [False]
    worker._on_snapshot(object())  # the frame arrived
    worker.request_frame()
    assert len(sent) == 2
    clock[0] += worker_module.FRAME_REQUEST_TIMEOUT + 0.1  # and this one got lost
    worker.request_frame()
    assert len(sent) == 3
