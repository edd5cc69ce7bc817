"""The one schema every hyperparameter passes through: CLI, GUI, presets and saved runs.

Each field knows its type, its allowed range and how far a change reaches
(``live``: applied between two steps; ``optimizer``: a new optimizer, same model;
``model``: a new model).  Errors name the field, the value and what is allowed,
so every entry point can show the same one-line message.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Scope = Literal["live", "optimizer", "model"]

BOUNDED_ACTIVATIONS = ("sigmoid", "tanh")

#: Settings that decide which rows the data set holds (a change reloads the data).
DATA_FIELDS = ("dataset", "samples", "data_seed", "validation_fraction", "patch_size",
               "image_size")

#: Every data set a run can use (see core.data for what each is).
DATASET_NAMES = ("digits", "patches", "mnist", "fashion-mnist", "kmnist", "emnist", "folder",
                 "npz")


class ConfigError(ValueError):
    """A value that is not allowed; ``str(error)`` is a complete one-line message."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class FieldSpec:
    """Type, range and reach of one hyperparameter."""

    name: str
    kind: type
    help: str
    scope: Scope = "live"
    minimum: float | None = None
    maximum: float | None = None
    min_inclusive: bool = True
    max_inclusive: bool = True
    choices: tuple[str, ...] | None = None

    def allowed(self) -> str:
        """Human description of the allowed values, used in every error message."""
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        if self.kind is bool:
            return "true or false"
        noun = "an integer" if self.kind is int else "a number"
        low = _fmt(self.minimum) if self.minimum is not None else None
        high = _fmt(self.maximum) if self.maximum is not None else None
        if low is not None and high is not None:
            lo_op = "<=" if self.min_inclusive else "<"
            hi_op = "<=" if self.max_inclusive else "<"
            return f"{noun} with {low} {lo_op} {self.name} {hi_op} {high}"
        if low is not None:
            op = ">=" if self.min_inclusive else ">"
            return f"{noun} {op} {low}"
        if high is not None:
            op = "<=" if self.max_inclusive else "<"
            return f"{noun} {op} {high}"
        return noun

    def check(self, value: Any) -> Any:
        """Return ``value`` as this field's type, or raise ConfigError naming the field."""
        value = self._coerce(value)
        if self.choices is not None:
            if value not in self.choices:
                raise self._error(value)
            return value
        if self.kind in (int, float):
            if self.kind is float and not math.isfinite(value):
                raise self._error(value)
            if self.minimum is not None and (
                value < self.minimum or (value == self.minimum and not self.min_inclusive)
            ):
                raise self._error(value)
            if self.maximum is not None and (
                value > self.maximum or (value == self.maximum and not self.max_inclusive)
            ):
                raise self._error(value)
        return value

    def parse(self, text: str) -> Any:
        """Parse user text (CLI ``--set``, a GUI field) and check it."""
        if not isinstance(text, str):
            raise self._error(text)
        text = text.strip()
        if self.kind is bool:
            lowered = text.lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise self._error(text)
        if self.kind is str:
            return self.check(text.lower())
        if self.kind is int:
            try:
                number = float(text)
            except ValueError:
                raise self._error(text, hint=_comma_hint(text)) from None
            if not number.is_integer():
                raise self._error(text)
            return self.check(int(number))
        try:
            return self.check(float(text))
        except ValueError as error:
            if isinstance(error, ConfigError):
                raise
            raise self._error(text, hint=_comma_hint(text)) from None

    def _coerce(self, value: Any) -> Any:
        if self.kind is bool:
            if isinstance(value, bool):
                return value
            raise self._error(value)
        if self.kind in (int, float):
            # Any real number (numpy's too), never a bool: True is not a learning rate.
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise self._error(value)
            if self.kind is int and isinstance(value, numbers.Integral):
                return int(value)
            try:
                number = float(value)
            except (OverflowError, ValueError):  # beyond the float range
                raise self._error(value) from None
            if self.kind is float:
                return number
            if not number.is_integer():
                raise self._error(value)
            return int(number)
        if not isinstance(value, str):
            raise self._error(value)
        return value

    def _error(self, value: Any, hint: str = "") -> ConfigError:
        message = f"{self.name} = {_shown(value)} is not allowed: {self.allowed()}{hint}"
        return ConfigError(self.name, message)


