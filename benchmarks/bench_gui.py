"""What the window costs: training speed with the studio open against headless, side by side.

    python benchmarks/bench_gui.py [--seconds 4] [--rounds 8] [--preset kl-demo] [--redraw HZ]
                                   [--no-redraw] [--quick]

In one process, alternating rounds: a headless trainer stepping in the main thread (the
window idle and paused), then the window's own worker training with every panel drawing at
the default redraw rate while the main thread runs Qt's event loop, as the app does; one
more headless stretch ends the run, so each window stretch is compared with the mean of
the headless stretches before and after it (a drift of the shared machine's speed
cancels).  Reports the median of those ratios of samples/s (target >= 85%), the redraw
rate achieved, how old a snapshot is when painted (target < 150 ms) and the CPU each
thread used meanwhile.
After each timed stretch, with training still running, a 10 ms timer measures the event
loop's lateness (target p99 < 50 ms; kept out of the timed stretch, as its hundred
wake-ups a second cost training time the app does not spend), then a click on Pause is
timed (target < 100 ms).  Offscreen unless $DISPLAY is set.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from gui.virtual_screen import use_virtual_desktop_unless_displayed  # noqa: E402

use_virtual_desktop_unless_displayed()  # (the tests' 1920x1080 screen, not Qt's 800x800)

from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from core.data import load_for_config  # noqa: E402
from core.devices import flush_subnormals_to_zero  # noqa: E402
from core.trainer import Trainer  # noqa: E402


def thread_cpu_seconds() -> dict[str, float]:
    """CPU seconds so far of each thread of this process, by thread id (Linux' /proc;
    empty elsewhere)."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    seconds = {}
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
            seconds[tid] = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    except OSError:
        return {}
    return seconds


def run_event_loop(seconds: float) -> None:
    """Run Qt's event loop for ``seconds``, sleeping between events as ``app.exec()`` does."""
    loop = QEventLoop()
    QTimer.singleShot(round(seconds * 1000), loop.quit)
    loop.exec()


