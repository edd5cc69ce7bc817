"""A/B comparison: a second run beside the first, in lockstep, on the very same data.

Both trainers are built on one Dataset object (loaded once).  A Trainer draws its initial
weights and its batch order from ``config.seed`` alone, so with equal seeds A and B start
from the same weights and see the same batches in the same order; only what the lecturer
changed (L1 vs KL, beta 0 vs 3, rho 0.05 vs 0.2...) makes them differ.

What may differ: everything but the data settings.  Those are refused, since both runs
share one data set.  Settings that break the pairing (another seed, other shapes, other
batches per step) are allowed but listed by ``caveats`` so the display can say so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from core.config import DATA_FIELDS, FIELDS, ConfigError, TrainConfig, check_batch_size
from core.data import Dataset, load_for_config
from core.errors import DivergenceError
from core.snapshot import Snapshot

if TYPE_CHECKING:  # torch loads in the training thread, so a window can show first
    from core.metrics import MetricSettings
    from core.trainer import Trainer

SIDES = ("a", "b")

T = TypeVar("T")


@dataclass(frozen=True)
class Difference:
    """One setting that differs between A and B."""

    name: str
    a: Any
    b: Any


@dataclass(frozen=True, eq=False)
class ComparisonSnapshot:
    """Both runs at one moment, with what tells them apart."""

    a: Snapshot
    b: Snapshot
    differences: tuple[Difference, ...]
    caption: str
    caveats: tuple[str, ...]


class ComparisonDivergence(DivergenceError):
    """One side (or both) diverged and rolled back; ``side`` is "A", "B" or "A and B"."""

    def __init__(self, side: str, error: DivergenceError) -> None:
        super().__init__(error.step, error.restored_step)
        self.side = side
        self.args = (f"{side}: {error}",)


def differences(a: TrainConfig, b: TrainConfig) -> tuple[Difference, ...]:
    """The settings that differ, in the schema's order."""
    return tuple(Difference(name, getattr(a, name), getattr(b, name))
                 for name in FIELDS if getattr(a, name) != getattr(b, name))


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def caption(a: TrainConfig, b: TrainConfig) -> str:
    """A short line for the display, e.g. "B: beta 3 (A: 0)"."""
    found = differences(a, b)
    if not found:
        return "A and B: same settings"
    if len(found) == 1:
        (d,) = found
        return f"B: {d.name} {_shown(d.b)} (A: {_shown(d.a)})"
    b_side = ", ".join(f"{d.name} {_shown(d.b)}" for d in found)
    a_side = ", ".join(f"{d.name} {_shown(d.a)}" for d in found)
    return f"B: {b_side} (A: {a_side})"


def check_pair(a: TrainConfig, b: TrainConfig) -> tuple[str, ...]:
    """Refuse (ConfigError) what cannot be compared; return why the pairing is broken.

    The data settings must be equal: A and B share one data set.  An empty result means
    same initial weights and same batches at every step.
    """
    for name in DATA_FIELDS:
        if getattr(a, name) != getattr(b, name):
            raise ConfigError(
                name, f"{name} differs (A: {_shown(getattr(a, name))}, B: "
                f"{_shown(getattr(b, name))}): A and B must train on the same data")
    caveats = []
    if a.seed != b.seed:
        caveats.append("the seeds differ: other initial weights and another batch order")
    if a.hidden_units != b.hidden_units:
        caveats.append("the numbers of hidden units differ: other initial weights")
    elif a.tied_weights != b.tied_weights:
        caveats.append("tied weights on one side only: other initial decoder weights")
    if a.dtype != b.dtype:
        caveats.append("the precisions differ: initial weights rounded differently")
    full_batch = (a.optimizer == "lbfgs", b.optimizer == "lbfgs")
    if full_batch[0] != full_batch[1]:
        caveats.append("L-BFGS on one side only: full-batch steps against minibatches")
    elif not full_batch[0] and a.batch_size != b.batch_size:
        caveats.append("the batch sizes differ: other images at each step")
    return tuple(caveats)


