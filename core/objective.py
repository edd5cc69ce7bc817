"""The cost a step minimises, split into the terms the app plots apart."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from core.config import TrainConfig
from core.model import SparseAutoencoder
from core.penalties import (
    L1Penalty,
    kl_sparsity_penalty,
    l1_penalty_value,
    to_unit_interval,
    weight_decay_penalty,
)


@dataclass
class Evaluation:
    """One forward pass: the loss to differentiate and what the metrics need (detached)."""

    loss: torch.Tensor  # scalar; its value is the total, its gradient the whole cost's
    terms: torch.Tensor  # (4,) detached, in LOSS_TERMS order
    hidden: torch.Tensor  # (batch, hidden) activations, detached
    reconstruction: torch.Tensor  # (batch, input) detached
    rho_hat: torch.Tensor  # (hidden,) mean activation in (0, 1) units, detached


def reconstruction_error(x_hat: torch.Tensor, x: torch.Tensor, kind: str) -> torch.Tensor:
    """``mse``: mean over every element (nn.MSELoss); ``half_sse``: (1/2m) sum ||x_hat-x||^2."""
    if kind == "mse":
        return F.mse_loss(x_hat, x)
    return 0.5 * (x_hat - x).pow(2).sum() / x.shape[0]


def squared_error_weight(config: TrainConfig, batch: int, pixels: int) -> float:
    """The reconstruction term's weight on the sum of squared errors over a batch."""
    return 1.0 / (batch * pixels) if config.reconstruction_loss == "mse" else 0.5 / batch


def loss_terms(config: TrainConfig, sums: torch.Tensor, batch: int, pixels: int
               ) -> torch.Tensor:
    """The loss terms (n, 4), in LOSS_TERMS order, of ``n`` batches from their raw sums
    (n, 3): squared error, penalty sum (``core.metrics.penalty_sums``), squared weights.

    The same as ``evaluate``'s terms up to rounding.  Written as products summed, not as
    a matrix product: with TF32 on (the trainer turns it on for CUDA), a GPU's matrix
    product would round the sums to 10 bits.
    """
    per_penalty = {"l1": config.l1_weight, "kl": config.beta}.get(config.penalty, 0.0)
    to_terms = _term_weights(squared_error_weight(config, batch, pixels), per_penalty,
                             0.5 * config.weight_decay, sums.dtype, sums.device)
    # (after a divergence an infinite sum makes every term NaN; the flush reports it)
    return (sums[:, :, None] * to_terms).sum(dim=1)


@functools.lru_cache(maxsize=16)
def _term_weights(reconstruction: float, penalty: float, decay: float, dtype: torch.dtype,
                  device: torch.device) -> torch.Tensor:
    """The (3, 4) matrix taking the raw sums to the total and each weighted term (never
    written to)."""
    return torch.tensor([[reconstruction, reconstruction, 0.0, 0.0],
                         [penalty, 0.0, penalty, 0.0],
                         [decay, 0.0, 0.0, decay]], dtype=dtype, device=device)


def evaluate(model: SparseAutoencoder, x: torch.Tensor, config: TrainConfig) -> Evaluation:
    """Forward pass with the configured penalty in place.

    With L1 the penalty lives in the graph as L1Penalty (its gradient), and its value
    ``l1_weight * sum|a|`` is added to ``loss`` detached, so that the loss value and
    its gradient describe the same cost (L-BFGS's line search needs both).
    """
    a = model.encode(x)
    zero = a.new_zeros(())
    penalty = zero
    if config.penalty == "l1":
        x_hat = model.decode(L1Penalty.apply(a, config.l1_weight))
        penalty = l1_penalty_value(a.detach(), config.l1_weight)
        rho_hat = to_unit_interval(a.detach().mean(dim=0), config.encoder_activation)
    elif config.penalty == "kl":
        x_hat = model.decode(a)
        penalty, rho_hat = kl_sparsity_penalty(a, config.encoder_activation, config.rho,
                                               config.beta)
        rho_hat = rho_hat.detach()
    else:
        x_hat = model.decode(a)
        rho_hat = to_unit_interval(a.detach().mean(dim=0), config.encoder_activation)

    reconstruction = reconstruction_error(x_hat, x, config.reconstruction_loss)
    decay = (weight_decay_penalty(model.weight_matrices(), config.weight_decay)
             if config.weight_decay > 0 else zero)
    differentiable = reconstruction + decay
    if config.penalty == "kl":
        differentiable = differentiable + penalty
    elif config.penalty == "l1":
        differentiable = differentiable + penalty.detach()
    terms = torch.stack([differentiable.detach(), reconstruction.detach(), penalty.detach(),
                         decay.detach()])
    return Evaluation(differentiable, terms, a.detach(), x_hat.detach(), rho_hat)
