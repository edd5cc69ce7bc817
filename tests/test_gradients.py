"""The hand-derived gradient (core.gradients) against autograd and numerical gradients.

Everything in float64: the two paths compute the same sums in a different order, so they
agree to about 1e-14, and the tolerance 1e-11 would catch any wrong term (a missing
factor of 2, a lost penalty, a transposed tied gradient) by many orders of magnitude.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from core.config import TrainConfig
from core.data import load_dataset
from core.gradcheck import CASES, THRESHOLD, check_case
from core.gradients import GradientStep, evaluate_with_gradients
from core.model import SparseAutoencoder
from core.objective import evaluate, loss_terms
from core.trainer import Trainer

COMBINATIONS = [
    (encoder, decoder, loss, penalty, tied, decay)
    for encoder, decoder, loss, penalty, tied, decay in itertools.product(
        ["sigmoid", "tanh", "relu"], ["sigmoid", "identity"], ["mse", "half_sse"],
        ["none", "l1", "kl"], [False, True], [0.0, 3e-3])
    if not (penalty == "kl" and encoder == "relu")  # the config refuses KL on relu
]


def model_and_batch(config: TrainConfig, bias_shift: float = 0.3, weight_scale: float = 4.0,
                    inputs: int = 11, samples: int = 9):
    model = SparseAutoencoder(inputs, config.hidden_units, config.encoder_activation,
                              config.decoder_activation, config.tied_weights, 0, torch.float64)
    with torch.no_grad():
        for weight in model.weight_matrices():
            weight.mul_(weight_scale)  # UFLDL's initial weights are tiny: make every term count
        model.encoder_bias.add_(bias_shift)
    x = torch.rand(samples, inputs, dtype=torch.float64,
                   generator=torch.Generator().manual_seed(1))
    return model, x


def both_ways(model: SparseAutoencoder, x: torch.Tensor, config: TrainConfig):
    """(autograd's Evaluation and gradients, the hand path's)."""
    model.zero_grad(set_to_none=True)
    reference = evaluate(model, x, config)
    reference.loss.backward()
    expected = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    hand = evaluate_with_gradients(model, x, config)
    return reference, expected, hand, [p.grad for p in model.parameters()]


def assert_same(reference, expected, hand, got) -> None:
    for want, have in zip(expected, got, strict=True):
        torch.testing.assert_close(have, want, rtol=1e-11, atol=1e-13)
    for field in ("terms", "hidden", "reconstruction", "rho_hat"):
        torch.testing.assert_close(getattr(hand, field), getattr(reference, field).detach(),
                                   rtol=1e-11, atol=1e-13)
    assert float(hand.loss) == pytest.approx(float(reference.loss.detach()), rel=1e-12)


@pytest.mark.parametrize(("encoder", "decoder", "loss", "penalty", "tied", "decay"),
                         COMBINATIONS)
def test_hand_gradient_equals_autograd(encoder, decoder, loss, penalty, tied, decay):
    config = TrainConfig(hidden_units=7, dtype="float64", encoder_activation=encoder,
                         decoder_activation=decoder, reconstruction_loss=loss,
                         penalty=penalty, tied_weights=tied, weight_decay=decay,
                         l1_weight=0.1, rho=0.1, beta=3.0)
    assert_same(*both_ways(*model_and_batch(config), config))


@pytest.mark.parametrize("pixel_major", [True, False], ids=["pixel-major", "row-major"])
@pytest.mark.parametrize(("encoder", "decoder", "loss", "penalty", "tied", "decay"),
                         COMBINATIONS)
def test_hand_gradient_into_a_unit_major_slot_equals_autograd(encoder, decoder, loss, penalty,
                                                              tied, decay, pixel_major):
    """The trainer's step writes the activations into a unit-major slot of its queue
    (``Trainer._hidden_slot``): the gradient is the same, the activations land in the
    slot, and every gradient has its parameter's layout (Adam's fused kernel reads them
    as flat memory).  Both layouts of the decoder's side: the CPU's pixel-major one and
    the row-major one used elsewhere."""
    config = TrainConfig(hidden_units=7, dtype="float64", encoder_activation=encoder,
                         decoder_activation=decoder, reconstruction_loss=loss,
                         penalty=penalty, tied_weights=tied, weight_decay=decay,
                         l1_weight=0.1, rho=0.1, beta=3.0)
    model, x = model_and_batch(config)
    reference, expected, _, _ = both_ways(model, x, config)
    model.zero_grad(set_to_none=True)
    slot = torch.full((7, len(x)), math.nan, dtype=torch.float64).t()  # (batch, hidden)
    step = GradientStep(model, config, len(x), pixel_major=pixel_major)
    gradient_pass = step(x, hidden_out=slot)
    assert gradient_pass.hidden.data_ptr() == slot.data_ptr()
    torch.testing.assert_close(slot, reference.hidden.detach(), rtol=1e-11, atol=1e-13)
    torch.testing.assert_close(gradient_pass.reconstruction, reference.reconstruction.detach(),
                               rtol=1e-11, atol=1e-13)
    assert gradient_pass.reconstruction.is_contiguous() != pixel_major
    assert float(gradient_pass.squared_error) == pytest.approx(
        float(((reference.reconstruction.detach() - x) ** 2).sum()), rel=1e-12)
    for param, want in zip(model.parameters(), expected, strict=True):
        torch.testing.assert_close(param.grad, want, rtol=1e-11, atol=1e-13)
        assert param.grad.stride() == param.stride()


def test_kl_gradient_is_zero_where_rho_hat_is_clamped_as_autograd_has_it():
    """Units switched hard off have rho_hat below KL_EPS: autograd's clamp passes no
    gradient there, and the hand path must not either (the penalty's slope there is
    about -rho / 1e-6, which would swamp everything else)."""
    config = TrainConfig(hidden_units=7, dtype="float64", penalty="kl", rho=0.05, beta=3.0)
    model, x = model_and_batch(config, bias_shift=0.0)
    with torch.no_grad():
        model.encoder_bias[:3] = -60.0  # sigmoid(-60) ~ 1e-26: clamped
    reference, expected, hand, got = both_ways(model, x, config)
    assert float(hand.rho_hat[:3].max()) < 1e-20
    assert_same(reference, expected, hand, got)


@pytest.mark.parametrize("encoder", ["sigmoid", "tanh"])
def test_kl_gradient_is_zero_where_rho_hat_is_clamped_at_the_top(encoder):
    config = TrainConfig(hidden_units=7, dtype="float64", penalty="kl", rho=0.05, beta=3.0,
                         encoder_activation=encoder, tied_weights=True, weight_decay=1e-3)
    model, x = model_and_batch(config, bias_shift=0.0)
    with torch.no_grad():
        model.encoder_bias[:3] = 60.0  # saturated: rho_hat = 1 - tiny, clamped
    reference, expected, hand, got = both_ways(model, x, config)
    assert float(hand.rho_hat[:3].min()) > 1.0 - 1e-12
    assert_same(reference, expected, hand, got)


@pytest.mark.parametrize("settings", [
    {"penalty": "l1", "encoder_activation": "tanh", "reconstruction_loss": "mse"},
    {"penalty": "kl", "weight_decay": 3e-3},
    {"penalty": "kl", "encoder_activation": "tanh", "tied_weights": True},
])
def test_hand_gradient_equals_autograd_in_float32(settings):
    """The trainer's default dtype: the same sums in another order, float32 rounding."""
    config = TrainConfig(hidden_units=7, dtype="float32", l1_weight=0.1, rho=0.1, beta=3.0,
                         **settings)
    model, x = model_and_batch(config)
    model, x = model.float(), x.float()
    reference, expected, hand, got = both_ways(model, x, config)
    for want, have in zip(expected, got, strict=True):
        torch.testing.assert_close(have, want, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(hand.terms, reference.terms.detach(), rtol=1e-5, atol=1e-7)


def test_l1_gradient_at_exact_zeros_matches_l1penalty():
    """relu units that are off have a = 0 exactly, where sign(0) = 0 adds nothing."""
    config = TrainConfig(hidden_units=7, dtype="float64", penalty="l1",
                         encoder_activation="relu", l1_weight=0.5)
    model, x = model_and_batch(config, bias_shift=0.0)
    with torch.no_grad():
        model.encoder_bias[:3] = -100.0
    reference, expected, hand, got = both_ways(model, x, config)
    assert bool((hand.hidden[:, :3] == 0).all())
    assert_same(reference, expected, hand, got)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_hand_gradient_passes_ufldl_numerical_check(case):
    result = check_case(case, method="hand")
    assert result.passed, f"{result.case}: {result.relative_difference:.2e} >= {THRESHOLD}"


@pytest.mark.parametrize("preset_like", [
    {"penalty": "l1", "encoder_activation": "tanh", "reconstruction_loss": "mse"},
    {"penalty": "kl", "weight_decay": 3e-3, "tied_weights": True},
    {"penalty": "kl", "weight_decay": 3e-3},  # kl-demo: two decayed matrices in Adam
])
def test_training_with_either_gradient_follows_the_same_path(preset_like):
    """Fifty Adam steps in float64 from the same seed: the weights, every recorded row
    and the unit statistics stay equal (the hand-derived steps' terms are measured at
    each flush, autograd's come with its evaluation), also when the gradient changes
    with steps queued."""
    dataset = load_dataset("digits", samples=600, data_seed=2)
    config = TrainConfig(dataset="digits", samples=600, hidden_units=16, batch_size=40,
                         dtype="float64", lr=3e-3, **preset_like)
    hand, auto = Trainer(config, dataset, "cpu"), Trainer(config, dataset, "cpu")
    auto.hand_gradients = False
    for step in range(50):
        if step == 40:  # eight steps queued: they flush as they were recorded
            auto.hand_gradients = True
        hand.step()
        auto.step()
    for mine, theirs in zip(hand.model.parameters(), auto.model.parameters(), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-9, atol=1e-12)
    assert hand.last_row() == pytest.approx(auto.last_row(), rel=1e-9, abs=1e-12)
    mine, theirs = hand.snapshot(), auto.snapshot()
    np.testing.assert_allclose(mine.history.mean, theirs.history.mean, rtol=1e-9, atol=1e-12)
    for name in ("rho_hat_ema", "near_zero_ema", "rho_hat_batch", "mean_abs_batch"):
        np.testing.assert_allclose(getattr(mine, name), getattr(theirs, name), rtol=1e-6,
                                   atol=1e-7, err_msg=name)


def test_loss_terms_weigh_the_raw_sums_as_the_cost_does():
    """Hand-computed: mse weighs the squared error by 1/(B D), half_sse by 1/(2B); the
    penalty by l1_weight or beta; the squared weights by weight_decay / 2."""
    sums = torch.tensor([[200.0, 30.0, 4.0], [100.0, 0.0, 2.0]], dtype=torch.float64)
    l1 = TrainConfig(penalty="l1", l1_weight=0.1, weight_decay=0.01, reconstruction_loss="mse")
    expected = [[200 / 500 + 3.0 + 0.02, 200 / 500, 3.0, 0.02],
                [100 / 500 + 0.01, 100 / 500, 0.0, 0.01]]
    torch.testing.assert_close(loss_terms(l1, sums, 50, 10), torch.tensor(
        expected, dtype=torch.float64), rtol=1e-15, atol=0)
    kl = TrainConfig(penalty="kl", beta=3.0, weight_decay=0.0, reconstruction_loss="half_sse")
    torch.testing.assert_close(loss_terms(kl, sums[:1], 50, 10), torch.tensor(
        [[2.0 + 90.0, 2.0, 90.0, 0.0]], dtype=torch.float64), rtol=1e-15, atol=0)
