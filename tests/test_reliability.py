"""Reliability (issue 6): saves that fail midway keep the previous file, Ctrl+C/SIGTERM
and device failures in the CLI, data faults not covered by the data tests, run files of
other format versions, and presets through the shared schema.  See docs/reliability.md.
"""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import signal
import stat
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from core import cli
from core.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    CheckpointError,
    load_run,
    save_run,
)
from core.config import ConfigError, TrainConfig
from core.data import DataError, DatasetMissing, IdxError, load_dataset
from core.data.families import load_family
from core.data.own import load_array_file, load_image_folder, png_problem
from core.files import SaveError, atomic_write
from core.png import _chunk, encode_gray_png, save_gray_png
from core.presets import PRESETS, Preset, get_preset
from core.report import write_summary
from core.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--set", "samples=300", "--set", "hidden_units=8", "--set", "batch_size=20",
         "--device", "cpu", "--quiet"]
CONFIG = TrainConfig(hidden_units=8, samples=300, batch_size=20)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", samples=300, validation_fraction=0.1)


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def folder_state(folder: Path) -> dict[str, bytes]:
    """Every file in ``folder`` (hidden ones included) with its bytes."""
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


# ------------------------------------------------------------------- atomic saves


class _FullDisk:
    """A file that takes ``room`` more bytes, writes part of the next chunk, then fails as
    a full disk does."""

    def __init__(self, file, room: int) -> None:
        self._file = file
        self._room = room

    def write(self, data) -> int:
        data = memoryview(data).cast("B")
        if len(data) > self._room:
            self._file.write(data[:self._room])
            self._room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._file.write(data)

    def __getattr__(self, name: str):
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._file.close()


def fill_the_disk(monkeypatch, room: int = 100) -> None:
    """From now on every file atomic_write opens takes ``room`` bytes, then ENOSPC."""
    real = os.fdopen
    monkeypatch.setattr(os, "fdopen",
                        lambda fd, *args, **kwargs: _FullDisk(real(fd, *args, **kwargs), room))


def test_a_run_save_that_fails_midway_keeps_the_previous_run(digits, tmp_path, monkeypatch):
    trainer = Trainer(CONFIG, digits, "cpu")
    for _ in range(3):
        trainer.step()
    path = save_run(tmp_path / "run.pt", trainer.state_dict(), "kl-demo")
    before = path.read_bytes()
    for _ in range(2):
        trainer.step()
    with monkeypatch.context() as patch:
        fill_the_disk(patch, room=1000)
        with pytest.raises(SaveError) as info:
            save_run(path, trainer.state_dict(), "kl-demo")
    message = str(info.value)
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC
    assert str(path) in message and "No space left on device" in message
    assert "previous run.pt is unchanged" in message and "\n" not in message
    assert path.read_bytes() == before
    assert load_run(path)["counters"]["step"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]  # no temporary file left


def test_a_serialisation_failure_is_a_save_error_too(digits, tmp_path, monkeypatch):
    """torch.save failing (it turns any write error into a RuntimeError) still keeps the
    previous file and says which file could not be saved."""
    trainer = Trainer(CONFIG, digits, "cpu")
    path = save_run(tmp_path / "run.pt", trainer.state_dict())
    before = path.read_bytes()

    def half_then_fail(obj, file, *args, **kwargs):
        file.write(b"PK\x03\x04 half an archive")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos")

    monkeypatch.setattr(torch, "save", half_then_fail)
    with pytest.raises(SaveError, match=r"run\.pt: could not be saved \(RuntimeError: "):
        save_run(path, trainer.state_dict())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]


