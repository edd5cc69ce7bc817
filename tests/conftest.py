"""Shared fixtures: offscreen Qt, the real MNIST files if present, no leaked threads."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gui.virtual_screen import use_virtual_desktop  # noqa: E402

use_virtual_desktop()  # offscreen, on a 1920x1080 screen (Qt's own is 800x800)


def mnist_folder() -> Path:
    """Where the real MNIST files are expected: $RHOSCOPE_MNIST_DIR or ../shared/data/mnist."""
    override = os.environ.get("RHOSCOPE_MNIST_DIR")
    return Path(override) if override else ROOT.parent / "shared" / "data" / "mnist"


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    folder = mnist_folder()
    if not (folder / "t10k-images-idx3-ubyte.gz").is_file() and not (
        folder / "train-images-idx3-ubyte.gz"
    ).is_file():
        pytest.skip(f"real MNIST files not found in {folder} (set RHOSCOPE_MNIST_DIR)")
    return folder


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Fail a test that leaves a thread running (as napari's test suite does)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2.0
    while True:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()
                  and not t.daemon]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not leaked, f"test left threads running: {[t.name for t in leaked]}"


@pytest.fixture(scope="session")
def make_snapshot():
    """Build real snapshots from a tiny trainer on built-in digits (cached per settings)."""
    from core.config import TrainConfig
    from core.data import load_dataset
    from core.trainer import Trainer

    dataset = load_dataset("digits", samples=600, data_seed=0)
    cache = {}

    def make(steps: int = 20, full: bool = False, **settings):
        key = (steps, full, tuple(sorted(settings.items())))
        if key not in cache:
            base = {"hidden_units": 36, "batch_size": 50, "samples": 600, "lr": 3e-3}
            base.update(settings)
            trainer = Trainer(TrainConfig(**base), dataset, "cpu")
            for _ in range(steps):
                trainer.step()
            cache[key] = trainer.snapshot(full=full)
        return cache[key]

    return make
