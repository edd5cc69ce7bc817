"""Saved runs: one file, written atomically, read without executing anything in it."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from core.config import ConfigError, TrainConfig

FORMAT = "rhoscope-run"
FORMAT_VERSION = 2


class CheckpointError(ValueError):
    """A run file that cannot be used; the message names the file and the reason."""


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it into place.

    A crash or a full disk midway leaves the previous file untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_run(path: str | Path, trainer_state: dict[str, Any], preset: str = "") -> Path:
    """Write a trainer's ``state_dict()`` as a run file (with the preset it started from)."""
    payload = {"format": FORMAT, "version": FORMAT_VERSION, "preset": preset, **trainer_state}
    path = Path(path)
    atomic_write(path, lambda file: torch.save(payload, file))
    return path


def _from_version_1(payload: dict[str, Any]) -> dict[str, Any]:
    """Version 1 had no validation split: an empty validation history continues it."""
    columns = ["reconstruction"]
    empty = {"columns": columns, "capacity": 2048, "width": 1, "first": [], "last": [],
             "count": [], "sum": [], "min": [], "max": []}
    config = dict(payload.get("config", {}))
    config.setdefault("validation_fraction", 0.0)
    order = payload.get("order")  # the epoch's permutation: as long as the data, once used
    size = len(order) if order is not None and len(order) else None
    return {**payload, "config": config, "version": 2, "validation_history": empty,
            "validated_at": float("-inf"), "dataset_size": size}


#: Older format versions that can be read, each migrated one version up.
MIGRATIONS = {1: _from_version_1}


def load_run(path: str | Path) -> dict[str, Any]:
    """Read and check a run file; returns the trainer state with a valid ``config``.

    Uses ``torch.load(weights_only=True)``: a file that tries to run code is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such run file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "pickle protocol 4": we refuse it anyway
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: not a readable Rhoscope run file ({reason[:200]})") \
            from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a Rhoscope run file")
    version = payload.get("version")
    if version in MIGRATIONS:
        payload = MIGRATIONS[version](payload)
        version = payload["version"]
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path}: run file format version {version!r} is not supported "
                              f"(this Rhoscope reads version {FORMAT_VERSION})")
    missing = [key for key in ("config", "model", "optimizer", "counters", "history",
                               "validation_history", "validated_at", "tracker", "order",
                               "order_generator", "image_shape", "dataset_size")
               if key not in payload]
    if missing:
        raise CheckpointError(f"{path}: damaged run file (missing {', '.join(missing)})")
    try:
        payload["config"] = TrainConfig.from_dict(payload["config"])
    except (ConfigError, TypeError) as error:
        raise CheckpointError(f"{path}: the saved settings are invalid: {error}") from None
    return payload
