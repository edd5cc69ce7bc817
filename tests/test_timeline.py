"""The replay timeline: compact immutable frames, bounded memory for any run length."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch

from core.config import TrainConfig
from core.data import load_dataset
from core.mosaic import tile_mosaic
from core.snapshot import frozen
from core.timeline import UNIT_ARRAYS, Frame, PackedRows, Timeline
from core.trainer import Trainer


@pytest.fixture(scope="module")
def snapshots():
    """Real snapshots of a tiny run after 0, 5, 10 ... 30 steps."""
    dataset = load_dataset("digits", samples=600, data_seed=0)
    trainer = Trainer(TrainConfig(hidden_units=9, batch_size=50, samples=600, lr=3e-3),
                      dataset, "cpu")
    taken = [trainer.snapshot()]
    for _ in range(6):
        for _ in range(5):
            trainer.step()
        taken.append(trainer.snapshot())
    return taken


@pytest.fixture(scope="module")
def tied_snapshot():
    dataset = load_dataset("digits", samples=600, data_seed=0)
    trainer = Trainer(TrainConfig(hidden_units=9, batch_size=50, samples=600, lr=3e-3,
                                  tied_weights=True), dataset, "cpu")
    trainer.step()
    return trainer.snapshot()


def at_step(snapshot, step: int):
    return dataclasses.replace(snapshot, step=step)


def quantisation_bound(packed: PackedRows, original: np.ndarray) -> np.ndarray:
    """Half a code step per row, plus float32 rounding of the arithmetic."""
    scale = packed.scale.astype(np.float64)[:, None]
    return scale / 2 * (1 + 1e-4) + 1e-6 * np.abs(original).max()


def test_packing_is_within_half_a_step_of_each_rows_range():
    rng = np.random.default_rng(0)
    rows = (rng.standard_normal((50, 300)) * rng.uniform(1e-3, 10, (50, 1))).astype(np.float32)
    rows[7] = 0.25  # a constant row is stored exactly
    packed = PackedRows.pack(rows)
    assert packed.codes.dtype == np.uint8 and packed.codes.max() == 255
    values = packed.unpack().astype(np.float64)
    error = np.abs(values - rows.astype(np.float64))
    assert (error <= quantisation_bound(packed, rows)).all()
    assert (values[7] == 0.25).all()
    exact = PackedRows.pack(rows, exact=True)
    assert np.array_equal(exact.unpack(), rows)


def test_a_frame_holds_the_snapshot_compactly_and_immutably(snapshots):
    snapshot = snapshots[-1]
    frame = Frame.from_snapshot(snapshot)
    assert (frame.step, frame.epoch, frame.samples_seen) == (
        snapshot.step, snapshot.epoch, snapshot.samples_seen)
    assert frame.loss == snapshot.loss and frame.config == snapshot.config
    assert frame.validation_reconstruction == snapshot.validation_reconstruction
    for name in UNIT_ARRAYS:
        # read-only snapshot arrays are shared, not copied
        assert getattr(frame, name) is getattr(snapshot, name)
    for packed, original in ((frame.encoder, snapshot.encoder_weights),
                             (frame.decoder, snapshot.decoder_weights.T),
                             (frame.sample_inputs, snapshot.sample_inputs),
                             (frame.sample_reconstructions, snapshot.sample_reconstructions)):
        assert packed.codes.dtype == np.uint8
        error = np.abs(packed.unpack().astype(np.float64) - original.astype(np.float64))
        assert (error <= quantisation_bound(packed, original)).all()
    assert frame.encoder_weights.shape == snapshot.encoder_weights.shape
    assert frame.decoder_weights.shape == snapshot.decoder_weights.shape
    # 8 bits per unit are enough for the 8-bit mosaic
    exact_mosaic = tile_mosaic(snapshot.encoder_weights, snapshot.image_shape)
    assert np.abs(frame.mosaic() - exact_mosaic).max() <= 4 / 255
    # a quarter of the float32 weights' memory, give or take the per-row scales
    assert frame.nbytes < 0.3 * (snapshot.encoder_weights.nbytes * 2
                                 + snapshot.sample_inputs.nbytes * 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.step = 3
    for array in (frame.encoder.codes, frame.encoder_weights, frame.decoder_weights,
                  frame.rho_hat_ema, frame.sample_inputs.unpack()):
        with pytest.raises(ValueError):
            array[0] = 0


def test_an_exact_frame_keeps_the_float32_weights(snapshots):
    snapshot = snapshots[-1]
    frame = Frame.from_snapshot(snapshot, exact=True)
    assert np.array_equal(frame.encoder_weights, snapshot.encoder_weights)
    assert np.array_equal(frame.decoder_weights, snapshot.decoder_weights)
    assert np.array_equal(frame.sample_reconstructions.unpack(),
                          snapshot.sample_reconstructions)
    assert np.array_equal(frame.mosaic("decoder", per_tile=False),
                          tile_mosaic(snapshot.decoder_weights.T, snapshot.image_shape, False))


def test_tied_weights_are_stored_once(tied_snapshot):
    frame = Frame.from_snapshot(tied_snapshot)
    assert frame.decoder is frame.encoder
    untied = dataclasses.replace(tied_snapshot,
                                 config=tied_snapshot.config.replace(tied_weights=False))
    assert frame.nbytes < Frame.from_snapshot(untied).nbytes - frame.encoder.codes.nbytes // 2
    assert np.array_equal(frame.decoder_weights, frame.encoder_weights.T)


def test_a_writable_array_is_copied_not_shared(snapshots):
    snapshot = snapshots[0]
    writable = snapshot.rho_hat_ema.copy()
    frame = Frame.from_snapshot(dataclasses.replace(snapshot, rho_hat_ema=writable))
    writable[0] = 42.0
    assert frame.rho_hat_ema[0] != 42.0 and not frame.rho_hat_ema.flags.writeable


def test_memory_stays_bounded_over_100k_offers(snapshots, monkeypatch):
    built = []
    original = Frame.from_snapshot.__func__

    def counting(cls, snapshot, exact=False):
        built.append(snapshot.step)
        return original(cls, snapshot, exact)

    monkeypatch.setattr(Frame, "from_snapshot", classmethod(counting))
    base = snapshots[-1]
    capacity = 64
    frame_bytes = Frame.from_snapshot(base).nbytes
    built.clear()
    timeline = Timeline(capacity=capacity, max_bytes=10**9)
    largest = 0
    for step in range(100_000):
        timeline.offer(at_step(base, step))
        largest = max(largest, len(timeline._frames))
    assert largest <= capacity
    # offers are cheap: only a few hundred of the 100,000 were compressed
    assert len(built) < 1000
    steps = timeline.steps()
    assert steps[0] == 0 and steps[-1] == 99_999
    assert capacity // 2 - 2 <= len(timeline) <= capacity + 1
    # evenly spread: one frame per cell of `interval` steps, from step 0 to the end
    gaps = np.diff(steps[:-1])
    assert gaps.max() <= 2 * timeline.interval
    assert steps[-2] >= 99_999 - 2 * timeline.interval
    assert timeline.interval >= 100_000 // capacity
    assert timeline.nbytes <= (capacity + 1) * frame_bytes


def test_the_byte_budget_bounds_the_frames(snapshots):
    base = snapshots[-1]
    frame_bytes = Frame.from_snapshot(base).nbytes
    budget = 10 * frame_bytes
    timeline = Timeline(capacity=256, max_bytes=budget)
    for step in range(0, 20_000, 7):
        timeline.offer(at_step(base, step))
        assert timeline._bytes <= budget
    assert timeline.nbytes <= budget + frame_bytes
    assert len(timeline) >= 5
    assert timeline.steps()[0] == 0


def test_the_latest_snapshot_is_always_the_last_frame(snapshots):
    base = snapshots[-1]
    timeline = Timeline(capacity=8, min_interval=100)
    assert len(timeline) == 0 and timeline.frame_at(5) is None
    timeline.offer(at_step(base, 0))
    latest = at_step(base, 42)
    assert timeline.offer(latest)
    assert list(timeline.steps()) == [0, 42]
    assert timeline._tail_snapshot is latest  # held by reference, not compressed
    assert timeline.frame(-1).step == 42
    assert not timeline.offer(latest)  # the same object again changes nothing
    timeline.offer(at_step(base, 99))
    assert list(timeline.steps()) == [0, 99]
    timeline.offer(at_step(base, 100))  # opens the next cell: a frame of its own
    timeline.offer(at_step(base, 150))
    assert list(timeline.steps()) == [0, 100, 150]


def test_frame_at_finds_the_frame_at_or_before_a_step(snapshots):
    base = snapshots[-1]
    timeline = Timeline(capacity=16)
    for step in (3, 10, 20, 35):
        timeline.offer(at_step(base, step))
    assert list(timeline.steps()) == [3, 10, 20, 35]
    assert timeline.frame_at(10).step == 10
    assert timeline.frame_at(19).step == 10
    assert timeline.frame_at(0).step == 3  # before the first: the first
    assert timeline.frame_at(10**9).step == 35
    assert timeline.index_at(20) == 2
    assert timeline.frame(0).step == 3 and timeline.frame(-1).step == 35
    with pytest.raises(IndexError):
        timeline.frame(4)
    assert [f.step for f in timeline.frames()] == [3, 10, 20, 35]


def test_a_rollback_drops_the_frames_after_it(snapshots):
    base = snapshots[-1]
    timeline = Timeline(capacity=64)
    for step in range(0, 100, 10):
        timeline.offer(at_step(base, step))
    timeline.offer(at_step(base, 64))  # the trainer restored step 64's weights
    assert list(timeline.steps()) == [0, 10, 20, 30, 40, 50, 60, 64]
    timeline.offer(at_step(base, 60))  # the same step again replaces its frame
    assert list(timeline.steps()) == [0, 10, 20, 30, 40, 50, 60]


def test_a_model_of_another_shape_starts_afresh(snapshots, tied_snapshot):
    timeline = Timeline()
    for snapshot in snapshots[:3]:
        timeline.offer(snapshot)
    wider = dataclasses.replace(
        tied_snapshot, step=500,
        encoder_weights=frozen(np.zeros((10, tied_snapshot.encoder_weights.shape[1]),
                                        np.float32)))
    timeline.offer(wider)
    assert list(timeline.steps()) == [500]
    timeline.clear()
    assert len(timeline) == 0 and timeline.nbytes == 0


def _round_trip(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_state_dict_round_trips_through_a_weights_only_load(snapshots, tied_snapshot):
    timeline = Timeline(capacity=4, max_bytes=10**8)
    for snapshot in snapshots:
        timeline.offer(snapshot)
    timeline.offer(at_step(snapshots[-1], snapshots[-1].step + 1))  # a latest, by reference
    loaded = Timeline.from_state_dict(_round_trip(timeline.state_dict()))
    assert np.array_equal(loaded.steps(), timeline.steps())
    assert (loaded.capacity, loaded.max_bytes, loaded.interval) == (4, 10**8,
                                                                    timeline.interval)
    for a, b in zip(timeline.frames(), loaded.frames(), strict=True):
        assert (a.step, a.epoch, a.samples_seen, a.loss, a.config, a.image_shape) == (
            b.step, b.epoch, b.samples_seen, b.loss, b.config, b.image_shape)
        assert a.validation_reconstruction == b.validation_reconstruction
        for name in UNIT_ARRAYS:
            assert np.array_equal(getattr(a, name), getattr(b, name))
            assert getattr(a, name).dtype == getattr(b, name).dtype
            assert not getattr(b, name).flags.writeable
        assert np.array_equal(a.encoder_weights, b.encoder_weights)
        assert np.array_equal(a.decoder_weights, b.decoder_weights)
        assert np.array_equal(a.sample_reconstructions.unpack(),
                              b.sample_reconstructions.unpack())
    assert loaded.nbytes == timeline.nbytes
    # recording carries on where it stopped
    loaded.offer(at_step(snapshots[-1], 10_000))
    assert loaded.steps()[-1] == 10_000
    tied = Timeline()
    tied.offer(tied_snapshot)
    again = Timeline.from_state_dict(_round_trip(tied.state_dict()))
    assert again.frame(0).decoder is again.frame(0).encoder


def test_a_damaged_state_is_refused_and_changes_nothing(snapshots):
    timeline = Timeline()
    for snapshot in snapshots[:3]:
        timeline.offer(snapshot)
    good = timeline.state_dict()
    before = timeline.steps()
    for damage in (
        {"format": "other"},
        {"frames": list(reversed(good["frames"]))},
        {"frames": [{**good["frames"][0], "rho_hat_ema": torch.zeros(3)}]},
        {"frames": [{**good["frames"][0], "config": {"beta": -1.0}}]},
        {"capacity": 1},
    ):
        with pytest.raises(ValueError):
            timeline.load_state_dict({**good, **damage})
        assert np.array_equal(timeline.steps(), before)
    with pytest.raises(ValueError):
        timeline.load_state_dict({k: v for k, v in good.items() if k != "frames"})
    with pytest.raises(ValueError):
        timeline.load_state_dict("not a dict")



def test_a_replayed_snapshot_shows_the_past_with_the_curves_cut_there(snapshots):
    from core.timeline import replay_snapshot

    past, latest = snapshots[2], snapshots[-1]
    replayed = replay_snapshot(Frame.from_snapshot(past, exact=True), latest)
    assert replayed.step == past.step and replayed.loss == past.loss
    np.testing.assert_array_equal(replayed.encoder_weights, past.encoder_weights)
    np.testing.assert_array_equal(replayed.rho_hat_ema, past.rho_hat_ema)
    assert len(replayed.history) and replayed.history.step_first.max() <= past.step
    assert latest.history.step_first.max() > past.step  # the cut removed later buckets
    np.testing.assert_array_equal(replayed.history.mean,
                                  latest.history.mean[:len(replayed.history)])


def test_a_copy_saves_the_same_frames_while_the_original_goes_on(snapshots):
    timeline = Timeline()
    for snapshot in snapshots[:3]:
        timeline.offer(snapshot)
    twin = timeline.copy()
    timeline.offer(snapshots[3])
    assert list(twin.steps()) == [s.step for s in snapshots[:3]]
    assert list(timeline.steps()) == [s.step for s in snapshots[:4]]


def test_loading_with_our_limits_thins_a_file_that_asks_for_more(snapshots):
    big = Timeline(capacity=64)
    for snapshot in snapshots:
        big.offer(snapshot)
    state = big.state_dict()
    state["capacity"] = 10**9  # a damaged or hostile file
    small = Timeline(capacity=4)
    small.load_state_dict(state, keep_limits=True)
    assert small.capacity == 4 and len(small) <= 4
    assert small.steps()[0] == snapshots[0].step and small.steps()[-1] == snapshots[-1].step
