"""The penalties against hand-computed values and numerical gradients, in float64."""

from __future__ import annotations

import math

import pytest
import torch

from core.config import ConfigError, TrainConfig
from core.penalties import (
    KL_EPS,
    L1Penalty,
    kl_divergence,
    kl_divergence_gradient,
    kl_sparsity_penalty,
    l1_penalty_value,
    to_unit_interval,
    weight_decay_penalty,
)

f64 = torch.float64


def test_l1_penalty_forward_is_identity():
    a = torch.tensor([[-0.5, 0.0, 2.0]], dtype=f64)
    assert torch.equal(L1Penalty.apply(a, 0.1), a)


def test_l1_penalty_backward_adds_weight_times_sign():
    a = torch.tensor([[-0.5, 0.0, 2.0], [0.25, -3.0, 1e-9]], dtype=f64, requires_grad=True)
    upstream = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]], dtype=f64)
    L1Penalty.apply(a, 0.1).backward(upstream)
    expected = torch.tensor([[0.9, 2.0, 3.1], [-0.9, 0.4, 0.1]], dtype=f64)
    torch.testing.assert_close(a.grad, expected, rtol=0, atol=1e-15)


def test_l1_penalty_gives_no_gradient_to_the_weight():
    a = torch.randn(3, 4, dtype=f64, requires_grad=True)
    weight = torch.tensor(0.1, dtype=f64, requires_grad=True)
    L1Penalty.apply(a, weight).sum().backward()
    assert weight.grad is None


def test_l1_penalty_equals_gradient_of_explicit_summed_loss():
    """The notes' autograd function is the gradient of l1 * sum|a| over the whole batch."""
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(16, 6, generator=generator, dtype=f64)
    w = torch.randn(5, 6, generator=generator, dtype=f64, requires_grad=True)
    target = torch.rand(16, 5, generator=generator, dtype=f64)
    l1 = 0.3

    a = torch.tanh(x @ w.t())
    ((L1Penalty.apply(a, l1) - target) ** 2).sum().backward()
    via_function = w.grad.clone()

    w.grad = None
    a = torch.tanh(x @ w.t())
    (((a - target) ** 2).sum() + l1 * a.abs().sum()).backward()
    torch.testing.assert_close(via_function, w.grad, rtol=1e-13, atol=1e-13)

    # ... and not of the batch mean: that would be 16 times smaller.
    w.grad = None
    a = torch.tanh(x @ w.t())
    (((a - target) ** 2).sum() + l1 * a.abs().sum() / 16).backward()
    assert not torch.allclose(via_function, w.grad)


def test_l1_penalty_value_is_summed_over_the_batch():
    a = torch.tensor([[-1.0, 2.0], [0.5, 0.0]], dtype=f64)
    assert l1_penalty_value(a, 0.1).item() == pytest.approx(0.35, abs=1e-15)


def _kl_by_hand(rho: float, r: float) -> float:
    return rho * math.log(rho / r) + (1 - rho) * math.log((1 - rho) / (1 - r))


@pytest.mark.parametrize("rho, r", [(0.2, 0.5), (0.05, 0.01), (0.05, 0.9), (0.2, 0.2),
                                    (0.1, 0.3)])
def test_kl_divergence_matches_hand_values(rho, r):
    value = kl_divergence(rho, torch.tensor(r, dtype=f64)).item()
    assert value == pytest.approx(_kl_by_hand(rho, r), rel=1e-14, abs=1e-15)


def test_kl_divergence_known_number():
    # 0.2 ln(0.2/0.5) + 0.8 ln(0.8/0.5) worked out by hand.
    assert kl_divergence(0.2, torch.tensor(0.5, dtype=f64)).item() == pytest.approx(
        0.19274475702175753, rel=1e-14)


