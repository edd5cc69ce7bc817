"""A/B comparison: two runs on the same data, from the same initial weights and batch
order, differing in one knob, trained in lockstep and drawn side by side.

Reached from the main window in two clicks: the toolbar's "A/B" button opens a dialog
with the lecture's classic comparisons (L1 vs KL, beta 0 vs 3, rho 0.05 vs 0.2) and
"Compare" starts it.  The window has its own training thread (a ``TrainingLoop`` driving
a ``core.comparison.ComparisonRun``); closing it stops that thread.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QResizeEvent
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QLabel,
    QMainWindow,
    QScrollArea,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from core.comparison import ComparisonRun, ComparisonSnapshot, check_pair
from core.config import ConfigError, TrainConfig
from gui.banner import Banner
from gui.panels.common import RHO_HAT, LiveLabel, caption_label, use_dark_palette
from gui.panels.kl_panel import PenaltyCurvePanel
from gui.panels.loss_panel import LossPanel
from gui.panels.mosaic_panel import MosaicPanel
from gui.panels.rho_panel import RhoPanel
from gui.redraw_pacer import RedrawPacer, retime
from gui.screen_fit import FRAME_ALLOWANCE
from gui.worker import TrainingWorker

#: The comparisons a lecture reaches for: (label, changes to A, changes to B).
CHOICES: tuple[tuple[str, dict, dict], ...] = (
    ("KL sparsity: β 0 against β 3", {"penalty": "kl", "beta": 0.0},
     {"penalty": "kl", "beta": 3.0}),
    ("L1 on activations against KL sparsity", {"penalty": "l1"}, {"penalty": "kl"}),
    ("KL target: ρ 0.05 against ρ 0.2", {"penalty": "kl", "rho": 0.05},
     {"penalty": "kl", "rho": 0.2}),
    ("No penalty against KL sparsity", {"penalty": "none"}, {"penalty": "kl"}),
)

#: Panel rows, top to bottom, one column per run, with (stretch, minimum height).
ROWS = (MosaicPanel, LossPanel, RhoPanel, PenaltyCurvePanel)
ROW_SIZES = ((4, 280), (2, 150), (2, 150), (2, 150))


def comparison_configs(base: TrainConfig, choice: int) -> tuple[TrainConfig, TrainConfig]:
    """A and B from the current settings and one of CHOICES (KL needs a bounded
    activation: a relu encoder becomes sigmoid on both sides)."""
    _, changes_a, changes_b = CHOICES[choice]
    if base.encoder_activation == "relu" and "kl" in (changes_a.get("penalty"),
                                                       changes_b.get("penalty")):
        base = base.replace(encoder_activation="sigmoid")
    return base.replace(**changes_a), base.replace(**changes_b)


class CompareDialog(QDialog):
    """Pick what differs between A and B (the first choice is ready: one more click)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare A and B")
        self.choice = QComboBox()
        self.choice.setObjectName("comparison_choice")
        for label, _, _ in CHOICES:
            self.choice.addItem(label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.compare_button = buttons.addButton("Compare",
                                                QDialogButtonBox.ButtonRole.AcceptRole)
        self.compare_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Two runs from the same initial weights and batch order, "
                                "differing only in:"))
        layout.addWidget(self.choice)
        layout.addWidget(buttons)


