"""Lecture tools in the window: timeline scrubbing and replay, presentation mode, formula
captions, live annotations and every export."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QImage
from test_window import SMALL, make_settings, open_window, press

import gui.screen_fit
from gui.virtual_screen import platform_path


@pytest.fixture
def window(qtbot, tmp_path):
    win = open_window(qtbot, make_settings(tmp_path / "settings.ini"))
    yield win
    win.close()


def train_steps(window, qtbot, count: int) -> None:
    for _ in range(count):
        target = window._painted.step + 1
        press(window, Qt.Key.Key_S)
        qtbot.waitUntil(lambda t=target: window._painted.step == t, timeout=5000)


def test_scrubbing_shows_the_chosen_step_and_live_returns(window, qtbot):
    train_steps(window, qtbot, 4)
    steps = list(window.timeline.steps())
    assert steps == [0, 1, 2, 3, 4]  # one frame per step while the run is short
    encoder_at_2 = window.timeline.frame_at(2).encoder_weights

    window.timeline_bar.scrub_to(2)
    assert window.replaying and window._painted.step == 2
    assert "step 2" in window.timeline_bar.step_label.text()
    assert "replay, step 2" in window.annotation.text()
    np.testing.assert_array_equal(window._painted.encoder_weights, encoder_at_2)
    loss = window.panels["LossPanel"]
    assert loss.curves["total"].getData()[0].max() <= 2  # the curves are cut there

    press(window, Qt.Key.Key_S)  # training goes on meanwhile, the panels keep the past
    qtbot.waitUntil(lambda: window._snapshot.step == 5, timeout=5000)
    assert window._painted.step == 2
    press(window, Qt.Key.Key_L)
    assert not window.replaying and window._painted.step == 5


def test_replay_plays_the_recorded_run_to_the_end(window, qtbot):
    train_steps(window, qtbot, 3)
    window.timeline_bar.speed_combo.setCurrentIndex(3)  # 20 frames/s
    painted = []
    original = window.paint
    window.paint = lambda s, record=True: (painted.append(s.step), original(s, record))
    window.timeline_bar.play_button.click()
    qtbot.waitUntil(lambda: not window.timeline_bar.playing, timeout=5000)
    assert painted == [0, 1, 2, 3]


def test_the_timeline_stays_bounded_and_spans_the_run(window, qtbot):
    from core.timeline import Timeline

    window.timeline = Timeline(capacity=4)  # (core's tests offer it 100k snapshots)
    train_steps(window, qtbot, 12)
    steps = window.timeline.steps()
    assert len(steps) <= 4 and steps[-1] == 12
    assert window.timeline_bar.slider.maximum() == len(steps) - 1


def test_presentation_mode_scales_up_and_f11_restores_the_layout(window, qtbot,
                                                                 monkeypatch):
    import gui.main_window

    monkeypatch.setattr(gui.main_window, "font_scale", lambda height: 1.6)  # 1080p
    size = window.size()
    title_size = window.panels["RhoPanel"].title_label.font().pointSizeF()
    curve = window.panels["LossPanel"].curves["total"]
    width = curve.opts["pen"].width()
    key_width = window.panels["RhoPanel"].colour_key.maximumWidth()  # fits its font
    window.toggle_presentation()
    assert window.panels["RhoPanel"].colour_key.maximumWidth() > 1.4 * key_width
    assert window.presenting and window.docks["controls"].isHidden()
    assert window.statusBar().isHidden()
    assert window.panels["RhoPanel"].title_label.font().pointSizeF() > 1.4 * title_size
    heading = window.panels["LossPanel"].title_label  # live text, drawn by its own document
    assert heading._document.defaultFont().pointSizeF() > 1.4 * title_size
    assert curve.opts["pen"].width() >= 3 > width
    assert all(not label.isHidden() for label in window.formula_labels.values())
    window.toggle_presentation()
    assert not window.presenting and not window.docks["controls"].isHidden()
    assert not window.statusBar().isHidden()
    assert window.panels["RhoPanel"].title_label.font().pointSizeF() == title_size
    assert curve.opts["pen"].width() == width
    assert window.panels["RhoPanel"].colour_key.maximumWidth() == key_width
    qtbot.waitUntil(lambda: window.size() == size, timeout=3000)


def test_presentation_fonts_follow_the_screen_height():
    """1.6x on a 1080-pixel screen; on a 720p projector 1.07x, or the plots lose their
    room; never smaller than the working layout's, never more than twice as large."""
    from gui.presentation import font_scale

    assert font_scale(1080) == pytest.approx(1.6)
    assert font_scale(720) == pytest.approx(1.6 * 720 / 1080)
    assert font_scale(600) == 1.0 and font_scale(4000) == 2.0


