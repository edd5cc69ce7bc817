"""The cost's gradient derived by hand: ``objective.evaluate`` + autograd in fewer kernels.

A minibatch step of the notes' model spends about a third of its time outside the five
matrix products: autograd's bookkeeping and a dozen small element-wise kernels. Written
out, the backward pass of a one-hidden-layer autoencoder is short::

    z1 = x W1^T + b1      a  = f(z1)        z2 = a W2^T + b2      x_hat = g(z2)
    dz2 = c (x_hat - x) g'(z2)              c = 2/(B D) for mse, 1/B for half_sse
    dW2 = dz2^T a         db2 = sum_i dz2   da = dz2 W2 + penalty's gradient
    dz1 = da f'(z1)       dW1 = dz1^T x     db1 = sum_i dz1

with f' and g' computed from the outputs (``sigmoid_backward``, ``tanh_backward``, one
kernel each), and the penalty's gradient as the C of GEMM's ``beta C + alpha A B``:
L1Penalty's ``l1_weight * sign(a)``, or KL's per-unit row ``beta/B * KL'(rho_hat) *
du/da`` (zero where ``rho_hat`` is clamped, as autograd's clamp has it). Tied weights add
the decoder's gradient, transposed, to the encoder's.

``evaluate`` with autograd stays the reference: L-BFGS, validation and the gradient
check use it, and tests compare the two in float64 for every activation, loss, penalty
and tied/untied combination. The trainer's minibatch step uses a ``GradientStep``, which
is ``minibatch_gradients`` kept from step to step (``Trainer.hand_gradients``;
benchmarks/bench_training.py times both).

A step needs only the gradient. What it records (the loss terms, rho_hat, the unit
statistics) the trainer measures at each flush, for the queued batches (up to 32) at
once, from each step's activations and two sums (``GradientPass``): a small operation
costs a step about as much as a kernel, whatever its size, so measuring per step cost
2-4% of a step here.  ``evaluate_with_gradients`` measures one batch the same way.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from core.config import TrainConfig
from core.metrics import activity_, batch_rho_hat, penalty_sums
from core.model import SparseAutoencoder
from core.objective import Evaluation, loss_terms, squared_error_weight
from core.penalties import KL_EPS


def _activate_(z: torch.Tensor, activation: str) -> torch.Tensor:
    """Apply the activation in place (z is a fresh product, owned here)."""
    if activation == "sigmoid":
        return z.sigmoid_()
    if activation == "tanh":
        return z.tanh_()
    if activation == "relu":
        return z.relu_()
    return z


# The out= overloads themselves: ``torch.ops.aten.sigmoid_backward(...)`` first picks the
# overload from its arguments, about 8 µs a call here.
_SIGMOID_BACKWARD = torch.ops.aten.sigmoid_backward.grad_input
_TANH_BACKWARD = torch.ops.aten.tanh_backward.grad_input


def _backward_through_(grad: torch.Tensor, output: torch.Tensor,
                       activation: str) -> torch.Tensor:
    """``grad * f'(z)`` written into ``grad``, from the activation's output ``f(z)``."""
    if activation == "sigmoid":
        return _SIGMOID_BACKWARD(grad, output, grad_input=grad)
    if activation == "tanh":
        return _TANH_BACKWARD(grad, output, grad_input=grad)
    if activation == "relu":
        return grad.masked_fill_(output <= 0, 0.0)
    return grad


@functools.lru_cache(maxsize=16)
def _zero(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A shared 0 for the sums a configuration does not have (never written to)."""
    return torch.zeros((), dtype=dtype, device=device)


