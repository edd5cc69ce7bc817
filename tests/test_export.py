"""Exports: history CSV, mosaic GIF and PNG sequence; atomic, with progress and cancel."""

from __future__ import annotations

import csv
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.config import TrainConfig
from core.data import load_dataset
from core.export import (
    history_csv_columns,
    mosaic_pixels,
    png_name,
    write_history_csv,
    write_mosaic_gif,
    write_mosaic_pngs,
)
from core.history import DecimatingHistory
from core.mosaic import tile_mosaic
from core.png import save_gray_png
from core.timeline import Frame, Timeline
from core.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run():
    """A tiny run's exact frames at steps 0, 3, 6 ... 15, and its last snapshot."""
    dataset = load_dataset("digits", samples=600, data_seed=0)
    trainer = Trainer(TrainConfig(hidden_units=10, batch_size=50, samples=600, lr=1e-2),
                      dataset, "cpu")
    timeline = Timeline(exact=True)
    snapshots = [trainer.snapshot()]
    for _ in range(5):
        for _ in range(3):
            trainer.step()
        snapshots.append(trainer.snapshot())
    for snapshot in snapshots:
        timeline.offer(snapshot)
    return timeline.frames(), snapshots


def expected_pixels(weights: np.ndarray, image_shape, scale: int = 1) -> np.ndarray:
    """The app's mapping of a mosaic to grey levels, computed here in float64."""
    mosaic = tile_mosaic(weights, image_shape).astype(np.float64)
    pixels = np.round(np.clip((mosaic + 1) / 2, 0, 1) * 255).astype(np.uint8)
    return np.kron(pixels, np.ones((scale, scale), np.uint8))


def leftovers(folder) -> list[str]:
    return sorted(os.listdir(folder))


# ------------------------------------------------------------------ CSV


def parse(path):
    with open(path, newline="") as stream:
        rows = list(csv.reader(stream))
    return rows[0], rows[1:]


def cell(text: str) -> float:
    return float(text) if text else np.nan


def test_history_csv_round_trips_exactly(tmp_path):
    history = DecimatingHistory(("total", "reconstruction"), capacity=8)
    rng = np.random.default_rng(1)
    values = rng.uniform(0, 10, (37, 2)) ** 3
    history.append(np.arange(1, 38), values)  # decimated: buckets of 8, 8, ... steps
    validation = DecimatingHistory(("reconstruction",))
    validation.append(np.array([8, 24, 36]), np.array([[0.5], [1 / 3], [0.25]]))
    train, held_out = history.arrays(), validation.arrays()
    assert history.bucket_width > 1
    path = write_history_csv(tmp_path / "history.csv", train, held_out)
    header, rows = parse(path)
    assert header == history_csv_columns(train) == [
        "step_first", "step_last",
        "total_mean", "total_min", "total_max",
        "reconstruction_mean", "reconstruction_min", "reconstruction_max",
        "validation_reconstruction_mean", "validation_reconstruction_min",
        "validation_reconstruction_max"]
    table = np.array([[cell(c) for c in row] for row in rows])
    assert len(table) == len(train) + len(held_out)
    assert (np.diff(table[:, 1]) >= 0).all()  # merged by step
    training = ~np.isnan(table[:, 2])
    assert np.isnan(table[training, 8:]).all() and np.isnan(table[~training, 2:8]).all()
    t, v = table[training], table[~training]
    assert np.array_equal(t[:, 0], train.step_first) and np.array_equal(t[:, 1], train.step_last)
    for j in range(2):  # every digit survives: exact equality in float64
        assert np.array_equal(t[:, 2 + 3 * j], train.mean[:, j])
        assert np.array_equal(t[:, 3 + 3 * j], train.minimum[:, j])
        assert np.array_equal(t[:, 4 + 3 * j], train.maximum[:, j])
    assert np.array_equal(v[:, 1], [8, 24, 36])
    assert np.array_equal(v[:, 8], [0.5, 1 / 3, 0.25])
    # the bucket means are the means of the steps they cover (checked in float64)
    first = t[0]
    covered = values[int(first[0]) - 1:int(first[1])]
    assert np.isclose(first[2], covered[:, 0].mean(), rtol=1e-12)
    assert first[3] == covered[:, 0].min() and first[4] == covered[:, 0].max()


def test_a_snapshots_history_exports_without_validation(tmp_path, run):
    _, snapshots = run
    snapshot = snapshots[-1]
    path = write_history_csv(tmp_path / "h.csv", snapshot.history)
    header, rows = parse(path)
    assert header[2:5] == ["total_mean", "total_min", "total_max"]
    assert len(header) == 2 + 3 * len(snapshot.history.columns)
    table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    assert np.array_equal(table[:, 2::3], snapshot.history.mean)
    assert np.array_equal(table[:, 1], snapshot.history.step_last)


def test_a_cancelled_csv_leaves_no_file(tmp_path):
    history = DecimatingHistory(("total",), capacity=512)
    history.append(np.arange(400), np.ones((400, 1)))
    calls = []

    def progress(done, total):
        calls.append((done, total))
        return len(calls) < 3

    assert write_history_csv(tmp_path / "h.csv", history.arrays(), progress=progress) is None
    assert leftovers(tmp_path) == []
    assert calls[-1][1] == 400 and len(calls) == 3
    calls.clear()
    assert write_history_csv(tmp_path / "h.csv", history.arrays(),
                             progress=lambda d, t: calls.append((d, t))) is not None
    assert calls[-1] == (400, 400) and len(calls) <= 101
    assert leftovers(tmp_path) == ["h.csv"]


