"""The bounded history: fixed memory, whole run covered, peaks kept."""

from __future__ import annotations

import numpy as np

from core.history import DecimatingHistory


def test_short_runs_are_kept_exactly():
    history = DecimatingHistory(["a", "b"], capacity=8)
    history.append(np.arange(1, 6), np.arange(10, dtype=float).reshape(5, 2))
    arrays = history.arrays()
    assert len(arrays) == 5
    np.testing.assert_array_equal(arrays.step_first, [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(arrays.column("b"), [1, 3, 5, 7, 9])


def test_long_runs_stay_bounded_and_span_the_whole_run():
    history = DecimatingHistory(["loss"], capacity=16)
    steps = np.arange(1, 10_001)
    history.append(steps, np.ones((len(steps), 1)))
    arrays = history.arrays()
    assert len(arrays) <= 16
    assert arrays.step_first[0] == 1 and arrays.step_last[-1] == 10_000
    assert arrays.mean.shape == (len(arrays), 1)
    np.testing.assert_allclose(arrays.mean, 1.0)


def test_spikes_survive_decimation_in_the_envelope():
    history = DecimatingHistory(["loss"], capacity=8)
    values = np.zeros((1000, 1))
    values[537] = 42.0
    values[100] = -7.0
    history.append(np.arange(1000), values)
    arrays = history.arrays()
    assert arrays.maximum.max() == 42.0
    assert arrays.minimum.min() == -7.0
    # and the mean is the true mean of each bucket
    total = (arrays.mean[:, 0] * (arrays.step_last - arrays.step_first + 1)).sum()
    assert total == np.float64(35.0)


def test_arrays_are_read_only_copies():
    history = DecimatingHistory(["x"], capacity=4)
    history.append(np.array([1]), np.array([[1.0]]))
    arrays = history.arrays()
    assert not arrays.mean.flags.writeable
    history.append(np.array([2]), np.array([[5.0]]))
    assert len(arrays) == 1


def test_state_round_trip():
    history = DecimatingHistory(["x", "y"], capacity=8)
    history.append(np.arange(100), np.random.default_rng(0).normal(size=(100, 2)))
    restored = DecimatingHistory.from_state_dict(history.state_dict())
    a, b = history.arrays(), restored.arrays()
    np.testing.assert_array_equal(a.step_first, b.step_first)
    np.testing.assert_array_equal(a.mean, b.mean)
    assert restored.bucket_width == history.bucket_width