@pytest.mark.parametrize("preset", ["kl-demo", "notes-l1"])
def test_the_window_fits_a_1280_by_720_projector(qtbot, tmp_path, preset, monkeypatch):
    """Working layout and presentation mode (its fonts as on a 720-pixel screen) both fit
    in 1280 x 720 (the window frame aside), every dock shown."""
    import gui.main_window
    from gui.presentation import font_scale

    monkeypatch.setattr(gui.main_window, "font_scale", lambda height: font_scale(720))
    window = open_window(qtbot, make_settings(tmp_path / "settings.ini"), preset=preset)
    try:
        assert all(not dock.isHidden() for dock in window.docks.values())
        for presenting in (False, True):
            if presenting:
                window.toggle_presentation()
                qtbot.wait(50)
            hint = window.minimumSizeHint()
            assert hint.width() <= 1260 and hint.height() <= 720, (presenting, hint)
    finally:
        window.close()


XGA = (1024, 768)  # the classic projector; also a 1280x800 laptop at 125% is 1024 wide


def controls_tabbed(window) -> bool:
    return window.docks["controls"] in window.tabifiedDockWidgets(window.docks["MosaicPanel"])


@pytest.mark.parametrize("preset", ["kl-demo", "notes-l1"])
def test_on_a_1024_pixel_projector_the_controls_become_a_tab(qtbot, tmp_path, preset,
                                                              monkeypatch):
    """Side by side the docks are wider than an XGA projector (the window ran off its
    right edge); when the screen shrinks to it, Controls become a tab beside Weights, the
    live picture in front, and the window fits. Reset layout follows the screen."""
    window = open_window(qtbot, make_settings(tmp_path / "settings.ini"), preset=preset)
    try:
        assert not controls_tabbed(window)
        assert window.minimumSizeHint().width() > XGA[0]  # (what needs fixing)
        screen = window.screen()
        monkeypatch.setattr(gui.screen_fit, "available_geometry", lambda _: QRect(0, 0, *XGA))
        screen.availableGeometryChanged.emit(QRect(0, 0, *XGA))  # e.g. mirrored to XGA
        qtbot.wait(50)
        assert controls_tabbed(window)
        # The live picture in front; Controls a click away, on their tab (a dock behind
        # a tab stays "visible" to Qt, but nothing of it is on screen).
        assert not window.docks["MosaicPanel"].visibleRegion().isEmpty()
        assert window.docks["controls"].visibleRegion().isEmpty()
        assert all(not dock.isHidden() for dock in window.docks.values())
        hint = window.minimumSizeHint()
        assert hint.width() + gui.screen_fit.FRAME_ALLOWANCE <= XGA[0], hint
        assert hint.height() <= XGA[1] - 40, hint  # (a title bar; notes-l1's banner shown)
        assert window.width() + gui.screen_fit.FRAME_ALLOWANCE <= XGA[0]
        assert window.frameGeometry().bottom() < XGA[1]  # (it was 1015 high)
        # The plots' column keeps more than half of the width.
        qtbot.waitUntil(lambda: window.docks["LossPanel"].width() > 0.5 * window.width(),
                        timeout=3000)

        window.reset_layout()  # on the same projector: tabbed again
        assert controls_tabbed(window)
        monkeypatch.setattr(gui.screen_fit, "available_geometry",
                            lambda _: QRect(0, 0, 1920, 1080))
        window.windowHandle().screenChanged.emit(screen)  # back on the desktop
        assert controls_tabbed(window)  # (a layout is never changed behind one's back)
        window.reset_layout()
        assert not controls_tabbed(window)
        assert not window.docks["controls"].visibleRegion().isEmpty()
    finally:
        window.close()