def spin(app: QApplication, seconds: float) -> None:
    """Poll the event loop for ``seconds`` (for short waits on a condition)."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.001)


def headless_round(trainer: Trainer, seconds: float) -> float:
    samples, started = trainer.samples_seen, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(16):
            trainer.step()
    trainer.flush()
    return (trainer.samples_seen - samples) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # Many short rounds rather than a few long ones: a neighbour's burst spoils one round,
    # and the median of eight ratios moves less than that of three (11-29c).
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--preset", default="kl-demo")
    parser.add_argument("--redraw", type=int, default=None,
                        help="redraw rate in Hz, 0 for Auto (default: the window's own "
                             "default, Auto)")
    parser.add_argument("--no-redraw", action="store_true",
                        help="the window trains but never redraws (its timer stopped): "
                             "what the worker thread costs without painting, and the "
                             "method's noise floor")
    parser.add_argument("--quick", action="store_true",
                        help="one short round that only proves the script works (CI)")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds = 1.5, 1
    flush_subnormals_to_zero()  # the headless trainer's thread, as the window's worker does

    app = QApplication.instance() or QApplication([])
    from gui.main_window import MainWindow
    from gui.settings import AppSettings
    from gui.theme import configure_pyqtgraph

    configure_pyqtgraph()
    store = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(AppSettings(store), device="cpu", preset=args.preset)
    window.resize(1600, 900)
    window.show()
    if args.redraw is not None:
        window.redraw_spin.setValue(args.redraw)
    while window._painted is None:
        spin(app, 0.05)
    if args.no_redraw:
        window.redraw_timer.timeout.disconnect()
    config = window.controls.applied
    headless = Trainer(config, load_for_config(config), "cpu")
    for _ in range(20):
        headless.step()

    lateness: list[float] = []
    last_tick = [0.0]

    def tick() -> None:
        now = time.perf_counter()
        if last_tick[0]:
            lateness.append(max(0.0, now - last_tick[0] - 0.010))
        last_tick[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)

    latencies: list[float] = []
    original_paint = window.paint

    def paint(snapshot) -> None:
        original_paint(snapshot)
        latencies.append(window.latency_ms)

    window.paint = paint
    stopped_at: list[float] = []
    window.worker.stateChanged.connect(
        lambda state: stopped_at.append(time.perf_counter()) if state == "paused" else None)

    headless_rates, gui_rates, redraw_rates, pause_ms = [], [], [], []
    gui_share: list[float] = []  # CPU of the GUI (main) thread, in cores
    other_share: list[float] = []  # CPU of every other thread (training, its workers)
    print(f"preset {args.preset}: {config.hidden_units} units, batch {config.batch_size}, "
          f"{config.optimizer}; redraw "
          f"{'off' if args.no_redraw else window.redraw_spin.text()}, "
          f"{'X11' if os.environ.get('DISPLAY') else 'offscreen'}")
    for round_ in range(args.rounds):
        headless_rates.append(headless_round(headless, args.seconds))
        trainer = window.worker.loop.trainer
        if window.auto_redraw:  # (not what the lateness probe below cost, 100 wake-ups/s)
            window.pacer.forget()
        window.toggle_training()
        run_event_loop(1.0)  # settle
        samples, started = trainer.samples_seen, time.perf_counter()
        paints = len(latencies)
        cpu_before = thread_cpu_seconds()
        run_event_loop(args.seconds)
        elapsed = time.perf_counter() - started
        cpu_after = thread_cpu_seconds()
        if cpu_after:
            used = {tid: cpu_after[tid] - cpu_before.get(tid, 0.0) for tid in cpu_after}
            gui_share.append(used.pop(str(os.getpid()), 0.0) / elapsed)
            other_share.append(sum(used.values()) / elapsed)
        gui_rates.append((trainer.samples_seen - samples) / elapsed)
        redraw_rates.append((len(latencies) - paints) / elapsed)
        last_tick[0] = 0.0
        timer.start(10)
        run_event_loop(args.seconds / 2)
        timer.stop()
        clicked = time.perf_counter()
        stopped_at.clear()
        window.toggle_training()  # what a click on Pause does
        while not stopped_at:
            spin(app, 0.001)
        pause_ms.append((stopped_at[0] - clicked) * 1000)
        spin(app, 0.5)
        print(f"round {round_ + 1}: headless {headless_rates[-1]:,.0f} samples/s, window "
              f"{gui_rates[-1]:,.0f} samples/s, redraw {redraw_rates[-1]:.1f} Hz, "
              f"pause took {pause_ms[-1]:.0f} ms")
    headless_rates.append(headless_round(headless, args.seconds))
    print(f"last headless stretch: {headless_rates[-1]:,.0f} samples/s")
    window.close()

    # The median of the rounds' ratios: each window stretch against the mean of the
    # headless stretches either side of it, timed in the same minute.
    ratios = [g / ((before + after) / 2) for g, before, after
              in zip(gui_rates, headless_rates[:-1], headless_rates[1:], strict=True)]
    print("window / headless by round: " + ", ".join(f"{r:.0%}" for r in ratios))
    ratio = statistics.median(ratios)
    spread = ""
    if len(ratios) > 1:
        lower, _, upper = statistics.quantiles(ratios, n=4)
        spread = f"quartiles {lower:.0%}-{upper:.0%}, "
    late = sorted(lateness)
    p99 = late[int(0.99 * (len(late) - 1))] * 1000 if late else 0.0
    print(f"\nwindow / headless: {ratio:.0%}, median of {len(ratios)} rounds ({spread}best "
          f"rounds: {max(gui_rates):,.0f} vs {max(headless_rates):,.0f} samples/s; "
          "target >= 85%)")
    print(f"redraw achieved: {statistics.median(redraw_rates):.1f} Hz")
    if gui_share:
        print(f"CPU while the window trains: GUI thread {statistics.median(gui_share):.0%} "
              f"of a core, the other threads {statistics.median(other_share):.0%} "
              f"(of {os.cpu_count()} cores)")
    if latencies:
        print(f"snapshot age when painted: median {statistics.median(latencies):.0f} ms, "
              f"max {max(latencies):.0f} ms (target < 150 ms)")
    print(f"event loop lateness: p99 {p99:.0f} ms (target < 50 ms)")
    print(f"Pause takes effect in: max {max(pause_ms):.0f} ms (target < 100 ms)")


if __name__ == "__main__":
    main()
