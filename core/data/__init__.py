"""Training data as one float32 array per data set, plus where to look for files."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.config import ConfigError
from core.data.idx import IdxError
from core.data.mnist import DatasetMissing, load_mnist, mnist_available

__all__ = ["DATASETS", "Dataset", "DatasetMissing", "IdxError", "load_dataset",
           "resolve_data_dir", "user_data_dir"]

DATASETS = {
    "digits": "built-in handwritten-looking digits, 28x28, generated (no files)",
    "mnist": "MNIST handwritten digits, 28x28, from IDX files in a local folder",
}

#: Environment variable naming a folder that holds data sets.
DATA_DIR_ENV = "RHOSCOPE_DATA_DIR"


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images flattened to rows, values in [0, 1]; read-only so it can be shared."""

    name: str
    images: np.ndarray  # float32 (n, height * width), C-contiguous
    image_shape: tuple[int, int]
    labels: np.ndarray | None
    description: str

    @property
    def input_size(self) -> int:
        return self.images.shape[1]

    def __len__(self) -> int:
        return self.images.shape[0]


def user_data_dir() -> Path:
    """The per-user folder where Rhoscope looks for data sets by default."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
        return base / "Rhoscope" / "data"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Rhoscope" / "data"
    base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "rhoscope" / "data"


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """``data_dir`` if given, else $RHOSCOPE_DATA_DIR, else the user's data folder."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return user_data_dir()


def dataset_available(name: str, data_dir: str | Path | None = None) -> bool:
    if name == "digits":
        return True
    return mnist_available(resolve_data_dir(data_dir))


def load_dataset(name: str, samples: int = 0, data_seed: int = 0,
                 data_dir: str | Path | None = None) -> Dataset:
    """Load or generate a data set; ``samples`` 0 means all (20000 for generated digits).

    Raises DatasetMissing (how to get it), IdxError (a damaged file) or ConfigError.
    """
    if name == "digits":
        from core.data.digits import generate_digits

        count = samples or 20000
        images, labels = generate_digits(count, seed=data_seed)
        return _make("digits", images, labels, f"{count} built-in digits (seed {data_seed})")
    if name == "mnist":
        folder = resolve_data_dir(data_dir)
        images, labels, split = load_mnist(folder)
        if samples > len(images):
            raise ConfigError("samples", f"samples = {samples} is not allowed: the MNIST "
                              f"{split} split in {folder} holds {len(images)} images "
                              f"(allowed 0 = all, or 1 to {len(images)})")
        if samples:
            images = images[:samples]
            labels = labels[:samples] if labels is not None else None
        return _make("mnist", images, labels, f"{len(images)} MNIST {split} images")
    raise ConfigError("dataset", f"dataset = {name!r} is not allowed: one of "
                      + ", ".join(DATASETS))


def _make(name: str, images: np.ndarray, labels: np.ndarray | None,
          description: str) -> Dataset:
    n, height, width = images.shape
    flat = np.ascontiguousarray(images.reshape(n, height * width), dtype=np.float32)
    flat.flags.writeable = False
    if labels is not None:
        labels = np.asarray(labels, np.int64)
        labels.flags.writeable = False
    return Dataset(name, flat, (height, width), labels, description)
