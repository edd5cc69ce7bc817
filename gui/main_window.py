"""The studio window: controls, live panels in docks, one redraw timer.

Data flow: the redraw timer asks the worker for a snapshot; the worker answers between
two steps; the answer is painted when it arrives.  So snapshots are taken no faster than
the screen redraws, and training never waits for painting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenuBar,
    QMessageBox,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from core.config import TrainConfig
from core.control import previous_autosave
from core.data import dataset_available, how_to_get, resolve_data_dir
from core.data.families import FAMILIES
from core.devices import available_devices
from core.presets import PRESETS
from core.snapshot import Snapshot
from core.timeline import Timeline, replay_snapshot
from gui import theme
from gui.banner import Banner
from gui.comparison_window import (
    CompareDialog,
    ComparisonWindow,
    comparison_configs,
    validate_pair,
)
from gui.controls import CUSTOM, ControlPanel
from gui.download_dialog import DownloadDialog
from gui.exporting import Exporter
from gui.panels.base import Panel
from gui.panels.common import RHO_HAT, LiveLabel, caption_label
from gui.panels.kl_panel import PenaltyCurvePanel
from gui.panels.loss_panel import LossPanel
from gui.panels.mosaic_panel import MosaicPanel
from gui.panels.reconstruction_panel import ReconstructionPanel
from gui.panels.rho_panel import RhoPanel
from gui.presentation import FONT_SCALE, FontScaler, as_rich_text, font_scale, formula
from gui.redraw_pacer import GUI_CPU_BUDGET, MIN_AUTO_HZ, RedrawPacer, retime
from gui.screen_fit import ScreenFit
from gui.settings import SPEEDS, AppSettings
from gui.timeline_bar import TimelineBar
from gui.unit_history import UnitHistory
from gui.unit_inspector import UnitInspector
from gui.worker import TrainingWorker

if TYPE_CHECKING:
    from core.trainer import Trainer

#: The Redraw box's Auto redraws this often on each device, on the CPU less often where
#: that would take the window more than GUI_CPU_BUDGET of a core (gui/redraw_pacer.py).
DEFAULT_REDRAW_HZ = {"cpu": 10, "cuda": 30, "mps": 30}
STATUS_TEXT = "#202020"
#: Panels that refresh at most PLOT_MAX_HZ while training runs (see MainWindow.paint).
THROTTLED_PANELS = ("LossPanel", "RhoPanel", "PenaltyCurvePanel", "ReconstructionPanel")
PLOT_MAX_HZ = 2.0
#: ... and no more often than every PLOT_EVERY_FRAMES frames, unless that is less than
#: PLOT_MIN_HZ: a frame then costs about the same at 5 to 10 Hz, and Auto's lower rate
#: spares the plots' cost too, while a low chosen rate still shows a plot every second.
PLOT_EVERY_FRAMES = 5
PLOT_MIN_HZ = 1.0
#: While training runs, the numbers people read (the status bar's, and the summary in the
#: toolbar) change at most this often: ten new numbers a second are a blur, and each new
#: text costs its label a repaint (about 1 ms a frame for all of them).
TEXT_MAX_HZ = 4.0
#: While training runs, at most this many snapshots a second are offered to the timeline
#: (each new frame costs a few milliseconds of packing on the GUI thread).
TIMELINE_MAX_HZ = 2.0
#: Data sets read from a file or folder the user picks.
OWN_DATA = ("folder", "npz")
#: Words in a worker's error that mean the data could not be loaded.
DATA_ERROR_WORDS = ("IDX", "MNIST", "not in", "images", "folder", ".npy", ".npz", "data")


class RateMeter:
    """Events per second over a sliding second, for the status bar."""

    def __init__(self) -> None:
        self._times: list[float] = []

    def tick(self) -> None:
        now = time.monotonic()
        self._times.append(now)
        while self._times and now - self._times[0] > 1.0:
            self._times.pop(0)

    @property
    def rate(self) -> float:
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


class RedrawBox(QSpinBox):
    """The Redraw box: 0 shows as Auto, and a step up from Auto starts at the rate Auto
    runs at now (not at 1 Hz, the slowest, which a click on "up" would otherwise give)."""

    def __init__(self, auto_rate: Callable[[], float]) -> None:
        super().__init__()
        self._auto_rate = auto_rate
        self.setRange(0, 60)
        self.setSpecialValueText("Auto")
        self.setSuffix(" Hz")

    def stepBy(self, steps: int) -> None:
        if self.value() == 0 and steps > 0:
            self.setValue(max(1, round(self._auto_rate())))
        else:
            super().stepBy(steps)


class MainWindow(QMainWindow):
    """Rhoscope's main window; owns the training worker for its whole life."""

    def __init__(self, settings: AppSettings, data_dir: str | None = None,
                 device: str | None = None, preset: str | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.setWindowTitle("Rhoscope")
        self.setDockNestingEnabled(True)
        self._data_dir = data_dir or settings.data_dir or None
        self._own_data: dict[str, str] = settings.own_data
        self._download_dialog: DownloadDialog | None = None
        self._shown_data = ""
        # Which accelerators exist is asked of torch, which loads in the training thread
        # so that the window shows at once; until the first snapshot only the CPU is known.
        self._devices = ["cpu"]
        self._device = device or settings.device or "auto"

        preset_name, config = settings.run_settings()
        if preset is not None:
            preset_name, config = preset, PRESETS[preset].config
        wanted = config.dataset
        config, notice = self._fallback_to_digits(config)

        self._snapshot: Snapshot | None = None  # the newest one received
        self._painted: Snapshot | None = None  # the newest one on screen
        self._state = "starting"
        self.redraw_meter = RateMeter()
        self.pacer = RedrawPacer(DEFAULT_REDRAW_HZ["cpu"], GUI_CPU_BUDGET)
        self._frames_painted = 0
        self.latency_ms = 0.0
        self.unit_history = UnitHistory()
        self.inspector: UnitInspector | None = None
        self._resync_controls = False
        self._panel_painted_at: dict[str, float] = {}
        self._text_painted_at = 0.0  # when the status text and the summary last changed
        #: The run so far, replayable with the timeline bar; None below means live.
        self.timeline = Timeline()
        self._replay_step: int | None = None  # the step shown from the timeline; None: live
        self._offered_at = 0.0  # monotonic time of the last snapshot offered to it
        self._presentation: tuple | None = None  # what F11 restores
        self.exporter = Exporter(self)
        self.comparison: ComparisonWindow | None = None

        self.worker = TrainingWorker(config, self._device, self._make_trainer, self,
                                     autosave_path=str(settings.autosave_path()))
        self.worker.snapshotReady.connect(self._on_snapshot)
        self.worker.stateChanged.connect(self._on_state)
        self.worker.errorOccurred.connect(self._on_error)
        self.worker.resultReady.connect(self._on_result)

        self.banner = Banner()
        self.controls = ControlPanel(config, preset_name, self._devices, self._device)
        self.controls.changeRequested.connect(self._on_change_requested)
        self.controls.presetRequested.connect(self._on_preset_requested)
        self.controls.deviceRequested.connect(self._on_device_requested)

        self.panels: dict[str, Panel] = {}
        self.docks: dict[str, QDockWidget] = {}
        theme.use(settings.theme)  # the panels below take its colours
        self._build_docks()
        self._build_formulas(config.penalty)
        self._build_toolbar()
        self._build_timeline_bar()
        self._build_menus()
        self._build_status_bar()

        self.redraw_timer = QTimer(self)
        self.redraw_timer.timeout.connect(self._on_redraw_tick)
        self.set_redraw_rate(settings.redraw_hz, remember=False)
        self.speed_combo.setCurrentIndex(settings.speed_index)
        self._on_speed(settings.speed_index)

        screen = QGuiApplication.primaryScreen()
        available = screen.availableGeometry() if screen is not None else None
        # Leave room for the window frame and a task bar.
        width = min(1680, int(available.width() * 0.98)) if available else 1600
        height = min(1050, int(available.height() * 0.94)) if available else 900
        self.resize(width, height)
        self._share_width(width)
        geometry, state = settings.geometry(), settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        warnings = list(settings.warnings)
        if notice:
            warnings.append(notice)
        if warnings:
            self.banner.show_message(" · ".join(warnings), error=False,
                                     actions=self._data_actions(wanted) if notice else None)
        self.worker.start()
        self.redraw_timer.start()

    # ------------------------------------------------------------------ building

    def _build_docks(self) -> None:
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.controls)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(self.controls.minimumSizeHint().width() + 24)
        self._add_dock("controls", "Controls", scroll, Qt.DockWidgetArea.LeftDockWidgetArea)

        panels = [MosaicPanel(), LossPanel(), RhoPanel(), PenaltyCurvePanel(),
                  ReconstructionPanel()]
        for panel in panels:
            name = type(panel).__name__
            self.panels[name] = panel
            panel.unitClicked.connect(self.inspect_unit)
            self._add_dock(name, panel.title, panel, Qt.DockWidgetArea.RightDockWidgetArea)
        docks = self.docks
        self.splitDockWidget(docks["MosaicPanel"], docks["LossPanel"], Qt.Orientation.Horizontal)
        self.splitDockWidget(docks["MosaicPanel"], docks["ReconstructionPanel"],
                             Qt.Orientation.Vertical)
        self.splitDockWidget(docks["LossPanel"], docks["RhoPanel"], Qt.Orientation.Vertical)
        self.splitDockWidget(docks["RhoPanel"], docks["PenaltyCurvePanel"],
                             Qt.Orientation.Vertical)
        self.resizeDocks([docks["MosaicPanel"], docks["ReconstructionPanel"]], [700, 160],
                         Qt.Orientation.Vertical)
        # Tabs (Controls beside Weights on a small screen, or the user's own) on top,
        # where the eye looks for them.
        self.setTabPosition(Qt.DockWidgetArea.AllDockWidgetAreas, QTabWidget.TabPosition.North)
        self._default_layout = self.saveState()
        self.screen_fit = ScreenFit(self, docks["MosaicPanel"], docks["controls"],
                                    docks["LossPanel"])

    def reset_layout(self) -> None:
        """View > Reset layout: every dock back in its first place and share of the width
        (tabbed on a screen too narrow for them side by side)."""
        if self.presenting:
            self.toggle_presentation()
        self.restoreState(self._default_layout)  # (closed docks shown, floating docked)
        self._share_width(self.width())
        self.screen_fit.fit()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.screen_fit.watch()  # (once: from the first show on)

    def _share_width(self, width: int) -> None:
        """The first layout's columns: controls, mosaic and the plots (whose headings
        carry the most text) as 24%, 30% and 46% of the window's width."""
        docks = self.docks
        self.resizeDocks([docks["controls"], docks["MosaicPanel"], docks["LossPanel"]],
                         [round(width * share) for share in (0.24, 0.30, 0.46)],
                         Qt.Orientation.Horizontal)

    def set_theme(self, name: str) -> None:
        """Switch every panel to the dark or the light high-contrast palette.

        Panels take their colours when they are built, so each is built again (a rare
        event, never per frame) and shows the newest snapshot at once.
        """
        if name == theme.current:
            return
        presenting = self.presenting
        if presenting:
            self.toggle_presentation()
        shown = self.formulas_shown
        theme.use(name)
        self.settings.theme = name
        for panel_name, old in list(self.panels.items()):
            panel = type(old)()
            panel.unitClicked.connect(self.inspect_unit)
            self.panels[panel_name] = panel
            self.docks[panel_name].setWidget(panel)
            old.deleteLater()
        self._build_formulas(self._formula_penalty)
        for label in self.formula_labels.values():
            label.setVisible(shown)
        self._panel_painted_at.clear()
        for action in self.theme_actions.values():
            action.setChecked(action.data() == name)
        if self._painted is not None:
            self.paint(self._painted, record=False)
        if presenting:
            self.toggle_presentation()

    def _build_formulas(self, penalty: str) -> None:
        """Each panel's formula as a caption above it (C shows or hides them all)."""
        self.formula_labels: dict[str, QLabel] = {}
        for name, panel in self.panels.items():
            label = caption_label()
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setText(as_rich_text(formula(name, penalty)))
            label.setObjectName(f"formula_{name}")
            label.setWordWrap(False)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            panel.layout().insertWidget(0, label)
            self.formula_labels[name] = label
        self._formula_penalty = penalty

    def _update_formulas(self, penalty: str) -> None:
        if penalty != self._formula_penalty:
            self._formula_penalty = penalty
            for name, label in self.formula_labels.items():
                label.setText(as_rich_text(formula(name, penalty)))

    def toggle_formulas(self) -> None:
        show = not self.formulas_shown
        for label in self.formula_labels.values():
            label.setVisible(show)

    @property
    def formulas_shown(self) -> bool:
        return not next(iter(self.formula_labels.values())).isHidden()

    def _build_timeline_bar(self) -> None:
        bar = QToolBar("Timeline")
        bar.setObjectName("timeline_toolbar")
        bar.setMovable(False)
        self.timeline_bar = TimelineBar()
        self.timeline_bar.scrubbed.connect(self.show_frame)
        self.timeline_bar.liveRequested.connect(self.show_live)
        bar.addWidget(self.timeline_bar)
        self.addToolBar(Qt.ToolBarArea.BottomToolBarArea, bar)

    def show_frame(self, index: int) -> None:
        """Show the run as it was at timeline frame ``index`` (training goes on)."""
        if self._snapshot is None or not len(self.timeline):
            return
        index = min(max(index, 0), len(self.timeline) - 1)
        frame = self.timeline.frame(index)
        self._replay_step = frame.step
        self.timeline_bar.show_step(frame.step)
        self.paint(replay_snapshot(frame, self._snapshot), record=False)

    def show_live(self) -> None:
        self._replay_step = None
        if self._snapshot is not None:
            self.paint(self._snapshot, record=False)

    @property
    def replaying(self) -> bool:
        return self._replay_step is not None

    def toggle_presentation(self) -> None:
        """F11: full screen, controls hidden, large fonts and wide lines; F11 again
        restores the working layout exactly."""
        if self._presentation is None:
            screen = self.screen() or QGuiApplication.primaryScreen()
            scaler = FontScaler(font_scale(screen.geometry().height()) if screen
                                else FONT_SCALE)
            self._presentation = (self.geometry(), self.saveState(), scaler,
                                  self.formulas_shown, self.windowState())
            self.docks["controls"].hide()
            self.statusBar().hide()  # the toolbar's annotation says what a lecture needs
            for label in self.formula_labels.values():
                label.show()
            scaler.scale(self)
            self.showFullScreen()
        else:
            geometry, state, scaler, formulas, window_state = self._presentation
            self._presentation = None
            scaler.restore()
            self.statusBar().show()
            self.showNormal()
            self.restoreState(state)
            for label in self.formula_labels.values():
                label.setVisible(formulas)
            if window_state & Qt.WindowState.WindowMaximized:
                self.showMaximized()
            # Once the layouts have shrunk back to the normal fonts (next event loop turn);
            # then within the screen, which may have shrunk meanwhile (a projector).
            QTimer.singleShot(0, lambda: (self.setGeometry(geometry), self.screen_fit.fit()))
        if self._painted is not None:
            self.paint(self._painted, record=False)

    @property
    def presenting(self) -> bool:
        return self._presentation is not None

    def open_comparison(self) -> None:
        """The A/B window, for the choice made in a dialog (this run pauses meanwhile:
        two runs at once would halve both on a small machine)."""
        dialog = CompareDialog(self)
        if dialog.exec() != CompareDialog.DialogCode.Accepted:
            return
        config_a, config_b = comparison_configs(self.controls.applied,
                                                dialog.choice.currentIndex())
        problem = validate_pair(config_a, config_b)
        if problem:
            self.banner.show_message(f"Cannot compare: {problem}")
            return
        if self._state == "running":
            self.worker.pause()
        if self.comparison is not None:
            self.comparison.close()
        self.comparison = ComparisonWindow(
            config_a, config_b, self._device, self._data_path(config_a.dataset),
            self.pacer.max_hz if self.auto_redraw else self.redraw_hz,
            self.pacer.budget if self.auto_redraw else None)
        self.comparison.closed.connect(self._comparison_closed)
        self.comparison.show()
        self.comparison.raise_()
        self.comparison.activateWindow()

    def _comparison_closed(self) -> None:
        self.comparison = None

    def _add_dock(self, name: str, title: str, widget: QWidget,
                  area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        self.docks[name] = dock
        return dock

    def _build_toolbar(self) -> None:
        bar = QToolBar("Training")
        bar.setObjectName("training_toolbar")
        bar.setMovable(False)
        bar.setIconSize(QSize(20, 20))
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)

        self.start_action = QAction("▶ Start", self)
        self.start_action.setObjectName("start")
        self.start_action.setShortcut(QKeySequence(Qt.Key.Key_Space))
        self.start_action.setToolTip("Start or pause training (Space)")
        self.start_action.triggered.connect(self.toggle_training)
        self.step_action = QAction("Step", self)
        self.step_action.setObjectName("step")
        self.step_action.setShortcut(QKeySequence(Qt.Key.Key_S))
        self.step_action.setToolTip("Pause and take one step (S)")
        self.step_action.triggered.connect(self.step_once)
        self.reset_action = QAction("Reset", self)
        self.reset_action.setObjectName("reset")
        self.reset_action.setShortcut(QKeySequence(Qt.Key.Key_R))
        self.reset_action.setToolTip("Start over with fresh weights (R)")
        self.reset_action.triggered.connect(self.reset_run)
        for action in (self.start_action, self.step_action, self.reset_action):
            bar.addAction(action)
            self.addAction(action)
        bar.addSeparator()
        self.compare_action = QAction("A/B", self)
        self.compare_action.setObjectName("compare")
        self.compare_action.setShortcut(QKeySequence("Ctrl+B"))
        self.compare_action.setToolTip("Compare two runs side by side: same data, same "
                                       "initial weights, one knob apart (Ctrl+B)")
        self.compare_action.triggered.connect(self.open_comparison)
        bar.addAction(self.compare_action)
        self.addAction(self.compare_action)
        bar.addSeparator()

        bar.addWidget(QLabel(" Speed "))
        self.speed_combo = QComboBox()
        self.speed_combo.setObjectName("speed")
        self.speed_combo.setToolTip("Slow motion for a lecture: limit the training steps per "
                                    "second")
        for label, _ in SPEEDS:
            self.speed_combo.addItem(label)
        self.speed_combo.currentIndexChanged.connect(self._on_speed)
        bar.addWidget(self.speed_combo)

        bar.addWidget(QLabel("  Redraw "))
        self.redraw_spin = RedrawBox(lambda: self.redraw_hz)
        self.redraw_spin.setObjectName("redraw_hz")
        cpu, gpu = DEFAULT_REDRAW_HZ["cpu"], DEFAULT_REDRAW_HZ["cuda"]
        self.redraw_spin.setToolTip(
            f"How often the panels are redrawn (and snapshots taken); 0 is Auto. Auto: "
            f"on the CPU up to {cpu} Hz, less often where that would take the window more "
            f"than {GUI_CPU_BUDGET:.0%} of a core (training loses about twice what the "
            f"window spends), never below {MIN_AUTO_HZ:g} Hz; on a GPU {gpu} Hz")
        self.redraw_spin.valueChanged.connect(lambda hz: self.set_redraw_rate(hz))
        bar.addWidget(self.redraw_spin)
        bar.addSeparator()
        # The numbers a lecture talks about, live: dead units, mean rho_hat against the
        # target, the measured sparsity.
        self.annotation = LiveLabel(point_size=13, colour=STATUS_TEXT)
        self.annotation.setObjectName("annotation")
        self.annotation.setMinimumWidth(640)
        self.annotation.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        bar.addWidget(self.annotation)

    def _build_menus(self) -> None:
        # The menu widget spans the whole window: the menu bar, then the message banner
        # (shown only when there is something to say).
        top = QWidget()
        layout = QVBoxLayout(top)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        menu_bar = QMenuBar()
        layout.addWidget(menu_bar)
        layout.addWidget(self.banner)
        self.setMenuWidget(top)

        file_menu = menu_bar.addMenu("&File")
        open_action = file_menu.addAction("Open run…")
        open_action.setShortcut(QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self._open_run_dialog)
        self.recent_menu = file_menu.addMenu("Open recent run")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.resume_action = file_menu.addAction("Resume the last session (autosaved)")
        self.resume_action.triggered.connect(
            lambda: self.open_run(str(self.settings.autosave_path())))
        self.resume_previous_action = file_menu.addAction("Resume the session before that")
        self.resume_previous_action.triggered.connect(
            lambda: self.open_run(previous_autosave(self.settings.autosave_path())))
        file_menu.aboutToShow.connect(self._enable_resume_actions)
        save = file_menu.addAction("Save run…")
        save.setShortcut(QKeySequence.StandardKey.Save)
        save.triggered.connect(self._save_run)
        for action in (open_action, save):
            self.addAction(action)
        file_menu.addSeparator()
        choose = file_menu.addAction("Choose MNIST-family folder…")
        choose.triggered.connect(lambda: self._choose_data_dir(
            self.controls.applied.dataset if self.controls.applied.dataset in FAMILIES
            else "mnist"))
        file_menu.addSeparator()
        quit_action = file_menu.addAction("Quit")
        quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        quit_action.triggered.connect(self.close)
        self.addAction(quit_action)

        self.exporter.build_menu(file_menu)
        file_menu.addSeparator()
        view = menu_bar.addMenu("&View")
        presentation = view.addAction("Presentation mode")
        presentation.setShortcut(QKeySequence(Qt.Key.Key_F11))
        presentation.triggered.connect(self.toggle_presentation)
        formulas = view.addAction("Show or hide the formulas")
        formulas.setShortcut(QKeySequence(Qt.Key.Key_C))
        formulas.triggered.connect(self.toggle_formulas)
        live = view.addAction("Back to live")
        live.setShortcut(QKeySequence(Qt.Key.Key_L))
        live.triggered.connect(self.timeline_bar.go_live)
        for action in (presentation, formulas, live):
            self.addAction(action)
        themes = view.addMenu("Theme")
        self.theme_actions: dict[str, QAction] = {}
        for name, label in (("dark", "Dark, high contrast"),
                            ("light", "Light, high contrast (for a washed-out projector)")):
            action = themes.addAction(label)
            action.setData(name)
            action.setCheckable(True)
            action.setChecked(name == theme.current)
            action.triggered.connect(lambda _=False, n=name: self.set_theme(n))
            self.theme_actions[name] = action
        view.addSeparator()
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        view.addAction("Reset layout").triggered.connect(self.reset_layout)
        view.addSeparator()
        evaluate = view.addAction("Evaluate on the whole data set")
        evaluate.triggered.connect(lambda: self.worker.request_snapshot(full=True))

    def _build_status_bar(self) -> None:
        self.status_labels: dict[str, LiveLabel] = {}
        # Fixed widths: numbers that change ten times a second must not relayout the bar.
        widest = {"state": "running", "device": "device cuda:0", "step": "step 00,000,000",
                  "epoch": "epoch 00000.00", "speed": "000,000 samples/s",
                  "redraw": "redraw 00.0 Hz (auto) · 0000 ms behind"}
        point_size = self.font().pointSize()
        for name, sample in widest.items():
            label = LiveLabel(point_size=point_size, colour=STATUS_TEXT)
            label.setObjectName(f"status_{name}")
            label.setFixedWidth(label.fontMetrics().horizontalAdvance(sample) + 16)
            label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            self.statusBar().addPermanentWidget(label)
            self.status_labels[name] = label
        self._update_status()

    # ------------------------------------------------------------------ data & devices

    def _make_trainer(self, config: TrainConfig, device: str) -> Trainer:
        """Runs in the training thread (data loading, and the first import of torch)."""
        from core.trainer import Trainer

        if device not in ("auto", *available_devices()):
            device = "auto"  # a saved device that is not here any more (the status bar says)
        return Trainer.create(config, device, self._data_path(config.dataset))

    def _data_path(self, dataset: str) -> str | None:
        """Where a data set is read from: the user's own file or folder, or the folder of
        the MNIST family (None: the default data folder)."""
        if dataset in OWN_DATA:
            return self._own_data.get(dataset) or None
        return self._data_dir

    def _learn_devices(self) -> None:
        """Once torch is loaded: offer the devices present."""
        self._devices = available_devices()
        self.controls.set_devices(self._devices, self._device)

    def _fallback_to_digits(self, config: TrainConfig) -> tuple[TrainConfig, str]:
        """A data set that is not here: the built-in digits instead of failing."""
        if dataset_available(config.dataset, self._data_path(config.dataset)):
            return config, ""
        where = self._data_path(config.dataset)
        if config.dataset in FAMILIES:
            where = str(resolve_data_dir(where))
        notice = (f"{self._data_title(config.dataset)} is not in {where or 'any chosen place'}"
                  ": training on the built-in digits instead")
        return config.replace(dataset="digits", samples=0), notice

    @staticmethod
    def _data_title(dataset: str) -> str:
        family = FAMILIES.get(dataset)
        return family.short_title if family else dataset

    def _data_actions(self, dataset: str = "mnist") -> dict:
        actions = {}
        if dataset in FAMILIES:
            actions[f"Download {self._data_title(dataset)}…"] = (
                lambda: self._download(dataset))
        actions["Choose folder…"] = lambda: self._choose_data_dir(dataset)
        return actions

    def _choose_data_dir(self, dataset: str = "mnist") -> None:
        """Pick the folder that holds the MNIST-family IDX files."""
        title = self._data_title(dataset)
        folder = QFileDialog.getExistingDirectory(self, f"Folder with the {title} IDX files",
                                                  str(resolve_data_dir(self._data_dir)))
        if not folder:
            return
        if not dataset_available(dataset, folder):
            self.banner.show_message(how_to_get(dataset, folder),
                                     actions=self._data_actions(dataset))
            return
        self._data_dir = folder
        self.settings.data_dir = folder
        self._on_change_requested({"dataset": dataset})

    def _download(self, dataset: str) -> None:
        """Fetch a data set on request (never at start-up), then switch to it."""
        folder = resolve_data_dir(self._data_dir)
        dialog = DownloadDialog(dataset, self._data_title(dataset), folder, self)

        def finished(outcome: str) -> None:
            if outcome == "done":
                self._on_change_requested({"dataset": dataset})
            elif outcome == "cancelled":
                self.banner.show_message("Download cancelled: partial files were removed.",
                                         error=False)
            else:
                self.banner.show_message(outcome, actions=self._data_actions(dataset))

        dialog.finished_with.connect(finished)
        dialog.start()
        self._download_dialog = dialog

    def _ask_own_data(self, dataset: str) -> bool:
        """Ask for the user's folder of images or array file; False if cancelled."""
        start = self._own_data.get(dataset) or str(Path.home())
        if dataset == "folder":
            path = QFileDialog.getExistingDirectory(self, "Folder of PNG/JPEG images", start)
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Array of images", start,
                                                  "NumPy arrays (*.npy *.npz)")
        if not path:
            return False
        self._own_data[dataset] = path
        self.settings.own_data = self._own_data
        return True

    # ------------------------------------------------------------------ commands

    def toggle_training(self) -> None:
        if self._state == "running":
            self.worker.pause()
        else:
            self.worker.resume()

    def step_once(self) -> None:
        self.worker.step_once()

    def reset_run(self) -> None:
        self.unit_history.clear()
        self.timeline_bar.go_live()
        self.worker.reset(self.controls.applied)

    def inspect_unit(self, unit: int) -> None:
        snapshot = self._painted or self._snapshot
        if snapshot is None or not 0 <= unit < snapshot.hidden_units:
            return
        if self.inspector is None:
            self.inspector = UnitInspector(self.unit_history, self)
            self.inspector.topInputsRequested.connect(self._request_top_inputs)
        self.inspector.show_unit(unit, snapshot)
        self.inspector.show()
        self.inspector.raise_()

    def _request_top_inputs(self, unit: int) -> None:
        def top_inputs(trainer: Trainer) -> tuple[int, np.ndarray, np.ndarray]:
            index, activations = trainer.top_activating(unit, 16)
            return unit, trainer.dataset.images[index], activations

        self.worker.call("top_inputs", top_inputs)

    def set_redraw_rate(self, hz: float, remember: bool = True) -> None:
        """Redraws (and snapshots) per second, 1 to 60, or 0 for Auto (the pacer's rate);
        ``remember``: the user's choice, kept across launches."""
        hz = 0 if hz <= 0 else int(max(1, min(60, round(hz))))
        self.redraw_spin.blockSignals(True)
        self.redraw_spin.setValue(hz)
        self.redraw_spin.blockSignals(False)
        if self.auto_redraw:
            self.pacer.forget()  # measure afresh, from the full rate
        self._apply_redraw_rate()
        if remember:
            self.settings.redraw_hz = hz

    @property
    def auto_redraw(self) -> bool:
        """The Redraw box shows Auto (otherwise a fixed rate)."""
        return self.redraw_spin.value() == 0

    @property
    def redraw_hz(self) -> float:
        """The rate the redraw timer runs at now."""
        return self.pacer.hz if self.auto_redraw else float(self.redraw_spin.value())

    def _apply_redraw_rate(self) -> None:
        retime(self.redraw_timer, self.redraw_hz, 0.05 if self.auto_redraw else 0.0)

    def _on_speed(self, index: int) -> None:
        self.worker.set_speed(SPEEDS[index][1])
        self.settings.speed_index = index

    def confirm(self, title: str, text: str) -> bool:
        """Ask before throwing a run away (tests replace this)."""
        answer = QMessageBox.question(self, title, text,
                                      QMessageBox.StandardButton.Yes
                                      | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Yes)
        return answer == QMessageBox.StandardButton.Yes

    def _trained(self) -> bool:
        return self._snapshot is not None and self._snapshot.step > 0

    def _on_change_requested(self, changes: dict) -> None:
        applied = self.controls.applied
        candidate = applied.replace(**changes)
        scope = applied.scope_of_change(candidate)
        if scope is None:
            return
        if scope == "model":
            if candidate.dataset != applied.dataset:
                dataset = candidate.dataset
                # The old count was for the old data: take the new set's default or all.
                candidate = candidate.replace(samples=changes.get("samples", 0))
                if dataset in OWN_DATA and not self._ask_own_data(dataset):
                    self.controls.revert()
                    return
                if not dataset_available(dataset, self._data_path(dataset)):
                    self.controls.revert()
                    self.banner.show_message(
                        f"{self._data_title(dataset)} is not here: "
                        f"{how_to_get(dataset, self._data_path(dataset))}",
                        actions=self._data_actions(dataset))
                    return
            names = ", ".join(changes)
            if self._trained() and not self.confirm(
                    "Start a new run?", f"Changing {names} needs a new model: the current run "
                    "will be reset. Continue?"):
                self.controls.revert()
                return
            self.controls.set_applied(candidate, CUSTOM)
            self.unit_history.clear()
            self.worker.reset(candidate)
        else:
            self.controls.set_applied(candidate, CUSTOM)
            self.worker.update(**changes)

    def _on_preset_requested(self, name: str) -> None:
        wanted = PRESETS[name].config.dataset
        candidate, notice = self._fallback_to_digits(PRESETS[name].config)
        if self._trained() and not self.confirm(
                "Start a new run?", f"Loading the preset {name} resets the current run. "
                "Continue?"):
            self.controls.revert()
            return
        if notice:
            self.banner.show_message(notice, actions=self._data_actions(wanted), error=False)
        self.controls.set_applied(candidate, name)
        self.unit_history.clear()
        self.worker.reset(candidate)

    def _on_device_requested(self, device: str) -> None:
        if device == self._device:
            return
        if self._trained() and not self.confirm(
                "Change device?", f"Moving to {device} starts a new run. Continue?"):
            self.controls.set_device(self._device)
            return
        self._device = device
        self.settings.device = device
        self.unit_history.clear()
        self.worker.reset(self.controls.applied, device)

    def _save_run(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save run", "run.pt", "Rhoscope runs (*.pt)")
        if path:
            self.save_run(path)

    def save_run(self, path: str) -> None:
        """The run and its timeline, so that reopening it can replay it too."""
        self.worker.save(path, {"timeline": self.timeline.copy()})  # saved by the worker

    def _open_run_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open run", "",
                                              "Rhoscope runs (*.pt);;All files (*)")
        if path:
            self.open_run(path)

    def open_run(self, path: str) -> None:
        """Continue a saved run (the worker checks the file; a bad one changes nothing)."""
        if self._trained() and not self.confirm(
                "Open run", "Replace the current run with the saved one?"):
            return
        self.worker.open(path)

    def _enable_resume_actions(self) -> None:
        autosave = self.settings.autosave_path()
        self.resume_action.setEnabled(autosave.is_file())
        self.resume_previous_action.setEnabled(Path(previous_autosave(autosave)).is_file())

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        paths = self.settings.recent_runs
        for path in paths:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open_run(p))
        if not paths:
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    # ------------------------------------------------------------------ worker events

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        """Paint at once: snapshots only come as often as the redraw timer asks for them
        (or after a user's command), so this is the bounded redraw rate, with the least
        delay between the trainer's step and the screen."""
        if self._snapshot is None:
            self._learn_devices()
        if self._snapshot is None or snapshot.device != self._snapshot.device:
            device_type = snapshot.device.split(":")[0]
            self.pacer.configure(DEFAULT_REDRAW_HZ.get(device_type, DEFAULT_REDRAW_HZ["cpu"]),
                                 GUI_CPU_BUDGET if device_type == "cpu" else None)
            if self.auto_redraw:
                self._apply_redraw_rate()
        self._snapshot = snapshot
        if snapshot.full is not None:
            full = snapshot.full
            self.banner.show_message(
                f"Whole data set ({snapshot.dataset_size} images) at step {snapshot.step}: "
                f"explained variance {full.explained_variance:.3f} · mean ρ̂ "
                f"{float(full.rho_hat.mean()):.4f} · {full.fraction_near_zero:.1%} of "
                f"activations at rest · L0 {full.l0_mean:.1f} units per image · "
                f"reconstruction {full.reconstruction:.4g}", error=False)
        if self._resync_controls:
            # A change was refused by the worker (e.g. data that would not load): show
            # again what is really running.
            self._resync_controls = False
            self.controls.set_applied(snapshot.config)
        now = time.monotonic()
        if self._state != "running" or now - self._offered_at >= 1.0 / TIMELINE_MAX_HZ:
            self._offered_at = now
            self.timeline.offer(snapshot)
        if self.replaying and snapshot.step < self._replay_step:
            self.timeline_bar.go_live()  # rolled back or started over: the past is gone
        if not self.replaying:
            self.timeline_bar.set_frames(len(self.timeline))
            self.paint(snapshot)
            return
        # Replaying: the slider follows the shown frame through thinning, and what is
        # recorded per snapshot (unit histories, the status bar) goes on.
        self.timeline_bar.set_frames(len(self.timeline),
                                     self.timeline.index_at(self._replay_step))
        self._record_unit_history(snapshot)
        self._update_status()

    def _on_state(self, state: str) -> None:
        self._state = state
        running = state == "running"
        if not running:
            self.pacer.stop_measuring()
        self.start_action.setText("❚❚ Pause" if running else "▶ Start")
        self._update_status()

    def _on_error(self, message: str, details: str) -> None:
        self._resync_controls = True
        actions = {"Reset": self.reset_run}
        if "continue on the CPU" in message:
            actions = {"Continue on the CPU": lambda: self.worker.continue_on("cpu"), **actions}
        if "diverged" in message or "nan" in message.lower():
            actions["Lower learning rate ×0.1"] = self._lower_learning_rate
        dataset = self.controls.applied.dataset
        if dataset != "digits" and any(word in message for word in DATA_ERROR_WORDS):
            actions.update(self._data_actions(dataset) if dataset in FAMILIES else {})
            actions["Use built-in digits"] = self._use_digits
        self.banner.show_message(message, actions, details)

    def _lower_learning_rate(self) -> None:
        lr = self.controls.applied.lr * 0.1
        self._on_change_requested({"lr": lr})

    def _use_digits(self) -> None:
        config = self.controls.applied.replace(dataset="digits", samples=0)
        self.controls.set_applied(config)
        self.worker.reset(config)

    def _on_result(self, tag: str, value: object) -> None:
        if tag == "top_inputs" and self.inspector is not None:
            unit, images, activations = value
            self.inspector.show_top_inputs(unit, images, activations)
        elif tag == "saved":
            self.settings.add_recent_run(str(value))
            self.banner.show_message(f"Saved the run to {value}", error=False)
        elif tag == "opened":
            path, config, preset, timeline, problem = value
            self.settings.add_recent_run(path)
            self.unit_history.clear()
            self.timeline = timeline if timeline is not None else Timeline()
            self.timeline_bar.go_live()
            self.controls.set_applied(config, preset or "custom")
            note = f" ({problem}; it starts again from here)" if problem else ""
            self.banner.show_message(f"Opened {path}{note}: press Start to continue training",
                                     error=False)
        elif tag == "moved":
            device, step, restored = value
            self._device = device
            self.controls.set_device(device)
            self.timeline_bar.go_live()
            where = f"from step {step}" if restored else ("from fresh weights (the old "
                                                         "device could not be read)")
            self.banner.show_message(f"Continuing on the {device.upper()} {where}",
                                     error=False)

    # ------------------------------------------------------------------ painting

    def _on_redraw_tick(self) -> None:
        if self._state != "running":
            return
        self.worker.request_frame()
        if self.auto_redraw and self.pacer.measure(self._frames_painted):
            self._apply_redraw_rate()

    def paint(self, snapshot: Snapshot, record: bool = True) -> None:
        """Update every visible panel from one snapshot (``record`` False: a frame of the
        timeline, or a redraw after a layout change: drawn whole, nothing recorded).

        While training runs, the plots (loss, bars, penalty curve) and the reconstructions
        refresh at most PLOT_MAX_HZ, and at 5 to 10 Hz every PLOT_EVERY_FRAMES frames,
        and they take turns, those that have waited longest first: every repaint holds
        the interpreter lock that the training thread needs between its kernels, a plot
        costs 6-12 ms to draw, and curves and reconstructions read fine at a few frames a
        second, while the weight mosaic follows every frame.  Spreading them over frames
        (at most one a frame up to 10 Hz) keeps each frame short, so the event loop stays
        responsive.  The numbers in the status bar and the toolbar's summary change at
        most TEXT_MAX_HZ.  A paused run's snapshots (after Pause, Step, Reset, a change)
        update everything at once.
        """
        now = time.monotonic()
        throttle = self._state == "running" and record
        visible = [name for name in self.panels if not self.docks[name].isHidden()]
        plots_due: set[str] = set()
        if throttle:
            waiting = sorted((name for name in visible if name in THROTTLED_PANELS),
                             key=lambda name: self._panel_painted_at.get(name, 0.0))
            hz = self.redraw_hz
            plot_hz = min(PLOT_MAX_HZ, max(PLOT_MIN_HZ, hz / PLOT_EVERY_FRAMES))
            per_frame = max(1, round(len(waiting) * plot_hz / hz))
            # (half a frame's grace: a timer a little early must not cost a plot a frame)
            due = 1.0 / plot_hz - 0.5 / hz
            plots_due = {name for name in waiting[:per_frame]
                         if now - self._panel_painted_at.get(name, 0.0) >= due}
        for name in visible:
            if throttle and name in THROTTLED_PANELS and name not in plots_due:
                continue
            self._panel_painted_at[name] = now
            self.panels[name].show_snapshot(snapshot)
        self._update_formulas(snapshot.config.penalty)
        text_due = not throttle or now - self._text_painted_at >= 1.0 / TEXT_MAX_HZ
        if text_due:
            self._annotate(snapshot)
        if not record:
            self._painted = snapshot
            return
        self._record_unit_history(snapshot)
        if self.inspector is not None and self.inspector.isVisible():
            self.inspector.update_snapshot(snapshot)
        self.controls.set_dataset_size(snapshot.dataset_size)
        if snapshot.data_description != self._shown_data:
            self._shown_data = snapshot.data_description
            self.controls.show_data(snapshot.data_description, snapshot.sample_inputs,
                                    snapshot.image_shape)
        self._painted = snapshot
        self.latency_ms = (time.monotonic() - snapshot.taken_at) * 1000
        self.redraw_meter.tick()
        self._frames_painted += 1
        if text_due:
            self._text_painted_at = now
            self._update_status()

    def _record_unit_history(self, snapshot: Snapshot) -> None:
        """(a repeated step is ignored by the history itself)"""
        self.unit_history.append(snapshot.step, snapshot.rho_hat_ema, snapshot.near_zero_ema)

    def _annotate(self, snapshot: Snapshot) -> None:
        config = snapshot.config
        dead = snapshot.dead_count
        dead_text = (f"<b style='color:#ef5350'>{dead}</b>" if dead else "<b>0</b>")
        parts = [f"dead units {dead_text} of {snapshot.hidden_units}"]
        if config.penalty == "kl":
            parts.append(f"mean {RHO_HAT} <b>{snapshot.rho_hat_mean:.3f}</b> "
                         f"(target ρ {config.rho:g})")
        else:
            parts.append(f"mean {RHO_HAT} <b>{snapshot.rho_hat_mean:.3f}</b>")
        parts.append(f"sparsity <b>{snapshot.fraction_near_zero:.0%}</b> of activations "
                     f"at rest (within {snapshot.zero_eps:g} of it)")
        if self.replaying:
            parts.insert(0, f"<b>replay, step {snapshot.step}</b>")
        self.annotation.setText(" · ".join(parts))

    def _update_status(self) -> None:
        snapshot = self._painted
        labels = self.status_labels
        labels["state"].setText(self._state)
        device = snapshot.device if snapshot else self._device
        labels["device"].setText(f"device {device}")
        if snapshot is not None:
            labels["step"].setText(f"step {snapshot.step:,}")
            labels["epoch"].setText(f"epoch {snapshot.epoch:.2f}")
            labels["speed"].setText(f"{snapshot.samples_per_second:,.0f} samples/s")
        auto = " (auto)" if self.auto_redraw else ""
        labels["redraw"].setText(f"redraw {self.redraw_meter.rate:.1f} Hz{auto} · "
                                 f"{self.latency_ms:.0f} ms behind")

    # ------------------------------------------------------------------ closing

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop the worker and wait for it, then save the settings (as napari does)."""
        if self.presenting:
            self.toggle_presentation()  # the working layout is what the next launch gets
        self.redraw_timer.stop()
        if not self.worker.stop(timeout_ms=1000):
            # A long step (a big L-BFGS iteration, a data load) is still running: it
            # cannot be cut, and a running QThread must never be destroyed.
            self.statusBar().showMessage("Finishing the current step…")
            self.worker.stop(timeout_ms=-1)
        self.settings.save_run_settings(self.controls.preset, self.controls.applied)
        self.settings.device = self._device
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.settings.sync()
        if self.inspector is not None:
            self.inspector.close()
        if self.comparison is not None:
            self.comparison.close()
        event.accept()

    @property
    def state(self) -> str:
        return self._state

    def data_dir(self) -> Path:
        return resolve_data_dir(self._data_dir)
