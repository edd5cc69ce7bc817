"""Every data set as one float32 array of rows, plus a held-out validation split.

Two are generated (no files, no network): handwritten-looking ``digits`` and natural-image
``patches``.  The MNIST family is read from local IDX files (downloaded only on request,
see ``core.data.download``); ``folder`` and ``npz`` are the user's own images.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.config import ConfigError, TrainConfig
from core.data.families import FAMILIES, family_available, load_family
from core.data.families import how_to_get as family_how_to_get
from core.data.idx import IdxError
from core.data.mnist import DatasetMissing
from core.data.own import DataError, load_array_file, load_image_folder

__all__ = ["DATASETS", "DataError", "Dataset", "DatasetMissing", "IdxError", "dataset_available",
           "how_to_get", "load_dataset", "load_for_config", "resolve_data_dir", "user_data_dir"]

DATASETS = {
    "digits": "built-in handwritten-looking digits, 28x28, generated (no files)",
    "patches": "built-in natural-image patches (whitened dead leaves, UFLDL's normalisation)",
    **{name: f"{family.title}, 28x28, IDX files in a local folder"
       for name, family in FAMILIES.items()},
    "folder": "your own PNG/JPEG images from a folder (--data-dir), made grayscale",
    "npz": "your own images from a .npy/.npz array file (--data-dir)",
}
GENERATED = ("digits", "patches")
DEFAULT_COUNT = {"digits": 20000, "patches": 10000}

#: Environment variable naming a folder that holds data sets.
DATA_DIR_ENV = "RHOSCOPE_DATA_DIR"


@dataclass(frozen=True, eq=False)
class Dataset:
    """Training rows and held-out rows, values in [0, 1]; read-only so they can be shared."""

    name: str
    images: np.ndarray  # float32 (n, height * width), C-contiguous: the training rows
    image_shape: tuple[int, int]
    labels: np.ndarray | None
    description: str
    validation: np.ndarray | None = None  # float32 (m, height * width) held out
    notes: str = ""  # e.g. how many unreadable files were skipped

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


def _expand(path: str | Path) -> Path:
    """``path`` with a leading ~ or ~user expanded; kept as written when that user (or
    the home folder) is unknown, so the message says where it looked."""
    try:
        return Path(path).expanduser()
    except RuntimeError:  # "Could not determine home directory"
        return Path(path)


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """``data_dir`` if given, else $RHOSCOPE_DATA_DIR, else the user's data folder."""
    if data_dir is not None:
        return _expand(data_dir)
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return _expand(env)
    return user_data_dir()


def dataset_available(name: str, data_dir: str | Path | None = None) -> bool:
    """Whether ``load_dataset`` can find the files (generated sets always can)."""
    if name in GENERATED:
        return True
    if name in FAMILIES:
        return family_available(name, resolve_data_dir(data_dir))
    if data_dir is None:
        return False
    path = _expand(data_dir)
    try:
        return path.is_dir() if name == "folder" else path.is_file()
    except OSError:  # a name the system refuses (too long...)
        return False


def how_to_get(name: str, data_dir: str | Path | None = None) -> str:
    """One line: where the data set is looked for and how to get it."""
    if name in GENERATED:
        return "built in: generated on the fly, nothing to get"
    if name in FAMILIES:
        return family_how_to_get(name, resolve_data_dir(data_dir))
    what = "a folder of PNG/JPEG images" if name == "folder" else "a .npy or .npz file"
    where = f" (now: {data_dir})" if data_dir else ""
    return f"your own data: give --data-dir naming {what}{where}"


def load_for_config(config: TrainConfig, data_dir: str | Path | None = None) -> Dataset:
    """The data set a configuration asks for, split as it says."""
    return load_dataset(config.dataset, config.samples, config.data_seed, data_dir,
                        validation_fraction=config.validation_fraction,
                        patch_size=config.patch_size, image_size=config.image_size)


def load_dataset(name: str, samples: int = 0, data_seed: int = 0,
                 data_dir: str | Path | None = None, *, validation_fraction: float = 0.0,
                 patch_size: int = 8, image_size: int = 0) -> Dataset:
    """Load or generate a data set; ``samples`` 0 means all (or the generated default).

    Raises DatasetMissing (how to get it), IdxError or DataError (a damaged or unusable
    file, named) or ConfigError (a setting that does not fit the data).
    """
    notes = ""
    labels = None
    if name == "digits":
        from core.data.digits import generate_digits

        count = samples or DEFAULT_COUNT[name]
        images, labels = generate_digits(count, seed=data_seed)
        description = f"{count} built-in digits (seed {data_seed})"
    elif name == "patches":
        from core.data.patches import generate_patches

        count = samples or DEFAULT_COUNT[name]
        images = generate_patches(count, patch_size, seed=data_seed)
        description = f"{count} built-in {patch_size}x{patch_size} natural-image patches"
    elif name in FAMILIES:
        folder = resolve_data_dir(data_dir)
        images, labels, split = load_family(name, folder)
        description = f"{FAMILIES[name].title}, {split} split"
    elif name in ("folder", "npz"):
        if data_dir is None:
            raise ConfigError("dataset", f"dataset = {name!r} needs --data-dir naming "
                              + ("a folder of PNG/JPEG images" if name == "folder"
                                 else "a .npy or .npz file"))
        path = _expand(data_dir)
        if name == "folder":
            images, report = load_image_folder(path, image_size or None)
            if report.skipped:
                notes = f"skipped {len(report.skipped)} unreadable file(s)"
            description = f"{len(images)} images from {path}"
        else:
            images = load_array_file(path)
            description = f"{len(images)} images from {path.name}"
    else:
        raise ConfigError("dataset", f"dataset = {name!r} is not allowed: one of "
                          + ", ".join(DATASETS))

    if name not in GENERATED and samples:
        if samples > len(images):
            raise ConfigError("samples", f"samples = {samples} is not allowed: {description} "
                              f"holds {len(images)} images (allowed 0 = all, or 1 to "
                              f"{len(images)})")
        images = images[:samples]
        labels = labels[:samples] if labels is not None else None
        description = f"{samples} of {description}"
    return _split(name, images, labels, description, validation_fraction, data_seed, notes)


def _split(name: str, images: np.ndarray, labels: np.ndarray | None, description: str,
           fraction: float, seed: int, notes: str) -> Dataset:
    """Hold out ``fraction`` of the images, chosen by ``seed``, as the validation split."""
    n, height, width = images.shape
    flat = images.reshape(n, height * width)
    validation = None
    held = int(round(n * fraction))
    if fraction > 0 and held == 0:
        held = 1
    if held >= n:
        raise ConfigError("validation_fraction",
                          f"validation_fraction = {fraction:g} leaves no training images "
                          f"out of {n} (allowed: a smaller fraction, or more samples)")
    if held:
        order = np.random.default_rng(seed).permutation(n)
        keep = np.sort(order[held:])
        validation = _frozen(flat[np.sort(order[:held])])
        flat = flat[keep]
        labels = labels[keep] if labels is not None else None
        description += f" ({n - held} to train, {held} held out)"
    if labels is not None:
        labels = np.asarray(labels, np.int64)
        labels.flags.writeable = False
    return Dataset(name, _frozen(flat), (height, width), labels, description, validation, notes)


def _frozen(rows: np.ndarray) -> np.ndarray:
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    if rows.base is not None or rows.flags.writeable:
        rows = rows.copy()
    rows.flags.writeable = False
    return rows
