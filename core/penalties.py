"""The two sparsity penalties of the source notes, and UFLDL's weight decay."""

from __future__ import annotations

import math

import numpy as np
import torch

#: rho_hat is clamped to [KL_EPS, 1 - KL_EPS] so that KL and its gradient stay finite
#: when a unit is exactly off (0) or saturated (1).  1e-6 keeps the penalty exact for
#: every rho_hat a float32 sigmoid produces in practice and caps the gradient near 1e6.
KL_EPS = 1e-6


class L1Penalty(torch.autograd.Function):
    """Identity forward; backward adds ``l1_weight * sign(input)``, as in the notes.

    This is the gradient of ``l1_weight * sum(|a|)`` summed over the whole batch, not
    averaged: against a mean-squared reconstruction loss, doubling the batch size
    doubles the penalty's relative strength (the loss it adds is ``l1_weight * batch_size``
    times the mean per-sample ``sum_j |a_j|``).  The weight is a penalty coefficient,
    not the fraction of units that end up zero.
    """

    @staticmethod
    def forward(ctx, input: torch.Tensor, l1_weight: float) -> torch.Tensor:
        ctx.save_for_backward(input)
        ctx.l1_weight = l1_weight
        return input.view_as(input)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        (input,) = ctx.saved_tensors
        grad_input = grad_output + ctx.l1_weight * input.sign()
        return grad_input, None


def l1_penalty_value(activations: torch.Tensor, l1_weight: float) -> torch.Tensor:
    """The loss whose gradient L1Penalty adds: ``l1_weight * sum |a|`` over the batch."""
    return l1_weight * activations.abs().sum()


def kl_divergence(rho: float | torch.Tensor, rho_hat: torch.Tensor) -> torch.Tensor:
    """Elementwise KL(rho || rho_hat) between Bernoulli means.

    ``rho log(rho/rho_hat) + (1-rho) log((1-rho)/(1-rho_hat))``, zero at rho_hat = rho.
    rho_hat is clamped to [KL_EPS, 1 - KL_EPS] first (see KL_EPS).
    """
    rho_hat = rho_hat.clamp(KL_EPS, 1.0 - KL_EPS)
    if isinstance(rho, torch.Tensor):
        rho = rho.to(rho_hat.device, rho_hat.dtype)
        return rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
    # A Python rho stays a number: made a tensor on a GPU, it would wait for the device
    # at every step.
    return (rho * (math.log(rho) - rho_hat.log())
            + (1.0 - rho) * (math.log1p(-rho) - torch.log1p(-rho_hat)))


def kl_divergence_gradient(rho: float | torch.Tensor, rho_hat: torch.Tensor) -> torch.Tensor:
    """d KL(rho || rho_hat) / d rho_hat = -rho/rho_hat + (1-rho)/(1-rho_hat), clamped alike."""
    rho_hat = rho_hat.clamp(KL_EPS, 1.0 - KL_EPS)
    return -rho / rho_hat + (1 - rho) / (1 - rho_hat)


def kl_divergence_curve(rho: float, rho_hat: np.ndarray) -> np.ndarray:
    """``kl_divergence`` for plotting: numpy in, numpy out (float64, same formula)."""
    return kl_divergence(rho, torch.from_numpy(np.asarray(rho_hat, np.float64))).numpy()


def kl_gradient_curve(rho: float, rho_hat: np.ndarray) -> np.ndarray:
    """``kl_divergence_gradient`` for plotting: numpy in, numpy out."""
    return kl_divergence_gradient(rho, torch.from_numpy(np.asarray(rho_hat, np.float64))).numpy()


def to_unit_interval(activations: torch.Tensor, activation: str) -> torch.Tensor:
    """Map bounded activations into (0, 1) for rho_hat: sigmoid as is, tanh by (a+1)/2."""
    if activation == "tanh":
        return (activations + 1) * 0.5
    return activations


def to_unit_interval_(activations: torch.Tensor, activation: str) -> torch.Tensor:
    """``to_unit_interval`` in place (the same arithmetic, so the same values)."""
    if activation == "tanh":
        return activations.add_(1).mul_(0.5)
    return activations


def kl_sparsity_penalty(
    activations: torch.Tensor, activation: str, rho: float, beta: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``beta * sum_j KL(rho || rho_hat_j)``, rho_hat_j the mean of unit j over the batch.

    Returns (penalty, rho_hat).  Unbounded activations have no rho_hat in (0, 1); the
    config refuses that combination before training starts.
    """
    if activation not in ("sigmoid", "tanh"):
        raise ValueError(f"KL sparsity needs a bounded activation, got {activation!r}")
    # The map to (0, 1) is affine, so mapping the 400 means costs less than mapping
    # every activation and gives the same rho_hat.
    rho_hat = to_unit_interval(activations.mean(dim=0), activation)
    return beta * kl_divergence(rho, rho_hat).sum(), rho_hat


def weight_decay_penalty(weights: list[torch.Tensor], weight_decay: float) -> torch.Tensor:
    """``(lambda/2) * sum W^2`` over weight matrices only (biases are not decayed)."""
    total = sum((w * w).sum() for w in weights)
    return 0.5 * weight_decay * total
