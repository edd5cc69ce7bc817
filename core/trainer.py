"""The training engine: owns model, optimizer and data; steps; snapshots on demand.

A Trainer is driven by one thread at a time (the CLI's, or the GUI's worker through
``core.control.TrainingLoop``).  Per-step numbers stay on the device in a small buffer
and are synced every ``flush_every`` steps or when a snapshot is asked for, so a GPU is
never stalled once per step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.adam import adam_step
from core.config import DATA_FIELDS, ConfigError, TrainConfig, check_batch_size
from core.data import Dataset, load_for_config
from core.devices import resolve_device, subnormals_are_flushed
from core.errors import DivergenceError
from core.gradients import GradientStep
from core.history import DecimatingHistory
from core.metrics import (
    MetricSettings,
    UnitTracker,
    activation_range,
    activity,
    activity_,
    batch_rho_hat,
    explained_variance,
    penalty_sums,
)
from core.model import SparseAutoencoder
from core.objective import Evaluation, evaluate, loss_terms
from core.snapshot import LOSS_TERMS, FullEvaluation, LossValues, Snapshot, frozen

#: Columns of every per-step row: the loss terms, then the sparsity of that batch.
ROW_COLUMNS = (*LOSS_TERMS, "rho_hat_mean", "fraction_near_zero")

#: Validation runs whenever this many times the validation set's size in training samples
#: has gone by: a forward pass over it then costs about 1/60 of the training work.
VALIDATION_INTERVAL = 20

#: The queued steps' activations are measured at the next flush, in one buffer of at most
#: this many bytes or one step (the notes' model: 32 steps, 6.5 MB); a flush comes early
#: once it is full, so large batches and layers do not hold hundreds of MB.  On a CUDA
#: device, where each flush waits for the device, 32 steps of batch 8192 (420 MB).
QUEUED_BYTES_LIMIT = 16 * 2**20
QUEUED_BYTES_LIMIT_CUDA = 512 * 2**20


def queued_steps(step_bytes: int, flush_every: int, device_type: str) -> int:
    """How many steps' activations (``step_bytes`` each) a flush measures at most."""
    limit = QUEUED_BYTES_LIMIT_CUDA if device_type == "cuda" else QUEUED_BYTES_LIMIT
    return max(1, min(flush_every, limit // step_bytes))

#: Called at every flush with (steps, epochs, values (n, len(ROW_COLUMNS)), validation),
#: ``validation`` being the held-out reconstruction measured at the last of those steps
#: (or None).
RowSink = Callable[[np.ndarray, np.ndarray, np.ndarray, float | None], None]


def _dtype(name: str) -> torch.dtype:
    return torch.float64 if name == "float64" else torch.float32


class Trainer:
    """One autoencoder training run on one data set and one device."""

    #: Zero subnormal weights at each flush on the CPU (see ``_zero_subnormals``), where
    #: the stepping thread does not flush them to zero already (a pass over every weight
    #: and moment, a few ms); benchmarks/bench_long_run.py switches it off to compare.
    zero_subnormals = True
    _hand_gradients = True

    def __init__(self, config: TrainConfig, dataset: Dataset, device: str = "auto",
                 settings: MetricSettings | None = None, data_dir: str | Path | None = None):
        self.settings = settings or MetricSettings()
        self.device = resolve_device(device)
        self._device_has_hand_gradients = self.device.type in ("cpu", "cuda")
        if self.device.type == "cuda":
            # float32 products on TF32 tensor cores: several times the GEMM rate, and
            # 10 mantissa bits are plenty for pictures of what a network learns.
            torch.backends.cuda.matmul.allow_tf32 = True
        self.data_dir = data_dir
        self.row_sink: RowSink | None = None
        check_batch_size(config, len(dataset))
        self._set_data(dataset)
        self._build(config)

    @classmethod
    def create(cls, config: TrainConfig, device: str = "auto",
               data_dir: str | Path | None = None,
               settings: MetricSettings | None = None) -> Trainer:
        """Load the configured data set and build a trainer on it."""
        return cls(config, load_for_config(config, data_dir), device, settings, data_dir)

    # ---------------------------------------------------------------- set-up

    def _set_data(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._data_cpu = torch.from_numpy(np.array(dataset.images))  # owns its memory
        self._data: torch.Tensor | None = None  # on device, in the model's dtype
        self._validation: torch.Tensor | None = None

    def _build(self, config: TrainConfig) -> None:
        """(Re)create model, optimizer (made at first use) and every counter from ``config``."""
        dtype = _dtype(config.dtype)
        if self._data is None or self._data.dtype != dtype:
            self._data = self._data_cpu.to(self.device, dtype)
            held_out = self.dataset.validation
            self._validation = (None if held_out is None
                                else torch.from_numpy(np.array(held_out)).to(self.device, dtype))
        self.model = SparseAutoencoder(
            self.dataset.input_size, config.hidden_units, config.encoder_activation,
            config.decoder_activation, config.tied_weights, config.seed, dtype,
        ).to(self.device)
        self._optimizer: torch.optim.Optimizer | None = None
        self.config = config
        self._order_generator = torch.Generator().manual_seed(config.seed)
        self._order = torch.empty(0, dtype=torch.long, device=self.device)
        self._cursor = 0
        self._epochs_done = 0
        self.step_count = 0
        self.samples_seen = 0
        self.busy_seconds = 0.0
        self.tracker = UnitTracker(config.hidden_units, self.device, self.settings)
        self.history = DecimatingHistory(ROW_COLUMNS)
        self.validation_history = DecimatingHistory(("reconstruction",))
        self._validated_at = -math.inf  # samples_seen at the last validation
        self._pending_steps: list[int] = []
        self._pending_epochs: list[float] = []
        #: Each step since the last flush: its activations (row k of ``_queued_hidden``,
        #: see ``_hidden_slot``), and either the sums its loss terms are measured from
        #: (squared error, squared weights: the hand-derived gradient's steps) or its
        #: terms (autograd's); the last step's batch and reconstruction.
        self._pending_sums: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._pending_terms: list[torch.Tensor] = []
        self._last_step: tuple[torch.Tensor, torch.Tensor] | None = None
        self._reset_pending()
        self._last_row: np.ndarray | None = None
        self._last: tuple[torch.Tensor, Evaluation, torch.Tensor] | None = None
        self._good_saved_at = -1
        self._lbfgs_cache: tuple[torch.Tensor, torch.Tensor, torch.Tensor, Evaluation] | None
        self._lbfgs_cache = None
        self._kept_gradient_step: GradientStep | None = None
        self._rate_mark = (0, 0.0)
        self._rate = 0.0
        samples = min(self.settings.reconstruction_samples, len(self.dataset))
        spread = np.linspace(0, len(self.dataset) - 1, samples).astype(np.int64)
        self._sample_index = torch.from_numpy(spread).to(self.device)
        self._save_good_state()

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The optimizer, made at first use from the current configuration.

        The first torch optimizer a process makes imports ``torch._dynamo``: 2-3.5 s of a
        2-core machine's time, which the first picture of the untrained model need not
        wait for (``prepare`` makes it after that picture, see ``TrainingLoop``)."""
        self.prepare()
        return self._optimizer

    def prepare(self) -> None:
        """Make what the first step needs (the optimizer) now rather than at that step."""
        if self._optimizer is None:
            self._optimizer = self._make_optimizer(self.config)

    def _make_optimizer(self, config: TrainConfig) -> torch.optim.Optimizer:
        params = list(self.model.parameters())
        if config.optimizer == "sgd":
            return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum)
        if config.optimizer == "adam":
            # The fused kernel updates all parameters in one pass (measured ~10% faster per
            # step on a 2-core CPU than the per-tensor loop).
            fused = self.device.type in ("cpu", "cuda")
            return torch.optim.Adam(params, lr=config.lr, fused=fused)
        # Full-batch L-BFGS as UFLDL's minFunc: one iteration per step.  max_eval must be
        # set: torch derives it from max_iter (1 * 5 // 4 = 1) and gives the line search
        # only max_eval - 1 evaluations, i.e. none, which stalls the run with t = 0.
        return torch.optim.LBFGS(params, lr=config.lr, max_iter=1, max_eval=26,
                                 history_size=100, tolerance_grad=1e-9, tolerance_change=1e-12,
                                 line_search_fn="strong_wolfe")

    def _reset_pending(self) -> None:
        """The device buffer of per-step rows: one row per step until the next flush
        (every step for L-BFGS, whose steps are long; every 32 otherwise)."""
        self._flush_every = 1 if self.config.optimizer == "lbfgs" else 32
        dtype = torch.float64 if self.config.dtype == "float64" else torch.float32
        self._pending_values = torch.zeros((self._flush_every, len(ROW_COLUMNS)),
                                           device=self.device, dtype=dtype)
        self._queued_hidden: torch.Tensor | None = None  # see _hidden_slot
        self._queued_slots: list[torch.Tensor] = []  # its rows, as _hidden_slot hands them out
        self._queued_layout: tuple[int, bool] | None = None  # (rows, unit_major) of each

    def _hidden_slot(self, rows: int, unit_major: bool = False) -> torch.Tensor:
        """Where the next queued step's activations (rows, hidden) go: a row of one buffer
        that the flush measures in place.  Stacking each flush's steps instead copied
        6.5 MB of the notes' model, 1 ms a flush.  Its length is the flush's
        (``queued_steps``).

        ``unit_major``: each step's block is (hidden, rows) in memory, the slot its
        transpose.  The hand-derived step's encoder product writes it that way, and so
        the product for the activations' gradient (into a copy of the layout): MKL
        computes both faster so (benchmarks/README.md).  Activations copied in
        (autograd's, L-BFGS's) stay row-major, a straight copy.
        """
        if (rows, unit_major) != self._queued_layout:
            # (a change of batch size, optimizer or gradient flushes first: nothing is
            # queued here; a new model or dtype comes with a new queue, _reset_pending)
            hidden = self.config.hidden_units
            shape = (hidden, rows) if unit_major else (rows, hidden)
            dtype = self.model.encoder_weight.dtype
            step_bytes = rows * hidden * dtype.itemsize
            length = queued_steps(step_bytes, self._flush_every, self.device.type)
            queued = torch.empty((length, *shape), dtype=dtype, device=self.device)
            self._queued_hidden = queued
            self._queued_slots = [slot.t() if unit_major else slot for slot in queued]
            self._queued_layout = (rows, unit_major)
        return self._queued_slots[len(self._pending_steps)]

    def _gradient_step(self, batch: int) -> GradientStep:
        """The hand-derived gradient for this model, configuration and batch size (made
        again when one of them changes)."""
        step = self._kept_gradient_step
        if step is None or not step.matches(self.model, self.config, batch):
            # The weight decay's share of the gradient is added by Adam's kernel, as it
            # reads the gradient (or by adam_step before any other optimizer).
            step = GradientStep(self.model, self.config, batch, decay_in_gradient=False)
            self._kept_gradient_step = step
        return step

    @property
    def hand_gradients(self) -> bool:
        """Minibatch steps on the CPU and CUDA take their gradient from ``core.gradients``
        (derived by hand, checked against autograd in the tests) instead of autograd;
        benchmarks/bench_training.py switches it off to compare."""
        return self._hand_gradients

    @hand_gradients.setter
    def hand_gradients(self, value: bool) -> None:
        self.flush()  # the queued steps are measured as they were recorded
        self._hand_gradients = value

    # ---------------------------------------------------------------- changes

    def update(self, **changes: Any) -> TrainConfig:
        """Apply changes between steps, keeping the model (and the optimizer state if it can).

        Coefficients, learning rate, momentum, batch size and loss choices apply live;
        a new optimizer type starts that optimizer afresh; anything that needs a new
        model (units, activations, data, seed) is refused: call ``reset`` for those.
        """
        new = self.config.replace(**changes)
        scope = self.config.scope_of_change(new)
        if scope is None:
            return self.config
        if scope == "model":
            fields = [k for k in changes if getattr(new, k) != getattr(self.config, k)]
            raise ConfigError(fields[0], f"changing {', '.join(fields)} needs a new model: "
                                         "reset the run to apply it")
        check_batch_size(new, len(self.dataset))
        self.flush()
        self.config = new
        self._lbfgs_cache = None
        if scope == "optimizer":
            self._optimizer = None  # a new one, made from ``new`` at first use
            self._reset_pending()
        elif self._optimizer is not None:  # (else it is made from ``new``)
            for group in self._optimizer.param_groups:
                group["lr"] = new.lr
                if "momentum" in group:
                    group["momentum"] = new.momentum
        return new

    def reset(self, config: TrainConfig | None = None) -> None:
        """Start over with fresh weights (and new data if the data settings changed).

        Everything is checked before anything changes: a refused reset leaves the
        current run as it was.
        """
        config = config or self.config
        dataset = self.dataset
        if any(getattr(config, name) != getattr(self.config, name) for name in DATA_FIELDS):
            dataset = load_for_config(config, self.data_dir)
        check_batch_size(config, len(dataset))
        if dataset is not self.dataset:
            self._set_data(dataset)
        self._build(config)

    # ---------------------------------------------------------------- stepping

    @property
    def epoch(self) -> float:
        n = len(self.dataset)
        if self.config.optimizer == "lbfgs":
            return float(self._epochs_done)
        return self._epochs_done + self._cursor / n if self._order.shape[0] else float(
            self._epochs_done)

    def _next_batch(self) -> torch.Tensor:
        batch = self.config.batch_size
        if self._cursor + batch > self._order.shape[0]:  # (len() is a Python call)
            if self._order.shape[0]:
                self._epochs_done += 1
            order = torch.randperm(len(self.dataset), generator=self._order_generator)
            if self.device.type == "cuda":
                # From pinned memory the copy is queued and the host goes on; a plain
                # copy would wait for the GPU to finish every step queued so far (at
                # batch 8192 of 10k images: every step).
                self._order = order.pin_memory().to(self.device, non_blocking=True)
            else:
                self._order = order.to(self.device)
            self._cursor = 0
        index = self._order[self._cursor:self._cursor + batch]
        self._cursor += batch
        return self._data.index_select(0, index)

    def step(self) -> None:
        """One optimizer step: a minibatch (SGD, Adam) or one full-batch L-BFGS iteration."""
        self.prepare()  # (made once, not training time: the samples/s leave it out)
        started = time.perf_counter()
        if self.config.optimizer == "lbfgs":
            x, result = self._lbfgs_step()
            self._epochs_done += 1
            self._record(x, result, self.step_count + 1)
        else:
            x = self._next_batch()
            batch = x.shape[0]
            if self._hand_gradients and self._device_has_hand_gradients:
                # It sets every parameter's .grad itself: no zero_grad (which costs as
                # much as a small kernel, with its profiler hook).
                gradient_step = self._gradient_step(batch)
                gradient_pass = gradient_step(x, self._hidden_slot(batch, unit_major=True))
                adam_step(self.optimizer, gradient_step.weights, self.config.weight_decay)
                self._queue(x, gradient_pass.reconstruction, self.step_count + 1,
                            sums=(gradient_pass.squared_error, gradient_pass.squared_weights))
            else:
                self.optimizer.zero_grad(set_to_none=True)
                result = evaluate(self.model, x, self.config)
                result.loss.backward()
                adam_step(self.optimizer)
                self._record(x, result, self.step_count + 1)
        self.step_count += 1
        self.samples_seen += x.shape[0]
        if len(self._pending_steps) == len(self._queued_slots):
            self.flush()
        self.busy_seconds += time.perf_counter() - started

    def _lbfgs_step(self) -> tuple[torch.Tensor, Evaluation]:
        x = self._data
        first: list[Evaluation] = []
        params = list(self.model.parameters())

        def closure() -> torch.Tensor:
            flat = torch.nn.utils.parameters_to_vector(params).detach()
            cache = self._lbfgs_cache
            # torch's LBFGS re-evaluates the point where the last line search ended;
            # reuse that evaluation instead of paying a second full-data pass.
            if cache is not None and torch.equal(cache[0], flat):
                _, loss, grad, result = cache
                offset = 0
                for p in params:
                    p.grad = grad[offset:offset + p.numel()].view_as(p).clone()
                    offset += p.numel()
            else:
                self.optimizer.zero_grad(set_to_none=False)
                result = evaluate(self.model, x, self.config)
                result.loss.backward()
                loss = result.loss.detach()
                grad = torch.cat([p.grad.reshape(-1) for p in params])
                self._lbfgs_cache = (flat, loss, grad, result)
            if not first:
                first.append(result)
            return loss

        self.optimizer.step(closure)
        return x, first[0]

    def _record(self, x: torch.Tensor, result: Evaluation, step: int) -> None:
        """Queue step ``step``'s evaluation (autograd's, with its terms)."""
        self._hidden_slot(len(result.hidden)).copy_(result.hidden)
        self._queue(x, result.reconstruction, step, terms=result.terms)

    def _queue(self, x: torch.Tensor, reconstruction: torch.Tensor, step: int, *,
               sums: tuple[torch.Tensor, torch.Tensor] | None = None,
               terms: torch.Tensor | None = None) -> None:
        """Queue step ``step``, whose activations are in its ``_hidden_slot``: its loss
        terms, or the two sums they are measured from (squared error, squared weights);
        its row and unit statistics are computed at the next flush, with the other queued
        steps' (``_fold_statistics``).  One flush holds one kind (``hand_gradients``
        flushes when it changes)."""
        # Only what the measurements need: the reconstructions' memory is free at once.
        if terms is None:
            self._pending_sums.append(sums)
        else:
            self._pending_terms.append(terms)
        self._pending_steps.append(step)
        self._pending_epochs.append(self.epoch)
        self._last_step = (x, reconstruction)  # (its activations: in the queue)

    def _fold_statistics(self) -> None:
        """The queued steps' rows and unit statistics, on the device (no sync): each
        measurement runs once over all of them rather than once a step."""
        # (one configuration and batch size throughout: a change flushes first)
        config = self.config
        hidden = self._queued_hidden[:len(self._pending_steps)]
        _, unit_major = self._queued_layout
        if unit_major:
            hidden = hidden.transpose(1, 2)  # (n, rows, hidden), as the steps' slots
        x, reconstruction = self._last_step
        # for the snapshot (strided as its slot): the statistics overwrite the queue
        last_hidden = hidden[-1].clone()
        rho_hat = batch_rho_hat(hidden, config.encoder_activation)
        distance = activity_(hidden, config.penalty, config.encoder_activation)
        if self._pending_terms:  # autograd's own
            terms = torch.stack(self._pending_terms)
        else:
            squared_error, squared_weights = (torch.stack(parts) for parts in
                                              zip(*self._pending_sums, strict=True))
            sums = torch.stack([squared_error, penalty_sums(config, distance, rho_hat),
                                squared_weights], dim=1)
            terms = loss_terms(config, sums, x.shape[0], x.shape[1])
        near_zero = self.tracker.update(distance, rho_hat)
        means = torch.stack([rho_hat.mean(dim=1), near_zero.to(rho_hat.dtype).mean(dim=1)],
                            dim=1)
        torch.cat([terms, means], dim=1, out=self._pending_values[:len(terms)])
        last = Evaluation(terms[-1, 0], terms[-1], last_hidden, reconstruction, rho_hat[-1])
        self._last = (x, last, near_zero[-1])
        self._pending_sums.clear()
        self._pending_terms.clear()
        if self._flush_every == 1:  # L-BFGS: a whole data set's activations, not kept
            self._queued_hidden, self._queued_slots, self._queued_layout = None, [], None

    def _activity(self, hidden: torch.Tensor) -> torch.Tensor:
        return activity(hidden, self.config.penalty, self.config.encoder_activation)

    def flush(self) -> None:
        """Sync the queued rows into the history, checking that training is still finite.

        On a non-finite loss or weight the model returns to the last good flush, the
        optimizer starts afresh, and DivergenceError says which step went wrong.
        """
        n = len(self._pending_steps)
        if n == 0:
            return
        self._fold_statistics()
        values = self._pending_values[:n]
        # One sum per tensor is non-finite exactly when an element is (NaN and inf
        # propagate; a finite overflow to inf would be a divergence anyway).
        sums = torch.stack([values.sum()] + [p.detach().sum().to(values.dtype)
                                             for p in self.model.parameters()])
        if not bool(torch.isfinite(sums).all()):
            bad_step = self._first_bad_step(values.cpu().numpy())
            self._restore_good_state()
            raise DivergenceError(bad_step, self.step_count)
        rows = values.cpu().numpy().astype(np.float64)
        steps = np.asarray(self._pending_steps, np.int64)
        epochs = np.asarray(self._pending_epochs, np.float64)
        self._pending_steps.clear()
        self._pending_epochs.clear()
        self.history.append(steps, rows)
        self._last_row = rows[-1]
        validation = self._validate_if_due()
        if self.row_sink is not None:
            self.row_sink(steps, epochs, rows, validation)
        if (self.zero_subnormals and self.device.type == "cpu"
                and not subnormals_are_flushed()):
            self._zero_subnormals()
        # Snapshots flush ten times a second; a copy of the weights every full buffer
        # of steps is enough to roll back to.
        if self.step_count - self._good_saved_at >= self._flush_every:
            self._save_good_state()

    @torch.no_grad()
    def _zero_subnormals(self) -> None:
        """Set weights (and optimizer moments) below float's normal range to zero.

        Weight decay drives the weights of pixels that are always blank (MNIST's border)
        toward zero until they are subnormal: measured, 10% of the encoder weights after
        1,600 steps of kl-demo, and every step then took twice as long, because x86
        arithmetic on subnormal operands is many times slower.  Such values are far below
        anything that matters here.  A thread that flushes subnormals to zero
        (``core.devices.flush_subnormals_to_zero``, as the app's training threads do)
        never makes them, so this is the fallback for threads and CPUs without that mode.
        """
        tensors = [p.detach() for p in self.model.parameters()]
        optimizer_state = {} if self._optimizer is None else self._optimizer.state
        for state in optimizer_state.values():
            tensors += [v for v in state.values()
                        if isinstance(v, torch.Tensor) and v.dim() > 0 and v.is_floating_point()]
        for tensor in tensors:
            tiny = torch.finfo(tensor.dtype).tiny
            tensor.masked_fill_(tensor.abs() < tiny, 0.0)

    @torch.no_grad()
    def _validate_if_due(self) -> float | None:
        """The reconstruction error on the held-out images, now and then (see
        VALIDATION_INTERVAL); recorded in ``validation_history``."""
        held_out = self._validation
        if held_out is None or (self.samples_seen - self._validated_at
                                < VALIDATION_INTERVAL * len(held_out)):
            return None
        total = torch.zeros((), device=self.device, dtype=torch.float64)
        for start in range(0, len(held_out), 4096):
            x = held_out[start:start + 4096]
            total += evaluate(self.model, x, self.config).terms[1].double() * len(x)
        value = float(total / len(held_out))
        self.validation_history.append(np.array([self.step_count]), np.array([[value]]))
        self._validated_at = self.samples_seen
        return value

    def _first_bad_step(self, rows: np.ndarray) -> int:
        bad = ~np.isfinite(rows).all(axis=1)
        index = int(np.argmax(bad)) if bad.any() else len(rows) - 1
        return self._pending_steps[index]

    def roll_back(self) -> None:
        """Return to the last verified-finite state (dropping steps not yet flushed)."""
        self._restore_good_state()

    def _save_good_state(self) -> None:
        """Remember the weights and counters of a verified-finite point (copied in place)."""
        backup = getattr(self, "_good", None)
        params = [p.detach() for p in self.model.parameters()]
        if backup is None or len(backup["params"]) != len(params) or any(
                b.shape != p.shape or b.device != p.device or b.dtype != p.dtype
                for b, p in zip(backup["params"], params, strict=True)):
            backup = {"params": [p.clone() for p in params]}
        else:
            for b, p in zip(backup["params"], params, strict=True):
                b.copy_(p)
        backup["counters"] = (self.step_count, self.samples_seen, self._epochs_done,
                              self._cursor)
        backup["order"] = (self._order, self._order_generator.get_state())
        backup["tracker"] = self.tracker.state_dict()
        self._good = backup
        self._good_saved_at = self.step_count

    def _restore_good_state(self) -> None:
        backup = self._good
        with torch.no_grad():
            for p, b in zip(self.model.parameters(), backup["params"], strict=True):
                p.copy_(b)
        self.step_count, self.samples_seen, self._epochs_done, self._cursor = backup["counters"]
        self._order, generator_state = backup["order"]
        self._order_generator.set_state(generator_state)
        self.tracker.load_state_dict(backup["tracker"])
        self._optimizer = None  # afresh, at the next step
        self._pending_steps.clear()
        self._pending_epochs.clear()
        self._pending_sums.clear()
        self._pending_terms.clear()
        self._lbfgs_cache = None
        self._last = None
        self._last_step = None

    # ---------------------------------------------------------------- reading out

    def measure_throughput(self) -> float:
        """Samples/s since the previous call (busy time only, not pauses), or the last value
        (a first value as soon as anything was measured; then over 50 ms at least)."""
        steps_mark, busy_mark = self._rate_mark
        busy = self.busy_seconds - busy_mark
        if busy > 0.05 or (self._rate == 0.0 and busy > 0):
            samples = self.samples_seen - steps_mark
            self._rate = samples / busy
            self._rate_mark = (self.samples_seen, self.busy_seconds)
        return self._rate

    def last_row(self) -> dict[str, float]:
        """The most recent recorded row (flushes first)."""
        self.flush()
        if self._last_row is None:
            return {}
        return dict(zip(ROW_COLUMNS, (float(v) for v in self._last_row), strict=True))

    @torch.no_grad()
    def snapshot(self, full: bool = False) -> Snapshot:
        """Copy the current state to the CPU as an immutable Snapshot."""
        self.flush()
        hidden_units = self.config.hidden_units
        if self._last is None:
            x = self._data.index_select(0, self._sample_index)
            result = evaluate(self.model, x, self.config)
            near_zero_units = (self._activity(result.hidden) < self.settings.zero_eps
                               ).float().mean(dim=0)
        else:
            x, result, near_zero_units = self._last
        samples = self._data.index_select(0, self._sample_index)
        _, reconstructions = self.model(samples)
        row = self._last_row if self._last_row is not None else result.terms.cpu().numpy()
        fraction_zero = float(near_zero_units.mean())
        # Before the first step the running averages are this batch's values (not zeros,
        # which would show every unit dead and rho_hat 0 on a fresh run).
        tracker = self.tracker
        rho_hat_ema, near_zero_ema = ((tracker.rho_hat_ema, tracker.near_zero_ema)
                                      if tracker.updates else (result.rho_hat.float(),
                                                               near_zero_units.float()))
        return Snapshot(
            step=self.step_count,
            epoch=self.epoch,
            samples_seen=self.samples_seen,
            samples_per_second=self.measure_throughput(),
            train_seconds=self.busy_seconds,
            device=str(self.device),
            config=self.config,
            image_shape=self.dataset.image_shape,
            dataset_size=len(self.dataset),
            data_description="; ".join(filter(None, (self.dataset.description,
                                                     self.dataset.notes))),
            zero_eps=self.settings.zero_eps,
            saturated_above=self.settings.saturated_above,
            loss=LossValues(*(float(v) for v in row[:4])),
            history=self.history.arrays(),
            validation_history=self.validation_history.arrays(),
            rho_hat_batch=frozen(result.rho_hat.float().cpu().numpy()),
            rho_hat_ema=frozen(rho_hat_ema.cpu().numpy()),
            near_zero_batch=frozen(near_zero_units.cpu().numpy()),
            near_zero_ema=frozen(near_zero_ema.cpu().numpy()),
            mean_abs_batch=frozen(result.hidden.abs().mean(dim=0).float().cpu().numpy()),
            dead_units=frozen(self.tracker.dead_units().cpu().numpy()),
            fraction_near_zero=fraction_zero,
            l0_mean=hidden_units * (1.0 - fraction_zero),
            explained_variance=explained_variance(x, result.reconstruction),
            encoder_weights=frozen(self.model.encoder_weight.float().cpu().numpy()),
            decoder_weights=frozen(self.model.decoder_weight.float().cpu().numpy()),
            sample_inputs=frozen(samples.float().cpu().numpy()),
            sample_reconstructions=frozen(reconstructions.float().cpu().numpy()),
            full=self.evaluate_full() if full else None,
        )

    @torch.no_grad()
    def evaluate_full(self, chunk: int = 4096) -> FullEvaluation:
        """rho_hat, sparsity and reconstruction over the whole data set (one pass)."""
        n = len(self.dataset)
        hidden_units = self.config.hidden_units
        activation_sum = torch.zeros(hidden_units, device=self.device, dtype=torch.float64)
        near_zero_sum = torch.zeros_like(activation_sum)
        squared_error = torch.zeros((), device=self.device, dtype=torch.float64)
        reconstruction = torch.zeros_like(squared_error)
        pixel_sum = self._data.sum(dim=0, dtype=torch.float64)
        pixel_square = self._data.pow(2).sum(dim=0, dtype=torch.float64)
        bins = self.settings.histogram_bins
        low, high = activation_range(self.config.encoder_activation,
                                     self.model.encode(self._data[:chunk]))
        counts = torch.zeros(bins, device=self.device, dtype=torch.float64)
        for start in range(0, n, chunk):
            x = self._data[start:start + chunk]
            result = evaluate(self.model, x, self.config)
            activation_sum += result.rho_hat.double() * len(x)
            near_zero_sum += (self._activity(result.hidden) < self.settings.zero_eps
                              ).sum(0).double()
            squared_error += (result.reconstruction - x).pow(2).sum(dtype=torch.float64)
            reconstruction += result.terms[1].double() * len(x)
            counts += torch.histc(result.hidden.float(), bins, low, high).double()
        total_variance = float((pixel_square - pixel_sum.pow(2) / n).sum())
        near_zero = (near_zero_sum / n).float()
        fraction = float(near_zero.mean())
        variance_left = float(squared_error) / total_variance if total_variance > 0 else math.nan
        return FullEvaluation(
            rho_hat=frozen((activation_sum / n).float().cpu().numpy()),
            near_zero=frozen(near_zero.cpu().numpy()),
            fraction_near_zero=fraction,
            l0_mean=hidden_units * (1.0 - fraction),
            explained_variance=1.0 - variance_left,
            reconstruction=float(reconstruction / n),
            histogram_counts=frozen(counts.cpu().numpy()),
            histogram_edges=frozen(np.linspace(low, high, bins + 1)),
        )

    @torch.no_grad()
    def top_activating(self, unit: int, count: int = 16,
                       chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the inputs that drive ``unit`` hardest and its activations, strongest
        first (one pass over the data)."""
        if not 0 <= unit < self.config.hidden_units:
            raise ConfigError("unit", f"unit = {unit} is not allowed: 0 to "
                              f"{self.config.hidden_units - 1}")
        values = torch.cat([
            self.model.encode(self._data[s:s + chunk])[:, unit]
            for s in range(0, len(self.dataset), chunk)])
        top = values.topk(min(count, len(values)))
        return top.indices.cpu().numpy(), top.values.float().cpu().numpy()

    # ---------------------------------------------------------------- persistence

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this run elsewhere, as weights_only-safe types."""
        self.flush()
        return {
            "config": self.config.to_dict(),
            "image_shape": list(self.dataset.image_shape),
            "dataset_size": len(self.dataset),
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": _to_cpu(self.optimizer.state_dict()),
            "counters": {"step": self.step_count, "samples_seen": self.samples_seen,
                         "epochs_done": self._epochs_done, "cursor": self._cursor,
                         "busy_seconds": self.busy_seconds},
            "order": self._order.cpu(),
            "order_generator": self._order_generator.get_state(),
            "tracker": self.tracker.state_dict(),
            "history": self.history.state_dict(),
            "validation_history": self.validation_history.state_dict(),
            "validated_at": float(self._validated_at),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue a run saved by ``state_dict`` (its config must match this trainer's).

        Raises ValueError, changing nothing, when the run was trained on other data.
        """
        size = state["dataset_size"]  # None in a migrated file that never stepped
        saved = (len(self.dataset) if size is None else int(size), tuple(state["image_shape"]))
        here = (len(self.dataset), tuple(self.dataset.image_shape))
        if saved != here:
            raise ValueError(
                f"the run was trained on {saved[0]} images of {saved[1][0]}x{saved[1][1]}, "
                f"but this data set holds {here[0]} images of {here[1][0]}x{here[1][1]}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        counters = state["counters"]
        self.step_count = int(counters["step"])
        self.samples_seen = int(counters["samples_seen"])
        self._epochs_done = int(counters["epochs_done"])
        self._cursor = int(counters["cursor"])
        self.busy_seconds = float(counters["busy_seconds"])
        self._rate_mark = (self.samples_seen, self.busy_seconds)
        self._order = state["order"].to(self.device)
        self._order_generator.set_state(state["order_generator"])
        self.tracker.load_state_dict(state["tracker"])
        self.history = DecimatingHistory.from_state_dict(state["history"])
        self.validation_history = DecimatingHistory.from_state_dict(state["validation_history"])
        self._validated_at = float(state["validated_at"])
        self._save_good_state()


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(v) for v in value)
    return value


def steps_for(epochs: float, config: TrainConfig, dataset_size: int) -> int:
    """Steps that make ``epochs`` passes over the data at the configured batch size."""
    if config.optimizer == "lbfgs":
        return max(1, math.ceil(epochs))
    return max(1, math.ceil(epochs * (dataset_size // min(config.batch_size, dataset_size))))
