"""Start the studio: ``python main.py [--preset P] [--data-dir D] [--device X]``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
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
    parser.add_argument("--start", action="store_true",
                        help="start training as soon as the window is up (as Space does)")
    return parser.parse_args(argv)


#: Set (to anything) to print start-up timings as JSON on stderr and quit after the first
#: painted snapshot; benchmarks/bench_startup.py uses it.
STARTUP_REPORT_ENV = "RHOSCOPE_STARTUP_REPORT"


def main(argv: list[str] | None = None) -> int:
    marks = {"main": time.perf_counter()}
    args = _parse(sys.argv[1:] if argv is None else argv)

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    marks["qt imported"] = time.perf_counter()

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
    marks["app imported"] = time.perf_counter()
    window = MainWindow(AppSettings(store), data_dir=args.data_dir, device=args.device,
                        preset=args.preset)
    window.show()
    marks["window shown"] = time.perf_counter()
    if os.environ.get(STARTUP_REPORT_ENV):
        _report_startup(window, marks)
    if args.start:
        window.worker.resume()  # queued: runs once the trainer is built

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


def _report_startup(window, marks: dict[str, float]) -> None:
    """Print when the window answered its first event and when it painted its first
    snapshot, then close it."""
    from PySide6.QtCore import QTimer

    def responsive() -> None:
        marks["responsive"] = time.perf_counter()

    def check_painted() -> None:
        if window._painted is None:
            QTimer.singleShot(10, check_painted)
            return
        marks["first snapshot painted"] = time.perf_counter()
        print(json.dumps({name: value - marks["main"] for name, value in marks.items()}),
              file=sys.stderr)
        window.close()

    QTimer.singleShot(0, responsive)
    QTimer.singleShot(0, check_painted)
