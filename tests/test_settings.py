"""Settings are read with explicit types; anything unreadable falls back with a warning."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings

from core.config import TrainConfig
from core.presets import DEFAULT_PRESET, PRESETS
from gui.settings import SPEEDS, AppSettings


def store(path) -> AppSettings:
    return AppSettings(QSettings(str(path), QSettings.Format.IniFormat))


def test_round_trip(tmp_path):
    settings = store(tmp_path / "a.ini")
    config = TrainConfig(beta=1.25, hidden_units=100)
    settings.save_run_settings("custom", config)
    settings.redraw_hz = 12
    settings.speed_index = 3
    settings.device = "cpu"
    settings.save_window(QByteArray(b"geometry"), QByteArray(b"state"))
    settings.sync()
    again = store(tmp_path / "a.ini")
    assert again.run_settings() == ("custom", config)
    assert again.redraw_hz == 12 and again.speed_index == 3 and again.device == "cpu"
    assert bytes(again.geometry()) == b"geometry"
    assert again.warnings == []


def test_empty_store_gives_the_default_preset(tmp_path):
    settings = store(tmp_path / "none.ini")
    assert settings.run_settings() == (DEFAULT_PRESET, PRESETS[DEFAULT_PRESET].config)
    assert settings.redraw_hz == 0.0  # Auto
    assert settings.speed_index == 0
    assert settings.geometry() is None and settings.window_state() is None


def test_corrupt_entries_fall_back_one_by_one(tmp_path):
    path = tmp_path / "bad.ini"
    path.write_text('[run]\nconfig="{\\"rho\\": 7}"\npreset=custom\n[view]\nredraw_hz=fast\n'
                    "speed_index=99\n")
    settings = store(path)
    preset, config = settings.run_settings()
    assert (preset, config) == (DEFAULT_PRESET, PRESETS[DEFAULT_PRESET].config)
    assert settings.redraw_hz == 0.0
    assert settings.speed_index == 0 and len(SPEEDS) > 1
    assert any("rho = 7" in w for w in settings.warnings)
    assert any("redraw_hz" in w for w in settings.warnings)


def test_unknown_preset_and_non_mapping_config(tmp_path):
    path = tmp_path / "odd.ini"
    path.write_text('[run]\npreset=gone\nconfig="[1, 2]"\n')
    settings = store(path)
    preset, _ = settings.run_settings()
    assert preset == DEFAULT_PRESET
    assert len(settings.warnings) == 2
