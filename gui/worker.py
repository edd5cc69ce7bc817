"""The one long-lived training thread, seen from the GUI as Qt signals.

``core.control.TrainingLoop`` does the work in a QThread; its listener callbacks run in
that thread and only emit signals, which Qt delivers queued to the GUI thread.  The GUI
never touches a tensor and the worker never touches a widget.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThread, Signal

from core.config import TrainConfig
from core.control import STOPPED, LoopListener, TrainerFactory, TrainingLoop
from core.snapshot import Snapshot

if TYPE_CHECKING:
    from core.trainer import Trainer


#: A frame request unanswered this long (seconds) counts as lost, e.g. to an error, and
#: is asked again, so the display never freezes.
FRAME_REQUEST_TIMEOUT = 2.0


class _Bridge(QObject, LoopListener):
    """Turns loop callbacks (training thread) into signals (received in the GUI thread)."""

    snapshotReady = Signal(object)
    stateChanged = Signal(str)
    errorOccurred = Signal(str, str)
    resultReady = Signal(str, object)

    def on_state(self, state: str) -> None:
        self.stateChanged.emit(state)

    def on_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshotReady.emit(snapshot)

    def on_error(self, message: str, details: str) -> None:
        self.errorOccurred.emit(message, details)

    def on_result(self, tag: str, value: Any) -> None:
        self.resultReady.emit(tag, value)


class _LoopThread(QThread):
    def __init__(self, loop: TrainingLoop, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._loop = loop
        self.setObjectName("rhoscope-training")

    def run(self) -> None:
        self._loop.run()


class TrainingWorker(QObject):
    """Owns the training thread; every method is safe to call from the GUI thread."""

    snapshotReady = Signal(object)
    stateChanged = Signal(str)
    errorOccurred = Signal(str, str)
    resultReady = Signal(str, object)

    def __init__(self, config: TrainConfig, device: str = "auto",
                 factory: TrainerFactory | None = None, parent: QObject | None = None,
                 autosave_path: str | None = None) -> None:
        super().__init__(parent)
        self._bridge = _Bridge()
        self._bridge.snapshotReady.connect(self._on_snapshot)
        self._bridge.stateChanged.connect(self._on_state)
        self._bridge.errorOccurred.connect(self.errorOccurred)
        self._bridge.resultReady.connect(self.resultReady)
        self.loop = TrainingLoop(config, device, factory, self._bridge, autosave_path)
        self._thread = _LoopThread(self.loop)
        self.state = "starting"
        self._frame_requested_at = 0.0  # monotonic time of the open frame request, 0: none

    def start(self) -> None:
        self._thread.start()

    def _on_state(self, state: str) -> None:
        self.state = state
        self.stateChanged.emit(state)

    def _on_snapshot(self, snapshot: object) -> None:
        self._frame_requested_at = 0.0
        self.snapshotReady.emit(snapshot)

    # Commands, all queued to the training thread and applied between two steps.
    def resume(self) -> None:
        self.loop.resume()

    def pause(self) -> None:
        self.loop.pause()

    def step_once(self, count: int = 1) -> None:
        self.loop.step_once(count)

    def update(self, **changes: Any) -> None:
        self.loop.update(**changes)

    def reset(self, config: TrainConfig | None = None, device: str | None = None) -> None:
        self.loop.reset(config, device)

    def request_snapshot(self, full: bool = False) -> None:
        self.loop.request_snapshot(full)

    def request_frame(self) -> None:
        """Ask for the next snapshot to paint, unless one is on its way: snapshots are then
        taken no faster than the screen shows them (see FRAME_REQUEST_TIMEOUT)."""
        now = time.monotonic()
        if self._frame_requested_at and now - self._frame_requested_at <= FRAME_REQUEST_TIMEOUT:
            return
        self._frame_requested_at = now
        self.loop.request_snapshot()

    def set_speed(self, steps_per_second: float | None) -> None:
        self.loop.set_speed(steps_per_second)

    def call(self, tag: str, function: Callable[[Trainer], Any]) -> None:
        self.loop.call(tag, function)

    def save(self, path: str, extra: dict[str, Any] | None = None) -> None:
        self.loop.save(path, extra)

    def open(self, path: str) -> None:
        self.loop.open(path)

    def continue_on(self, device: str) -> None:
        self.loop.continue_on(device)

    def stop(self, timeout_ms: int = 5000) -> bool:
        """Ask the loop to end after the current step and wait for the thread
        (``timeout_ms`` < 0: as long as it takes)."""
        if not self._thread.isRunning():
            return True
        self.loop.stop()
        finished = self._thread.wait() if timeout_ms < 0 else self._thread.wait(timeout_ms)
        if finished:
            self.state = STOPPED
        return finished

    @property
    def running(self) -> bool:
        return self._thread.isRunning()
