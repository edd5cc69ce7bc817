"""What one redraw costs the GUI thread, without training competing for the CPU.

    python benchmarks/bench_frame.py [--frames 100] [--rounds 5] [--quick]

Every millisecond the GUI thread spends on a frame holds the interpreter lock that the
training thread needs between its kernels: at the default 10 Hz, 10 ms a frame is 10% of a
core, and the window's samples/s fall as the redraw rate rises (``bench_gui.py``, whose
ratio this machine's noise blurs).  This measures the cost itself, in CPU time of the GUI thread:
the window (1600x900, kl-demo) is trained briefly, paused, and then paints snapshots as a
running window does (the mosaic every frame, the plots taking turns), each frame split
into setting the new data (``MainWindow.paint``) and Qt's repaint.

Then the weight mosaic's own path (tiling 400 units, turning the pixels the screen shows
into 8-bit grey, the paint) in a 340x540 view (the window's mosaic in the layout the
earlier runs drew; 482 pixels wide in a user's 1600x900 window) and in a small one.
Offscreen unless $DISPLAY is set.
"""

from __future__ import annotations

import argparse
import dataclasses
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


def run_event_loop(seconds: float) -> None:
    loop = QEventLoop()
    QTimer.singleShot(round(seconds * 1000), loop.quit)
    loop.exec()


def cpu_ms(action) -> float:
    """CPU time of this thread spent in ``action()``, in ms."""
    started = time.thread_time()
    action()
    return (time.thread_time() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true",
                        help="a few frames that only prove the script works (CI)")
    args = parser.parse_args()
    if args.quick:
        args.frames, args.rounds = 6, 1

    app = QApplication.instance() or QApplication([])
    import pyqtgraph as pg

    from core.mosaic import tile_mosaic
    from gui.main_window import MainWindow
    from gui.panels.mosaic_panel import WEIGHT_LEVELS, MosaicTab
    from gui.settings import AppSettings
    from gui.theme import configure_pyqtgraph

    configure_pyqtgraph()
    store = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(AppSettings(store), device="cpu", preset="kl-demo")
    window.resize(1600, 900)
    window.show()
    while window._painted is None:
        app.processEvents()
        time.sleep(0.01)
    window.toggle_training()
    run_event_loop(0.5 if args.quick else 2.0)
    window.toggle_training()
    run_event_loop(0.3)
    trained = window._painted
    window.redraw_timer.stop()

    # As while training (the plots take turns), but with the training thread paused.
    window._state = "running"
    data_ms, repaint_ms = [], []
    for frame in range(args.frames):
        snapshot = dataclasses.replace(trained, step=trained.step + frame + 1,
                                       samples_per_second=30_000.0 + frame,
                                       taken_at=time.monotonic())
        data_ms.append(cpu_ms(lambda snapshot=snapshot: window.paint(snapshot)))
        repaint_ms.append(cpu_ms(app.processEvents))
        time.sleep(0.1)  # the default 10 Hz: the plots' turns follow the clock
        app.processEvents()
    window._state = "paused"
    total = statistics.mean(data_ms) + statistics.mean(repaint_ms)
    print(f"preset kl-demo, {trained.hidden_units} units, 1600x900, "
          f"{'X11' if os.environ.get('DISPLAY') else 'offscreen'}; {args.frames} frames")
    print(f"GUI thread per frame (mean CPU ms): new data {statistics.mean(data_ms):.2f}, "
          f"repaint {statistics.mean(repaint_ms):.2f}, total {total:.2f} "
          f"= {total / 100:.1%} of a core at 10 Hz")

    # The mosaic's own path: tiles, then the conversion to 8-bit grey of the pixels the
    # screen shows and the paint, in a view the size of the window's, then in a small one
    # (a narrow dock, the A/B window), where each screen pixel averages several.  Side by
    # side in interleaved rounds, each first in turn: the same view drawing through
    # pyqtgraph's own ImageItem (the whole image to 8-bit, then scaled by Qt; averaged
    # down in the small view), as the window did before ScreenImageItem.
    weights, shape = trained.encoder_weights, trained.image_shape
    canvases = {"ScreenImageItem": MosaicTab("encoder"),
                "pyqtgraph ImageItem": MosaicTab("encoder")}
    reference = canvases["pyqtgraph ImageItem"]
    reference.view_box.removeItem(reference.image)
    reference.image = pg.ImageItem(axisOrder="row-major")
    reference.image.setAutoDownsample(True)
    reference.view_box.addItem(reference.image)

    def show(canvas: MosaicTab) -> None:
        canvas.set_image(tile_mosaic(weights, shape), WEIGHT_LEVELS)
        canvas.viewport().repaint()

    for size in ((340, 540), (250, 250)):
        rounds: dict[str, list[float]] = {name: [] for name in canvases}
        for canvas in canvases.values():
            canvas.resize(*size)
            canvas.show()
        app.processEvents()
        for round_ in range(args.rounds):
            order = list(canvases.items())
            for name, canvas in order[::-1] if round_ % 2 else order:  # (each first in turn)
                rounds[name].append(statistics.median(
                    cpu_ms(lambda canvas=canvas: show(canvas)) for _ in range(20)))
        ours, theirs = (statistics.median(rounds[name]) for name in canvases)
        ratio = statistics.median(a / b for a, b in zip(*rounds.values(), strict=True))
        print(f"mosaic in a {size[0]}x{size[1]} view, tiles to screen (CPU, median of "
              f"{args.rounds} rounds): {ours:.2f} ms, through pyqtgraph's ImageItem "
              f"{theirs:.2f} ms ({ratio:.2f}x)")
    for canvas in canvases.values():
        canvas.hide()  # (pyqtgraph's GraphicsView.close() crashes on a view made this way)
        canvas.deleteLater()
    window.close()
    app.processEvents()


if __name__ == "__main__":
    main()