def test_kl_is_zero_at_rho_and_positive_elsewhere():
    rho = 0.05
    r = torch.linspace(0.001, 0.999, 999, dtype=f64)
    kl = kl_divergence(rho, r)
    assert kl.min().item() >= 0
    assert kl_divergence(rho, torch.tensor(rho, dtype=f64)).item() == pytest.approx(0, abs=1e-16)


def test_kl_is_finite_with_finite_gradient_at_zero_and_one():
    r = torch.tensor([0.0, 1.0], dtype=f64, requires_grad=True)
    kl = kl_divergence(0.05, r)
    kl.sum().backward()
    assert torch.isfinite(kl).all()
    assert torch.isfinite(r.grad).all()
    # the clamp makes the value equal to the value at eps
    edge = kl_divergence(0.05, torch.tensor([KL_EPS, 1 - KL_EPS], dtype=f64))
    torch.testing.assert_close(kl.detach(), edge)


def test_kl_gradient_formula_matches_autograd_and_finite_difference():
    rho = 0.2
    r = torch.tensor([0.01, 0.2, 0.5, 0.93], dtype=f64, requires_grad=True)
    kl_divergence(rho, r).sum().backward()
    formula = kl_divergence_gradient(rho, r.detach())
    torch.testing.assert_close(r.grad, formula, rtol=1e-13, atol=1e-13)
    h = 1e-6
    numerical = (kl_divergence(rho, r.detach() + h) - kl_divergence(rho, r.detach() - h)) / (2 * h)
    torch.testing.assert_close(formula, numerical, rtol=1e-7, atol=1e-7)


def test_kl_sparsity_penalty_uses_the_batch_mean_per_unit():
    a = torch.tensor([[0.1, 0.9], [0.3, 0.5]], dtype=f64)
    penalty, rho_hat = kl_sparsity_penalty(a, "sigmoid", 0.2, 3.0)
    torch.testing.assert_close(rho_hat, torch.tensor([0.2, 0.7], dtype=f64))
    assert penalty.item() == pytest.approx(3.0 * (0.0 + _kl_by_hand(0.2, 0.7)), rel=1e-14)


def test_tanh_activations_are_mapped_to_the_unit_interval():
    a = torch.tensor([[-1.0, 0.0], [0.0, 1.0]], dtype=f64)
    torch.testing.assert_close(to_unit_interval(a, "tanh"),
                               torch.tensor([[0.0, 0.5], [0.5, 1.0]], dtype=f64))
    _, rho_hat = kl_sparsity_penalty(a, "tanh", 0.1, 1.0)
    torch.testing.assert_close(rho_hat, torch.tensor([0.25, 0.75], dtype=f64))


def test_kl_with_an_unbounded_activation_is_refused():
    with pytest.raises(ConfigError) as info:
        TrainConfig(penalty="kl", encoder_activation="relu")
    assert info.value.field == "penalty"
    assert "relu" in str(info.value) and "(0, 1)" in str(info.value)
    with pytest.raises(ValueError):
        kl_sparsity_penalty(torch.zeros(2, 2), "relu", 0.1, 1.0)


def test_weight_decay_is_half_lambda_sum_of_squares_of_weights_only():
    w1 = torch.tensor([[1.0, -2.0]], dtype=f64)
    w2 = torch.tensor([[3.0], [0.5]], dtype=f64)
    # (1e-3 / 2) * (1 + 4 + 9 + 0.25)
    assert weight_decay_penalty([w1, w2], 1e-3).item() == pytest.approx(0.007125, rel=1e-14)


def test_model_decays_weights_but_not_biases():
    from core.model import SparseAutoencoder

    model = SparseAutoencoder(6, 3, seed=1, dtype=f64)
    names = {id(p) for p in model.weight_matrices()}
    assert id(model.encoder_weight) in names and id(model.decoder_weight_free) in names
    assert id(model.encoder_bias) not in names and id(model.decoder_bias) not in names
    tied = SparseAutoencoder(6, 3, tied_weights=True, seed=1, dtype=f64)
    assert len(tied.weight_matrices()) == 1