@pytest.mark.parametrize("name", ["summary.json", "encoder_mosaic.png"])
def test_report_files_that_fail_midway_keep_the_previous_file(tmp_path, monkeypatch, name):
    path = tmp_path / name

    def write() -> None:
        if name == "summary.json":
            write_summary(path, {"status": "finished", "values": list(range(500))})
        else:
            save_gray_png(path, np.random.default_rng(0).random((64, 64)), 0.0, 1.0, scale=4)

    write()
    before = path.read_bytes()
    with monkeypatch.context() as patch:
        fill_the_disk(patch, room=50)
        with pytest.raises(SaveError, match="No space left on device"):
            write()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_a_crash_during_a_save_keeps_the_previous_run(digits, tmp_path):
    """A real process killed in the middle of writing (os._exit, no clean-up at all)."""
    trainer = Trainer(CONFIG, digits, "cpu")
    for _ in range(2):
        trainer.step()
    path = save_run(tmp_path / "run.pt", trainer.state_dict())
    before = path.read_bytes()
    script = (
        "import os, sys, torch\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from core.checkpoint import save_run\n"
        "state = torch.load(sys.argv[1], weights_only=True)\n"
        "real = os.fdopen\n"
        "class Dying:\n"
        "    def __init__(self, file): self.file = file\n"
        "    def write(self, data):\n"
        "        self.file.write(bytes(data)[:500]); self.file.flush(); os._exit(9)\n"
        "    def __getattr__(self, name): return getattr(self.file, name)\n"
        "    def __enter__(self): return self\n"
        "    def __exit__(self, *exc): pass\n"
        "os.fdopen = lambda fd, *a, **k: Dying(real(fd, *a, **k))\n"
        "save_run(sys.argv[1], state)\n")
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 9, result.stderr
    assert path.read_bytes() == before
    assert load_run(path)["counters"]["step"] == 2
    # What a hard kill can leave: a hidden temporary file, never read by anything.
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "run.pt"]
    assert all(name.startswith(".run.pt.") and name.endswith(".tmp") for name in leftovers)


def test_a_saved_file_keeps_the_permissions_of_the_file_it_replaces(tmp_path):
    path = tmp_path / "summary.json"
    atomic_write(path, lambda file: file.write(b"{}"))
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask  # as open() would make it
    path.chmod(0o640)
    atomic_write(path, lambda file: file.write(b"{ }"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_the_cli_on_a_full_disk_exits_1_and_leaves_the_last_outputs(tmp_path, capsys,
                                                                     monkeypatch):
    out = tmp_path / "out"
    assert run_main(capsys, "train", "--steps", "4", *SMALL, "--out", str(out))[0] == 0
    before = folder_state(out)
    with monkeypatch.context() as patch:
        fill_the_disk(patch)
        code, _, err = run_main(capsys, "train", "--steps", "6", *SMALL, "--out", str(out))
    assert code == cli.EXIT_FAILED
    line = one_line(err)
    assert line.startswith("rhoscope: error: ") and "run.pt: could not be saved" in line
    assert "No space left on device" in line and "unchanged" in line
    assert folder_state(out) == before  # run.pt, summary, mosaic and metrics.csv: all kept


# ------------------------------------------------------ Ctrl+C, SIGTERM, device failures


def _step_then(monkeypatch, at_step: int, action) -> None:
    """Make Trainer.step call ``action()`` right after step ``at_step``."""
    real = Trainer.step

    def step(self):
        real(self)
        if self.step_count == at_step:
            action()

    monkeypatch.setattr(Trainer, "step", step)


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM],
                         ids=["Ctrl+C", "SIGTERM"])
def test_a_signal_stops_between_two_steps_and_saves_everything(tmp_path, capsys, monkeypatch,
                                                               signal_number):
    _step_then(monkeypatch, 5, lambda: os.kill(os.getpid(), signal_number))
    code, _, err = run_main(capsys, "train", "--steps", "1000", *SMALL, "--out", str(tmp_path))
    assert code == cli.EXIT_INTERRUPTED
    assert f"stopped at step 5 ({signal.Signals(signal_number).name})" in err
    assert "Traceback" not in err
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "interrupted"
    assert load_run(tmp_path / "run.pt")["counters"]["step"] == 5
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["1", "2", "3", "4", "5"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "encoder_mosaic.png", "metrics.csv", "run.pt", "summary.json"]


