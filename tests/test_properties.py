"""Property-based tests (hypothesis): random values, text, argv, bytes and arrays fed to the
schema, the CLI, the run-file reader and the data readers.  Every input ends in a success
or in the module's own one-line error naming what is wrong: never a crash, never a
traceback.  Examples are kept cheap (tiny data, one or two steps) so the file runs in
well under 30 s.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import math
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from core import cli
from core.checkpoint import CheckpointError, load_run, save_run
from core.config import FIELDS, ConfigError, FieldSpec, TrainConfig, parse_assignment, parse_field
from core.data import DataError, IdxError, load_dataset
from core.data.families import DatasetMissing, load_family
from core.data.idx import read_idx
from core.data.own import load_array_file, load_image_folder
from core.png import encode_gray_png
from core.trainer import Trainer

SPECS: list[FieldSpec] = list(FIELDS.values())
#: The CLI's documented exit statuses (README "Exit status").
EXIT_STATUSES = {cli.EXIT_OK, cli.EXIT_FAILED, cli.EXIT_USAGE, cli.EXIT_DIVERGED,
                 cli.EXIT_INTERRUPTED}


def fast(examples: int):
    """Hypothesis settings for a budget of ``examples`` (no deadline: the CI box is slow)."""
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def assert_one_line(message: str, *names: str) -> None:
    """A complete, one-line message naming ``names``; no Python internals leak out."""
    assert message and "\n" not in message, message
    assert len(message) < 700, message
    assert "Traceback" not in message
    for name in names:  # as written, or as repr() shows it (control characters escaped)
        assert name in message or repr(name)[1:-1] in message, (name, message)


# ------------------------------------------------------------------------------ strategies

HUGE_INTS = st.builds(lambda sign, digits, extra: sign * (10 ** digits + extra),
                      st.sampled_from([-1, 1]), st.integers(19, 6000), st.integers(0, 9))
SPECIAL_FLOATS = st.sampled_from([math.nan, -math.nan, math.inf, -math.inf, -0.0, 5e-324,
                                  1.7976931348623157e308, 2.0 ** 53 + 1])
#: Values of every wrong type and every awkward number.
JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(), HUGE_INTS, st.floats(), SPECIAL_FLOATS,
    st.text(max_size=60), st.binary(max_size=20), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2), st.complex_numbers(),
    st.fractions(), st.decimals(), st.tuples(),
    st.sampled_from([np.float32(0.5), np.float64(1e-3), np.int64(3), np.uint8(7),
                     np.bool_(True), np.array([1.0]), object(), float, "kl", "sigmoid"]),
)


def edges(spec: FieldSpec) -> st.SearchStrategy:
    """Valid values and values just outside: the limits, their float neighbours, +-1."""
    if spec.choices is not None:
        return st.sampled_from([*spec.choices, *(c.upper() for c in spec.choices),
                                *(c + " " for c in spec.choices), ""])
    if spec.kind is bool:
        return st.booleans()
    limits = [b for b in (spec.minimum, spec.maximum) if b is not None]
    near = [v for b in limits for v in (b, math.nextafter(b, math.inf),
                                        math.nextafter(b, -math.inf), b + 1, b - 1)]
    if spec.kind is int:
        inside = st.integers(int(spec.minimum) - 2, int(spec.maximum) + 2)
        return st.one_of(inside, st.sampled_from([int(v) for v in near]),
                         st.sampled_from(near))
    inside = st.floats(spec.minimum, spec.maximum)
    return st.one_of(inside, st.sampled_from(near))


def values_for(spec: FieldSpec) -> st.SearchStrategy:
    return st.one_of(JUNK, edges(spec))


#: Text as typed into a GUI field or passed to ``--set key=value``.
TEXTS = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"\s*[-+]?\d{0,40}([.,]\d{0,6})?([eE][-+]?\d{1,4})?\s*", fullmatch=True),
    st.integers().map(str), HUGE_INTS.map(lambda v: str(v)[:5000] if v.bit_length() < 14000
                                          else "9" * 5000),
    st.floats().map(repr), st.floats().map(lambda v: f"{v:,}"),
    st.sampled_from(["nan", "-nan", "inf", "-Infinity", "1e309", "-1e-400", "0x10", "1_000",
                     "true", "TRUE", " yes ", "off", "", " ", ".", "-0", "1e2", "٣",
                     "1\n2", "0.05\x00", "kl", "SIGMOID", "lbfgs", "float64"]),
)


def as_text(value) -> str:
    """How a valid value is shown in a field (and read back)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def assert_valid(spec: FieldSpec, value) -> None:
    """``value`` is what the schema promises for ``spec``: its type, its range."""
    assert type(value) is spec.kind, (spec.name, value)
    if spec.choices is not None:
        assert value in spec.choices
    if spec.kind in (int, float):
        assert math.isfinite(value)
        if spec.minimum is not None:
            assert value > spec.minimum or (spec.min_inclusive and value == spec.minimum)
        if spec.maximum is not None:
            assert value < spec.maximum or (spec.max_inclusive and value == spec.maximum)
    assert spec.check(value) == value  # checking again changes nothing
    assert spec.parse(as_text(value)) == value  # the text of a valid value reads back


