"""A/B lockstep: same data, same initial weights, same batches; only the chosen settings
differ."""

from __future__ import annotations

import pytest
import torch

from core.comparison import (
    ComparisonDivergence,
    ComparisonRun,
    Difference,
    caption,
    check_pair,
    differences,
)
from core.config import ConfigError, TrainConfig
from core.data import load_dataset


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", samples=600, data_seed=0)


def small(**changes) -> TrainConfig:
    base = TrainConfig(hidden_units=16, batch_size=50, samples=600, lr=3e-3)
    return base.replace(**changes)


def parameters(trainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in trainer.model.parameters()]


def record_batches(trainer) -> list[torch.Tensor]:
    """Wrap the trainer's batch source to keep a copy of every batch it hands out."""
    seen: list[torch.Tensor] = []
    original = trainer._next_batch

    def recording() -> torch.Tensor:
        batch = original()
        seen.append(batch.clone())
        return batch

    trainer._next_batch = recording
    return seen


def test_equal_settings_train_bitwise_alike(digits):
    run = ComparisonRun(small(), small(), digits, "cpu")
    assert run.a.dataset is run.b.dataset is digits  # the data is loaded once
    for _ in range(26):  # past two epochs (12 steps each)
        run.step()
    assert run.a.step_count == run.b.step_count == run.step_count == 26
    for a, b in zip(parameters(run.a), parameters(run.b), strict=True):
        assert torch.equal(a, b)
    pair = run.snapshot()
    assert (pair.a.encoder_weights == pair.b.encoder_weights).all()
    assert pair.differences == () and pair.caveats == ()
    assert pair.caption == "A and B: same settings"


def test_beta_changes_the_weights_but_not_the_start_or_the_batches(digits):
    run = ComparisonRun(small(beta=0.0), small(beta=3.0), digits, "cpu")
    for a, b in zip(parameters(run.a), parameters(run.b), strict=True):
        assert torch.equal(a, b)  # same seed: same initial weights
    batches_a, batches_b = record_batches(run.a), record_batches(run.b)
    for _ in range(14):
        run.step()
    assert len(batches_a) == len(batches_b) == 14
    for x, y in zip(batches_a, batches_b, strict=True):
        assert torch.equal(x, y)  # same images in the same order
    assert torch.equal(run.a._order, run.b._order)
    assert not torch.equal(run.a.model.encoder_weight, run.b.model.encoder_weight)
    assert run.differences() == (Difference("beta", 0.0, 3.0),)
    assert run.caption() == "B: beta 3 (A: 0)"
    assert run.caveats() == ()


def test_captions_name_every_difference():
    a, b = small(penalty="kl", rho=0.05), small(penalty="l1", rho=0.2)
    assert caption(a, b) == "B: penalty l1, rho 0.2 (A: penalty kl, rho 0.05)"
    assert [d.name for d in differences(a, b)] == ["penalty", "rho"]
    assert caption(small(), small(tied_weights=True)) == "B: tied_weights on (A: off)"


def test_other_data_is_refused():
    for change in ({"data_seed": 1}, {"samples": 500}, {"dataset": "patches"},
                   {"validation_fraction": 0.2}):
        with pytest.raises(ConfigError) as info:
            check_pair(small(), small(**change))
        (name,) = change
        assert info.value.field == name
        assert "same data" in str(info.value)


def test_what_breaks_the_pairing_is_allowed_but_said(digits):
    assert check_pair(small(), small(beta=0.0, rho=0.2, penalty="l1", lr=1e-2)) == ()
    said = {
        "seed": check_pair(small(), small(seed=1)),
        "hidden_units": check_pair(small(), small(hidden_units=25)),
        "tied_weights": check_pair(small(), small(tied_weights=True)),
        "dtype": check_pair(small(), small(dtype="float64")),
        "batch_size": check_pair(small(), small(batch_size=20)),
        "lbfgs": check_pair(small(), small(optimizer="lbfgs")),
    }
    assert all(len(lines) == 1 for lines in said.values())
    assert "batch order" in said["seed"][0]
    assert "initial weights" in said["hidden_units"][0]
    run = ComparisonRun(small(), small(seed=1), digits, "cpu")
    assert not torch.equal(run.a.model.encoder_weight, run.b.model.encoder_weight)
    assert run.snapshot().caveats == said["seed"]


def test_a_side_that_is_ahead_waits_for_the_other(digits):
    run = ComparisonRun(small(), small(), digits, "cpu")
    for _ in range(3):
        run.a.step()  # as if B had rolled back three steps
    for _ in range(3):
        run.step()
        assert run.a.step_count == 3
    assert run.b.step_count == 3
    run.step()
    assert (run.a.step_count, run.b.step_count) == (4, 4)
    for a, b in zip(parameters(run.a), parameters(run.b), strict=True):
        assert torch.equal(a, b)


def test_a_diverging_side_is_named_and_the_other_carries_on(digits):
    unstable = small(optimizer="sgd", lr=1.0, momentum=0.0, penalty="none",
                     decoder_activation="identity", encoder_activation="relu")
    run = ComparisonRun(unstable, unstable.replace(lr=1000.0), digits, "cpu")
    with pytest.raises(ComparisonDivergence) as info:
        for _ in range(32):  # found at the flush after 32 steps
            run.step()
    assert info.value.side == "B"
    assert str(info.value).startswith("B: training diverged")
    assert (run.a.step_count, run.b.step_count) == (32, 0)
    run.update("b", lr=0.01)
    run.step()
    assert (run.a.step_count, run.b.step_count) == (32, 1)
    run.a.update(lr=1000.0)
    for _ in range(5):
        run.a.step()
    with pytest.raises(ComparisonDivergence) as info:
        run.snapshot()  # a snapshot flushes, and finds it too
    assert info.value.side == "A" and run.a.step_count == 32


def test_live_changes_go_to_one_side_or_both_and_are_all_or_nothing(digits):
    run = ComparisonRun(small(), small(), digits, "cpu")
    run.step()
    run.update("b", beta=1.0)
    assert (run.a.config.beta, run.b.config.beta) == (3.0, 1.0)
    run.update(lr=1e-2)
    assert run.a.config.lr == run.b.config.lr == 1e-2
    before = (run.a.config, run.b.config)
    with pytest.raises(ConfigError):
        run.update("both", lr=1e-3, hidden_units=9)
    with pytest.raises(ConfigError):
        run.update("b", batch_size=10_000)
    assert (run.a.config, run.b.config) == before
    with pytest.raises(ValueError):
        run.update("c", lr=1e-3)


def test_reset_starts_both_over_from_equal_weights(digits):
    run = ComparisonRun(small(), small(beta=0.0), digits, "cpu")
    start = parameters(run.a)
    for _ in range(5):
        run.step()
    with pytest.raises(ConfigError):
        run.reset(small(), small(data_seed=4))
    assert run.step_count == 5
    run.reset(small(rho=0.2), small(rho=0.2, penalty="l1"))
    assert run.step_count == 0 and run.a.dataset is run.b.dataset is digits
    assert run.caption() == "B: penalty l1 (A: kl)"
    for a, b, c in zip(parameters(run.a), parameters(run.b), start, strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)


def test_new_data_settings_load_the_data_once_for_both(digits):
    run = ComparisonRun(small(), small(beta=0.0), digits, "cpu")
    run.reset(small(samples=400), small(samples=400, beta=0.0))
    assert run.a.dataset is run.b.dataset
    assert len(run.a.dataset) + len(run.a.dataset.validation) == 400
    run.step()
    assert run.step_count == 1
