"""Soak: train with the window open and redrawing for a long time; memory must not grow.

    python benchmarks/soak.py [--minutes 30] [--every 10]

Trains the default preset with every panel drawing while, now and then, the mosaic tab,
the sort order and the dock visibility change and the timeline is scrubbed back and
returned to live.  Samples resident memory, thread count and
the redraw rate; the growth from the level after the first minute (or the first third of
a short run) to the end must stay under 50 MB.  ``tests/test_soak.py`` runs it for a few
seconds in CI.  Exit status 1 when the bound is broken.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from gui.virtual_screen import use_virtual_desktop_unless_displayed  # noqa: E402

use_virtual_desktop_unless_displayed()  # (the tests' 1920x1080 screen, not Qt's 800x800)

GROWTH_BOUND_MB = 50.0


@dataclass
class Sample:
    seconds: float
    rss_mb: float
    threads: int
    step: int
    redraw_hz: float


def _status(field: str) -> int:
    """A number from /proc/self/status (Linux; 0 where unavailable)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def resident_mb() -> float:
    """Resident set size of this process."""
    return _status("VmRSS") / 1024


def thread_count() -> int:
    """Operating-system threads of this process (Qt's and torch's included)."""
    return _status("Threads") or threading.active_count()


def soak(seconds: float, every: float = 10.0, preset: str = "kl-demo") -> list[Sample]:
    """Run the studio for ``seconds``; one Sample every ``every`` seconds."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from gui.main_window import MainWindow
    from gui.settings import AppSettings
    from gui.theme import configure_pyqtgraph

    configure_pyqtgraph()
    store = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(AppSettings(store), device="cpu", preset=preset)
    # A fixed 10 Hz, the most the CPU's Auto draws: the most snapshots to hold and let go
    # (and this loop's polling would lower Auto's rate).
    window.set_redraw_rate(10, remember=False)
    window.show()
    while window._painted is None:
        app.processEvents()
        time.sleep(0.01)
    window.toggle_training()
    samples: list[Sample] = []
    started = time.perf_counter()
    next_sample = 0.0
    actions = 0
    try:
        while (elapsed := time.perf_counter() - started) < seconds:
            app.processEvents()
            time.sleep(0.002)
            if elapsed >= next_sample:
                samples.append(Sample(elapsed, resident_mb(), thread_count(),
                                      window._snapshot.step, window.redraw_meter.rate))
                next_sample += every
                actions += 1
                _exercise(window, actions)
    finally:
        window.close()
    return samples


def _exercise(window, count: int) -> None:
    """What a lecturer does during a long run: switch tabs, sort, hide and show a dock,
    scrub back through the timeline and return to live."""
    if count % 3 == 1 and len(window.timeline) > 1:
        window.timeline_bar.scrub_to(len(window.timeline) // 2)
    elif window.replaying:
        window.timeline_bar.go_live()
    mosaic = window.panels["MosaicPanel"]
    mosaic.set_side("decoder" if count % 2 else "encoder")
    window.panels["RhoPanel"].set_sorted(count % 3 == 0)
    dock = window.docks["ReconstructionPanel"]
    dock.setVisible(count % 4 != 0)


def growth_mb(samples: list[Sample], warm_up: float) -> float:
    """RSS at the end minus RSS once warmed up (the first sample at or after warm_up s)."""
    base = next((s for s in samples if s.seconds >= warm_up), samples[0])
    return samples[-1].rss_mb - base.rss_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    args = parser.parse_args()
    seconds = args.minutes * 60
    samples = soak(seconds, args.every)
    print(f"{'time':>8s} {'RSS MB':>8s} {'threads':>8s} {'step':>9s} {'redraw Hz':>10s}")
    for sample in samples:
        print(f"{sample.seconds:8.0f} {sample.rss_mb:8.1f} {sample.threads:8d} "
              f"{sample.step:9d} {sample.redraw_hz:10.1f}")
    warm_up = min(60.0, seconds / 3)
    growth = growth_mb(samples, warm_up)
    threads = {sample.threads for sample in samples}
    print(f"\nRSS growth after the first {warm_up:.0f} s: {growth:+.1f} MB "
          f"(bound {GROWTH_BOUND_MB:.0f} MB); threads: {sorted(threads)}")
    if growth > GROWTH_BOUND_MB or len(threads) > 1:
        sys.exit(1)


if __name__ == "__main__":
    main()
