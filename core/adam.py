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
"""

from __future__ import annotations

import torch

_KERNEL = getattr(torch, "_fused_adam_", None)

#: Options under which the direct call does exactly what ``optimizer.step()`` does.
_PLAIN = {"amsgrad": False, "maximize": False, "capturable": False, "differentiable": False,
          "decoupled_weight_decay": False}


def adam_step(optimizer: torch.optim.Optimizer) -> None:
    """``optimizer.step()``, through the fused kernel directly where that is the same."""
    if not _direct_call(optimizer):
        optimizer.step()


def _direct_call(optimizer: torch.optim.Optimizer) -> bool:
    """Run the fused kernel on the optimizer's tensors; False (nothing done) if it can't."""
    if _KERNEL is None or type(optimizer) is not torch.optim.Adam:
        return False
    if len(optimizer.param_groups) != 1:
        return False
    group = optimizer.param_groups[0]
    lr = group["lr"]
    if not group.get("fused") or isinstance(lr, torch.Tensor) or any(
            group.get(key, plain) != plain for key, plain in _PLAIN.items()):
        return False
    params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
    first = group["params"][0]
    for param in group["params"]:
        state = optimizer.state.get(param)
        if (param.grad is None or not state or param.grad.is_sparse or param.is_complex()
                or param.dtype != first.dtype or param.device != first.device):
            return False
        params.append(param)
        grads.append(param.grad)
        exp_avgs.append(state["exp_avg"])
        exp_avg_sqs.append(state["exp_avg_sq"])
        steps.append(state["step"])
    beta1, beta2 = group["betas"]
    with torch.no_grad():
        torch._foreach_add_(steps, 1)
        _KERNEL(params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False, lr=lr,
                beta1=float(beta1), beta2=float(beta2), weight_decay=group["weight_decay"],
                eps=group["eps"], maximize=False, grad_scale=None, found_inf=None)
    return True
