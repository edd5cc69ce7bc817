"""adam_step: torch's fused Adam kernel called directly gives optimizer.step()'s result."""

from __future__ import annotations

import pytest
import torch

from core import adam
from core.adam import _direct_call, adam_step

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)"))]


def _parameters(dtype: torch.dtype, seed: int = 0,
                device: str = "cpu") -> list[torch.nn.Parameter]:
    generator = torch.Generator().manual_seed(seed)
    shapes = [(40, 78), (40,), (78, 40), (78,)]
    return [torch.nn.Parameter(torch.randn(shape, generator=generator, dtype=dtype).to(device))
            for shape in shapes]


def _run(stepper, optimizer_kwargs: dict, dtype: torch.dtype, steps: int = 50,
         optimizer_type=torch.optim.Adam, device: str = "cpu"):
    """Train two copies of the same parameters on the same gradients; change the learning
    rate and reload the state half-way, as the trainer does."""
    params = _parameters(dtype, device=device)
    optimizer = optimizer_type(params, **optimizer_kwargs)
    generator = torch.Generator().manual_seed(1)
    for step in range(steps):
        for param in params:
            param.grad = torch.randn(param.shape, generator=generator, dtype=dtype).to(device)
        if step == 20:
            for group in optimizer.param_groups:
                group["lr"] = 3e-3
        if step == 30:  # a restore, as after a divergence: new state tensors
            optimizer.load_state_dict(optimizer.state_dict())
        stepper(optimizer)
    return params, optimizer


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_the_direct_call_equals_optimizer_step_bit_for_bit(dtype, weight_decay, device):
    kwargs = {"lr": 1e-3, "fused": True, "weight_decay": weight_decay, "betas": (0.8, 0.99)}
    direct, direct_optimizer = _run(adam_step, kwargs, dtype, device=device)
    reference, reference_optimizer = _run(torch.optim.Adam.step, kwargs, dtype,
                                          device=device)
    for ours, theirs in zip(direct, reference, strict=True):
        assert torch.equal(ours, theirs)
    ours_state, theirs_state = (direct_optimizer.state_dict()["state"],
                                reference_optimizer.state_dict()["state"])
    for index, theirs in theirs_state.items():
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(ours_state[index][key], theirs[key])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_weight_decay_in_the_kernel_equals_adam_with_a_decayed_group(dtype, device,
                                                                     monkeypatch):
    """The trainer's weight decay, left to the kernel for the weight matrices only, is
    torch's own Adam with those matrices in a group of their own with that weight decay,
    bit for bit (the first step, which creates the state, adds it to the gradients)."""
    decay = 3e-3
    kwargs = {"lr": 1e-3, "fused": True, "betas": (0.8, 0.99)}
    direct_calls: list[tuple[int, float]] = []  # (tensors, weight decay) of each call

    def recording_kernel(params, *args, **kwargs):
        direct_calls.append((len(params), kwargs["weight_decay"]))
        return torch._fused_adam_(params, *args, **kwargs)

    monkeypatch.setattr(adam, "_KERNEL", recording_kernel)

    def ours(optimizer: torch.optim.Optimizer) -> None:
        params = optimizer.param_groups[0]["params"]
        adam_step(optimizer, [params[0], params[2]], decay)

    direct, _ = _run(ours, kwargs, dtype, device=device)
    # every step after the first (which creates the state): the two weights with the
    # decay, the two biases without it, both through the kernel directly
    assert direct_calls == [(2, decay), (2, 0.0)] * 49
    params = _parameters(dtype, device=device)
    reference_optimizer = torch.optim.Adam(
        [{"params": [params[0], params[2]], "weight_decay": decay},
         {"params": [params[1], params[3]]}], **kwargs)
    generator = torch.Generator().manual_seed(1)
    for step in range(50):  # as _run does
        for param in params:
            param.grad = torch.randn(param.shape, generator=generator, dtype=dtype).to(device)
        if step == 20:
            for group in reference_optimizer.param_groups:
                group["lr"] = 3e-3
        if step == 30:
            reference_optimizer.load_state_dict(reference_optimizer.state_dict())
        reference_optimizer.step()
    for index in (1, 2, 3, 0):
        assert torch.equal(direct[index], params[index]), index


def test_weight_decay_beside_the_optimizers_own_goes_through_optimizer_step():
    """Two decays added separately round differently from their sum in one: adam_step
    adds the trainer's to the gradient and lets optimizer.step() add its own."""
    kwargs = {"lr": 1e-3, "fused": True, "weight_decay": 1e-2}

    def ours(optimizer: torch.optim.Optimizer) -> None:
        adam_step(optimizer, [optimizer.param_groups[0]["params"][0]], 3e-3)

    def reference_step(optimizer: torch.optim.Optimizer) -> None:
        first = optimizer.param_groups[0]["params"][0]
        with torch.no_grad():
            first.grad.add_(first, alpha=3e-3)
        optimizer.step()

    direct, optimizer = _run(ours, kwargs, torch.float64, steps=10)
    reference, _ = _run(reference_step, kwargs, torch.float64, steps=10)
    for mine, theirs in zip(direct, reference, strict=True):
        assert torch.equal(mine, theirs)
    assert not _direct_call(optimizer, [direct[0]], 3e-3)  # (refused: nothing changes)
    assert torch.equal(direct[0], reference[0])


def test_the_kernel_is_called_directly_after_the_first_step():
    params = _parameters(torch.float32)
    optimizer = torch.optim.Adam(params, lr=1e-3, fused=True)
    for param in params:
        param.grad = torch.ones_like(param)
    assert not _direct_call(optimizer)  # no state yet: optimizer.step() creates it
    optimizer.step()
    before = [param.detach().clone() for param in params]
    assert _direct_call(optimizer)
    assert all(not torch.equal(a, b) for a, b in zip(before, params, strict=True))
    assert float(optimizer.state[params[0]]["step"]) == 2.0


@pytest.mark.parametrize("optimizer_type, kwargs", [
    (torch.optim.Adam, {"lr": 1e-3, "fused": True, "amsgrad": True}),
    (torch.optim.Adam, {"lr": 1e-3, "fused": True, "maximize": True}),
    (torch.optim.Adam, {"lr": 1e-3}),  # not fused: the foreach path
    (torch.optim.AdamW, {"lr": 1e-3, "fused": True}),
    (torch.optim.SGD, {"lr": 1e-2, "momentum": 0.9}),
])
def test_what_the_direct_call_does_not_cover_goes_through_optimizer_step(optimizer_type,
                                                                       kwargs):
    direct, _ = _run(adam_step, kwargs, torch.float64, steps=10,
                     optimizer_type=optimizer_type)
    reference, optimizer = _run(optimizer_type.step, kwargs, torch.float64, steps=10,
                                optimizer_type=optimizer_type)
    assert not _direct_call(optimizer)
    for ours, theirs in zip(direct, reference, strict=True):
        assert torch.equal(ours, theirs)


def test_parameters_of_two_dtypes_go_through_optimizer_step():
    params = _parameters(torch.float32)
    params[1] = torch.nn.Parameter(params[1].detach().double())
    optimizer = torch.optim.Adam(params, lr=1e-3, fused=True)
    for param in params:
        param.grad = torch.ones_like(param)
    optimizer.step()
    assert not _direct_call(optimizer)


def test_a_parameter_without_a_gradient_goes_through_optimizer_step():
    params = _parameters(torch.float32)
    optimizer = torch.optim.Adam(params, lr=1e-3, fused=True)
    for param in params:
        param.grad = torch.ones_like(param)
    optimizer.step()
    params[1].grad = None
    assert not _direct_call(optimizer)
