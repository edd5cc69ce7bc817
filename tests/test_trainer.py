"""The trainer: learns, changes settings live, stays finite, snapshots immutably."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

import core.trainer as trainer_module
from core.config import ConfigError, TrainConfig
from core.data import load_dataset
from core.metrics import MetricSettings
from core.model import SparseAutoencoder
from core.objective import evaluate
from core.snapshot import LOSS_TERMS
from core.trainer import ROW_COLUMNS, DivergenceError, Trainer, steps_for


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", samples=2000, data_seed=3)


def small(**changes) -> TrainConfig:
    base = TrainConfig(hidden_units=25, batch_size=50, samples=2000, lr=3e-3)
    return base.replace(**changes)


def test_training_lowers_the_reconstruction_error(digits):
    trainer = Trainer(small(), digits, "cpu")
    trainer.step()
    first = trainer.last_row()["reconstruction"]
    for _ in range(200):
        trainer.step()
    assert trainer.last_row()["reconstruction"] < 0.6 * first
    assert trainer.step_count == 201
    assert trainer.samples_seen == 201 * 50
    assert trainer.epoch == pytest.approx(201 * 50 / 2000)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("penalty", ["none", "l1", "kl"])
def test_every_optimizer_and_penalty_trains(digits, optimizer, penalty):
    lr = {"sgd": 0.1, "adam": 3e-3, "lbfgs": 1.0}[optimizer]
    trainer = Trainer(small(optimizer=optimizer, penalty=penalty, lr=lr, samples=2000,
                            l1_weight=1e-4), digits, "cpu")
    trainer.step()
    start = trainer.last_row()["total"]
    for _ in range(15 if optimizer == "lbfgs" else 60):
        trainer.step()
    assert trainer.last_row()["total"] < start


def test_kl_pulls_mean_rho_hat_toward_rho(digits):
    trainer = Trainer(small(rho=0.05, beta=3.0, hidden_units=36), digits, "cpu")
    trainer.step()
    start = trainer.snapshot().rho_hat_ema.mean()
    for _ in range(300):
        trainer.step()
    end = trainer.snapshot().rho_hat_ema.mean()
    assert abs(end - 0.05) < 0.5 * abs(start - 0.05)


def test_live_changes_keep_the_model_and_the_optimizer_state(digits):
    trainer = Trainer(small(), digits, "cpu")
    for _ in range(10):
        trainer.step()
    model = trainer.model
    optimizer = trainer.optimizer
    moment = optimizer.state[model.encoder_weight]["exp_avg"].clone()
    weights = model.encoder_weight.detach().clone()
    trainer.update(beta=1.0, rho=0.1, lr=1e-4, weight_decay=1e-3, batch_size=20,
                   l1_weight=0.5, penalty="l1", reconstruction_loss="mse")
    assert trainer.model is model and trainer.optimizer is optimizer
    torch.testing.assert_close(optimizer.state[model.encoder_weight]["exp_avg"], moment)
    torch.testing.assert_close(model.encoder_weight.detach(), weights)
    assert optimizer.param_groups[0]["lr"] == 1e-4
    samples = trainer.samples_seen
    trainer.step()
    assert trainer.samples_seen == samples + 20
    assert trainer.config.penalty == "l1" and trainer.config.beta == 1.0


def test_the_optimizer_is_made_at_first_use_from_the_settings_then(digits, monkeypatch):
    """Made at the first step (or ``prepare``), not with the trainer: changes made before
    it apply, and its making is not counted as training time."""
    make = Trainer._make_optimizer

    def slow_make(self, config):
        time.sleep(0.5)  # as the first one in a process is (importing torch._dynamo)
        return make(self, config)

    monkeypatch.setattr(Trainer, "_make_optimizer", slow_make)
    trainer = Trainer(small(), digits, "cpu")
    assert trainer._optimizer is None
    trainer.update(lr=1e-4)
    trainer.update(optimizer="sgd", momentum=0.5)
    assert trainer._optimizer is None
    trainer.step()
    assert trainer.busy_seconds < 0.5  # the step, without the optimizer's making
    assert isinstance(trainer.optimizer, torch.optim.SGD)
    assert trainer.optimizer.param_groups[0]["lr"] == 1e-4
    assert trainer.optimizer.param_groups[0]["momentum"] == 0.5
    assert trainer.optimizer.state  # it stepped: SGD's momentum buffers

    prepared = Trainer(small(), digits, "cpu")
    prepared.prepare()
    optimizer = prepared.optimizer
    assert isinstance(optimizer, torch.optim.Adam) and not optimizer.state
    prepared.step()
    assert prepared.optimizer is optimizer and optimizer.state


def test_a_new_optimizer_keeps_the_model(digits):
    trainer = Trainer(small(), digits, "cpu")
    trainer.step()
    model = trainer.model
    trainer.update(optimizer="sgd", lr=0.05)
    assert trainer.model is model
    assert isinstance(trainer.optimizer, torch.optim.SGD)
    trainer.step()


def test_changes_that_need_a_new_model_are_refused_until_reset(digits):
    trainer = Trainer(small(), digits, "cpu")
    trainer.step()
    with pytest.raises(ConfigError, match="hidden_units needs a new model"):
        trainer.update(hidden_units=10)
    assert trainer.config.hidden_units == 25
    trainer.reset(trainer.config.replace(hidden_units=10))
    assert trainer.step_count == 0
    assert trainer.model.encoder_weight.shape == (10, 784)


def test_batch_larger_than_the_data_is_refused(digits):
    with pytest.raises(ConfigError, match="batch_size = 5000.*holds 2000 images"):
        Trainer(small(batch_size=5000), digits, "cpu")
    trainer = Trainer(small(), digits, "cpu")
    with pytest.raises(ConfigError, match="batch_size"):
        trainer.update(batch_size=2001)
    assert trainer.config.batch_size == 50


def test_initialisation_is_seeded(digits):
    a = Trainer(small(seed=7), digits, "cpu").model.encoder_weight
    b = Trainer(small(seed=7), digits, "cpu").model.encoder_weight
    c = Trainer(small(seed=8), digits, "cpu").model.encoder_weight
    assert torch.equal(a, b) and not torch.equal(a, c)
    bound = (6 / (784 + 25 + 1)) ** 0.5
    assert a.abs().max() <= bound


def test_same_seed_same_run(digits):
    runs = []
    for _ in range(2):
        trainer = Trainer(small(seed=3), digits, "cpu")
        for _ in range(20):
            trainer.step()
        runs.append(trainer.model.encoder_weight.detach().clone())
    assert torch.equal(*runs)


def count_flushes(trainer: Trainer, monkeypatch) -> list[int]:
    """How many steps each flush of ``trainer`` syncs, from now on."""
    syncs = []
    original = trainer.flush

    def counting_flush():
        if trainer._pending_steps:
            syncs.append(len(trainer._pending_steps))
        original()

    monkeypatch.setattr(trainer, "flush", counting_flush)
    return syncs


def test_metrics_are_synced_in_batches_not_every_step(digits, monkeypatch):
    trainer = Trainer(small(), digits, "cpu")
    syncs = count_flushes(trainer, monkeypatch)
    for _ in range(100):
        trainer.step()
    assert syncs == [32, 32, 32]


def test_lbfgs_reuses_the_evaluation_where_the_line_search_ended(digits, monkeypatch):
    import core.trainer as trainer_module

    calls = []
    original = trainer_module.evaluate

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    trainer = Trainer(small(optimizer="lbfgs", lr=1.0), digits, "cpu")
    monkeypatch.setattr(trainer_module, "evaluate", counting)
    for _ in range(20):
        trainer.step()
    # Without the cache every iteration costs one extra full pass (>= 40 here).
    assert len(calls) < 35


def test_snapshot_is_an_immutable_copy(digits):
    trainer = Trainer(small(), digits, "cpu")
    for _ in range(5):
        trainer.step()
    snapshot = trainer.snapshot()
    weights = snapshot.encoder_weights.copy()
    for _ in range(5):
        trainer.step()
    np.testing.assert_array_equal(snapshot.encoder_weights, weights)
    for name in ("encoder_weights", "decoder_weights", "rho_hat_batch", "rho_hat_ema",
                 "near_zero_ema", "dead_units", "sample_inputs", "sample_reconstructions"):
        array = getattr(snapshot, name)
        assert not array.flags.writeable, name
        with pytest.raises(ValueError):
            array[...] = 0
    assert snapshot.encoder_weights.dtype == np.float32
    assert snapshot.encoder_weights.shape == (25, 784)
    assert snapshot.decoder_weights.shape == (784, 25)
    assert snapshot.step == 5
    assert snapshot.history.columns == ROW_COLUMNS


def test_snapshot_measures(digits):
    trainer = Trainer(small(penalty="l1", encoder_activation="tanh"), digits, "cpu")
    for _ in range(40):
        trainer.step()
    snapshot = trainer.snapshot(full=True)
    h = 25
    assert snapshot.l0_mean == pytest.approx(h * (1 - snapshot.fraction_near_zero))
    assert 0 <= snapshot.fraction_near_zero <= 1
    full = snapshot.full
    assert full.histogram_counts.sum() == len(trainer.dataset) * h
    assert full.histogram_edges[0] == -1 and full.histogram_edges[-1] == 1
    assert snapshot.samples_per_second > 0
    assert full is not None and full.rho_hat.shape == (h,)
    # full-data rho_hat by hand
    with torch.no_grad():
        a = trainer.model.encode(trainer._data)
    np.testing.assert_allclose(full.rho_hat, ((a + 1) / 2).mean(0).numpy(), rtol=1e-4)
    np.testing.assert_allclose(full.near_zero, (a.abs() < snapshot.zero_eps).float().mean(0),
                               rtol=1e-5)
    x = trainer._data
    x_hat = trainer.model.decode(a).detach()
    by_hand = 1 - ((x - x_hat) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
    assert full.explained_variance == pytest.approx(float(by_hand), rel=1e-4)


def test_dead_units_are_those_that_never_leave_zero_over_a_window(digits):
    settings = MetricSettings(dead_window_samples=500)
    trainer = Trainer(small(penalty="none", encoder_activation="relu"), digits, "cpu",
                      settings)
    with torch.no_grad():
        trainer.model.encoder_bias[[3, 7]] = -1000.0  # never fires
    for _ in range(12):  # 600 samples: one full window
        trainer.step()
    dead = trainer.snapshot().dead_units
    assert dead[3] and dead[7]
    assert dead.sum() == 2


def test_divergence_rolls_back_to_the_last_good_weights(digits):
    trainer = Trainer(small(optimizer="sgd", lr=1.0, momentum=0.0, penalty="none",
                            decoder_activation="identity", encoder_activation="relu"),
                      digits, "cpu")
    for _ in range(32):
        trainer.step()
    good = trainer.model.encoder_weight.detach().clone()
    trainer.update(lr=1000.0)
    with pytest.raises(DivergenceError) as info:
        for _ in range(64):
            trainer.step()
    assert "Lower the learning rate" in str(info.value)
    assert trainer.step_count == 32
    torch.testing.assert_close(trainer.model.encoder_weight.detach(), good)
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    trainer.update(lr=0.01)
    for _ in range(40):
        trainer.step()
    assert np.isfinite(trainer.last_row()["total"])


def test_steps_for_epochs():
    config = TrainConfig(batch_size=128)
    assert steps_for(1, config, 10_000) == 78
    assert steps_for(2.5, config.replace(optimizer="lbfgs"), 10_000) == 3


def test_top_activating_inputs(digits):
    trainer = Trainer(small(), digits, "cpu")
    index, activations = trainer.top_activating(4, count=5)
    with torch.no_grad():
        values = trainer.model.encode(trainer._data)[:, 4]
    np.testing.assert_array_equal(index, values.topk(5).indices.numpy())
    np.testing.assert_allclose(activations, values.topk(5).values.numpy())
    with pytest.raises(ConfigError, match="unit = 25"):
        trainer.top_activating(25)


def test_lbfgs_keeps_descending_one_iteration_per_step(digits):
    """Regression: torch's LBFGS with max_iter=1 gives its line search no evaluations
    unless max_eval is set, and the run stalls with t = 0 after a few steps."""
    config = small(optimizer="lbfgs", lr=1.0, hidden_units=49, samples=2000,
                   weight_decay=3e-3, rho=0.1)
    trainer = Trainer(config, digits, "cpu")
    losses = []
    for _ in range(40):
        trainer.step()
        losses.append(trainer.last_row()["total"])
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False)), losses
    assert losses[-1] < 0.9 * losses[10]


def test_a_refused_reset_leaves_the_run_as_it_was(digits):
    trainer = Trainer(small(), digits, "cpu")
    for _ in range(3):
        trainer.step()
    model, config = trainer.model, trainer.config
    with pytest.raises(ConfigError, match="batch_size = 128 is not allowed"):
        trainer.reset(config.replace(samples=100, batch_size=128))  # 90 images to train on
    assert trainer.model is model and trainer.config == config and trainer.step_count == 3
    trainer.step()  # still trains
    assert trainer.step_count == 4


def test_changing_the_batch_size_keeps_the_epoch_count(digits):
    trainer = Trainer(small(batch_size=100, validation_fraction=0.0), digits, "cpu")
    for _ in range(3):
        trainer.step()
    assert trainer.epoch == pytest.approx(0.15)
    trainer.update(batch_size=50)
    trainer.step()
    assert trainer.samples_seen == 350
    assert trainer.epoch == pytest.approx(0.175)


def test_kl_with_tanh_measures_sparsity_where_kl_puts_rest(digits):
    """KL drives tanh units to a = -1 ((a+1)/2 = 0): that is 'off', not 'fully on'."""
    trainer = Trainer(small(encoder_activation="tanh", penalty="kl"), digits, "cpu")
    with torch.no_grad():
        trainer.model.encoder_bias.fill_(-20.0)  # every unit at a = -1
    trainer.step()
    snapshot = trainer.snapshot()
    assert snapshot.rho_hat_batch.max() < 0.01
    assert snapshot.fraction_near_zero == pytest.approx(1.0)
    assert snapshot.l0_mean == pytest.approx(0.0)
    l1 = Trainer(small(encoder_activation="tanh", penalty="l1"), digits, "cpu")
    with torch.no_grad():
        l1.model.encoder_bias.fill_(-20.0)
    l1.step()
    assert l1.snapshot().fraction_near_zero == pytest.approx(0.0)  # |a| = 1: not zero


def test_explained_variance_is_undefined_for_a_single_sample(digits):
    trainer = Trainer(small(batch_size=1), digits, "cpu")
    trainer.step()
    assert np.isnan(trainer.snapshot().explained_variance)


def test_a_rollback_restores_the_batch_order(digits):
    trainer = Trainer(small(optimizer="sgd", lr=1.0, momentum=0.0, penalty="none",
                            decoder_activation="identity", encoder_activation="relu",
                            batch_size=100, validation_fraction=0.0), digits, "cpu")
    for _ in range(32):
        trainer.step()
    order = trainer._order.clone()
    cursor = trainer._cursor
    trainer.update(lr=1000.0)
    with pytest.raises(DivergenceError):
        for _ in range(64):
            trainer.step()
    assert torch.equal(trainer._order, order) and trainer._cursor == cursor


def test_validation_is_measured_now_and_then_on_held_out_images(digits):
    dataset = load_dataset("digits", samples=2000, data_seed=3, validation_fraction=0.1)
    assert len(dataset) == 1800 and dataset.validation.shape == (200, 784)
    trainer = Trainer(small(), dataset, "cpu")
    for _ in range(200):  # 10,000 samples: due every 20 x 200 = 4000
        trainer.step()
    history = trainer.snapshot().validation_history
    assert 2 <= len(history) <= 4
    with torch.no_grad():
        held_out = torch.from_numpy(np.array(dataset.validation))
        _, x_hat = trainer.model(held_out)
        expected = 0.5 * ((x_hat - held_out) ** 2).sum() / len(held_out)
    trainer._validated_at = -1e9
    trainer.step()
    trainer.flush()
    assert trainer.validation_history.arrays().mean[-1, 0] == pytest.approx(
        float(expected), rel=0.05)  # one step later: nearly the same weights



def test_subnormal_weights_and_moments_are_zeroed_at_each_flush(digits):
    """The fallback where a CPU has no flush-to-zero mode: run in a thread without it."""

    def body():
        torch.set_flush_denormal(False)
        trainer = Trainer(small(), digits, "cpu")
        trainer.step()  # its row waits for the next flush
        weights = trainer.model.encoder_weight.detach()
        moment = trainer.optimizer.state[trainer.model.encoder_weight]["exp_avg"]
        with torch.no_grad():
            weights[0, :3] = torch.tensor([1e-39, -1e-40, 2e-38])  # two subnormal, one normal
            moment[0, :2] = 1e-41
        assert weights[0, 0] != 0 and moment[0, 0] != 0  # really there before the flush
        trainer.flush()
        assert weights[0, 0] == 0 and weights[0, 1] == 0
        assert float(weights[0, 2]) == pytest.approx(2e-38)  # normal values stay
        assert moment[0, 0] == 0 and moment[0, 1] == 0

    errors = []
    thread = threading.Thread(target=lambda: _record_errors(body, errors))
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def _record_errors(body, errors: list) -> None:
    try:
        body()
    except BaseException as error:  # re-raised in the test's own thread
        errors.append(error)


NOTES = {"reconstruction_loss": "mse", "weight_decay": 0.0}


@pytest.mark.parametrize("penalty, activation, changes", [
    ("l1", "tanh", NOTES), ("l1", "tanh", {**NOTES, "dtype": "float32"}),
    ("kl", "tanh", {}), ("kl", "sigmoid", {"tied_weights": True}), ("none", "relu", {})])
def test_statistics_folded_at_each_flush_equal_those_of_one_batch_at_a_time(
        digits, monkeypatch, penalty, activation, changes):
    """The trainer queues each step's activations and two sums and computes the rows
    (loss terms included), running averages and dead-unit windows at each flush, for all
    queued steps at once; here the same numbers are computed one batch at a time, as
    written in the docs, from autograd's evaluation of each step."""
    from core.metrics import activity

    settings = MetricSettings(dead_window_samples=400)  # a window ends inside a flush
    config = small(**{"penalty": penalty, "encoder_activation": activation,
                      "dtype": "float64", **changes})
    exact = 1e-12 if config.dtype == "float64" else 1e-5  # rounding, not the method
    trainer = Trainer(config, digits, "cpu", settings)
    seen = []
    hand_gradient = trainer_module.GradientStep.__call__

    def recording(step, x, hidden_out=None):  # each step's evaluation, by autograd's
        with torch.no_grad():
            result = evaluate(step.model, x, step.config)
        seen.append((result.hidden.clone(), result.rho_hat.clone(), result.terms.clone()))
        return hand_gradient(step, x, hidden_out)

    monkeypatch.setattr(trainer_module.GradientStep, "__call__", recording)
    for _ in range(45):  # one full flush of 32, then 13 queued until the snapshot
        trainer.step()
    snapshot = trainer.snapshot()
    assert not trainer._pending_steps and not trainer._pending_sums  # none past a flush

    averages, window_max, last_window, window_samples, rows = None, None, None, 0, []
    for hidden, rho_hat, terms in seen:
        near_zero = (activity(hidden, penalty, activation) < settings.zero_eps).double()
        near_zero = near_zero.mean(dim=0)
        batch = torch.stack([rho_hat, near_zero])
        weight = 1.0 - settings.ema_decay
        averages = batch.clone() if averages is None else averages + weight * (batch - averages)
        batch_max = activity(hidden, penalty, activation).amax(dim=0)
        window_max = batch_max if window_max is None else torch.maximum(window_max, batch_max)
        window_samples += len(hidden)
        if window_samples >= settings.dead_window_samples:
            last_window, window_max, window_samples = window_max, torch.zeros_like(batch_max), 0
        rows.append(torch.cat([terms, rho_hat.mean().view(1), near_zero.mean().view(1)]))
    recorded, expected = trainer.history.arrays().mean, torch.stack(rows).numpy()
    # Loss terms and rho_hat to rounding; the near-zero fraction goes through float32.
    np.testing.assert_allclose(recorded[:, :5], expected[:, :5], rtol=exact, atol=0)
    np.testing.assert_allclose(recorded[:, 5], expected[:, 5], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(snapshot.rho_hat_ema, averages[0].numpy(), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(snapshot.near_zero_ema, averages[1].numpy(), atol=1e-6)
    np.testing.assert_array_equal(snapshot.near_zero_batch, near_zero.float().numpy())
    np.testing.assert_array_equal(snapshot.dead_units,
                                  (last_window < settings.zero_eps).numpy())
    assert snapshot.fraction_near_zero == pytest.approx(float(near_zero.mean()))
    # The fold overwrites its queue, never the activations the snapshot shows,
    # also where a single step is queued (as each L-BFGS step is).
    np.testing.assert_allclose(snapshot.mean_abs_batch,  # 13 steps queued
                               seen[-1][0].abs().mean(dim=0).float().numpy(), rtol=exact)
    trainer.step()
    np.testing.assert_allclose(trainer.snapshot().mean_abs_batch,  # one step queued
                               seen[-1][0].abs().mean(dim=0).float().numpy(), rtol=exact)


def test_lbfgs_rows_are_those_of_the_evaluation_before_each_step(digits):
    """L-BFGS queues autograd's own evaluation, one step a flush: each row is that of the
    weights before the step, and the snapshot shows that evaluation's activations."""
    config = small(optimizer="lbfgs", lr=1.0, penalty="kl", dtype="float64", samples=600)
    trainer = Trainer(config, load_dataset("digits", samples=600, data_seed=2), "cpu")
    for _ in range(3):
        with torch.no_grad():
            before = evaluate(trainer.model, trainer._data, config)
        trainer.step()
        row = trainer.last_row()
        np.testing.assert_allclose([row[name] for name in ROW_COLUMNS[:5]],
                                   [*before.terms.tolist(), float(before.rho_hat.mean())],
                                   rtol=1e-12)
        np.testing.assert_allclose(trainer.snapshot().mean_abs_batch,  # (float32)
                                   before.hidden.abs().mean(dim=0).float().numpy(),
                                   rtol=1e-6)


def test_queued_activations_are_bounded_in_bytes(digits, monkeypatch):
    """Large batches and layers flush early rather than hold 32 steps of activations."""
    import core.trainer as trainer_module

    trainer = Trainer(small(), digits, "cpu")  # batch 50, 25 units: 5,000 bytes a step
    monkeypatch.setattr(trainer_module, "QUEUED_BYTES_LIMIT", 3 * 50 * 25 * 4)
    syncs = count_flushes(trainer, monkeypatch)
    for _ in range(10):
        trainer.step()
    assert syncs == [3, 3, 3]
    assert len(trainer.history.arrays()) == 9 and len(trainer._pending_steps) == 1
    assert trainer._queued_hidden.shape == (3, 25, 50)  # the hand-derived step's: unit-major
    trainer.hand_gradients = False  # autograd's activations are copied in: row-major
    trainer.step()
    assert trainer._queued_hidden.shape == (3, 50, 25) and len(trainer._pending_steps) == 1


def test_a_flush_queues_up_to_16_mb_on_a_cpu_and_512_mb_on_cuda():
    """Where each flush waits for the device (CUDA), batch 8192 of the notes' model still
    queues 32 steps (13 MB each), so no step waits for the device; on the CPU a flush
    holds at most 16 MB; a step larger than the limit is queued alone."""
    from core.trainer import queued_steps

    step = 8192 * 400 * 4
    assert queued_steps(step, 32, "cuda") == 32
    assert queued_steps(step, 32, "cpu") == 1 and queued_steps(step, 32, "mps") == 1
    assert queued_steps(128 * 400 * 4, 32, "cpu") == 32
    assert queued_steps(10**9, 32, "cuda") == 1 and queued_steps(100, 1, "cpu") == 1


def test_a_fresh_run_shows_its_batch_where_no_running_average_exists_yet(digits):
    """Before the first step the running rho_hat and near-zero fractions are the sample
    batch's own, not zeros (which read as every unit silent, rho_hat 0, on a fresh run);
    from the first step on they are the running averages."""
    trainer = Trainer(small(penalty="kl", encoder_activation="sigmoid"), digits, "cpu")
    fresh = trainer.snapshot()
    np.testing.assert_array_equal(fresh.rho_hat_ema, fresh.rho_hat_batch)
    np.testing.assert_array_equal(fresh.near_zero_ema, fresh.near_zero_batch)
    assert 0.3 < fresh.rho_hat_mean < 0.7  # sigmoid units at initialisation
    trainer.step()
    stepped = trainer.snapshot()
    np.testing.assert_allclose(stepped.rho_hat_ema, trainer.tracker.rho_hat_ema.numpy())


@pytest.mark.parametrize("how, change", [
    ("update", {"l1_weight": 0.7}),
    ("update", {"penalty": "kl", "rho": 0.2, "beta": 2.0}),
    ("update", {"reconstruction_loss": "mse"}),
    ("update", {"batch_size": 20}),
    ("update", {"weight_decay": 1e-2}),
    ("reset", {"tied_weights": True}),
])
def test_a_change_applies_to_the_very_next_steps_gradient_and_loss(digits, how, change):
    """The trainer keeps its hand-derived gradient step (``GradientStep``: the loss's
    scale, the penalty's coefficients, the batch's constant vectors worked out once)
    from step to step; a change of settings, or a new model, must reach the next step's
    gradient and its logged loss terms, as autograd computes them from the new settings
    on that step's batch and weights."""
    config = small(penalty="l1", l1_weight=0.1, weight_decay=0.0, dtype="float64")
    trainer = Trainer(config, digits, "cpu")
    for _ in range(3):
        trainer.step()
    if how == "update":
        trainer.update(**change)
    else:
        trainer.reset(trainer.config.replace(**change))
        trainer.step()
    weights = [p.detach().clone() for p in trainer.model.parameters()]
    seen = []
    adam_step = trainer_module.adam_step

    def recording(optimizer, *args):  # the gradient as the optimizer receives it
        seen.append([p.grad.clone() for p in trainer.model.parameters()])
        return adam_step(optimizer, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(trainer_module, "adam_step", recording)
        trainer.step()
    x = trainer._last_step[0]
    new = trainer.config
    assert len(x) == new.batch_size
    model = SparseAutoencoder(x.shape[1], new.hidden_units, new.encoder_activation,
                              new.decoder_activation, new.tied_weights, dtype=torch.float64)
    with torch.no_grad():
        for param, value in zip(model.parameters(), weights, strict=True):
            param.copy_(value)
    expected = evaluate(model, x, new)
    row = trainer.last_row()
    for index, name in enumerate(LOSS_TERMS):
        assert row[name] == pytest.approx(float(expected.terms[index]), rel=1e-10), name
    model.zero_grad()
    evaluate(model, x, new.replace(weight_decay=0.0)).loss.backward()
    for got, param in zip(seen[0], model.parameters(), strict=True):
        # (the weight decay's share is added by Adam's kernel as it reads the gradient)
        torch.testing.assert_close(got, param.grad, rtol=1e-10, atol=1e-12)