@functools.lru_cache(maxsize=64)
def _filled(length: int, value: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A constant vector (never written to): a weighted sum over the batch as one
    matrix-vector product, its weight included, instead of a reduction and a scaling."""
    return torch.full((length,), value, dtype=dtype, device=device)


@dataclass(frozen=True)
class GradientPass:
    """What a minibatch's gradient pass leaves for the measurements (all on the device)."""

    hidden: torch.Tensor  # (batch, hidden) activations: ``hidden_out`` where given (strided)
    reconstruction: torch.Tensor  # (batch, input); on the CPU pixel-major (a transpose)
    squared_error: torch.Tensor  # 0-dim: sum of (x_hat - x)^2 over the batch
    #: 0-dim: sum of the squared weights; without decay a shared zero (never write to it)
    squared_weights: torch.Tensor


@torch.no_grad()
def evaluate_with_gradients(model: SparseAutoencoder, x: torch.Tensor,
                            config: TrainConfig) -> Evaluation:
    """``evaluate(model, x, config)`` and its ``loss.backward()`` in one pass.

    Sets each parameter's ``.grad`` (as ``backward`` after ``zero_grad(set_to_none=True)``
    would) and returns the same Evaluation; its ``loss`` carries no graph.  The terms
    and rho_hat are measured as the trainer's flush measures its queued batches.
    """
    gradient_pass = minibatch_gradients(model, x, config)
    hidden = gradient_pass.hidden[None]
    rho_hat = batch_rho_hat(hidden, config.encoder_activation)
    distance = activity_(hidden.clone(), config.penalty, config.encoder_activation)
    sums = torch.stack([gradient_pass.squared_error, penalty_sums(config, distance, rho_hat)[0],
                        gradient_pass.squared_weights])
    terms = loss_terms(config, sums[None], x.shape[0], x.shape[1])[0]
    return Evaluation(terms[0], terms, gradient_pass.hidden, gradient_pass.reconstruction,
                      rho_hat[0])


def minibatch_gradients(model: SparseAutoencoder, x: torch.Tensor, config: TrainConfig,
                        hidden_out: torch.Tensor | None = None,
                        decay_in_gradient: bool = True) -> GradientPass:
    """Set each parameter's ``.grad`` to the cost's gradient on ``x``: the trainer's step.

    As ``backward`` after ``zero_grad(set_to_none=True)``: each ``.grad`` is a new tensor.
    The activations are written into ``hidden_out`` (batch, hidden) where given: the
    trainer's queue, which its flush measures in place.  Without ``decay_in_gradient``
    the weight decay's share (``weight_decay * W``) is left out of the weights' gradients,
    for the optimizer to add (``core.adam.adam_step``); its term of the loss stays.
    """
    return GradientStep(model, config, x.shape[0], decay_in_gradient)(x, hidden_out)


class GradientStep:
    """``minibatch_gradients`` for one model, configuration and batch size, with all that
    stays the same from step to step worked out once: the loss's scale, the constant
    vectors, the penalty's coefficients, the parameters.

    Each such lookup costs a step a microsecond or two: made once, a step of a 4-unit
    model (all calls, no arithmetic) took about 12% less time, one of the notes' model
    about 2% (benchmarks/README.md).  A trainer keeps one and makes a new one when
    ``matches`` says its model, configuration or batch size changed.
    """

    def __init__(self, model: SparseAutoencoder, config: TrainConfig, batch: int,
                 decay_in_gradient: bool = True, pixel_major: bool | None = None) -> None:
        """``pixel_major``: the decoder's side in that layout (default: on the CPU only,
        see ``_decoder_side``)."""
        self.model, self.config, self.batch = model, config, batch
        dtype, device = model.encoder_weight.dtype, model.encoder_weight.device
        self._encoder, self._decoder = config.encoder_activation, config.decoder_activation
        self._penalty = config.penalty
        self._zero = _zero(dtype, device)
        # dz2 is the gradient up to the factor ``scale``, which the products apply (GEMM's
        # alpha) instead of a pass over the batch.
        self._scale = 2.0 * squared_error_weight(config, batch, model.input_size)
        self._decoder_bias_weights = _filled(batch, self._scale, dtype, device)
        self._encoder_bias_weights = _filled(batch, 1.0, dtype, device)
        self._l1_weight = config.l1_weight
        # KL: rho_hat in one product (to_unit_interval's (mean + 1) / 2 for tanh), and the
        # penalty's gradient row's weight
        tanh = config.encoder_activation == "tanh"
        self._rho_hat_offset = _filled(1, 0.5, dtype, device) if tanh else None
        self._rho_hat_weights = _filled(batch, (0.5 if tanh else 1.0) / batch, dtype, device)
        self._rho = config.rho
        self._kl_row_weight = config.beta * (0.5 if tanh else 1.0) / batch
        self._encoder_weight, self._encoder_bias = model.encoder_weight, model.encoder_bias
        self._decoder_weight_free, self._decoder_bias = (model.decoder_weight_free,
                                                         model.decoder_bias)
        #: The decayed parameters (``model.weight_matrices()``), for the optimizer.
        self.weights = model.weight_matrices()
        self._weight_decay = config.weight_decay
        self._decay_in_gradient = decay_in_gradient
        self._pixel_major = device.type == "cpu" if pixel_major is None else pixel_major

    def matches(self, model: SparseAutoencoder, config: TrainConfig, batch: int) -> bool:
        """Whether this is the step for ``model``, ``config`` and ``batch``.  The model and
        the configuration are compared by identity: a frozen configuration is replaced
        at every change, a model at every reset."""
        return self.model is model and self.config is config and self.batch == batch

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, hidden_out: torch.Tensor | None = None
                 ) -> GradientPass:
        """``minibatch_gradients(model, x, config, hidden_out, decay_in_gradient)``."""
        encoder_weight, decoder_bias = self._encoder_weight, self._decoder_bias
        free = self._decoder_weight_free
        decoder_weight = encoder_weight.t() if free is None else free
        encoder, penalty, scale, zero = self._encoder, self._penalty, self._scale, self._zero

        a = _activate_(torch.addmm(self._encoder_bias, x, encoder_weight.t(), out=hidden_out),
                       encoder)
        if penalty == "l1":
            sign = a.sign()  # (now, while ``a`` is in cache: a product between evicts it)
        x_hat, dz2, squared_error = self._decoder_side(a, x, decoder_weight, decoder_bias)
        dz2_t = dz2.t()
        decoder_bias.grad = torch.mv(dz2_t, self._decoder_bias_weights)

        decoder_grad = torch.addmm(zero, dz2_t, a, beta=0.0, alpha=scale)
        # da = the products' share + the penalty's, the latter as GEMM's C (no pass of its own);
        # in a's layout (empty_like, sign): the trainer's is unit-major, for a faster product
        if penalty == "l1":  # L1Penalty's backward: + l1_weight sign(a)
            da = sign.addmm_(dz2, decoder_weight, beta=self._l1_weight, alpha=scale)
        elif penalty == "kl":
            # d/da_ij of beta * KL(rho || u(mean_i a_ij)): the same row for every sample.
            offset = self._rho_hat_offset
            rho_hat = (torch.mv(a.t(), self._rho_hat_weights) if offset is None
                       else torch.addmv(offset, a.t(), self._rho_hat_weights))
            inside = (rho_hat >= KL_EPS) & (rho_hat <= 1.0 - KL_EPS)
            clamped = rho_hat.clamp(KL_EPS, 1.0 - KL_EPS)
            slope = -self._rho / clamped + (1.0 - self._rho) / (1.0 - clamped)
            row = (slope * inside).mul_(self._kl_row_weight)
            da = torch.addmm(row, dz2, decoder_weight, alpha=scale, out=torch.empty_like(a))
        else:
            da = torch.addmm(zero, dz2, decoder_weight, beta=0.0, alpha=scale,
                             out=torch.empty_like(a))
        dz1 = _backward_through_(da, a, encoder)
        dz1_t = dz1.t()
        self._encoder_bias.grad = torch.mv(dz1_t, self._encoder_bias_weights)

        encoder_grad = torch.mm(dz1_t, x)
        if free is None:
            encoder_grad.add_(decoder_grad.t())  # W2 = W1^T: the decoder's share, transposed
            grads = (encoder_grad,)
        else:
            grads = (encoder_grad, decoder_grad)
        squared_weights = zero
        weights = self.weights
        if self._weight_decay > 0:
            squared_weights = sum(torch.dot(w.view(-1), w.view(-1)) for w in weights)
            if self._decay_in_gradient:
                for grad, weight in zip(grads, weights, strict=True):
                    grad.add_(weight, alpha=self._weight_decay)
        encoder_weight.grad = encoder_grad
        if free is not None:
            free.grad = decoder_grad
        return GradientPass(a, x_hat, squared_error, squared_weights)

    def _decoder_side(self, a: torch.Tensor, x: torch.Tensor, decoder_weight: torch.Tensor,
                      decoder_bias: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x_hat and dz2 (up to ``scale``), both (batch, input), and the squared error.

        On the CPU they are pixel-major, (input, batch) in memory, from x_hat^T =
        g(W2 a^T + b2): MKL computed that product 10-30% faster than x_hat row-major
        (11-29h, benchmarks/README.md), and only the subtraction reads the row-major
        batch across that layout.  Elsewhere they are row-major: a GPU would read the
        transposed batch uncoalesced (not measured).
        """
        if self._pixel_major:  # x_hat and the residual (input, batch) in memory
            x_hat = _activate_(torch.addmm(decoder_bias[:, None], decoder_weight, a.t()),
                               self._decoder)
            residual = torch.sub(x_hat, x.t())  # (the first operand's layout: contiguous)
        else:
            x_hat = _activate_(torch.addmm(decoder_bias, a, decoder_weight.t()), self._decoder)
            residual = x_hat - x
        flat = residual.view(-1)
        squared_error = torch.dot(flat, flat)
        dz2 = _backward_through_(residual, x_hat, self._decoder)
        if self._pixel_major:
            return x_hat.t(), dz2.t(), squared_error
        return x_hat, dz2, squared_error