def test_a_wide_screen_or_presentation_mode_keeps_the_layout(window, qtbot, monkeypatch):
    assert not window.screen_fit.fit()  # 1920 x 1080: everything side by side
    window.toggle_presentation()
    qtbot.wait(50)
    monkeypatch.setattr(gui.screen_fit, "available_geometry", lambda _: QRect(0, 0, *XGA))
    window.docks["controls"].show()  # (so only full screen keeps it from folding)
    assert not window.screen_fit.fit() and window.isFullScreen()
    window.toggle_presentation()  # ... and leaving it, on the smaller screen, folds it
    qtbot.waitUntil(lambda: controls_tabbed(window), timeout=3000)
    qtbot.waitUntil(lambda: window.frameGeometry().right() < XGA[0], timeout=3000)
    window.reset_layout()
    assert controls_tabbed(window)
    monkeypatch.undo()
    window.reset_layout()
    window.docks["controls"].setFloating(True)
    assert not window.screen_fit.fit() and not controls_tabbed(window)


def test_reset_layout_puts_every_dock_back(window, qtbot):
    window.docks["controls"].setFloating(True)
    window.docks["LossPanel"].close()
    window.tabifyDockWidget(window.docks["RhoPanel"], window.docks["PenaltyCurvePanel"])
    window.toggle_presentation()
    qtbot.wait(50)
    window.reset_layout()  # (leaves presentation mode first)
    qtbot.wait(50)
    assert not window.presenting and not window.docks["controls"].isFloating()
    assert all(not dock.isHidden() for dock in window.docks.values())
    assert not any(window.tabifiedDockWidgets(dock) for dock in window.docks.values())


