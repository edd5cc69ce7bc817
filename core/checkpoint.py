"""Saved runs: one file, written atomically, read without executing anything in it."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import torch

from core.config import ConfigError, TrainConfig
from core.files import atomic_write, first_line

FORMAT = "rhoscope-run"
FORMAT_VERSION = 2


class CheckpointError(ValueError):
    """A run file that cannot be used; the message names the file and the reason."""


def save_run(path: str | Path, trainer_state: dict[str, Any], preset: str = "") -> Path:
    """Write a trainer's ``state_dict()`` as a run file (with the preset it started from).

    Atomic: on any failure (a full disk, no permission) the previous file is unchanged and
    a SaveError names the file and the reason.
    """
    payload = {"format": FORMAT, "version": FORMAT_VERSION, "preset": preset, **trainer_state}
    path = Path(path)

    def write(file: Any) -> None:
        # Serialised in memory first: torch.save turns a failing file write into an opaque
        # RuntimeError, while a plain write keeps the reason ("No space left on device").
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        file.write(buffer.getbuffer())

    atomic_write(path, write)
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
    try:
        is_file = path.is_file()
    except OSError as error:  # a name the system refuses (too long...)
        raise CheckpointError(f"{path}: cannot be read ({error.strerror or error})") from None
    if not is_file:
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
    if type(version) is not int:
        raise CheckpointError(f"{path}: damaged run file (format version {_shown(version)} is "
                              f"not a number; this Rhoscope reads version {FORMAT_VERSION})")
    if version in MIGRATIONS:
        try:
            payload = MIGRATIONS[version](payload)
        except Exception as error:
            raise CheckpointError(f"{path}: damaged version {version} run file "
                                  f"({first_line(error)})") from None
        version = payload["version"]
    if version != FORMAT_VERSION:
        newer = "a newer" if version > FORMAT_VERSION else "an older"
        raise CheckpointError(f"{path}: run file format version {version} is not supported "
                              f"(written by {newer} Rhoscope; this one reads version "
                              f"{FORMAT_VERSION}{' and migrates ' if MIGRATIONS else ''}"
                              f"{', '.join(str(v) for v in sorted(MIGRATIONS))})")
    payload = check_run_state(payload, str(path))
    if COMPARISON_KEY in payload:  # an A/B file: run B is checked the same way
        payload[COMPARISON_KEY] = check_run_state(payload[COMPARISON_KEY], f"{path} (run B)")
    return payload


#: In an A/B comparison file, run B's state sits under this key beside run A's.
COMPARISON_KEY = "comparison_b"


def check_run_state(state: Any, where: str) -> dict[str, Any]:
    """Check one trainer state read from a file; returns it with a valid ``config``."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{where}: damaged run file (not a run's state)")
    missing = [key for key in ("config", "model", "optimizer", "counters", "history",
                               "validation_history", "validated_at", "tracker", "order",
                               "order_generator", "image_shape", "dataset_size")
               if key not in state]
    if missing:
        raise CheckpointError(f"{where}: damaged run file (missing {', '.join(missing)})")
    problem = _structure_problem(state)
    if problem:
        raise CheckpointError(f"{where}: damaged run file ({problem})")
    try:
        config = TrainConfig.from_dict(state["config"])
    except (ConfigError, TypeError) as error:
        raise CheckpointError(f"{where}: the saved settings are invalid: {error}") from None
    return {**state, "config": config}


#: Most rows a saved history may claim (the trainer keeps 2048); a larger number is
#: damage, and believing it would allocate that much memory.
MAX_HISTORY_ROWS = 1_000_000


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str | int | float | type(None)) \
        else type(value).__name__
    return text if len(text) <= 40 else text[:40] + "..."


def _is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _structure_problem(payload: dict[str, Any]) -> str:
    """What is wrong with the shape of a run file's parts ("" if nothing): checked before
    any of it reaches the trainer, so a damaged file is one clear message."""
    if not isinstance(payload.get("preset", ""), str):
        return "the preset is not a name"
    model = payload["model"]
    if not (isinstance(model, dict) and model and all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items())):
        return "model is not a set of named weight tensors"
    if not isinstance(payload["optimizer"], dict):
        return "optimizer state is not a mapping"
    counters = payload["counters"]
    names = ("step", "samples_seen", "epochs_done", "cursor")
    if not (isinstance(counters, dict) and all(_is_count(counters.get(n)) for n in names)
            and _is_number(counters.get("busy_seconds"))):
        return "counters are not " + ", ".join(names) + " and busy_seconds"
    order, generator = payload["order"], payload["order_generator"]
    if not (isinstance(order, torch.Tensor) and order.ndim == 1
            and not order.is_floating_point() and not order.is_complex()):
        return "the batch order is not a list of image indices"
    if not (isinstance(generator, torch.Tensor) and generator.dtype == torch.uint8):
        return "the batch order's random state is not a byte tensor"
    tracker = payload["tracker"]
    if not (isinstance(tracker, dict)
            and all(isinstance(tracker.get(k), torch.Tensor)
                    for k in ("rho_hat_ema", "near_zero_ema", "window_max"))
            and _is_count(tracker.get("updates")) and _is_count(tracker.get("window_samples"))
            and (tracker.get("last_window_max") is None
                 or isinstance(tracker.get("last_window_max"), torch.Tensor))):
        return "the per-unit statistics are not tensors and counts"
    for key in ("history", "validation_history"):
        problem = _history_problem(payload[key])
        if problem:
            return f"{key}: {problem}"
    if not _is_number(payload["validated_at"]):
        return "validated_at is not a number"
    shape = payload["image_shape"]
    if not (isinstance(shape, list | tuple) and len(shape) == 2
            and all(_is_count(side) and side >= 1 for side in shape)):
        return "image_shape is not (height, width)"
    size = payload["dataset_size"]
    if size is not None and not (_is_count(size) and size >= 1):
        return "dataset_size is not a number of images"
    return ""


def _history_problem(history: Any) -> str:
    if not isinstance(history, dict):
        return "not a mapping"
    columns = history.get("columns")
    if not (isinstance(columns, list | tuple) and columns
            and all(isinstance(c, str) for c in columns)):
        return "columns are not names"
    capacity, width = history.get("capacity"), history.get("width")
    if not (_is_count(capacity) and 2 <= capacity <= MAX_HISTORY_ROWS):
        return f"capacity is not from 2 to {MAX_HISTORY_ROWS}"
    if not (_is_count(width) and width >= 1):
        return "width is not a positive count"
    rows = history.get("first")
    if not isinstance(rows, list) or len(rows) > capacity:
        return "rows are not a list within the capacity"
    for name in ("last", "count", "sum", "min", "max"):
        values = history.get(name)
        if not isinstance(values, list) or len(values) != len(rows):
            return f"{name} does not have one entry per row"
    return ""