class ComparisonRun:
    """Trainers A and B on one data set, stepped in turn (driven by one thread)."""

    def __init__(self, config_a: TrainConfig, config_b: TrainConfig, dataset: Dataset,
                 device: str = "auto", settings: MetricSettings | None = None,
                 data_dir: str | Path | None = None) -> None:
        check_pair(config_a, config_b)
        self._device, self._settings, self._data_dir = device, settings, data_dir
        self.a, self.b = self._trainers(config_a, config_b, dataset)

    def _trainers(self, config_a: TrainConfig, config_b: TrainConfig,
                  dataset: Dataset) -> tuple[Trainer, Trainer]:
        from core.trainer import Trainer

        return tuple(Trainer(config, dataset, self._device, self._settings, self._data_dir)
                     for config in (config_a, config_b))

    @classmethod
    def create(cls, config_a: TrainConfig, config_b: TrainConfig, device: str = "auto",
               data_dir: str | Path | None = None,
               settings: MetricSettings | None = None) -> ComparisonRun:
        """Load the configured data set once and build both trainers on it."""
        check_pair(config_a, config_b)
        return cls(config_a, config_b, load_for_config(config_a, data_dir), device,
                   settings, data_dir)

    # ------------------------------------------------------------ what differs

    @property
    def dataset(self) -> Dataset:
        return self.a.dataset

    # ------------------------------------------------------------ saving

    def state_dict(self) -> dict[str, Any]:
        """Run A's state with run B's beside it: a run file that opens as A alone in the
        studio, and as both in the A/B window."""
        from core.checkpoint import COMPARISON_KEY

        return {**self.a.state_dict(), COMPARISON_KEY: self.b.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue a saved comparison (as checked by core.checkpoint.load_run)."""
        from core.checkpoint import COMPARISON_KEY

        if COMPARISON_KEY not in state:
            raise ValueError("this run file holds one run, not an A/B comparison: open it "
                             "in the studio")
        b_state = state[COMPARISON_KEY]
        self.reset(_config(state), _config(b_state))
        self.a.load_state_dict(state)
        self.b.load_state_dict(b_state)

    # What core.control.TrainingLoop reads of the run it drives: A stands for both.
    @property
    def config(self) -> TrainConfig:
        return self.a.config

    @property
    def device(self) -> Any:
        return self.a.device

    def differences(self) -> tuple[Difference, ...]:
        return differences(self.a.config, self.b.config)

    def caption(self) -> str:
        return caption(self.a.config, self.b.config)

    def caveats(self) -> tuple[str, ...]:
        return check_pair(self.a.config, self.b.config)

    # ------------------------------------------------------------ stepping

    def prepare(self) -> None:
        """What both sides' first steps need (``Trainer.prepare``)."""
        self.a.prepare()
        self.b.prepare()

    @property
    def step_count(self) -> int:
        """Steps both sides have taken."""
        return min(self.a.step_count, self.b.step_count)

    def step(self) -> None:
        """Step A, then B; a side that is ahead (the other rolled back) waits.

        Both sides are stepped even if the first diverges; then ComparisonDivergence
        names the side(s) that rolled back.
        """
        target = self.step_count
        _on_both(lambda trainer: trainer.step() if trainer.step_count == target else None,
                 self.a, self.b)

    def flush(self) -> None:
        _on_both(lambda trainer: trainer.flush(), self.a, self.b)

    def snapshot(self, full: bool = False) -> ComparisonSnapshot:
        """Both sides' snapshots (a snapshot flushes, so it may find a divergence too)."""
        a, b = _on_both(lambda trainer: trainer.snapshot(full), self.a, self.b)
        return ComparisonSnapshot(a, b, differences(a.config, b.config),
                                  caption(a.config, b.config), check_pair(a.config, b.config))

    # ------------------------------------------------------------ changes

    def _sides(self, side: str) -> tuple[Trainer, ...]:
        if side == "both":
            return self.a, self.b
        if side in SIDES:
            return (getattr(self, side),)
        raise ValueError(f"side = {side!r}: allowed a, b or both")

    def update(self, side: str = "both", **changes: Any) -> tuple[TrainConfig, TrainConfig]:
        """Live changes to one side or both, as Trainer.update; all or nothing.

        Returns the configs of A and B.
        """
        trainers = self._sides(side)
        for trainer in trainers:  # check everything before changing anything
            new = trainer.config.replace(**changes)
            if trainer.config.scope_of_change(new) == "model":
                fields = [k for k in changes if getattr(new, k) != getattr(trainer.config, k)]
                raise ConfigError(fields[0], f"changing {', '.join(fields)} needs a new "
                                             "model: reset the comparison to apply it")
            check_batch_size(new, len(trainer.dataset))
        for trainer in trainers:
            trainer.update(**changes)
        return self.a.config, self.b.config

    def reset(self, config_a: TrainConfig | None = None,
              config_b: TrainConfig | None = None) -> None:
        """Start both over with fresh weights (equal again with equal seeds).

        New data settings load the data once for both.  Everything is checked first: a
        refused reset leaves both runs as they were.
        """
        config_a = config_a or self.a.config
        config_b = config_b or self.b.config
        check_pair(config_a, config_b)
        if any(getattr(config_a, name) != getattr(self.a.config, name)
               for name in DATA_FIELDS):
            dataset = load_for_config(config_a, self._data_dir)
            self.a, self.b = self._trainers(config_a, config_b, dataset)
            return
        for config in (config_a, config_b):
            check_batch_size(config, len(self.dataset))
        self.a.reset(config_a)
        self.b.reset(config_b)


def _on_both(action: Callable[[Trainer], T], a: Trainer, b: Trainer) -> tuple[T, T]:
    """``action`` on A, then on B even if A diverged; then ComparisonDivergence names
    the side(s) that rolled back."""
    results: list[Any] = []
    failed: list[tuple[str, DivergenceError]] = []
    for name, trainer in (("A", a), ("B", b)):
        try:
            results.append(action(trainer))
        except DivergenceError as error:
            failed.append((name, error))
    if failed:
        raise ComparisonDivergence(" and ".join(name for name, _ in failed), failed[0][1])
    return results[0], results[1]


def _config(state: dict[str, Any]) -> TrainConfig:
    config = state["config"]
    return config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
