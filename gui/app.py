"""Start the studio: ``python main.py [--preset P] [--data-dir D] [--device X]``."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import NoReturn


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"rhoscope: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parse(argv: list[str]) -> argparse.Namespace:
    from core.devices import DEVICE_CHOICES
    from core.presets import PRESETS

    parser = _Parser(prog="python main.py",
                     description="Rhoscope: watch a sparse autoencoder learn. Headless "
                                 "commands: train, presets, gradcheck (see --help of each).")
    parser.add_argument("--preset", choices=list(PRESETS), help="start from this preset")
    parser.add_argument("--data-dir", help="folder holding the MNIST IDX files")
    parser.add_argument("--device", choices=DEVICE_CHOICES, help="training device")
    parser.add_argument("--settings", help="use this settings file (INI) instead of the "
                                           "user's settings")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Rhoscope")
    app.setOrganizationName("Rhoscope")

    from gui.main_window import MainWindow
    from gui.settings import AppSettings
    from gui.theme import configure_pyqtgraph

    configure_pyqtgraph()
    if args.settings:
        store = QSettings(args.settings, QSettings.Format.IniFormat)
    else:
        store = QSettings()
    window = MainWindow(AppSettings(store), data_dir=args.data_dir, device=args.device,
                        preset=args.preset)
    window.show()

    # Ctrl+C in the terminal and SIGTERM close the window cleanly (the worker stops and
    # the settings are saved).  Python runs signal handlers only between bytecodes, so a
    # timer gives the interpreter a moment every 200 ms.
    def close_window(*_: object) -> None:
        window.close()

    signal.signal(signal.SIGINT, close_window)
    signal.signal(signal.SIGTERM, close_window)
    heartbeat = QTimer()
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start(200)
    return app.exec()