# ---------------------------------------------------------------------------- the schema


@fast(500)
@given(spec=st.sampled_from(SPECS), data=st.data())
def test_any_value_in_any_field_is_accepted_in_range_or_refused_by_name(spec, data):
    value = data.draw(values_for(spec), label="value")
    try:
        checked = spec.check(value)
    except ConfigError as error:
        assert error.field == spec.name
        assert_one_line(str(error), f"{spec.name} = ", spec.allowed())
        return
    assert_valid(spec, checked)


@pytest.mark.parametrize("spec", SPECS, ids=[spec.name for spec in SPECS])
@pytest.mark.parametrize("value", [10 ** 5000, -(10 ** 400), 2 ** 64, math.nan, math.inf,
                                   "x" * 10_000, None, [1], True],
                         ids=["5000 digits", "-400 digits", "2**64", "nan", "inf",
                              "long text", "None", "list", "True"])
def test_every_field_refuses_huge_and_foreign_values_by_name(spec, value):
    """Regression: a 5000-digit integer used to crash the check (OverflowError) and the
    message (int-to-str limit); long text is cut to keep the message one readable line."""
    if spec.kind is bool and value is True:
        assert spec.check(value) is True
        return
    with pytest.raises(ConfigError) as info:
        spec.check(value)
    assert_one_line(str(info.value), spec.name)


@fast(300)
@given(data=st.data())
def test_any_mapping_of_settings_is_a_valid_config_or_refused_by_name(data):
    keys = data.draw(st.lists(st.sampled_from(list(FIELDS)) | st.text(max_size=15),
                              max_size=6, unique=True), label="keys")
    settings_ = {key: data.draw(values_for(FIELDS[key]) if key in FIELDS else JUNK,
                                label=key) for key in keys}
    try:
        config = TrainConfig.from_dict(settings_)
    except ConfigError as error:
        assert_one_line(str(error), error.field)
        return
    for spec in SPECS:
        assert_valid(spec, getattr(config, spec.name))
    assert not (config.penalty == "kl" and config.encoder_activation == "relu")
    assert TrainConfig.from_dict(config.to_dict()) == config


@fast(100)
@given(JUNK)
def test_settings_that_are_not_a_mapping_are_refused(values):
    if isinstance(values, dict) and not values:
        assert TrainConfig.from_dict(values) == TrainConfig()
        return
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict(values)
    assert_one_line(str(info.value))


@fast(500)
@given(spec=st.sampled_from(SPECS), text=TEXTS)
def test_any_text_in_any_field_parses_in_range_or_is_refused_by_name(spec, text):
    """The path every text entry takes: a GUI field and the CLI's ``--set``."""
    try:
        value = parse_field(spec.name, text)
    except ConfigError as error:
        assert error.field == spec.name
        assert_one_line(str(error), f"{spec.name} = ", spec.allowed())
        return
    assert_valid(spec, value)