def test_a_second_ctrl_c_stops_at_once_and_writes_nothing(tmp_path, capsys, monkeypatch):
    def twice() -> None:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)

    _step_then(monkeypatch, 3, twice)
    code, _, err = run_main(capsys, "train", "--steps", "1000", *SMALL, "--out", str(tmp_path))
    assert code == cli.EXIT_INTERRUPTED
    assert "interrupted (Ctrl+C); nothing more was written" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no half-written file, no temporary file


def test_ctrl_c_while_the_data_loads_exits_130_without_a_traceback(tmp_path, capsys,
                                                                   monkeypatch):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "create", interrupted)
    code, _, err = run_main(capsys, "train", *SMALL, "--out", str(tmp_path / "out"))
    assert code == cli.EXIT_INTERRUPTED and "interrupted (Ctrl+C)" in one_line(err)
    assert not (tmp_path / "out").exists()


def test_sigterm_to_a_real_training_process_saves_and_exits_130(tmp_path):
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "main.py", "train", "--steps", "10000000", *SMALL, "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    partial = out / ".metrics.csv.partial"
    try:
        deadline = time.monotonic() + 120
        while not (partial.is_file() and partial.stat().st_size > 300):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == cli.EXIT_INTERRUPTED, err
    assert "(SIGTERM); saving the run" in err and "Traceback" not in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert load_run(out / "run.pt")["counters"]["step"] == summary["steps"] > 0
    assert not partial.exists()


def test_out_of_memory_in_a_step_exits_1_and_changes_nothing(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert run_main(capsys, "train", "--steps", "2", *SMALL, "--out", str(out))[0] == 0
    before = folder_state(out)

    real = Trainer.step

    def step(self):
        if self.step_count == 2:  # the third step runs out of memory
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB "
                                         "(GPU 0; 7.79 GiB total capacity)\nmore details")
        real(self)

    monkeypatch.setattr(Trainer, "step", step)
    code, _, err = run_main(capsys, "train", "--steps", "50", *SMALL, "--out", str(out))
    assert code == cli.EXIT_FAILED
    line = one_line(err)
    assert "out of memory on cpu at step 3 (CUDA out of memory. Tried to allocate" in line
    assert "smaller batch_size" in line
    assert f"nothing was saved: {out} is as it was" in line
    assert folder_state(out) == before


def test_a_failing_device_while_building_the_run_exits_1(tmp_path, capsys, monkeypatch):
    def lost(*_args, **_kwargs):
        raise RuntimeError("CUDA error: unspecified launch failure\nCUDA kernel errors ...")

    monkeypatch.setattr(Trainer, "create", lost)
    code, _, err = run_main(capsys, "train", *SMALL, "--out", str(tmp_path / "out"))
    assert code == cli.EXIT_FAILED
    line = one_line(err)
    assert "failed (RuntimeError: CUDA error: unspecified launch failure)" in line


def test_an_unwritable_output_folder_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    code, _, err = run_main(capsys, "train", "--steps", "1", *SMALL, "--out",
                            str(tmp_path / "file" / "out"))
    assert code == cli.EXIT_USAGE and "cannot create the folder" in one_line(err)


# ---------------------------------------------------------------------- data faults


def mnist_file(folder: Path, images: np.ndarray, compress: bool = False) -> Path:
    """MNIST's test images as an IDX file (gzipped as downloaded, or raw)."""
    data = struct.pack(">BBBB", 0, 0, 8, images.ndim) + struct.pack(
        f">{images.ndim}I", *images.shape) + images.tobytes()
    path = folder / ("t10k-images-idx3-ubyte" + (".gz" if compress else ""))
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def test_a_damaged_gzip_stream_is_refused_by_name(tmp_path, capsys):
    """Regression: a damaged deflate stream raised zlib.error, a traceback."""
    path = mnist_file(tmp_path, np.zeros((5, 28, 28), np.uint8), compress=True)
    data = bytearray(path.read_bytes())
    data[20:40] = b"\xff" * 20
    path.write_bytes(bytes(data))
    with pytest.raises(IdxError, match="damaged gzip data"):
        load_family("mnist", tmp_path)
    code, _, err = run_main(capsys, "train", "--preset", "notes-l1", "--data-dir",
                            str(tmp_path), "--out", str(tmp_path / "out"))
    assert code == cli.EXIT_USAGE
    assert "t10k-images-idx3-ubyte.gz: damaged gzip data" in one_line(err)


