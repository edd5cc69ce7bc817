"""Steer a Trainer that runs in another thread: commands are honoured between steps.

The training thread calls ``TrainingLoop.run()``; any other thread calls ``resume``,
``pause``, ``step_once``, ``update``, ``reset``, ``request_snapshot``, ``save``, ``open``,
``continue_on`` or ``stop``.  Commands
travel through a queue and are applied by the training thread between two steps, so the
trainer is only ever touched by one thread and never mid-step.  Results go out through
a ``LoopListener`` (called in the training thread; the GUI turns them into signals).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.config import DATA_FIELDS, ConfigError, TrainConfig
from core.devices import subnormals_flushed_to_zero
from core.errors import DivergenceError
from core.snapshot import Snapshot

if TYPE_CHECKING:  # torch loads in the training thread, so a window can show first
    from core.trainer import Trainer

PAUSED, RUNNING, STOPPED = "paused", "running", "stopped"

#: While training runs, the run is written to the autosave file this often (seconds),
#: and once more when the loop stops: a killed or crashed lecture loses at most this.
AUTOSAVE_SECONDS = 120.0

#: Words of an error that a move to the CPU can get around.
DEVICE_FAILURE_WORDS = ("out of memory", "CUDA error", "device-side", "MPS backend",
                        "device not available", "no longer available")

TrainerFactory = Callable[[TrainConfig, str], "Trainer"]


class LoopListener:
    """Receives what the loop reports; override what you need (no-ops by default)."""

    def on_state(self, state: str) -> None: ...

    def on_snapshot(self, snapshot: Snapshot) -> None: ...

    def on_error(self, message: str, details: str) -> None: ...

    def on_result(self, tag: str, value: Any) -> None: ...


class TrainingLoop:
    """A long-lived training thread's main loop with pause, resume, step and stop."""

    def __init__(self, config: TrainConfig, device: str = "auto",
                 factory: TrainerFactory | None = None,
                 listener: LoopListener | None = None,
                 autosave_path: str | None = None) -> None:
        self.listener = listener or LoopListener()
        #: Where the run is saved now and then and at the end (None: never).
        self.autosave_path = autosave_path
        self._autosaved = (0, time.monotonic())  # (step saved, when)
        self._autosave_is_current = False  # written for the trainer that runs now?
        self._rotated = False  # has this loop moved an earlier session's autosave aside?
        self._factory = factory or _create_trainer
        self._config = config
        self._device = device
        self._commands: queue.SimpleQueue[tuple[str, tuple]] = queue.SimpleQueue()
        self._state = PAUSED
        self._step_interval = 0.0  # seconds between steps; 0 = full speed
        self._next_step_time = 0.0
        self.trainer: Trainer | None = None

    # --------------------------------------------------------- any thread

    @property
    def state(self) -> str:
        return self._state

    def resume(self) -> None:
        self._send("resume")

    def pause(self) -> None:
        self._send("pause")

    def step_once(self, count: int = 1) -> None:
        """Pause if running, then take ``count`` steps and report a snapshot."""
        self._send("step", count)

    def stop(self) -> None:
        """End ``run()`` after the current step (autosaving the run, if it trained)."""
        self._send("stop")

    def open(self, path: str) -> None:
        """Continue a saved run; reports ``("opened", (path, config, preset))``."""
        self._send("open", path)

    def continue_on(self, device: str) -> None:
        """Move the run, from its last good state, to another device (e.g. the CPU
        after the GPU ran out of memory)."""
        self._send("continue_on", device)

    def update(self, **changes: Any) -> None:
        """Change live settings (coefficients, learning rate, batch size...) between steps."""
        self._send("update", changes)

    def reset(self, config: TrainConfig | None = None, device: str | None = None) -> None:
        """Fresh weights (new data/device if those changed); stays paused or running."""
        self._send("reset", config, device)

    def request_snapshot(self, full: bool = False) -> None:
        self._send("snapshot", full)

    def set_speed(self, steps_per_second: float | None) -> None:
        """Slow motion: at most this many steps per second; None for full speed."""
        self._send("speed", steps_per_second)

    def call(self, tag: str, function: Callable[[Trainer], Any]) -> None:
        """Run ``function(trainer)`` in the training thread; its value goes to on_result."""
        self._send("call", tag, function)

    def save(self, path: str, extra: dict[str, Any] | None = None) -> None:
        """Write the run to ``path``, with ``extra`` entries beside it (plain types and
        tensors only, e.g. the GUI's timeline)."""
        self._send("save", path, extra or {})

    def _send(self, name: str, *args: Any) -> None:
        self._commands.put((name, args))

    # --------------------------------------------------------- training thread

    def run(self) -> None:
        """The training thread's body: returns once ``stop()`` has been called."""
        # First, so that this thread's OpenMP workers copy the mode when they start.
        with subnormals_flushed_to_zero():
            self._run()

    def _run(self) -> None:
        self._build(self._config, self._device)
        self._snapshot(False)  # show the untrained model at once
        if self.trainer is not None:
            # then make what its first step needs (seconds, the first time: see
            # ``Trainer.optimizer``), still "starting"; a run without ``prepare`` is reported
            self._guarded(lambda: self.trainer.prepare())
        self._set_state(PAUSED)
        while self._state != STOPPED:
            if self._state == RUNNING and self.trainer is not None:
                self._drain(timeout=None)
                if self._state != RUNNING:
                    continue
                if self._step_interval:
                    wait = self._next_step_time - time.monotonic()
                    if wait > 0:
                        self._drain(timeout=wait)
                        continue
                    self._next_step_time = time.monotonic() + self._step_interval
                self._guarded(self.trainer.step)
                if time.monotonic() - self._autosaved[1] > AUTOSAVE_SECONDS:
                    self._autosave()
            else:
                self._drain(timeout=0.5)
        self._autosave()
        self._set_state(STOPPED)

    def _drain(self, timeout: float | None) -> None:
        """Apply queued commands; wait up to ``timeout`` s for the first (None: don't wait)."""
        try:
            if timeout is None:
                command = self._commands.get_nowait()
            else:
                command = self._commands.get(timeout=timeout)
        except queue.Empty:
            return
        commands = [command]
        while True:
            try:
                commands.append(self._commands.get_nowait())
            except queue.Empty:
                break
        # Snapshot requests that piled up during a long step are answered once.
        wanted = [args[0] for name, args in commands if name == "snapshot"]
        for name, args in commands:
            if name != "snapshot":
                self._apply(name, args)
        if wanted:
            self._snapshot(any(wanted))

    def _apply(self, name: str, args: tuple) -> None:
        if name == "stop":
            self._state = STOPPED
        elif name == "resume":
            if self.trainer is not None:
                self._next_step_time = 0.0
                self._set_state(RUNNING)
        elif name == "pause":
            if self._state == RUNNING:
                self._set_state(PAUSED)
                self._snapshot(False)
        elif name == "step":
            if self._state == RUNNING:
                self._set_state(PAUSED)
            if self.trainer is not None:
                for _ in range(args[0]):
                    if not self._guarded(self.trainer.step):
                        break
                self._snapshot(False)
        elif name == "snapshot":
            self._snapshot(args[0])
        elif name == "speed":
            rate = args[0]
            self._step_interval = 1.0 / rate if rate else 0.0
            self._next_step_time = 0.0
        elif name == "update":
            if self.trainer is not None:
                self._guarded(lambda: self.trainer.update(**args[0]))
                self._config = self.trainer.config
                if self._state != RUNNING:
                    self._snapshot(False)
            else:
                self._guarded(lambda: setattr(self, "_config", self._config.replace(**args[0])))
        elif name == "reset":
            self._reset(*args)
        elif name == "call":
            tag, function = args
            if self.trainer is not None:
                self._guarded(lambda: self.listener.on_result(tag, function(self.trainer)),
                              pause=False)
        elif name == "save" and self.trainer is not None:
            path, extra = args
            self._guarded(lambda: self.listener.on_result(
                "saved", str(_save(path, self.trainer, extra))), pause=False)
        elif name == "open":
            self._open(args[0])
        elif name == "continue_on":
            self._continue_on(args[0])

    def _autosave(self) -> None:
        """Write the run to ``autosave_path`` if it trained since the last autosave.

        The first autosave of this loop first moves an earlier session's file aside
        (``previous_autosave``), so a crashed lecture is not overwritten by the next one.
        """
        trainer, path = self.trainer, self.autosave_path
        self._autosaved = (self._autosaved[0], time.monotonic())
        if path is None or trainer is None or trainer.step_count in (0, self._autosaved[0]):
            return

        def save() -> None:
            if not self._rotated:
                self._rotated = True
                with contextlib.suppress(FileNotFoundError):
                    os.replace(path, previous_autosave(path))
            _save(path, trainer)
            self._autosaved = (trainer.step_count, time.monotonic())
            self._autosave_is_current = True
            self.listener.on_result("autosaved", path)

        self._guarded(save, pause=False)

    def _open(self, path: str) -> None:
        """A trainer for the saved run's settings, continued from the file; if anything
        fails the current run carries on untouched."""
        from core.checkpoint import load_run

        def open_run() -> None:
            payload = load_run(path)
            config = payload["config"]
            trainer = self._factory(config, self._device)
            trainer.load_state_dict(payload)
            timeline, problem = _read_timeline(payload.get("timeline"))
            if self._state == RUNNING:
                self._set_state(PAUSED)
            self.trainer, self._config = trainer, config
            self._autosaved = (trainer.step_count, time.monotonic())
            self._autosave_is_current = False
            self.listener.on_result("opened", (str(path), config, payload.get("preset", ""),
                                               timeline, problem))

        if self._guarded(open_run, pause=False):
            self._snapshot(False)

    def _continue_on(self, device: str) -> None:
        """Rebuild the run on ``device`` from the trainer's last good state, or, if the
        old device cannot even be read any more, from the last autosave."""
        from core.checkpoint import load_run

        def move() -> None:
            old = self.trainer
            state = None
            if old is not None:
                try:
                    old.roll_back()
                    state = old.state_dict()
                except Exception:  # the device is gone: the autosave is what is left
                    state = None
            if state is None and self._autosave_is_current:
                state = load_run(self.autosave_path)  # this run's own, never another's
            trainer = self._factory(self._config, device)
            if state is not None:
                trainer.load_state_dict(state)
            self.trainer, self._device = trainer, device
            self._autosave_is_current = False
            self.listener.on_result("moved", (device, trainer.step_count, state is not None))

        if self._state == RUNNING:
            self._set_state(PAUSED)
        if self._guarded(move):
            self._snapshot(False)

    def _reset(self, config: TrainConfig | None, device: str | None) -> None:
        config = config or self._config
        new_data = any(getattr(config, name) != getattr(self._config, name)
                       for name in DATA_FIELDS)
        new_device = device is not None and device != self._device
        if new_data or new_device or self.trainer is None:
            # The factory knows where each data set lives; a trainer only knows its own.
            self._build(config, device or self._device)
        else:
            self._guarded(lambda: self.trainer.reset(config))
            self._config = self.trainer.config
        if self.trainer is None and self._state == RUNNING:
            self._set_state(PAUSED)
        self._snapshot(False)

    def _build(self, config: TrainConfig, device: str) -> None:
        """A new trainer from the factory; if that fails the current run carries on."""
        def build() -> None:
            self.trainer = self._factory(config, device)
            self._config, self._device = config, device
            self._autosaved = (0, time.monotonic())
            self._autosave_is_current = False

        self._guarded(build)

    def _snapshot(self, full: bool) -> None:
        if self.trainer is not None:
            self._guarded(lambda: self.listener.on_snapshot(self.trainer.snapshot(full)))

    def _guarded(self, action: Callable[[], Any], pause: bool = True) -> bool:
        """Run ``action``; on failure report (and pause training, unless it was a side
        task such as saving) instead of ending the thread."""
        try:
            action()
            return True
        except (DivergenceError, ConfigError) as error:
            # A divergence found while saving rolled the run back: it must not run on.
            self._fail(str(error), "", pause or isinstance(error, DivergenceError))
        except Exception as error:  # any failure must reach the user, never end the thread
            message = f"{type(error).__name__}: {error}"
            device = self._device_kind()
            if (self.trainer is not None and device not in (None, "cpu")
                    and any(word.lower() in message.lower() for word in DEVICE_FAILURE_WORDS)):
                message = (f"The {device.upper()} device failed at step "
                           f"{self.trainer.step_count} ({message.splitlines()[0][:160]}). "
                           "Training is paused; the run can continue on the CPU from its "
                           "last good state.")
                pause = True
            self._fail(message, traceback.format_exc(), pause)
        return False

    def _device_kind(self) -> str | None:
        """``cuda``, ``mps`` or ``cpu``: what the run trains on (None before a trainer)."""
        if self._device != "auto":
            return self._device
        return None if self.trainer is None else self.trainer.device.type

    def _fail(self, message: str, details: str, pause: bool = True) -> None:
        if pause and self._state == RUNNING:
            self._set_state(PAUSED)
        self.listener.on_error(message, details)
        if self.trainer is not None:
            with contextlib.suppress(Exception):  # the error above is what matters
                self.listener.on_snapshot(self.trainer.snapshot(False))

    def _set_state(self, state: str) -> None:
        self._state = state
        self.listener.on_state(state)