@fast(300)
@given(st.one_of(
    st.text(max_size=60),
    st.builds(lambda key, text: f"{key}={text}",
              st.sampled_from(list(FIELDS)) | st.text(max_size=12), TEXTS)))
def test_any_set_assignment_parses_or_is_refused_in_one_line(text):
    try:
        key, value = parse_assignment(text)
    except ConfigError as error:
        assert_one_line(str(error), error.field)
        return
    assert_valid(FIELDS[key], value)


# ------------------------------------------------------------------------------- the CLI




def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``core.cli.main`` in this process; --help's SystemExit counts as its status."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as stop:  # argparse's --help
            code = stop.code or 0
    return code, out.getvalue(), err.getvalue()


def assert_cli_contract(code: int, err: str) -> None:
    assert code in EXIT_STATUSES, (code, err)
    assert "Traceback" not in err, err
    if code == cli.EXIT_USAGE:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("rhoscope: error: "), err


#: Fixed at the end of every random --set list: small enough that a valid example trains
#: two steps in a fraction of a second (every random value before them is still parsed
#: and checked, and the combination rules apply to the final settings).
SMALL = ["--set", "samples=240", "--set", "hidden_units=6", "--set", "patch_size=6"]


@fast(30)
@given(st.lists(st.tuples(st.sampled_from(list(FIELDS)) | st.text(max_size=10), TEXTS),
                max_size=4))
def test_cli_set_with_random_values_exits_with_a_documented_status(assignments):
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "data"
        empty.mkdir()
        argv = ["train", "--steps", "2", "--device", "cpu", "--quiet", "--data-dir",
                str(empty)]
        for key, value in assignments:
            argv += ["--set", f"{key}={value}"]
        code, _, err = run_cli([*argv, *SMALL, "--out", str(Path(tmp) / "out")])
        assert_cli_contract(code, err)
        if code in (cli.EXIT_OK, cli.EXIT_DIVERGED):
            assert load_run(Path(tmp) / "out" / "run.pt")["config"].hidden_units == 6
            assert (Path(tmp) / "out" / "summary.json").is_file()


class _ReachedTraining(BaseException):
    """Raised where training would start: the arguments passed every check."""


VOCABULARY = [
    "train", "presets", "datasets", "gradcheck", "--preset", "kl-demo", "notes-l1",
    "ufldl-patches", "--dataset", "digits", "patches", "mnist", "emnist", "folder", "npz",
    "--data-dir", "--steps", "--epochs", "--device", "cpu", "auto", "cuda", "tpu", "--seed",
    "--set", "rho=0.1", "lr=-1", "penalty=kl", "encoder_activation=relu", "--resume",
    "--out", "--quiet", "--download", "--help", "-h", "~nosuchuser12345/data", "", "-", "--",
    "0", "1", "-1", "1e999", "nan", "inf", "3.5", "x" * 300, "a/" * 200, "/dev/null",
    "/proc/self", ".", "..",
]


@fast(150)
@given(st.lists(st.sampled_from(VOCABULARY) | st.text(max_size=15), max_size=9))
def test_cli_with_random_arguments_exits_with_a_documented_status(argv):
    """Random argv tokens: parsing and every check before training; no network, no
    gradient check, and training itself replaced by a marker (tested on its own above)."""
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        from core.data import download

        def offline(*_args, **_kwargs):
            raise download.DownloadError("offline in this test")

        def reached(*_args, **_kwargs):
            raise _ReachedTraining

        patch.setenv("RHOSCOPE_DATA_DIR", tmp)
        patch.setattr(download, "download_family", offline)
        patch.setattr(Trainer, "create", reached)
        patch.setattr(cli, "_gradcheck", lambda: cli.EXIT_OK)
        try:
            code, _, err = run_cli(argv)
        except _ReachedTraining:
            return
        assert_cli_contract(code, err)


# -------------------------------------------------------------------------- saved runs


@functools.cache
def run_bytes() -> bytes:
    """A real, small run file (made once)."""
    return _small_run_bytes()


