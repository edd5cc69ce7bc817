"""The bar below the panels that scrubs back through the run and replays it.

The slider's positions are the frames of a ``core.timeline.Timeline``; moving it (or
playing) emits ``scrubbed(index)``, and "Live" emits ``liveRequested`` to follow training
again.  Training goes on meanwhile: the bar only chooses what the panels show.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

#: Playback speeds offered, in frames per second.
PLAYBACK_FPS = (2, 5, 10, 20)


class TimelineBar(QWidget):
    """Slider over the recorded frames, with Live and Play."""

    scrubbed = Signal(int)
    liveRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("timeline_slider")
        self.slider.setRange(0, 0)
        self.slider.setToolTip("Scrub back through the run (training goes on)")
        self.slider.valueChanged.connect(self._on_slider)
        self.step_label = QLabel("live")
        self.step_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("step 0000000") + 8)
        self.play_button = QPushButton("▶ Replay")
        self.play_button.setObjectName("timeline_play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Play the recorded run from the start")
        self.play_button.toggled.connect(self._on_play)
        self.speed_combo = QComboBox()
        self.speed_combo.setObjectName("timeline_speed")
        for fps in PLAYBACK_FPS:
            self.speed_combo.addItem(f"{fps} frames/s", fps)
        self.speed_combo.setCurrentIndex(1)
        self.speed_combo.currentIndexChanged.connect(self._on_speed)
        self.live_button = QPushButton("Live")
        self.live_button.setObjectName("timeline_live")
        self.live_button.setToolTip("Follow training again")
        self.live_button.clicked.connect(self.go_live)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.addWidget(QLabel("Timeline"))
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.step_label)
        layout.addWidget(self.play_button)
        layout.addWidget(self.speed_combo)
        layout.addWidget(self.live_button)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._advance)
        self._on_speed()
        self.live = True
        self._setting = False

    def set_frames(self, count: int, position: int | None = None) -> None:
        """The timeline now holds ``count`` frames; live, the slider sits on the last,
        else on ``position`` (where the shown frame is now, after thinning)."""
        self._setting = True
        try:
            self.slider.setRange(0, max(count - 1, 0))
            if self.live:
                self.slider.setValue(max(count - 1, 0))
            elif position is not None:
                self.slider.setValue(position)
        finally:
            self._setting = False

    def show_step(self, step: int) -> None:
        self.step_label.setText("live" if self.live else f"step {step}")

    def go_live(self) -> None:
        self.play_button.setChecked(False)
        self.live = True
        self.set_frames(self.slider.maximum() + 1)
        self.step_label.setText("live")
        self.liveRequested.emit()

    def scrub_to(self, index: int) -> None:
        """Show frame ``index`` (as a user's drag would)."""
        self.slider.setValue(index)
        if self.live:  # setValue emitted nothing: the slider was there already
            self._on_slider(index)

    def _on_slider(self, index: int) -> None:
        if self._setting:
            return
        self.live = False
        self.scrubbed.emit(index)

    def _on_play(self, playing: bool) -> None:
        if playing:
            self.play_button.setText("❚❚ Replay")
            self.scrub_to(0)
            self._timer.start()
        else:
            self.play_button.setText("▶ Replay")
            self._timer.stop()

    def _on_speed(self, *_: object) -> None:
        self._timer.setInterval(round(1000 / self.speed_combo.currentData()))

    def _advance(self) -> None:
        if self.slider.value() >= self.slider.maximum():
            self.play_button.setChecked(False)  # stays on the last frame
            return
        self.scrub_to(self.slider.value() + 1)

    @property
    def playing(self) -> bool:
        return self._timer.isActive()