# ------------------------------------------------------------------ PNG sequence


def test_png_sequence_decodes_to_the_mosaics(tmp_path, run):
    frames, snapshots = run
    calls = []
    paths = write_mosaic_pngs(tmp_path / "pngs", frames, scale=2,
                              progress=lambda d, t: calls.append((d, t)))
    assert [p.name for p in paths] == [png_name(i + 1, f.step) for i, f in enumerate(frames)]
    assert paths[1].name == "mosaic_00002_step_000003.png"
    assert leftovers(tmp_path / "pngs") == [p.name for p in paths]  # no staging folder left
    assert calls == [(i, len(frames)) for i in range(1, len(frames) + 1)]
    for path, snapshot in zip(paths, snapshots, strict=True):
        with Image.open(path) as image:
            assert image.mode == "L"
            decoded = np.asarray(image)
        assert np.array_equal(decoded, expected_pixels(snapshot.encoder_weights,
                                                       snapshot.image_shape, 2))
    # the same picture as the app's own mosaic PNG writer
    reference = tmp_path / "reference.png"
    mosaic = tile_mosaic(snapshots[-1].encoder_weights, snapshots[-1].image_shape)
    save_gray_png(reference, mosaic, -1.0, 1.0, 2)
    with Image.open(reference) as a, Image.open(paths[-1]) as b:
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_decoder_and_global_scale_mosaics(run):
    frames, snapshots = run
    pixels = mosaic_pixels(frames[-1], "decoder", per_tile=False)
    mosaic = tile_mosaic(snapshots[-1].decoder_weights.T, snapshots[-1].image_shape, False)
    assert np.array_equal(pixels, np.round(np.clip((mosaic.astype(np.float64) + 1) / 2, 0, 1)
                                           * 255).astype(np.uint8))
    with pytest.raises(ValueError):
        mosaic_pixels(frames[-1], "hidden")


def test_a_cancelled_png_sequence_leaves_nothing_and_keeps_old_files(tmp_path, run):
    frames, _ = run
    folder = tmp_path / "pngs"
    folder.mkdir()
    old = folder / png_name(1, frames[0].step)
    old.write_bytes(b"an earlier export")
    result = write_mosaic_pngs(folder, frames, progress=lambda done, total: done < 3)
    assert result is None
    assert leftovers(folder) == [old.name] and old.read_bytes() == b"an earlier export"


def test_a_cancelled_png_sequence_into_a_new_folder_leaves_no_folder(tmp_path, run):
    frames, _ = run
    folder = tmp_path / "new" / "pngs"
    assert write_mosaic_pngs(folder, frames, progress=lambda done, total: done < 2) is None
    assert not folder.exists()


def test_a_failing_png_export_leaves_nothing(tmp_path, run):
    frames, _ = run

    def failing(done, total):
        if done == 2:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_mosaic_pngs(tmp_path, frames, progress=failing)
    assert leftovers(tmp_path) == []


def test_frames_must_share_one_shape(tmp_path, run):
    frames, snapshots = run
    other = Frame.from_snapshot(dataclasses.replace(
        snapshots[0], encoder_weights=snapshots[0].encoder_weights[:4],
        decoder_weights=snapshots[0].decoder_weights[:, :4]))
    with pytest.raises(ValueError, match="shapes"):
        write_mosaic_pngs(tmp_path, [frames[0], other])
    with pytest.raises(ValueError, match="no frames"):
        write_mosaic_gif(tmp_path / "a.gif", [])
    with pytest.raises(ValueError, match="scale"):
        write_mosaic_gif(tmp_path / "a.gif", frames, scale=0)
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------ GIF


def test_gif_has_every_frame_at_the_mosaic_size(tmp_path, run):
    frames, snapshots = run
    calls = []
    path = write_mosaic_gif(tmp_path / "mosaic.gif", frames, scale=3, frame_ms=120,
                            progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (len(frames), len(frames))
    height, width = tile_mosaic(snapshots[0].encoder_weights, snapshots[0].image_shape).shape
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == len(frames)
        assert gif.size == (3 * width, 3 * height)
        assert gif.info.get("loop") == 0
        for index, snapshot in enumerate(snapshots):
            gif.seek(index)
            assert gif.info["duration"] == 120
            decoded = np.asarray(gif.convert("L"))
            assert np.array_equal(decoded, expected_pixels(snapshot.encoder_weights,
                                                           snapshot.image_shape, 3))
    assert leftovers(tmp_path) == ["mosaic.gif"]


def test_a_cancelled_gif_leaves_the_previous_file(tmp_path, run):
    frames, _ = run
    path = tmp_path / "mosaic.gif"
    path.write_bytes(b"previous")
    assert write_mosaic_gif(path, frames, progress=lambda done, total: done < 4) is None
    assert leftovers(tmp_path) == ["mosaic.gif"] and path.read_bytes() == b"previous"
    assert write_mosaic_gif(tmp_path / "new.gif", frames,
                            progress=lambda done, total: False) is None
    assert leftovers(tmp_path) == ["mosaic.gif"]


def test_the_replay_modules_load_without_torch_or_pillow():
    """The window imports them before the training thread has loaded torch."""
    script = ("import sys\nimport core.comparison, core.export, core.timeline\n"
              "print(sorted({'torch', 'PIL'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