def test_an_idx_header_whose_size_overflows_is_refused(tmp_path):
    """Regression: np.prod wrapped (2**31 * 2**31 * 4 == 0 in int64), so an empty file
    claiming that shape passed the size check and crashed in reshape."""
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(struct.pack(">BBBB3I", 0, 0, 8, 3, 2 ** 31, 2 ** 31, 4))
    with pytest.raises(IdxError, match="truncated or oversized IDX data"):
        load_family("mnist", tmp_path)


def test_an_idx_file_without_permission_is_refused(tmp_path, monkeypatch):
    path = mnist_file(tmp_path, np.zeros((5, 28, 28), np.uint8))
    real = Path.read_bytes

    def denied(self):
        if self == path:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(IdxError, match="t10k-images-idx3-ubyte: permission denied"):
        load_family("mnist", tmp_path)


def test_an_array_file_without_permission_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "images.npy"
    np.save(path, np.zeros((4, 8, 8), np.uint8))

    def denied(*_args, **_kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(np, "load", denied)
    with pytest.raises(DataError, match="images.npy: permission denied"):
        load_array_file(path)


def test_an_array_header_claiming_terabytes_is_refused(tmp_path):
    """Regression: numpy raised its MemoryError subclass (a traceback)."""
    path = tmp_path / "images.npy"
    with open(path, "wb") as file:
        np.lib.format.write_array_header_1_0(
            file, {"descr": "<f8", "fortran_order": False, "shape": (10 ** 7, 10 ** 7)})
        file.write(bytes(100))
    with pytest.raises(DataError, match="too large to load into memory"):
        load_array_file(path)


def _png(raw_rows: bytes, width: int = 8, height: int = 8, idat: bytes | None = None) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw_rows) if idat is None else idat)
            + _chunk(b"IEND", b""))


ROWS = b"".join(b"\x00" + bytes(range(0, 64, 8)) for _ in range(8))


def _damaged_pngs() -> dict[str, tuple[bytes, str]]:
    good = _png(ROWS)
    flipped = bytearray(good)
    flipped[45] ^= 0xFF  # a byte of the compressed data: the IDAT CRC no longer matches
    compressed = bytearray(zlib.compress(ROWS))
    compressed[-1] ^= 1  # a wrong Adler-32 with a correct CRC
    return {
        "crc.png": (bytes(flipped), "CRC error in the 'IDAT' chunk"),
        "filter.png": (_png(b"".join(b"\x07" + bytes(8) for _ in range(8))),
                       "invalid filter type"),
        "short.png": (_png(ROWS[:30]), "cut short"),
        "adler.png": (_png(ROWS, idat=bytes(compressed)), "incorrect data check"),
        "cut.png": (good[:60], "cut short"),
    }


def test_damaged_pngs_are_skipped_with_the_reason_not_a_crash(tmp_path):
    """Regression: torchvision 0.29 crashes the process (segmentation fault) on these; run
    in a child process so that a regression fails this test instead of the test run."""
    for name, (content, _) in _damaged_pngs().items():
        (tmp_path / name).write_bytes(content)
    (tmp_path / "good.png").write_bytes(_png(ROWS))
    script = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
              "from pathlib import Path\n"
              "from core.data.own import load_image_folder\n"
              "images, report = load_image_folder(Path(sys.argv[1]))\n"
              "print(len(images)); [print(n, '|', r) for n, r in report.skipped]\n")
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, f"the decoder crashed ({result.returncode}): {result.stderr}"
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "1"
    skipped = dict(line.split(" | ", 1) for line in lines[1:])
    for name, (_, reason) in _damaged_pngs().items():
        assert skipped[name].startswith("damaged PNG (") and reason in skipped[name], skipped