def _small_run_bytes() -> bytes:
    trainer = Trainer(TrainConfig(hidden_units=4, samples=240, batch_size=20),
                      load_dataset("digits", samples=240, validation_fraction=0.1), "cpu")
    for _ in range(3):
        trainer.step()
    with tempfile.TemporaryDirectory() as tmp:
        return save_run(Path(tmp) / "run.pt", trainer.state_dict(), "kl-demo").read_bytes()


def assert_refused_cleanly(path: Path, error: CheckpointError) -> None:
    assert_one_line(str(error), str(path))


@fast(100)
@given(st.binary(max_size=3000))
@example(b"")
@example(b"PK\x03\x04" + bytes(100))  # a zip header (torch's format) with nothing behind
def test_random_bytes_are_refused_as_a_run_file(content):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.pt"
        path.write_bytes(content)
        with pytest.raises(CheckpointError) as info:
            load_run(path)
        assert_refused_cleanly(path, info.value)


@fast(60)
@given(data=st.data())
def test_a_damaged_run_file_loads_or_is_refused_never_crashes(data):
    """Truncated, overwritten or bit-flipped real run files."""
    content = bytearray(run_bytes())
    how = data.draw(st.sampled_from(["truncate", "flip", "overwrite"]), label="damage")
    if how == "truncate":
        content = content[:data.draw(st.integers(0, len(content) - 1), label="length")]
    elif how == "flip":
        for _ in range(data.draw(st.integers(1, 8), label="flips")):
            index = data.draw(st.integers(0, len(content) - 1))
            content[index] ^= 1 << data.draw(st.integers(0, 7))
    else:
        start = data.draw(st.integers(0, len(content) - 1), label="start")
        junk = data.draw(st.binary(min_size=1, max_size=200), label="junk")
        content[start:start + len(junk)] = junk
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.pt"
        path.write_bytes(bytes(content))
        try:
            payload = load_run(path)
        except CheckpointError as error:
            assert_refused_cleanly(path, error)
            return
        assert isinstance(payload["config"], TrainConfig)


LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-3, 2 ** 40), HUGE_INTS.filter(
    lambda v: v.bit_length() < 60), st.floats(), st.text(max_size=8),
    st.integers(0, 5).map(torch.zeros), st.integers(0, 5).map(
        lambda n: torch.arange(n, dtype=torch.uint8)))
TREES = st.recursive(LEAVES, lambda children: st.lists(children, max_size=3)
                     | st.dictionaries(st.text(max_size=6), children, max_size=3),
                     max_leaves=6)


def _set_path(payload: dict, path: tuple[str, ...], value) -> None:
    target = payload
    for key in path[:-1]:
        target = target[key]
        if not isinstance(target, dict):  # replaced by an earlier draw
            return
    target[path[-1]] = value


@fast(60)
@given(data=st.data())
def test_run_files_with_random_parts_are_refused_or_resume(data):
    """A well-formed file whose parts (format version, settings, counters, histories...)
    hold random values: refused with a message, or (where the value is harmless) the CLI
    resumes it, still without a traceback."""
    payload = torch.load(io.BytesIO(run_bytes()), weights_only=True)
    paths = [(key,) for key in payload]
    paths += [(part, key) for part in ("config", "counters", "tracker", "history")
              for key in payload[part]]
    for path in data.draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3,
                                   unique=True), label="paths"):
        _set_path(payload, path, data.draw(TREES, label="/".join(path)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.pt"
        torch.save(payload, path)
        try:
            load_run(path)
        except CheckpointError as error:
            assert_refused_cleanly(path, error)
            return
        code, _, err = run_cli(["train", "--resume", str(path), "--steps", "1", "--device",
                                "cpu", "--quiet", "--out", str(Path(tmp) / "out")])
        assert_cli_contract(code, err)


# ---------------------------------------------------------------------------- data files


def idx_bytes(dtype_code: int, dims: list[int], data: bytes) -> bytes:
    return struct.pack(">BBBB", 0, 0, dtype_code, len(dims)) + struct.pack(
        f">{len(dims)}I", *dims) + data


IDX_CONTENT = st.one_of(
    st.binary(max_size=400),
    st.builds(idx_bytes, st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07, 0xFF]),
              st.lists(st.integers(0, 2 ** 32 - 1) | st.integers(0, 30), max_size=4),
              st.binary(max_size=400)),
    st.builds(lambda n, side, extra: idx_bytes(0x08, [n, side, side], bytes(n * side * side))
              + extra, st.integers(0, 6), st.integers(0, 6), st.binary(max_size=3)),
)


