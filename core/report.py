"""What a finished run leaves on disk: summary.json, metrics.csv, the encoder mosaic."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from core.files import atomic_write
from core.history import HistoryArrays
from core.mosaic import tile_mosaic
from core.png import save_gray_png
from core.snapshot import Snapshot
from core.trainer import ROW_COLUMNS

METRIC_COLUMNS = ("step", "epoch", *ROW_COLUMNS, "validation_reconstruction")


def build_summary(snapshot: Snapshot, preset: str, dataset_description: str,
                  seconds: float, samples_this_session: int,
                  status: str = "finished") -> dict[str, Any]:
    """The stable summary.json contract (see README): final losses and sparsity measures.

    Sparsity measures come from the full-data evaluation when the snapshot holds one.
    """
    full = snapshot.full
    rho_hat = full.rho_hat if full is not None else snapshot.rho_hat_ema
    config = snapshot.config
    return {
        "status": status,
        "preset": preset,
        "dataset": config.dataset,
        "dataset_description": dataset_description,
        "device": snapshot.device,
        "steps": snapshot.step,
        "epoch": snapshot.epoch,
        "seconds": seconds,
        "samples_per_second": samples_this_session / seconds if seconds > 0 else 0.0,
        "final": {
            "loss": snapshot.loss.total,
            "reconstruction": snapshot.loss.reconstruction,
            "penalty": snapshot.loss.penalty,
            "weight_decay": snapshot.loss.weight_decay,
            "validation_reconstruction": snapshot.validation_reconstruction,
        },
        "penalty": config.penalty,
        "rho": config.rho,
        "rho_hat": [float(v) for v in rho_hat],
        "rho_hat_mean": float(np.mean(rho_hat)),
        "dead_units": snapshot.dead_count,
        "l0_mean": full.l0_mean if full is not None else snapshot.l0_mean,
        "fraction_near_zero": (full.fraction_near_zero if full is not None
                               else snapshot.fraction_near_zero),
        "zero_eps": snapshot.zero_eps,
        "explained_variance": (full.explained_variance if full is not None
                               else snapshot.explained_variance),
        "config": config.to_dict(),
    }


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    text = json.dumps(summary, indent=2) + "\n"
    atomic_write(path, lambda file: file.write(text.encode()))


def save_encoder_mosaic(path: Path, snapshot: Snapshot, width: int = 600) -> None:
    """The encoder tiles as a PNG about ``width`` pixels wide (whole-pixel enlargement)."""
    mosaic = tile_mosaic(snapshot.encoder_weights, snapshot.image_shape)
    save_gray_png(path, mosaic, -1.0, 1.0, max(1, width // mosaic.shape[1]))


class MetricsWriter:
    """metrics.csv: one row per logged step, written as the run goes."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._writer = csv.writer(stream)
        self._writer.writerow(METRIC_COLUMNS)

    def write_rows(self, steps: np.ndarray, epochs: np.ndarray, values: np.ndarray,
                   validation: float | None = None) -> None:
        """Rows of training steps; ``validation`` belongs to the last of them."""
        last = len(steps) - 1
        for i, (step, epoch, row) in enumerate(zip(steps, epochs, values, strict=True)):
            held_out = f"{validation:.8g}" if i == last and validation is not None else ""
            self._writer.writerow([int(step), f"{epoch:.6g}", *(f"{v:.8g}" for v in row),
                                   held_out])
        self._stream.flush()

    def write_history(self, history: HistoryArrays) -> None:
        """Earlier rows of a resumed run (bucket means where the history was decimated)."""
        for step, row in zip(history.step_last, history.mean, strict=True):
            self._writer.writerow([int(step), "", *(f"{v:.8g}" for v in row), ""])
