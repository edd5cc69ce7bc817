"""What the trainer hands to displays: an immutable copy, never touched again."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from core.config import TrainConfig
from core.history import HistoryArrays

#: Order of the loss terms in every recorded row and history column.
LOSS_TERMS = ("total", "reconstruction", "penalty", "weight_decay")


def frozen(array: np.ndarray) -> np.ndarray:
    """A read-only array that owns its data (so no one can change a snapshot)."""
    array = np.array(array, copy=True, order="C")
    array.flags.writeable = False
    return array


@dataclass(frozen=True)
class LossValues:
    total: float
    reconstruction: float
    penalty: float
    weight_decay: float


@dataclass(frozen=True, eq=False)
class Snapshot:
    """The state of a run at one step, as plain numbers and read-only numpy arrays."""

    step: int
    epoch: float
    samples_seen: int
    samples_per_second: float
    train_seconds: float
    device: str
    config: TrainConfig
    image_shape: tuple[int, int]
    dataset_size: int
    #: What the data is, e.g. "20000 built-in digits (18000 to train, 2000 held out)".
    data_description: str
    zero_eps: float
    saturated_above: float
    loss: LossValues
    history: HistoryArrays
    #: The reconstruction error on the held-out images, measured now and then.
    validation_history: HistoryArrays
    rho_hat_batch: np.ndarray  # (hidden,) mean activation in (0, 1) units, last batch
    rho_hat_ema: np.ndarray  # (hidden,) running average of the above
    near_zero_batch: np.ndarray  # (hidden,) fraction of |a| < zero_eps, last batch
    near_zero_ema: np.ndarray
    mean_abs_batch: np.ndarray  # (hidden,) mean |a| per unit, last batch (L1's measure)
    dead_units: np.ndarray  # bool (hidden,)
    fraction_near_zero: float  # over all activations of the last batch
    l0_mean: float  # mean number of units away from rest (see core.metrics.activity)
    explained_variance: float  # on the last batch
    encoder_weights: np.ndarray  # float32 (hidden, input): row j is unit j's filter
    decoder_weights: np.ndarray  # float32 (input, hidden): column j is unit j's output
    sample_inputs: np.ndarray  # float32 (k, input): fixed inputs
    sample_reconstructions: np.ndarray  # float32 (k, input)
    full: FullEvaluation | None = None
    #: time.monotonic() when taken, to measure how old a snapshot is when painted.
    taken_at: float = field(default_factory=time.monotonic)

    @property
    def hidden_units(self) -> int:
        return self.encoder_weights.shape[0]

    @property
    def dead_count(self) -> int:
        return int(self.dead_units.sum())

    @property
    def validation_reconstruction(self) -> float | None:
        """The latest held-out reconstruction error, if any was measured."""
        history = self.validation_history
        return float(history.mean[-1, 0]) if len(history) else None

    @property
    def rho_hat_mean(self) -> float:
        return float(self.rho_hat_ema.mean())


@dataclass(frozen=True, eq=False)
class FullEvaluation:
    """The same measures over the whole data set (taken on request, it costs a pass)."""

    rho_hat: np.ndarray
    near_zero: np.ndarray
    fraction_near_zero: float
    l0_mean: float
    explained_variance: float
    reconstruction: float
    histogram_counts: np.ndarray  # of every activation over the data set
    histogram_edges: np.ndarray