#: Longest value quoted in an error message; longer ones are cut (the message stays one
#: readable line whatever was pasted into a field).
MAX_SHOWN = 40


def _shown(value: Any) -> str:
    """A value as an error message quotes it: one line, at most about MAX_SHOWN characters."""
    if isinstance(value, str):
        text = value if len(value) <= MAX_SHOWN else value[:MAX_SHOWN] + "..."
        return repr(text)
    if isinstance(value, bool | int | float):
        return _fmt(value)
    text = f"{type(value).__name__} {_safe_repr(value)}"
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:  # a foreign object whose repr fails is still named by its type
        return "(unprintable)"


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) and value.bit_length() > 64:
        # str() refuses integers over 4300 digits; nobody reads that many anyway
        digits = int(value.bit_length() * math.log10(2))
        return f"{'-' if value < 0 else ''}an integer of about {digits + 1} digits"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:g}"
    return str(value)


def _comma_hint(text: str) -> str:
    if "," in text:
        return " (use a dot as the decimal separator)"
    return ""


_FIELDS: tuple[FieldSpec, ...] = (
    # data
    FieldSpec("dataset", str, "training data set (folder and npz read --data-dir)", "model",
              choices=DATASET_NAMES),
    FieldSpec("samples", int,
              "images (or patches) to use, validation included (generated sets: how many "
              "to make; files: the first N; 0 = all)", "model",
              minimum=0, maximum=1_000_000),
    FieldSpec("validation_fraction", float,
              "share of the images held out to measure the validation reconstruction", "model",
              minimum=0.0, maximum=0.5),
    FieldSpec("patch_size", int, "side of the natural-image patches (dataset patches)", "model",
              minimum=4, maximum=32),
    FieldSpec("image_size", int,
              "side images from a folder are resized to (dataset folder; 0 = keep, all alike)",
              "model", minimum=0, maximum=512),
    FieldSpec("data_seed", int, "seed of the built-in digit generator", "model",
              minimum=0, maximum=2**32 - 1),
    # model
    FieldSpec("hidden_units", int, "number of hidden units", "model",
              minimum=1, maximum=10_000),
    FieldSpec("encoder_activation", str, "hidden activation", "model",
              choices=("sigmoid", "tanh", "relu")),
    FieldSpec("decoder_activation", str, "output activation", "model",
              choices=("sigmoid", "identity")),
    FieldSpec("tied_weights", bool, "decoder uses the transposed encoder weights",
              "model"),
    FieldSpec("seed", int, "seed of the initial weights and the batch order", "model",
              minimum=0, maximum=2**32 - 1),
    FieldSpec("dtype", str, "floating point precision", "model",
              choices=("float32", "float64")),
    # objective (live)
    FieldSpec("reconstruction_loss", str,
              "mse: mean over every pixel (nn.MSELoss); half_sse: (1/2m) sum ||x_hat - x||^2 "
              "(UFLDL)", choices=("mse", "half_sse")),
    FieldSpec("penalty", str, "sparsity penalty", choices=("none", "l1", "kl")),
    FieldSpec("l1_weight", float,
              "L1Penalty weight: adds l1_weight*sign(a) to the gradient of every activation",
              minimum=0.0, maximum=1e6),
    FieldSpec("rho", float, "target mean activation of each hidden unit (KL)",
              minimum=0.0, maximum=1.0, min_inclusive=False, max_inclusive=False),
    FieldSpec("beta", float, "weight of the KL sparsity penalty", minimum=0.0, maximum=1e6),
    FieldSpec("weight_decay", float, "lambda in (lambda/2) * sum of squared weights",
              minimum=0.0, maximum=1e6),
    # optimizer
    FieldSpec("optimizer", str, "optimizer (lbfgs trains on the full data set)",
              "optimizer", choices=("sgd", "adam", "lbfgs")),
    FieldSpec("lr", float, "learning rate", minimum=0.0, maximum=1e3,
              min_inclusive=False),
    FieldSpec("momentum", float, "SGD momentum", minimum=0.0, maximum=1.0,
              max_inclusive=False),
    FieldSpec("batch_size", int, "samples per minibatch (ignored by lbfgs)",
              minimum=1, maximum=10_000_000),
)

