"""UFLDL's gradient check: numerical versus analytic gradient of the whole cost.

The analytic gradient is autograd's through ``objective.evaluate`` (L1Penalty's
backward included) or the hand-derived one of ``core.gradients``: both are checked.

Runs in float64 on a tiny model.  The numerical gradient uses a fourth-order central
difference, accurate to ~1e-12 here, so the UFLDL criterion
``norm(numerical - analytic) / norm(numerical + analytic) < 1e-9`` tests the code, not
the finite difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.config import TrainConfig
from core.gradients import evaluate_with_gradients
from core.model import SparseAutoencoder
from core.objective import evaluate

#: How the analytic gradient is computed: autograd, or core.gradients' hand derivation.
METHODS = ("autograd", "hand")

THRESHOLD = 1e-9


@dataclass(frozen=True)
class GradCheckCase:
    name: str
    settings: dict
    #: Added to the encoder bias so tanh activations stay away from 0, where |a| has a kink.
    bias_shift: float = 0.0


@dataclass(frozen=True)
class GradCheckResult:
    case: str
    relative_difference: float
    passed: bool
    #: Smallest |W x + b|: L1's |a| has a kink at a = 0, which the check must stay clear of.
    min_abs_preactivation: float


CASES = (
    GradCheckCase("no penalty (half_sse)", {"penalty": "none"}),
    GradCheckCase("no penalty (mse, identity out)",
                  {"penalty": "none", "reconstruction_loss": "mse",
                   "decoder_activation": "identity"}),
    GradCheckCase("weight decay", {"penalty": "none", "weight_decay": 3e-3}),
    GradCheckCase("KL, sigmoid", {"penalty": "kl", "rho": 0.1, "beta": 3.0}),
    GradCheckCase("KL, tanh mapped by (a+1)/2",
                  {"penalty": "kl", "rho": 0.2, "beta": 3.0, "encoder_activation": "tanh"}),
    GradCheckCase("L1Penalty, sigmoid", {"penalty": "l1", "l1_weight": 0.1}),
    GradCheckCase("L1Penalty, tanh (away from a = 0)",
                  {"penalty": "l1", "l1_weight": 0.1, "encoder_activation": "tanh",
                   "reconstruction_loss": "mse"}, bias_shift=1.0),
    GradCheckCase("L1Penalty, relu (away from a = 0)",
                  {"penalty": "l1", "l1_weight": 0.1, "encoder_activation": "relu"},
                  bias_shift=1.0),
    GradCheckCase("KL + weight decay, tied weights",
                  {"penalty": "kl", "rho": 0.05, "beta": 3.0, "weight_decay": 1e-2,
                   "tied_weights": True}),
)


def check_case(case: GradCheckCase, input_size: int = 8, hidden_units: int = 5,
               samples: int = 10, seed: int = 0, step: float = 1e-3,
               method: str = "autograd") -> GradCheckResult:
    config = TrainConfig(hidden_units=hidden_units, dtype="float64", seed=seed,
                         **case.settings)
    model = SparseAutoencoder(input_size, hidden_units, config.encoder_activation,
                              config.decoder_activation, config.tied_weights, seed,
                              torch.float64)
    # UFLDL's weights are tiny; scale them up so every term has a visible gradient.
    with torch.no_grad():
        for weight in model.weight_matrices():
            weight.mul_(4.0)
        model.encoder_bias.add_(case.bias_shift)
    generator = torch.Generator().manual_seed(seed + 1)
    x = torch.rand(samples, input_size, generator=generator, dtype=torch.float64)
    params = list(model.parameters())

    model.zero_grad(set_to_none=True)
    if method == "hand":
        evaluate_with_gradients(model, x, config)
    else:
        evaluate(model, x, config).loss.backward()
    analytic = torch.cat([p.grad.reshape(-1) for p in params])
    with torch.no_grad():
        preactivation = torch.nn.functional.linear(x, model.encoder_weight, model.encoder_bias)
    min_abs = float(preactivation.abs().min())

    flat = torch.nn.utils.parameters_to_vector(params).detach().clone()

    def cost(vector: torch.Tensor) -> float:
        torch.nn.utils.vector_to_parameters(vector, params)
        with torch.no_grad():
            return float(evaluate(model, x, config).loss)

    numerical = torch.empty_like(flat)
    for i in range(flat.numel()):
        shifted = flat.clone()
        values = []
        for k in (-2, -1, 1, 2):
            shifted[i] = flat[i] + k * step
            values.append(cost(shifted))
        f_m2, f_m1, f_p1, f_p2 = values
        numerical[i] = (f_m2 - 8 * f_m1 + 8 * f_p1 - f_p2) / (12 * step)
    torch.nn.utils.vector_to_parameters(flat, params)

    difference = float((numerical - analytic).norm() / (numerical + analytic).norm())
    name = case.name if method == "autograd" else f"{case.name} [hand]"
    return GradCheckResult(name, difference, difference < THRESHOLD, min_abs)


def run_gradcheck() -> list[GradCheckResult]:
    return [check_case(case, method=method) for method in METHODS for case in CASES]