@fast(150)
@given(content=IDX_CONTENT, compress=st.sampled_from(["raw", "gzip", "damaged gzip"]))
@example(content=idx_bytes(0x08, [2 ** 31, 2 ** 31, 4], b""), compress="raw")  # overflow
@example(content=b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"\xff" * 40, compress="raw")
@example(content=idx_bytes(0x08, [0, 0xA8000000, 0xC30C3100], b""), compress="raw")
def test_random_idx_files_load_or_are_refused_by_name(content, compress):
    if compress == "gzip":
        content = gzip.compress(content)
    elif compress == "damaged gzip":
        content = gzip.compress(content)[:12] + content[:50]
    with tempfile.TemporaryDirectory() as tmp:
        suffix = ".gz" if compress != "raw" or content[:2] == b"\x1f\x8b" else ""
        path = Path(tmp) / f"t10k-images-idx3-ubyte{suffix}"
        path.write_bytes(content)
        try:
            array = read_idx(path)
        except IdxError as error:
            assert_one_line(str(error), str(path))
        else:
            assert isinstance(array, np.ndarray)
        try:
            images, labels, _ = load_family("mnist", Path(tmp))
        except (IdxError, DatasetMissing) as error:
            assert_one_line(str(error), str(path))
            return
        assert images.dtype == np.float32 and images.ndim == 3 and len(images) >= 1
        assert np.isfinite(images).all() and images.min() >= 0 and images.max() <= 1
        assert labels is None


def assert_images(images: np.ndarray) -> None:
    """What every loader promises: float32 (n, h, w) images, finite, in [0, 1]."""
    assert images.dtype == np.float32 and images.ndim == 3 and len(images) >= 1
    assert 2 <= images.shape[1] <= 512 and 2 <= images.shape[2] <= 512
    assert np.isfinite(images).all() and images.min() >= 0.0 and images.max() <= 1.0


ARRAYS = hnp.arrays(
    dtype=st.one_of(hnp.scalar_dtypes(), hnp.byte_string_dtypes(max_len=3),
                    hnp.unicode_string_dtypes(max_len=3)),
    shape=hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=6))


@fast(200)
@given(array=ARRAYS, compressed=st.booleans())
@example(array=np.full((2, 3, 3), np.nan), compressed=False)
@example(array=np.full((2, 3, 3), 2.0), compressed=False)
@example(array=np.full((2, 3, 3), -np.inf, np.float16), compressed=True)
@example(array=np.full((2, 3, 3), 256, np.int64), compressed=True)
def test_any_array_file_loads_in_range_or_is_refused_by_name(array, compressed):
    with tempfile.TemporaryDirectory() as tmp:
        if compressed:
            path = Path(tmp) / "images.npz"
            np.savez_compressed(path, images=array)
        else:
            path = Path(tmp) / "images.npy"
            np.save(path, array)
        try:
            images = load_array_file(path)
        except DataError as error:
            assert_one_line(str(error), str(path))
            return
        assert_images(images)


@fast(100)
@given(content=st.binary(max_size=600), suffix=st.sampled_from([".npy", ".npz"]))
@example(content=b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, "
                 b"'shape': (100000000000000,), }" + b" " * 60 + b"\n", suffix=".npy")
