"""Find and read MNIST's IDX files in a local folder; never downloads."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.idx import IdxError, read_idx

SPLITS = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}
LABELS = {"train": "train-labels-idx1-ubyte", "test": "t10k-labels-idx1-ubyte"}
HOW_TO_GET = ("put train-images-idx3-ubyte.gz or t10k-images-idx3-ubyte.gz (from "
              "https://yann.lecun.com/exdb/mnist/ or any MNIST mirror) in that folder, "
              "or use --dataset digits (built in)")


class DatasetMissing(FileNotFoundError):
    """The data set is not where it was looked for; the message says how to get it."""


def _candidate_folders(folder: Path) -> list[Path]:
    # The plain folder, torchvision's layout, and a folder named after the data set.
    return [folder, folder / "MNIST" / "raw", folder / "mnist", folder / "mnist" / "MNIST" / "raw"]


def find_file(folder: Path, stem: str) -> Path | None:
    for candidate in _candidate_folders(folder):
        for name in (stem, stem + ".gz"):
            path = candidate / name
            if path.is_file():
                return path
    return None


def mnist_available(folder: Path) -> bool:
    return any(find_file(folder, stem) for stem in SPLITS.values())


def load_mnist(folder: Path) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Images (n, 28, 28) float32 in [0, 1], labels or None, and the split used.

    Prefers the 60k training split and falls back to the 10k test split: either alone
    is enough to train an autoencoder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetMissing(f"MNIST folder {folder} does not exist; {HOW_TO_GET}")
    for split in ("train", "test"):
        image_path = find_file(folder, SPLITS[split])
        if image_path is None:
            continue
        images = read_idx(image_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise IdxError(f"{image_path}: expected uint8 images of shape (n, rows, cols), "
                           f"got {images.dtype} {images.shape}")
        labels = None
        label_path = find_file(folder, LABELS[split])
        if label_path is not None:
            labels = read_idx(label_path).astype(np.int64)
            if labels.shape != (images.shape[0],):
                raise IdxError(f"{label_path}: {labels.shape[0]} labels for "
                               f"{images.shape[0]} images")
        return images.astype(np.float32) / 255.0, labels, split
    raise DatasetMissing(
        f"no MNIST image file in {folder} (looked for {SPLITS['train']}[.gz] and "
        f"{SPLITS['test']}[.gz], also under MNIST/raw/); {HOW_TO_GET}")