def test_the_window_opens_fitted_on_a_1024_by_768_screen(tmp_path):
    """The real path: the app's first show on a screen that size (offscreen, configured)."""
    screen = tmp_path / "xga.json"
    screen.write_text(json.dumps({"screens": [
        {"name": "xga", "x": 0, "y": 0, "width": XGA[0], "height": XGA[1],
         "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
    script = f"""
import sys
import time
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
app = QApplication([])
from gui.main_window import MainWindow
from gui.settings import AppSettings
window = MainWindow(AppSettings(QSettings({str(tmp_path / "s.ini")!r},
                                          QSettings.Format.IniFormat)), device="cpu")
window.show()
app.processEvents()
docks = window.docks
outer = window.frameGeometry()
print(docks["controls"] in window.tabifiedDockWidgets(docks["MosaicPanel"]),
      outer.right(), outer.bottom(), window.minimumSizeHint().width())
deadline = time.monotonic() + 60
while window._painted is None and time.monotonic() < deadline:
    app.processEvents()
    time.sleep(0.01)
window.inspect_unit(3)  # the unit inspector, within the screen too
inspector = window.inspector.frameGeometry()
print(inspector.height(), inspector.bottom())
window.close()
"""
    path = platform_path(screen, ROOT)
    if path is None:
        pytest.skip(f"Qt's platform argument cannot name {screen} (':' or ';' in it)")
    env = dict(os.environ, QT_QPA_PLATFORM=f"offscreen:configfile={path}")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    tabbed, right, bottom, minimum, inspector_height, inspector_bottom = result.stdout.split()
    assert tabbed == "True" and int(right) < XGA[0] and int(bottom) < XGA[1]
    assert int(inspector_height) <= XGA[1] - 60  # (room for a title bar and a task bar)
    assert int(inspector_bottom) < XGA[1]
    assert int(minimum) + gui.screen_fit.FRAME_ALLOWANCE <= XGA[0]


def test_the_first_layout_gives_the_plots_the_widest_column(window, qtbot):
    """At 1600 pixels the plots' column (whose headings carry the most numbers) gets
    46% of the width, the mosaic 30%: not what the panels' size hints would give."""
    window.resize(1600, 1000)
    window._share_width(1600)
    qtbot.waitUntil(lambda: window.docks["LossPanel"].width() > 0.42 * 1600, timeout=3000)
    assert 0.25 * 1600 < window.docks["MosaicPanel"].width() < 0.35 * 1600


def test_formulas_follow_the_penalty_and_c_hides_them(window, qtbot):
    kl_formula = window.formula_labels["PenaltyCurvePanel"].text()
    assert "KL(ρ‖<i>ρ̂</i>) = ρ log ρ/<i>ρ̂</i>" in kl_formula
    combo = window.controls.combos["penalty"]
    combo.setCurrentIndex(combo.findData("l1"))
    combo.activated.emit(combo.currentIndex())
    qtbot.waitUntil(lambda: window.worker.loop.trainer.config.penalty == "l1", timeout=5000)
    press(window, Qt.Key.Key_S)
    qtbot.waitUntil(lambda: window._painted.config.penalty == "l1", timeout=5000)
    assert "sign(a)" in window.formula_labels["PenaltyCurvePanel"].text()
    press(window, Qt.Key.Key_C)
    assert not window.formulas_shown
    press(window, Qt.Key.Key_C)
    assert window.formulas_shown


def test_the_annotation_shows_dead_units_mean_rho_hat_and_sparsity(window, qtbot):
    snapshot = window._painted
    text = window.annotation.text()
    assert f"of {snapshot.hidden_units}" in text
    assert f"{snapshot.rho_hat_mean:.3f}" in text and f"target ρ {SMALL.rho:g}" in text
    assert f"{snapshot.fraction_near_zero:.0%}" in text


@pytest.mark.parametrize("kind", ["png", "svg"])
def test_each_panel_exports_as_png_and_svg(window, tmp_path, kind):
    for name in window.panels:
        path = tmp_path / f"{name}.{kind}"
        window.exporter.export_panel(name, kind, str(path))
        assert path.is_file() and path.stat().st_size > 500, name
        if kind == "png":
            image = QImage(str(path))
            assert image.width() > 50 and image.height() > 50
        else:
            assert path.read_text().lstrip().startswith("<?xml")


def test_the_metric_history_exports_as_csv(window, qtbot, tmp_path):
    train_steps(window, qtbot, 3)
    path = tmp_path / "history.csv"
    window.exporter.export_csv(str(path))
    rows = list(csv.DictReader(path.open()))
    history = window._snapshot.history
    assert [int(row["step_first"]) for row in rows if row["total_mean"]] == \
        list(history.step_first)
    assert float(rows[-1]["total_mean"]) == pytest.approx(history.column("total")[-1])


def test_the_mosaic_timeline_exports_as_gif_and_png_sequence(window, qtbot, tmp_path):
    from PIL import Image

    train_steps(window, qtbot, 2)
    gif = tmp_path / "mosaic.gif"
    window.exporter.export_timeline("gif", str(gif))
    with Image.open(gif) as image:
        assert image.n_frames >= 2  # identical frames may merge; 3 recorded
    folder = tmp_path / "frames"
    folder.mkdir()
    window.exporter.export_timeline("png", str(folder))
    (subfolder,) = folder.iterdir()  # each export in a folder of its own
    assert subfolder.name.startswith("rhoscope-mosaic-")
    names = sorted(p.name for p in subfolder.glob("*.png"))
    assert names == [f"mosaic_{i:05d}_step_{i - 1:06d}.png" for i in (1, 2, 3)]
    assert "Exported" in window.banner.text


def test_a_reset_while_replaying_goes_back_to_live(window, qtbot):
    train_steps(window, qtbot, 3)
    window.timeline_bar.scrub_to(1)
    assert window.replaying
    window.confirm = lambda title, text: True
    press(window, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: window._painted.step == 0 and not window.replaying, timeout=5000)


def test_closing_in_presentation_mode_saves_the_working_layout(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from gui.settings import AppSettings

    path = tmp_path / "settings.ini"
    first = open_window(qtbot, make_settings(path))
    first.toggle_presentation()
    first.close()
    second = open_window(qtbot, AppSettings(QSettings(str(path), QSettings.Format.IniFormat)))
    assert not second.docks["controls"].isHidden() and not second.isFullScreen()
    second.close()


def _brightness(widget) -> float:
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_Grayscale8)
    data = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes())
    return float(data.mean())


def test_the_light_theme_rebuilds_every_panel_and_persists(window, qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from gui import theme
    from gui.settings import AppSettings

    train_steps(window, qtbot, 2)
    dark = {name: _brightness(panel) for name, panel in window.panels.items()}
    window.theme_actions["light"].trigger()
    assert theme.current == "light" and window.theme_actions["light"].isChecked()
    for name, panel in window.panels.items():
        # black on white now (the mosaic's grey tiles stay grey: +60 there, at most)
        assert _brightness(panel) > dark[name] + 40, name
    curve = window.panels["LossPanel"].curves["total"]
    assert curve.opts["pen"].color().name() == theme.PALETTES["light"]["LOSS_COLOURS"]["total"]
    assert window.panels["LossPanel"]._snapshot.step == 2  # drawn again at once
    assert window.panels["RhoPanel"].title_label._colour == "#000000"  # live text too
    path = window.settings.store.fileName()
    window.close()
    again = open_window(qtbot, AppSettings(QSettings(path, QSettings.Format.IniFormat)))
    assert theme.current == "light"
    again.set_theme("dark")
    assert theme.current == "dark"
    again.close()
