"""Adam's step through torch's fused kernel, without ``torch.optim``'s per-step bookkeeping.

``torch.optim.Adam(fused=True).step()`` spends about 150 µs of Python around its kernel on
every call (checks, grouping the tensors by device and dtype, scalar conversions): 4% of
a step of the notes' model on a 2-core CPU.  ``adam_step`` calls the same kernel
(``torch._fused_adam_``) on the optimizer's own state tensors, so the result is the same
bit for bit and the optimizer's ``state_dict`` stays the one to save and load.  Whatever
it does not cover (the first step, which creates the state; several groups; parameters
on several devices or of several dtypes, or complex; amsgrad, maximize, capturable,
differentiable, decoupled decay; a torch without the kernel) goes through
``optimizer.step()``; ``tests/test_adam.py`` compares the two.  It runs no step hooks
and counts no steps for a learning-rate scheduler: the trainer uses neither.

The trainer's weight decay (an L2 term of the cost: ``weight_decay * W`` in each weight
matrix's gradient) can be left to the kernel, which adds exactly that to the gradient it
reads (``adam_step(optimizer, decayed, weight_decay)``): one pass over each weight
matrix less a step (benchmarks/README.md).  Where the kernel cannot be called
directly, the decay is added to the gradients and ``optimizer.step()`` runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

_KERNEL = getattr(torch, "_fused_adam_", None)

#: Options under which the direct call does exactly what ``optimizer.step()`` does.
_PLAIN = {"amsgrad": False, "maximize": False, "capturable": False, "differentiable": False,
          "decoupled_weight_decay": False}


class _KernelCall(NamedTuple):
    """The tensor lists of one call of the fused kernel, in its argument order."""

    params: list[torch.Tensor]
    grads: list[torch.Tensor]
    exp_avgs: list[torch.Tensor]
    exp_avg_sqs: list[torch.Tensor]
    steps: list[torch.Tensor]


def adam_step(optimizer: torch.optim.Optimizer, decayed: Sequence[torch.Tensor] = (),
              weight_decay: float = 0.0) -> None:
    """``optimizer.step()``, through the fused kernel directly where that is the same.

    Each of the ``decayed`` parameters (each listed once) steps as if ``weight_decay``
    times itself were in its gradient: the kernel adds it as it reads the gradient, or,
    where the kernel cannot be called directly, it is added to ``.grad`` before
    ``optimizer.step()``.  So afterwards ``.grad`` may hold the decay or not: read the
    gradient before the step.
    """
    decayed = decayed if weight_decay else ()
    if _direct_call(optimizer, decayed, weight_decay):
        return
    with torch.no_grad():
        for param in decayed:
            param.grad.add_(param, alpha=weight_decay)
    optimizer.step()


def _direct_call(optimizer: torch.optim.Optimizer, decayed: Sequence[torch.Tensor] = (),
                 weight_decay: float = 0.0) -> bool:
    """Run the fused kernel on the optimizer's tensors, with ``weight_decay`` for the
    ``decayed`` parameters (a call of their own); False (nothing done) where that would
    not be ``optimizer.step()``'s result, or with a decay of the optimizer's own besides
    (the two, added one after the other, would round differently from their sum)."""
    if _KERNEL is None or type(optimizer) is not torch.optim.Adam:
        return False
    if len(optimizer.param_groups) != 1:
        return False
    group = optimizer.param_groups[0]
    lr = group["lr"]
    if not group.get("fused") or isinstance(lr, torch.Tensor) or any(
            group.get(key, plain) != plain for key, plain in _PLAIN.items()):
        return False
    own_decay = group["weight_decay"]
    if decayed and own_decay:
        return False
    decayed_ids = {id(param) for param in decayed}
    with_decay, without = (_KernelCall([], [], [], [], []), _KernelCall([], [], [], [], []))
    first = group["params"][0]
    for param in group["params"]:
        state = optimizer.state.get(param)
        if (param.grad is None or not state or param.grad.is_sparse or param.is_complex()
                or param.dtype != first.dtype or param.device != first.device):
            return False
        call = with_decay if id(param) in decayed_ids else without
        call.params.append(param)
        call.grads.append(param.grad)
        call.exp_avgs.append(state["exp_avg"])
        call.exp_avg_sqs.append(state["exp_avg_sq"])
        call.steps.append(state["step"])
    if len(with_decay.params) != len(decayed_ids):  # one that is not a parameter here
        return False
    beta1, beta2 = group["betas"]
    with torch.no_grad():
        torch._foreach_add_(with_decay.steps + without.steps, 1)
        for call, decay in ((with_decay, weight_decay), (without, own_decay)):
            if call.params:
                _KERNEL(call.params, call.grads, call.exp_avgs, call.exp_avg_sqs, [],
                        call.steps, amsgrad=False, lr=lr, beta1=float(beta1),
                        beta2=float(beta2), weight_decay=decay, eps=group["eps"],
                        maximize=False, grad_scale=None, found_inf=None)
    return True
