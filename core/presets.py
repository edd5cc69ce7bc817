"""Named starting points: the source notes' model, UFLDL's exercise, a KL demo."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.config import ConfigError, TrainConfig


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    settings: dict[str, Any] = field(default_factory=dict)
    #: Default length: steps (L-BFGS iterations or minibatches) or epochs.
    steps: int | None = None
    epochs: float | None = None

    @property
    def config(self) -> TrainConfig:
        return TrainConfig(**self.settings)

    @property
    def length(self) -> str:
        if self.steps is not None:
            unit = "L-BFGS iterations" if self.settings.get("optimizer") == "lbfgs" else "steps"
            return f"{self.steps} {unit}"
        return f"{self.epochs:g} epochs"


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "kl-demo",
            "KL sparsity (Ng): 400 sigmoid units pulled toward rho = 0.05, Adam",
            {"dataset": "digits", "samples": 20000, "hidden_units": 400,
             "encoder_activation": "sigmoid", "decoder_activation": "sigmoid",
             "penalty": "kl", "rho": 0.05, "beta": 3.0, "weight_decay": 3e-3,
             "reconstruction_loss": "half_sse", "optimizer": "adam", "lr": 1e-2,
             "batch_size": 128},
            epochs=20,
        ),
        Preset(
            "notes-l1",
            "The notes' model: 784-400 tanh, L1Penalty(0.1), sigmoid out, MSE, Adam 1e-3",
            {"dataset": "mnist", "samples": 0, "hidden_units": 400,
             "encoder_activation": "tanh", "decoder_activation": "sigmoid",
             "penalty": "l1", "l1_weight": 0.1, "weight_decay": 0.0,
             "reconstruction_loss": "mse", "optimizer": "adam", "lr": 1e-3,
             "batch_size": 128},
            epochs=5,
        ),
        Preset(
            "ufldl-mnist",
            "UFLDL's MNIST exercise: 196 sigmoid units, rho 0.1, beta 3, lambda 3e-3, L-BFGS",
            {"dataset": "mnist", "samples": 10000, "hidden_units": 196,
             "encoder_activation": "sigmoid", "decoder_activation": "sigmoid",
             "penalty": "kl", "rho": 0.1, "beta": 3.0, "weight_decay": 3e-3,
             "reconstruction_loss": "half_sse", "optimizer": "lbfgs", "lr": 1.0},
            steps=400,
        ),
        Preset(
            "ufldl-patches",
            "UFLDL's first exercise: 8x8 natural-image patches, 64-25-64 sigmoid, rho 0.01, "
            "beta 3, lambda 1e-4, L-BFGS: localized oriented edge detectors",
            {"dataset": "patches", "samples": 11000, "patch_size": 8, "hidden_units": 25,
             "encoder_activation": "sigmoid", "decoder_activation": "sigmoid",
             "penalty": "kl", "rho": 0.01, "beta": 3.0, "weight_decay": 1e-4,
             "reconstruction_loss": "half_sse", "optimizer": "lbfgs", "lr": 1.0},
            steps=400,
        ),
        Preset(
            "patches-14",
            "A richer mosaic: 14x14 natural-image patches, 196 sigmoid units, rho 0.01, "
            "beta 3, lambda 1e-4, L-BFGS",
            {"dataset": "patches", "samples": 22000, "patch_size": 14, "hidden_units": 196,
             "encoder_activation": "sigmoid", "decoder_activation": "sigmoid",
             "penalty": "kl", "rho": 0.01, "beta": 3.0, "weight_decay": 1e-4,
             "reconstruction_loss": "half_sse", "optimizer": "lbfgs", "lr": 1.0},
            steps=400,
        ),
    )
}

DEFAULT_PRESET = "kl-demo"


def get_preset(name: str) -> Preset:
    preset = PRESETS.get(name) if isinstance(name, str) else None
    if preset is None:
        shown = repr(name[:40] + "..." if len(name) > 40 else name) if isinstance(name, str) \
            else type(name).__name__
        raise ConfigError("preset", f"preset = {shown} is not allowed: one of "
                          + ", ".join(PRESETS))
    return preset
