"""Persisted window layout and last-used settings, read with explicit types.

A damaged or foreign store never blocks start-up: each unreadable entry falls back to its
default and is reported once as a warning.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths

from core.config import ConfigError, TrainConfig
from core.presets import DEFAULT_PRESET, PRESETS

SPEEDS: tuple[tuple[str, float | None], ...] = (
    ("full speed", None),
    ("100 steps/s", 100.0),
    ("30 steps/s", 30.0),
    ("10 steps/s", 10.0),
    ("3 steps/s", 3.0),
    ("1 step/s", 1.0),
)


class AppSettings:
    """Typed access to a QSettings store; ``warnings`` lists entries that were unusable."""

    def __init__(self, store: QSettings) -> None:
        self.store = store
        self.warnings: list[str] = []

    def _read(self, key: str, default: Any, kind: type) -> Any:
        try:
            value = self.store.value(key, default)
        except Exception:
            value = None
        if value is None:
            return default
        try:
            if kind is bool:
                if isinstance(value, str):
                    if value.lower() not in ("true", "false", "1", "0"):
                        raise ValueError(value)
                    return value.lower() in ("true", "1")
                return bool(value)
            if kind is QByteArray:
                if not isinstance(value, QByteArray | bytes):
                    raise TypeError(type(value).__name__)
                return QByteArray(value)
            return kind(value)
        except (TypeError, ValueError):
            self.warnings.append(f"setting {key!r} was unreadable ({value!r}); using the default")
            return default

    # ----------------------------------------------------------------- run settings

    def run_settings(self) -> tuple[str, TrainConfig]:
        """The last preset name and configuration, or the default preset's."""
        preset = self._read("run/preset", DEFAULT_PRESET, str)
        if preset not in PRESETS and preset != "custom":
            self.warnings.append(f"saved preset {preset!r} is unknown; using {DEFAULT_PRESET}")
            preset = DEFAULT_PRESET
        text = self._read("run/config", "", str)
        if not text:
            return preset, PRESETS.get(preset, PRESETS[DEFAULT_PRESET]).config
        try:
            values = json.loads(text)
            if not isinstance(values, dict):
                raise TypeError("not a mapping")
            return preset, TrainConfig.from_dict(values)
        except (ValueError, TypeError, ConfigError) as error:
            self.warnings.append(f"saved settings were invalid ({error}); using {DEFAULT_PRESET}")
            return DEFAULT_PRESET, PRESETS[DEFAULT_PRESET].config

    def save_run_settings(self, preset: str, config: TrainConfig) -> None:
        self.store.setValue("run/preset", preset)
        self.store.setValue("run/config", json.dumps(config.to_dict()))

    @property
    def device(self) -> str:
        return self._read("run/device", "auto", str)

    @device.setter
    def device(self, value: str) -> None:
        self.store.setValue("run/device", value)

    @property
    def data_dir(self) -> str:
        return self._read("run/data_dir", "", str)

    @data_dir.setter
    def data_dir(self, value: str) -> None:
        self.store.setValue("run/data_dir", value)

    @property
    def own_data(self) -> dict[str, str]:
        """The last folder ('folder') and array file ('npz') the user trained on."""
        return {name: self._read(f"run/own_{name}", "", str) for name in ("folder", "npz")}

    @own_data.setter
    def own_data(self, paths: dict[str, str]) -> None:
        for name, path in paths.items():
            self.store.setValue(f"run/own_{name}", path)

    # ----------------------------------------------------------------- display

    @property
    def redraw_hz(self) -> float:
        value = self._read("view/redraw_hz", 0.0, float)
        return value if 0 < value <= 60 else 0.0  # 0 = Auto (gui/redraw_pacer.py)

    @redraw_hz.setter
    def redraw_hz(self, value: float) -> None:
        self.store.setValue("view/redraw_hz", float(value))

    @property
    def theme(self) -> str:
        value = self._read("view/theme", "dark", str)
        return value if value in ("dark", "light") else "dark"

    @theme.setter
    def theme(self, value: str) -> None:
        self.store.setValue("view/theme", value)

    @property
    def speed_index(self) -> int:
        value = self._read("view/speed_index", 0, int)
        return value if 0 <= value < len(SPEEDS) else 0

    @speed_index.setter
    def speed_index(self, value: int) -> None:
        self.store.setValue("view/speed_index", int(value))

    def geometry(self) -> QByteArray | None:
        value = self._read("window/geometry", None, QByteArray)
        return value if value is not None and not value.isEmpty() else None

    def window_state(self) -> QByteArray | None:
        value = self._read("window/state", None, QByteArray)
        return value if value is not None and not value.isEmpty() else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self.store.setValue("window/geometry", geometry)
        self.store.setValue("window/state", state)

    # ----------------------------------------------------------------- runs

    #: How many recently opened or saved runs the File menu lists.
    RECENT_RUNS = 8

    def autosave_path(self) -> Path:
        """The run saved now and then and at exit: beside an INI settings file, so each
        settings store (a user's, a test's) has its own; else (the Windows registry) in
        the user's application data folder."""
        if self.store.format() == QSettings.Format.IniFormat or os.name != "nt":
            folder = Path(self.store.fileName()).resolve().parent
        else:
            folder = Path(QStandardPaths.writableLocation(
                QStandardPaths.StandardLocation.AppDataLocation))
        return folder / "rhoscope-autosave.pt"

    @property
    def recent_runs(self) -> list[str]:
        text = self._read("runs/recent", "[]", str)
        try:
            paths = json.loads(text)
        except ValueError:
            paths = None
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            self.warnings.append("the list of recent runs was unreadable; starting afresh")
            return []
        return paths[:self.RECENT_RUNS]

    def add_recent_run(self, path: str) -> None:
        """Put ``path`` first in the recent runs (once)."""
        path = str(Path(path).resolve())
        paths = [path] + [p for p in self.recent_runs if p != path]
        self.store.setValue("runs/recent", json.dumps(paths[:self.RECENT_RUNS]))

    def sync(self) -> None:
        self.store.sync()
