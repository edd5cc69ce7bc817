"""Saved runs: exact resume, atomic writes, and no code execution on load."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from core.checkpoint import CheckpointError, load_run, save_run
from core.config import TrainConfig
from core.data import load_dataset
from core.files import atomic_write
from core.trainer import Trainer


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", samples=1000, data_seed=1)


CONFIG = TrainConfig(hidden_units=16, batch_size=40, samples=1000, lr=3e-3)


def test_resume_continues_exactly_the_same_run(digits, tmp_path):
    straight = Trainer(CONFIG, digits, "cpu")
    for _ in range(60):
        straight.step()

    first = Trainer(CONFIG, digits, "cpu")
    for _ in range(30):
        first.step()
    path = save_run(tmp_path / "run.pt", first.state_dict())

    payload = load_run(path)
    assert payload["config"] == CONFIG
    resumed = Trainer(payload["config"], digits, "cpu")
    resumed.load_state_dict(payload)
    assert resumed.step_count == 30
    for _ in range(30):
        resumed.step()

    for a, b in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)
    # the curves continue: one history over all 60 steps, identical to the straight run
    history_a, history_b = straight.snapshot().history, resumed.snapshot().history
    assert history_b.step_first[0] == 1 and history_b.step_last[-1] == 60
    np.testing.assert_allclose(history_a.mean, history_b.mean, rtol=1e-6)
    assert resumed.epoch == straight.epoch


def test_lbfgs_runs_resume_too(digits, tmp_path):
    config = CONFIG.replace(optimizer="lbfgs", lr=1.0)
    trainer = Trainer(config, digits, "cpu")
    for _ in range(3):
        trainer.step()
    save_run(tmp_path / "run.pt", trainer.state_dict())
    resumed = Trainer(config, digits, "cpu")
    resumed.load_state_dict(load_run(tmp_path / "run.pt"))
    resumed.step()
    assert resumed.step_count == 4


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path):
    path = tmp_path / "run.pt"
    path.write_bytes(b"previous contents")

    def half_then_fail(file):
        file.write(b"half of the new")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(path, half_then_fail)
    assert path.read_bytes() == b"previous contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]


class _CreatesAFile:
    """Unpickling this would create a file: a stand-in for malicious code."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_a_file_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    victim = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pt"
    with open(path, "wb") as file:
        torch.save({"format": "rhoscope-run", "payload": _CreatesAFile(str(victim))}, file)
    # sanity: a plain unpickle of the same data would create the file
    assert not victim.exists()
    with pytest.raises(CheckpointError, match="not a readable Rhoscope run file"):
        load_run(path)
    assert not victim.exists()


def test_a_raw_pickle_is_refused(tmp_path):
    victim = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_CreatesAFile(str(victim))))
    with pytest.raises(CheckpointError):
        load_run(path)
    assert not victim.exists()


@pytest.mark.parametrize("content, message", [
    (b"", "not a readable Rhoscope run file"),
    (os.urandom(2048), "not a readable Rhoscope run file"),
])
def test_damaged_files_are_refused(tmp_path, content, message):
    path = tmp_path / "run.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_run(path)


def test_foreign_and_future_files_are_refused(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a Rhoscope run file"):
        load_run(tmp_path / "foreign.pt")
    torch.save({"format": "rhoscope-run", "version": 99}, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="version 99 is not supported"):
        load_run(tmp_path / "future.pt")
    torch.save({"format": "rhoscope-run", "version": 2}, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match="damaged run file"):
        load_run(tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match="no such run file"):
        load_run(tmp_path / "absent.pt")


def test_invalid_saved_settings_are_refused(digits, tmp_path):
    trainer = Trainer(CONFIG, digits, "cpu")
    state = trainer.state_dict()
    state["config"]["rho"] = 7.0
    save_run(tmp_path / "bad.pt", state)
    with pytest.raises(CheckpointError, match="rho = 7"):
        load_run(tmp_path / "bad.pt")


def test_a_version_1_file_is_migrated(digits, tmp_path):
    trainer = Trainer(CONFIG.replace(validation_fraction=0.0), digits, "cpu")
    for _ in range(5):
        trainer.step()
    state = trainer.state_dict()
    del state["validation_history"], state["validated_at"]
    del state["config"]["validation_fraction"]
    torch.save({"format": "rhoscope-run", "version": 1, **state}, tmp_path / "old.pt")
    payload = load_run(tmp_path / "old.pt")
    assert payload["version"] == 2 and payload["config"].validation_fraction == 0.0
    resumed = Trainer(payload["config"], digits, "cpu")
    resumed.load_state_dict(payload)
    resumed.step()
    assert resumed.step_count == 6