def test_the_png_check_passes_every_kind_of_sound_png():
    """No false alarms: grey, grey+alpha, RGB, RGBA, palette, 1-bit, 16-bit, interlaced."""
    image_module = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    for mode in ("1", "L", "LA", "RGB", "RGBA", "P", "I;16"):
        for width, height in ((1, 1), (3, 5), (17, 9), (64, 33)):
            rgba = rng.integers(0, 256, size=(height, width, 4), dtype=np.uint8)
            image = image_module.fromarray(rgba, "RGBA")
            if mode == "I;16":
                image = image_module.fromarray(
                    rng.integers(0, 65536, size=(height, width)).astype(np.uint16))
            else:
                image = image.convert(mode)
            for options in ({}, {"optimize": True}, {"compress_level": 0}):
                buffer = io.BytesIO()
                image.save(buffer, format="PNG", **options)
                assert png_problem(buffer.getvalue()) == "", (mode, width, height, options)
    # Adam7-interlaced, built by hand (PIL does not write it): 13x7 grey
    pixels = rng.integers(0, 256, size=(7, 13), dtype=np.uint8)
    raw = b"".join(b"\x00" + row.tobytes()
                   for x, y, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
                                        (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
                   for row in pixels[y::dy, x::dx] if row.size)
    header = struct.pack(">IIBBBBB", 13, 7, 8, 0, 0, 0, 1)
    interlaced = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
                  + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b""))
    assert png_problem(interlaced) == ""
    assert png_problem(encode_gray_png(pixels)) == ""
    assert png_problem(b"\xff\xd8\xff a JPEG") == ""  # not a PNG: the decoder's to judge


def test_an_image_too_large_to_decode_is_skipped(tmp_path):
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    huge = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b""))
            + _chunk(b"IEND", b""))
    (tmp_path / "huge.png").write_bytes(huge)
    (tmp_path / "good.png").write_bytes(_png(ROWS))
    images, report = load_image_folder(tmp_path)
    assert len(images) == 1 and "100000x100000 pixels" in dict(report.skipped)["huge.png"]


@pytest.mark.parametrize("dataset", ["mnist", "folder", "npz"])
def test_unusable_data_folder_names_are_refused_by_name(dataset):
    """An unknown user's ~ and a name longer than the system allows: a clear refusal (these
    raised RuntimeError and OSError before)."""
    for folder in ("~nosuchuser12345/data", "x" * 300):
        with pytest.raises((DatasetMissing, DataError)) as info:
            load_dataset(dataset, data_dir=folder)
        assert folder[:20] in str(info.value) and "\n" not in str(info.value)


def test_the_datasets_command_copes_with_unusable_folder_names(capsys):
    for folder in ("~nosuchuser12345/data", "x" * 300):
        code, out, err = run_main(capsys, "datasets", "--data-dir", folder)
        assert code == cli.EXIT_OK and "missing" in out and not err


# -------------------------------------------------------------- run-file versions


def _saved_state(digits) -> dict:
    trainer = Trainer(CONFIG, digits, "cpu")
    trainer.step()
    return trainer.state_dict()


def test_a_run_from_a_newer_version_is_refused_saying_so(digits, tmp_path):
    path = tmp_path / "newer.pt"
    torch.save({"format": FORMAT, "version": FORMAT_VERSION + 1, **_saved_state(digits)}, path)
    with pytest.raises(CheckpointError) as info:
        load_run(path)
    message = str(info.value)
    assert f"run file format version {FORMAT_VERSION + 1} is not supported" in message
    assert "written by a newer Rhoscope" in message and f"reads version {FORMAT_VERSION}" in message


def test_a_run_from_an_unknown_older_version_is_refused_saying_so(digits, tmp_path):
    path = tmp_path / "older.pt"
    torch.save({"format": FORMAT, "version": 0, **_saved_state(digits)}, path)
    with pytest.raises(CheckpointError, match="version 0 is not supported .written by an older"):
        load_run(path)


@pytest.mark.parametrize("version", ["2", 2.0, None, [2], True])
def test_a_format_version_that_is_not_a_number_is_damage(digits, tmp_path, version):
    """Regression: an unhashable version (a list) raised TypeError."""
    path = tmp_path / "odd.pt"
    torch.save({"format": FORMAT, "version": version, **_saved_state(digits)}, path)
    with pytest.raises(CheckpointError, match="damaged run file .format version"):
        load_run(path)


