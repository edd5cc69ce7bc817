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
matrix less a step, 3-5% of a step of kl-demo.  Where the kernel cannot be called
directly, the decay is added to the gradients and ``optimizer.step()`` runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

_KERNEL = getattr(torch, "_fused_adam_", None)

#: Options under which the direct call does exactly what ``optimizer.step()`` does.
_PLAIN = {"amsgrad": False, "maximize": False, "capturable": False, "differentiable": False,
          "decoupled_weight_decay": False}


def adam_step(optimizer: torch.optim.Optimizer, decayed: Sequence[torch.Tensor] = (),
              weight_decay: float = 0.0) -> None:
    """``optimizer.step()``, through the fused kernel directly where that is the same.

    Each of the ``decayed`` parameters first gets ``weight_decay`` times itself added to
    its gradient: inside the kernel where it is called directly, before the step otherwise.
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
    own_decay = group["weight_decay"]
    if decayed and own_decay:  # two decays would round differently from their sum
        return False
    # The tensors of each kernel call: [decayed (with weight_decay), the others]
    calls: list[tuple[list[torch.Tensor], ...]] = [([], [], [], [], []), ([], [], [], [], [])]
    decayed_ids = {id(param) for param in decayed}
    first = group["params"][0]
    for param in group["params"]:
        state = optimizer.state.get(param)
        if (param.grad is None or not state or param.grad.is_sparse or param.is_complex()
                or param.dtype != first.dtype or param.device != first.device):
            return False
        tensors = calls[0 if id(param) in decayed_ids else 1]
        tensors[0].append(param)
        tensors[1].append(param.grad)
        tensors[2].append(state["exp_avg"])
        tensors[3].append(state["exp_avg_sq"])
        tensors[4].append(state["step"])
    if len(calls[0][0]) != len(decayed):  # a decayed tensor that is not a parameter here
        return False
    beta1, beta2 = group["betas"]
    with torch.no_grad():
        torch._foreach_add_(calls[0][4] + calls[1][4], 1)
        for (params, grads, exp_avgs, exp_avg_sqs, steps), decay in zip(
                calls, (weight_decay, own_decay), strict=True):
            if params:
                _KERNEL(params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False,
                        lr=lr, beta1=float(beta1), beta2=float(beta2), weight_decay=decay,
                        eps=group["eps"], maximize=False, grad_scale=None, found_inf=None)
    return True