FIELDS: dict[str, FieldSpec] = {spec.name: spec for spec in _FIELDS}


@dataclass(frozen=True)
class TrainConfig:
    """Every hyperparameter of a run; always valid once constructed."""

    dataset: str = "digits"
    samples: int = 20000
    validation_fraction: float = 0.1
    patch_size: int = 8
    image_size: int = 0
    data_seed: int = 0
    hidden_units: int = 400
    encoder_activation: str = "sigmoid"
    decoder_activation: str = "sigmoid"
    tied_weights: bool = False
    seed: int = 0
    dtype: str = "float32"
    reconstruction_loss: str = "half_sse"
    penalty: str = "kl"
    l1_weight: float = 0.1
    rho: float = 0.05
    beta: float = 3.0
    weight_decay: float = 3e-3
    optimizer: str = "adam"
    lr: float = 1e-2
    momentum: float = 0.9
    batch_size: int = 128

    def __post_init__(self) -> None:
        for spec in _FIELDS:
            object.__setattr__(self, spec.name, spec.check(getattr(self, spec.name)))
        check_combinations(self)

    def replace(self, **changes: Any) -> TrainConfig:
        """A validated copy with ``changes`` applied (unknown keys refused)."""
        for key in changes:
            _spec(key)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Build from a mapping (a saved run, a preset); unknown keys are refused."""
        if not isinstance(values, Mapping):
            raise ConfigError("config", f"the settings are {_shown(values)}, not allowed: "
                              f"a mapping of setting names to values")
        for key in values:
            _spec(key)
        return cls(**dict(values))

    def scope_of_change(self, other: TrainConfig) -> Scope | None:
        """The widest reach among the fields that differ, or None if equal."""
        order = {"live": 0, "optimizer": 1, "model": 2}
        widest: Scope | None = None
        for spec in _FIELDS:
            changed = getattr(self, spec.name) != getattr(other, spec.name)
            if changed and (widest is None or order[spec.scope] > order[widest]):
                widest = spec.scope
        return widest


def check_combinations(config: TrainConfig) -> None:
    """Rules that involve more than one field."""
    if config.penalty == "kl" and config.encoder_activation not in BOUNDED_ACTIVATIONS:
        raise ConfigError(
            "penalty",
            f"penalty = 'kl' needs activations in (0, 1), but encoder_activation = "
            f"'{config.encoder_activation}' is unbounded: allowed encoder_activation "
            f"{' or '.join(BOUNDED_ACTIVATIONS)} with KL (or choose penalty l1 or none)",
        )


def check_batch_size(config: TrainConfig, dataset_size: int) -> None:
    """A minibatch cannot hold more images than the data set (L-BFGS takes them all)."""
    if config.optimizer != "lbfgs" and config.batch_size > dataset_size:
        raise ConfigError(
            "batch_size", f"batch_size = {config.batch_size} is not allowed: the data set "
            f"holds {dataset_size} images (allowed 1 to {dataset_size})")


def _spec(key: str) -> FieldSpec:
    spec = FIELDS.get(key) if isinstance(key, str) else None
    if spec is None:
        raise ConfigError(
            key[:MAX_SHOWN] if isinstance(key, str) else "config",
            f"unknown setting {_shown(key)}: allowed keys are {', '.join(FIELDS)}")
    return spec


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse one ``key=value`` (the CLI's ``--set``) into a checked (key, value)."""
    if "=" not in text:
        raise ConfigError("--set", f"--set {_shown(text)} is not of the form key=value")
    key, _, raw = text.partition("=")
    spec = _spec(key.strip())
    return spec.name, spec.parse(raw)


def parse_field(key: str, text: str) -> Any:
    """Parse and check the text of one field (for GUI editors)."""
    return _spec(key).parse(text)