class FillingScrollArea(QScrollArea):
    """Its content fills it, and scrolls only where the area is smaller than the
    content's minimum size (QScrollArea's own resizing, ``widgetResizable``, made the two
    columns 2,563 pixels tall in a 916-pixel area, so they always scrolled).

    While it scrolls, the mouse wheel over a plot scrolls the columns (Ctrl + wheel
    zooms the plot, as the wheel alone does where nothing scrolls).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._plot_viewports: list[QWidget] = []

    def setWidget(self, widget: QWidget) -> None:
        super().setWidget(widget)
        widget.installEventFilter(self)  # (its minimum size may change: refit)
        self._plot_viewports = [view.viewport()
                                for view in widget.findChildren(pg.GraphicsView)]
        for viewport in self._plot_viewports:
            viewport.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.LayoutRequest and watched is self.widget():
            self._fit()
        elif (event.type() == QEvent.Type.Wheel and watched in self._plot_viewports
              and self.verticalScrollBar().isVisible()
              and not event.modifiers() & Qt.KeyboardModifier.ControlModifier):
            QApplication.sendEvent(self.verticalScrollBar(), event)
            return True
        return super().eventFilter(watched, event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        content = self.widget()
        if content is None:
            return
        minimum = content.minimumSizeHint()
        room = self.maximumViewportSize()  # (the viewport without scroll bars)
        width, height = room.width(), room.height()
        tall = height < minimum.height()
        if tall:
            width -= self.verticalScrollBar().sizeHint().width()
        if width < minimum.width():  # a horizontal bar, which may make it tall too
            height -= self.horizontalScrollBar().sizeHint().height()
            if not tall and height < minimum.height():
                width -= self.verticalScrollBar().sizeHint().width()
        content.resize(max(width, minimum.width()), max(height, minimum.height()))


class ComparisonWindow(QMainWindow):
    """Runs A and B side by side, trained in lockstep by one worker thread."""

    #: Emitted once the window has closed and its thread has stopped.
    closed = Signal()

    def __init__(self, config_a: TrainConfig, config_b: TrainConfig, device: str = "cpu",
                 data_dir: str | None = None, redraw_hz: float = 10.0,
                 redraw_budget: float | None = None, parent: QWidget | None = None) -> None:
        """``redraw_budget``: the main window's Auto, the share of a core the redraws may
        take (``redraw_hz`` is then the most); None: always ``redraw_hz``."""
        super().__init__(parent)
        self.setWindowTitle("Rhoscope: A/B comparison")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.snapshot: ComparisonSnapshot | None = None
        self._state = "starting"
        self.banner = Banner()
        self.caption = caption_label()
        self.caption.setObjectName("comparison_caption")
        self.panels: dict[str, list] = {}
        grid = QGridLayout()
        for column, side in enumerate(("A", "B")):
            title = LiveLabel()
            title.setObjectName(f"side_{side}")
            grid.addWidget(title, 0, column)
            self.panels[side] = [panel_type() for panel_type in ROWS]
            for row, panel in enumerate(self.panels[side], start=1):
                grid.addWidget(panel, row, column)
        for row, (stretch, height) in enumerate(ROW_SIZES, start=1):
            grid.setRowStretch(row, stretch)
            for side in ("A", "B"):
                self.panels[side][row - 1].setMinimumHeight(height)
        self.side_titles = [grid.itemAtPosition(0, c).widget() for c in (0, 1)]
        # The window needs about 860 pixels of height (the two columns about 800): on a
        # 720p or 1024x768 projector the columns scroll rather than run off the screen.
        columns = QWidget()
        use_dark_palette(columns)
        columns.setLayout(grid)
        self.scroll = FillingScrollArea()
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(columns)
        central = QWidget()
        use_dark_palette(central)
        layout = QVBoxLayout(central)
        layout.addWidget(self.banner)
        layout.addWidget(self.caption)
        layout.addWidget(self.scroll, 1)
        self.setCentralWidget(central)
        self._build_toolbar()

        def factory(config: TrainConfig, device_name: str) -> ComparisonRun:
            return ComparisonRun.create(config_a, config_b, device_name, data_dir)

        self.worker = TrainingWorker(config_a, device, factory, self)
        self.worker.snapshotReady.connect(self._on_snapshot)
        self.worker.stateChanged.connect(self._on_state)
        self.worker.resultReady.connect(self._on_result)
        self.worker.errorOccurred.connect(lambda message, details: self.banner.show_message(
            message, {"Reset": self.worker.reset}, details))
        self.pacer = RedrawPacer(redraw_hz, redraw_budget)
        self._frames_painted = 0
        self.timer = QTimer(self)
        self.timer.setInterval(round(1000 / self.pacer.hz))
        self.timer.timeout.connect(self._on_tick)
        screen = self.screen().availableGeometry()  # (all but a frame's width of it)
        self.resize(min(1500, screen.width() - FRAME_ALLOWANCE),
                    min(1000, int(screen.height() * 0.92)))
        self.worker.start()
        self.timer.start()

    def _build_toolbar(self) -> None:
        bar = QToolBar("Comparison")
        bar.setMovable(False)
        self.addToolBar(bar)
        self.start_action = QAction("▶ Start both", self)
        self.start_action.setShortcut(QKeySequence(Qt.Key.Key_Space))
        self.start_action.triggered.connect(self.toggle_training)
        step = QAction("Step both", self)
        step.setShortcut(QKeySequence(Qt.Key.Key_S))
        step.triggered.connect(lambda: self.worker.step_once())
        reset = QAction("Reset both", self)
        reset.setShortcut(QKeySequence(Qt.Key.Key_R))
        reset.triggered.connect(lambda: self.worker.reset())
        save = QAction("Save A/B…", self)
        save.setShortcut(QKeySequence.StandardKey.Save)
        save.triggered.connect(self._save_dialog)
        open_action = QAction("Open A/B…", self)
        open_action.setShortcut(QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self._open_dialog)
        close = QAction("Close", self)
        close.setShortcut(QKeySequence("Ctrl+W"))
        close.triggered.connect(self.close)
        for action in (self.start_action, step, reset, save, open_action, close):
            bar.addAction(action)
            self.addAction(action)

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the comparison", "ab.pt",
                                              "Rhoscope runs (*.pt)")
        if path:
            self.save(path)

    def save(self, path: str) -> None:
        """Both runs in one file (atomic): it reopens here as A and B, in the studio as A."""
        self.worker.save(path)

    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a comparison", "",
                                              "Rhoscope runs (*.pt);;All files (*)")
        if path:
            self.open(path)

    def open(self, path: str) -> None:
        """Continue a saved comparison; a bad file is refused and both runs go on."""
        self.worker.open(path)

    def _on_result(self, tag: str, value: object) -> None:
        if tag == "saved":
            self.banner.show_message(f"Saved both runs to {value}", error=False)
        elif tag == "opened":
            self.banner.show_message(f"Opened {value[0]}: press Space to continue both",
                                     error=False)

    def toggle_training(self) -> None:
        if self._state == "running":
            self.worker.pause()
        else:
            self.worker.resume()

    @property
    def state(self) -> str:
        return self._state

    def _on_state(self, state: str) -> None:
        self._state = state
        self.start_action.setText("❚❚ Pause both" if state == "running" else "▶ Start both")
        if state != "running":
            self.pacer.stop_measuring()

    def _on_tick(self) -> None:
        if self._state != "running":
            return
        self.worker.request_frame()
        if self.pacer.measure(self._frames_painted):
            retime(self.timer, self.pacer.hz)

    def _on_snapshot(self, snapshot: ComparisonSnapshot) -> None:
        self.snapshot = snapshot
        caveats = "".join(f"<br><small>⚠ {c}</small>" for c in snapshot.caveats)
        self.caption.setText(f"<b>{snapshot.caption}</b> · same data, initial weights "
                             f"and batches · step {snapshot.a.step}{caveats}")
        for title, side, run in zip(self.side_titles, ("A", "B"), (snapshot.a, snapshot.b),
                                    strict=True):
            title.setText(f"<b>{side}</b>: penalty {run.config.penalty} · "
                          f"loss {run.loss.total:.4g} · dead {run.dead_count} · "
                          f"mean {RHO_HAT} {run.rho_hat_mean:.3f}")
            for panel in self.panels[side]:
                panel.show_snapshot(run)
        self._frames_painted += 1

    def closeEvent(self, event: QCloseEvent) -> None:
        self.timer.stop()
        if not self.worker.stop(timeout_ms=1000):
            self.worker.stop(timeout_ms=-1)
        self.worker.loop.trainer = None  # both models and the data: free them now
        event.accept()
        self.closed.emit()


def validate_pair(config_a: TrainConfig, config_b: TrainConfig) -> str | None:
    """None when A and B can be compared, else the reason (for a message box)."""
    try:
        check_pair(config_a, config_b)
    except ConfigError as error:
        return str(error)
    return None