def test_a_damaged_version_1_file_is_refused_not_migrated_halfway(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"format": FORMAT, "version": 1, "config": 5, "order": 3}, path)
    with pytest.raises(CheckpointError, match="damaged version 1 run file"):
        load_run(path)


@pytest.mark.parametrize("part, value, problem", [
    ("history", {"columns": ["total"], "capacity": 10 ** 12, "width": 1, "first": [],
                 "last": [], "count": [], "sum": [], "min": [], "max": []},
     "history: capacity is not from 2 to"),
    ("model", {"encoder_weight": [1.0, 2.0]}, "model is not a set of named weight tensors"),
    ("counters", {"step": -3}, "counters are not"),
    ("image_shape", (28,), "image_shape is not (height, width)"),
    ("preset", ["kl-demo"], "the preset is not a name"),
    ("config", ["rho"], "the settings are list"),
])
def test_damaged_parts_of_a_run_are_refused_before_they_reach_the_trainer(
        digits, tmp_path, part, value, problem):
    """A capacity of 10**12 would have allocated terabytes; a config that is a list used
    to crash dict(); a preset that is a list crashed the preset lookup."""
    path = tmp_path / "damaged.pt"
    torch.save({"format": FORMAT, "version": FORMAT_VERSION, **_saved_state(digits),
                part: value}, path)
    with pytest.raises(CheckpointError) as info:
        load_run(path)
    assert problem in str(info.value) and str(path) in str(info.value)


# ------------------------------------------------- the schema: combinations, presets


def test_lbfgs_takes_the_whole_data_set_so_any_batch_size_is_allowed(digits):
    config = CONFIG.replace(optimizer="lbfgs", lr=1.0, batch_size=1_000_000)
    Trainer(config, digits, "cpu").step()  # full batch: batch_size plays no part
    with pytest.raises(ConfigError, match="batch_size = 1000000 is not allowed: the data set "
                                          "holds 270 images"):
        Trainer(config.replace(optimizer="adam", lr=1e-3), digits, "cpu")


def test_kl_with_relu_is_refused_from_a_saved_run_too(digits, tmp_path):
    state = _saved_state(digits)
    state["config"].update(penalty="kl", encoder_activation="relu")
    path = save_run(tmp_path / "run.pt", state)
    with pytest.raises(CheckpointError, match="penalty = 'kl' needs activations in"):
        load_run(path)


def test_every_preset_passes_the_schema():
    for preset in PRESETS.values():
        assert TrainConfig.from_dict(preset.settings) == preset.config
        assert (preset.steps or 0) > 0 or (preset.epochs or 0) > 0


def test_a_preset_with_a_bad_value_is_refused_by_the_same_schema():
    with pytest.raises(ConfigError, match=r"rho = 2 is not allowed: a number with 0 < rho < 1"):
        _ = Preset("broken", "", {"rho": 2.0}, steps=1).config
    for name in ("nope", ["kl-demo"], None, "x" * 500):
        with pytest.raises(ConfigError, match="preset = .* is not allowed: one of kl-demo"):
            get_preset(name)


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM],
                         ids=["Ctrl+C", "SIGTERM"])
def test_a_signal_to_the_app_closes_it_cleanly_and_autosaves(tmp_path, signal_number):
    settings = tmp_path / "settings.ini"
    env = dict(os.environ)  # (the platform conftest chose)
    process = subprocess.Popen(
        [sys.executable, "main.py", "--settings", str(settings), "--device", "cpu",
         "--start"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        time.sleep(12)  # the window shows, torch loads, training runs a while
        assert process.poll() is None, process.communicate()
        process.send_signal(signal_number)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "Traceback" not in err and "QThread" not in err, err
    assert settings.is_file()  # the settings were saved on the way out
    assert load_run(tmp_path / "rhoscope-autosave.pt")["counters"]["step"] > 0