def _create_trainer(config: TrainConfig, device: str) -> Trainer:
    from core.trainer import Trainer

    return Trainer.create(config, device)


def _save(path: str, trainer: Trainer, extra: dict[str, Any] | None = None) -> object:
    """Save the run; ``extra`` values with a ``state_dict`` (a timeline) are serialised
    here, in the training thread, so the GUI never builds tensors."""
    from core.checkpoint import save_run

    extra = {key: value.state_dict() if hasattr(value, "state_dict") else value
             for key, value in (extra or {}).items()}
    return save_run(path, {**trainer.state_dict(), **extra})


def previous_autosave(path: str | os.PathLike) -> str:
    """Where an earlier session's autosave is kept: ``NAME.previous.pt`` beside it."""
    root, extension = os.path.splitext(os.fspath(path))
    return f"{root}.previous{extension or '.pt'}"


def _read_timeline(state: Any) -> tuple[Any, str]:
    """A saved run's timeline, rebuilt with this app's own bounds; (None, why) if it is
    damaged (the run itself still opens)."""
    if state is None:
        return None, ""
    from core.timeline import Timeline

    timeline = Timeline()
    try:
        timeline.load_state_dict(state, keep_limits=True)
    except Exception as error:  # a damaged part of the file: say so, open the run anyway
        return None, f"its timeline was damaged ({str(error)[:120]})"
    return timeline, ""


def run_in_thread(loop: TrainingLoop) -> threading.Thread:
    """Start ``loop.run()`` in a new thread (for notebooks and tests); join it after
    ``loop.stop()``."""
    thread = threading.Thread(target=loop.run, name="rhoscope-training")
    thread.start()
    return thread
