"""The training loop steered from another thread: pause, resume, step, reset, stop."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from core import control
from core.checkpoint import load_run
from core.config import TrainConfig
from core.control import PAUSED, RUNNING, LoopListener, TrainingLoop, run_in_thread
from core.data import load_dataset
from core.trainer import Trainer

CONFIG = TrainConfig(hidden_units=16, batch_size=40, samples=1000, lr=3e-3)


class Recorder(LoopListener):
    def __init__(self) -> None:
        self.states: list[str] = []
        self.snapshots = []
        self.errors: list[tuple[str, str]] = []
        self.results: list[tuple[str, object]] = []
        self.event = threading.Event()

    def on_state(self, state):
        self.states.append(state)

    def on_snapshot(self, snapshot):
        self.snapshots.append(snapshot)
        self.event.set()

    def on_error(self, message, details):
        self.errors.append((message, details))
        self.event.set()

    def on_result(self, tag, value):
        self.results.append((tag, value))
        self.event.set()

    def wait(self, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.005)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", samples=1000, data_seed=1)


@pytest.fixture
def loop(digits):
    recorder = Recorder()
    loop = TrainingLoop(CONFIG, "cpu", factory=lambda c, d: Trainer(c, digits, d),
                        listener=recorder)
    thread = run_in_thread(loop)
    recorder.wait(lambda: PAUSED in recorder.states)
    yield loop, recorder
    loop.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_starts_paused_and_steps_exactly(loop):
    loop, recorder = loop
    assert loop.state == PAUSED
    recorder.wait(lambda: recorder.snapshots)  # the untrained model is shown at once
    assert recorder.snapshots[0].step == 0
    loop.step_once(3)
    recorder.wait(lambda: recorder.snapshots[-1].step == 3)
    assert loop.trainer.step_count == 3


def test_the_untrained_model_is_shown_before_the_optimizer_is_made(digits):
    """The first torch optimizer imports torch._dynamo (seconds on a small machine): the
    first picture does not wait for it, and the loop makes it right after, before it says
    it is ready (paused) and before any step asks for it."""
    optimizer_when_shown, states_when_shown = [], []

    class Watcher(Recorder):
        def on_snapshot(self, snapshot):
            optimizer_when_shown.append(loop.trainer._optimizer)
            states_when_shown.append(list(self.states))
            super().on_snapshot(snapshot)

        def on_state(self, state):
            if state == PAUSED:
                assert loop.trainer._optimizer is not None
            super().on_state(state)

    recorder = Watcher()
    loop = TrainingLoop(CONFIG, "cpu", factory=lambda c, d: Trainer(c, digits, d),
                        listener=recorder)
    thread = run_in_thread(loop)
    try:
        recorder.wait(lambda: recorder.snapshots)
        recorder.wait(lambda: PAUSED in recorder.states)
        assert optimizer_when_shown == [None] and states_when_shown == [[]]
        assert loop.trainer._optimizer is not None and loop.trainer.step_count == 0
        assert not recorder.errors
    finally:
        loop.stop()
        thread.join(timeout=5)


def test_resume_and_pause_between_steps(loop):
    loop, recorder = loop
    loop.resume()
    recorder.wait(lambda: loop.trainer.step_count > 20)
    loop.pause()
    recorder.wait(lambda: recorder.states[-1] == PAUSED)
    stopped_at = loop.trainer.step_count
    time.sleep(0.2)
    assert loop.trainer.step_count == stopped_at
    assert recorder.snapshots[-1].step == stopped_at  # pausing shows where it stopped
    assert RUNNING in recorder.states


def test_snapshots_on_request_while_running(loop):
    loop, recorder = loop
    loop.resume()
    recorder.wait(lambda: loop.trainer.step_count > 5)
    loop.request_snapshot()
    recorder.wait(lambda: recorder.snapshots[-1].step > 5)
    loop.request_snapshot(full=True)
    recorder.wait(lambda: any(s.full is not None for s in recorder.snapshots))
    steps = [s.step for s in recorder.snapshots]
    assert steps == sorted(steps)


def test_live_update_and_reset(loop):
    loop, recorder = loop
    loop.step_once(5)
    loop.update(beta=0.5, lr=1e-4)
    recorder.wait(lambda: loop.trainer.config.beta == 0.5)
    assert loop.trainer.step_count == 5
    loop.reset(CONFIG.replace(hidden_units=9))
    recorder.wait(lambda: recorder.snapshots and recorder.snapshots[-1].hidden_units == 9)
    assert recorder.snapshots[-1].step == 0


def test_bad_update_reports_an_error_and_keeps_running(loop):
    loop, recorder = loop
    loop.update(rho=3.0)
    recorder.wait(lambda: recorder.errors)
    assert recorder.errors[0][0].startswith("rho = 3")
    loop.step_once()
    recorder.wait(lambda: loop.trainer.step_count == 1)


def test_an_exception_in_a_side_task_reaches_the_listener_and_the_run_goes_on(loop):
    loop, recorder = loop

    def explode():
        raise RuntimeError("device vanished")

    loop.call("boom", lambda trainer: explode())
    recorder.wait(lambda: recorder.errors)
    message, details = recorder.errors[0]
    assert message == "RuntimeError: device vanished"
    assert "Traceback" in details
    loop.step_once()
    recorder.wait(lambda: loop.trainer.step_count == 1)


def test_an_exception_in_a_step_pauses_and_keeps_the_run(loop):
    loop, recorder = loop
    trainer = loop.trainer
    real_step = trainer.step
    calls = []

    def failing_step():
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("CUDA error: device-side assert")
        real_step()

    trainer.step = failing_step
    loop.resume()
    recorder.wait(lambda: recorder.errors)
    recorder.wait(lambda: loop.state == PAUSED)
    assert recorder.errors[0][0] == "RuntimeError: CUDA error: device-side assert"
    assert loop.trainer is trainer and trainer.step_count == 4
    loop.step_once()
    recorder.wait(lambda: trainer.step_count == 5)


def test_slow_motion_limits_the_step_rate(loop):
    loop, recorder = loop
    loop.set_speed(20.0)
    loop.resume()
    time.sleep(0.5)
    loop.pause()
    recorder.wait(lambda: recorder.states[-1] == PAUSED)
    assert 5 <= loop.trainer.step_count <= 12


def test_stop_ends_the_thread_quickly_while_running(digits):
    recorder = Recorder()
    loop = TrainingLoop(CONFIG, "cpu", factory=lambda c, d: Trainer(c, digits, d),
                        listener=recorder)
    thread = run_in_thread(loop)
    loop.resume()
    recorder.wait(lambda: loop.trainer is not None and loop.trainer.step_count > 5)
    started = time.monotonic()
    loop.stop()
    thread.join(timeout=5)
    assert time.monotonic() - started < 1.0
    assert recorder.states[-1] == "stopped"


def test_a_factory_failure_is_reported_and_a_reset_recovers(digits):
    recorder = Recorder()
    attempts = []

    def factory(config, device):
        attempts.append(config)
        if len(attempts) == 1:
            raise FileNotFoundError("no MNIST here")
        return Trainer(config, digits, device)

    loop = TrainingLoop(CONFIG, "cpu", factory=factory, listener=recorder)
    thread = run_in_thread(loop)
    recorder.wait(lambda: recorder.errors)
    assert "no MNIST here" in recorder.errors[0][0]
    loop.resume()  # nothing to run yet: stays paused
    loop.reset(CONFIG)
    recorder.wait(lambda: recorder.snapshots)
    assert loop.trainer is not None
    loop.stop()
    thread.join(timeout=5)


def start(digits, recorder, factory=None, **options):
    loop = TrainingLoop(CONFIG, "cpu", factory=factory or (lambda c, d: Trainer(c, digits, d)),
                        listener=recorder, **options)
    thread = run_in_thread(loop)
    recorder.wait(lambda: PAUSED in recorder.states)
    return loop, thread


def test_stopping_autosaves_the_run_which_opens_where_it_stopped(digits, tmp_path):
    autosave = tmp_path / "autosave.pt"
    recorder = Recorder()
    loop, thread = start(digits, recorder, autosave_path=str(autosave))
    loop.stop()  # nothing trained yet: nothing to save
    thread.join(timeout=5)
    assert not autosave.exists()

    recorder = Recorder()
    loop, thread = start(digits, recorder, autosave_path=str(autosave))
    loop.step_once(7)
    # (the weights from the loop's own snapshot: the trainer belongs to its thread)
    recorder.wait(lambda: recorder.snapshots and recorder.snapshots[-1].step == 7)
    weights = recorder.snapshots[-1].encoder_weights
    loop.stop()
    thread.join(timeout=5)
    assert ("autosaved", str(autosave)) in recorder.results

    reopened = Recorder()
    loop, thread = start(digits, reopened)
    loop.open(str(autosave))
    reopened.wait(lambda: any(tag == "opened" for tag, _ in reopened.results))
    reopened.wait(lambda: reopened.snapshots[-1].step == 7)
    np.testing.assert_array_equal(reopened.snapshots[-1].encoder_weights, weights)
    loop.step_once()
    reopened.wait(lambda: reopened.snapshots[-1].step == 8)  # and it trains on
    loop.stop()
    thread.join(timeout=5)


def test_the_run_is_autosaved_while_it_trains(digits, tmp_path, monkeypatch):
    monkeypatch.setattr(control, "AUTOSAVE_SECONDS", 0.05)
    autosave = tmp_path / "autosave.pt"
    recorder = Recorder()
    loop, thread = start(digits, recorder, autosave_path=str(autosave))
    loop.resume()
    recorder.wait(lambda: any(tag == "autosaved" for tag, _ in recorder.results))
    assert load_run(autosave)["counters"]["step"] > 0
    loop.stop()
    thread.join(timeout=5)


def test_opening_a_damaged_file_keeps_the_current_run(loop, tmp_path):
    loop, recorder = loop
    loop.step_once(3)
    recorder.wait(lambda: loop.trainer.step_count == 3)
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"not a run")
    loop.open(str(damaged))
    recorder.wait(lambda: recorder.errors)
    assert "not a readable Rhoscope run file" in recorder.errors[-1][0]
    assert loop.trainer.step_count == 3


class FailingDevice(Trainer):
    """A trainer (on the CPU) whose device runs out of memory at step 5, as CUDA says it."""

    def step(self):
        if self.step_count == 5:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        super().step()


def test_out_of_device_memory_offers_to_continue_on_the_cpu(digits):
    recorder = Recorder()

    def factory(config, device):
        kind = FailingDevice if device == "cuda" else Trainer
        return kind(config, digits, "cpu")

    loop = TrainingLoop(CONFIG, "cuda", factory=factory, listener=recorder)
    thread = run_in_thread(loop)
    recorder.wait(lambda: PAUSED in recorder.states)
    loop.resume()
    recorder.wait(lambda: recorder.errors)
    message = recorder.errors[-1][0]
    assert "CUDA device failed at step 5" in message and "continue on the CPU" in message
    assert loop.state == PAUSED
    loop.continue_on("cpu")
    recorder.wait(lambda: any(tag == "moved" for tag, _ in recorder.results))
    assert type(loop.trainer) is Trainer
    assert loop.trainer.step_count <= 5  # the last good state, not a fresh run
    moved_at = loop.trainer.step_count
    loop.step_once(3)
    recorder.wait(lambda: recorder.snapshots[-1].step == moved_at + 3)  # past step 5
    loop.stop()
    thread.join(timeout=5)


def test_a_device_that_fails_before_any_trainer_exists_is_reported(digits):
    recorder = Recorder()

    def factory(config, device):
        if device == "cuda":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 9 GiB")
        return Trainer(config, digits, device)

    loop = TrainingLoop(CONFIG, "cuda", factory=factory, listener=recorder)
    thread = run_in_thread(loop)
    recorder.wait(lambda: recorder.errors)
    assert "out of memory" in recorder.errors[0][0]
    assert thread.is_alive()  # the thread lives on and takes commands
    loop.reset(device="cpu")
    recorder.wait(lambda: recorder.snapshots)
    assert loop.trainer is not None
    loop.stop()
    thread.join(timeout=5)


def test_a_new_session_keeps_the_previous_autosave(digits, tmp_path):
    autosave = tmp_path / "autosave.pt"
    for steps in (4, 2):
        recorder = Recorder()
        loop, thread = start(digits, recorder, autosave_path=str(autosave))
        loop.step_once(steps)
        recorder.wait(lambda s=steps, running=loop: running.trainer.step_count == s)
        loop.stop()
        thread.join(timeout=5)
    assert load_run(autosave)["counters"]["step"] == 2
    assert load_run(control.previous_autosave(autosave))["counters"]["step"] == 4


def test_continuing_never_takes_another_runs_autosave(digits, tmp_path):
    autosave = tmp_path / "autosave.pt"
    recorder = Recorder()
    loop, thread = start(digits, recorder, autosave_path=str(autosave))
    loop.step_once(9)
    recorder.wait(lambda: loop.trainer.step_count == 9)
    loop.stop()
    thread.join(timeout=5)  # an earlier run's autosave (step 9) is on disk

    recorder = Recorder()
    loop, thread = start(digits, recorder, autosave_path=str(autosave))
    loop.step_once(3)
    recorder.wait(lambda: loop.trainer.step_count == 3)

    def unreadable():
        raise RuntimeError("CUDA error: device not available")

    loop.trainer.roll_back = unreadable
    loop.continue_on("cpu")
    recorder.wait(lambda: any(tag == "moved" for tag, _ in recorder.results))
    moved = dict(recorder.results)["moved"]
    assert moved == ("cpu", 0, False)  # fresh weights, said so; not step 9 of another run
    loop.stop()
    thread.join(timeout=5)


def test_the_training_thread_flushes_subnormals_before_it_builds_the_trainer(digits):
    """The loop's thread sets flush-to-zero first, so its OpenMP workers copy the mode."""
    seen, supported = [], []

    def factory(config, device):
        tiny = torch.finfo(torch.float32).tiny
        seen.append(float(torch.tensor([tiny]) * 0.25))
        supported.append(torch.set_flush_denormal(True))  # (already set: True if it can be)
        return Trainer(config, digits, device)

    recorder = Recorder()
    loop = TrainingLoop(CONFIG, "cpu", factory=factory, listener=recorder)
    thread = threading.Thread(target=lambda: (torch.set_flush_denormal(False), loop.run()))
    thread.start()
    recorder.wait(lambda: PAUSED in recorder.states)
    loop.stop()
    thread.join(timeout=5)
    assert seen == [0.0] if supported[0] else seen[0] > 0