def test_random_bytes_as_an_array_file_are_refused_by_name(content, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"images{suffix}"
        path.write_bytes(content)
        with pytest.raises(DataError) as info:
            load_array_file(path)
        assert_one_line(str(info.value), str(path))


def _a_png() -> bytes:
    return encode_gray_png(np.arange(64, dtype=np.uint8).reshape(8, 8) * 4)


@fast(60)
@given(files=st.lists(st.one_of(
    st.binary(max_size=300),
    st.builds(lambda cut: _a_png()[:cut], st.integers(0, len(_a_png()))),
    st.builds(lambda i, b: _a_png()[:i] + bytes([b]) + _a_png()[i + 1:],
              st.integers(0, len(_a_png()) - 1), st.integers(0, 255)),
    st.just(_a_png())), min_size=1, max_size=4))
def test_a_folder_of_random_and_damaged_images_loads_or_is_refused(files):
    """Damaged files are skipped and counted; a folder with none readable is refused."""
    with tempfile.TemporaryDirectory() as tmp:
        for index, content in enumerate(files):
            (Path(tmp) / f"image{index}.png").write_bytes(content)
        try:
            images, report = load_image_folder(Path(tmp))
        except DataError as error:
            assert_one_line(str(error), tmp)
            return
        assert_images(images)
        assert report.loaded + len(report.skipped) == len(files)
        for _name, reason in report.skipped:
            assert_one_line(reason)


@fast(60)
@given(flushes=st.lists(st.integers(1, 9), min_size=1, max_size=5),
       batch=st.integers(1, 7), window=st.integers(1, 40), data=st.data())
def test_the_unit_tracker_folds_any_number_of_batches_as_one_at_a_time(
        flushes, batch, window, data):
    """``UnitTracker.update`` folds each flush's batches at once (the running averages as
    one weighted sum, one maximum per dead-unit window); the result is that of the
    definitions applied one batch at a time, wherever the flushes and windows end."""
    from core.metrics import MetricSettings, UnitTracker

    settings = MetricSettings(dead_window_samples=window, zero_eps=0.3, ema_decay=0.9)
    tracker = UnitTracker(5, torch.device("cpu"), settings)
    averages, window_max, last_window, samples = None, np.zeros(5), None, 0
    for count in flushes:
        distance = data.draw(hnp.arrays(np.float32, (count, batch, 5),
                                        elements=st.floats(0, 1, width=32)))
        rho_hat = data.draw(hnp.arrays(np.float32, (count, 5),
                                       elements=st.floats(0, 1, width=32)))
        near_zero = tracker.update(torch.from_numpy(distance.copy()),
                                   torch.from_numpy(rho_hat)).numpy()
        for index in range(count):  # the definitions, batch by batch, in float64
            fractions = (distance[index] < settings.zero_eps).mean(axis=0)
            np.testing.assert_array_equal(near_zero[index], fractions.astype(np.float32))
            batch_values = np.stack([rho_hat[index], fractions]).astype(np.float64)
            averages = (batch_values if averages is None
                        else averages + (1 - settings.ema_decay) * (batch_values - averages))
            window_max = np.maximum(window_max, distance[index].max(axis=0))
            samples += batch
            if samples >= window:
                last_window, window_max, samples = window_max, np.zeros(5), 0
    assert tracker.updates == sum(flushes)
    np.testing.assert_allclose(tracker.rho_hat_ema.numpy(), averages[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tracker.near_zero_ema.numpy(), averages[1], rtol=1e-5,
                               atol=1e-6)
    expected_dead = (window_max if last_window is None else last_window) < settings.zero_eps
    if last_window is None and samples == 0:
        expected_dead = np.zeros(5, bool)
    np.testing.assert_array_equal(tracker.dead_units().numpy(), expected_dead)


def test_the_unit_tracker_takes_a_window_already_full_and_no_batches():
    """A window whose samples already reach its size (a state saved under a larger
    window) closes at the next batch; no batches change nothing; the very first fold
    replaces whatever the averages held."""
    from core.metrics import MetricSettings, UnitTracker

    tracker = UnitTracker(3, torch.device("cpu"), MetricSettings(dead_window_samples=10))
    tracker._averages.fill_(float("nan"))
    tracker.update(torch.zeros(0, 4, 3), torch.zeros(0, 3))
    assert tracker.updates == 0
    tracker._window_samples = 15
    tracker.update(torch.full((2, 4, 3), 0.5), torch.full((2, 3), 0.25))
    assert tracker.updates == 2 and tracker._window_samples == 4
    assert torch.isfinite(tracker._averages).all()
    np.testing.assert_allclose(tracker.rho_hat_ema.numpy(), 0.25, rtol=1e-6)
