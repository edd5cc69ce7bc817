"""MNIST from a local folder: a compatibility wrapper over ``core.data.families``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.families import (
    FAMILIES,
    DatasetMissing,
    candidate_folders,
    family_available,
    how_to_get,
    load_family,
)

__all__ = ["HOW_TO_GET", "LABELS", "SPLITS", "DatasetMissing", "find_file", "load_mnist",
           "mnist_available"]

_MNIST = FAMILIES["mnist"]
SPLITS = dict(_MNIST.images)
LABELS = dict(_MNIST.labels)
HOW_TO_GET = how_to_get("mnist", Path("<data folder>"))


def find_file(folder: Path, stem: str) -> Path | None:
    """The first ``stem`` or ``stem.gz`` in the folder or one of MNIST's layouts."""
    for candidate in candidate_folders(_MNIST, Path(folder)):
        for name in (stem, stem + ".gz"):
            path = candidate / name
            if path.is_file():
                return path
    return None


def mnist_available(folder: Path) -> bool:
    return family_available("mnist", folder)


def load_mnist(folder: Path) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Images (n, 28, 28) float32 in [0, 1], labels or None, and the split used."""
    return load_family("mnist", folder)
