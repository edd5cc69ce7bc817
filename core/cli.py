"""The headless command line: ``train``, ``presets``, ``datasets``, ``gradcheck``.

A stable contract for scripts, never a traceback: bad input exits with status 2 and one
line naming the field and what is allowed; a failure outside the user's input (a full
disk, a failing device, out of memory) exits with 1 and one line, leaving the ``--out``
folder's earlier files as they were; divergence exits with 3 (``run.pt`` keeps the last
good weights); Ctrl+C or SIGTERM saves what was done and exits with 130 (a second Ctrl+C,
or one before training starts, stops at once and writes nothing more).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import NoReturn

from core.config import FIELDS, ConfigError, TrainConfig, parse_assignment
from core.devices import DEVICE_CHOICES, subnormals_flushed_to_zero

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
MAX_CSV_ROWS = 2000


class UsageError(Exception):
    """Bad input: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


class _StopRequests:
    """Turn the first Ctrl+C or SIGTERM into a request to stop between two steps (so the
    saved run is never half-updated); a second Ctrl+C interrupts at once."""

    def __init__(self) -> None:
        self.requested = ""
        self._previous: dict[int, object] = {}

    def _handle(self, number: int, _frame: object) -> None:
        if self.requested and number == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signal.Signals(number).name

    def __enter__(self) -> _StopRequests:
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)


def _positive_int(name: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} = {text!r} is not allowed: an integer >= 1") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} = {value} is not allowed: an integer >= 1")
        return value
    return parse


def _positive_float(name: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"{name} = {text!r} is not allowed: a number > 0")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    from core.presets import DEFAULT_PRESET

    parser = _Parser(
        prog="python main.py",
        description="Rhoscope: watch a sparse autoencoder learn. Without a command, "
                    "opens the window; these commands run headless.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser("train", help="train headless and write the results to --out")
    train.add_argument("--preset", help=f"see `presets` (default: {DEFAULT_PRESET}, or "
                                        "the resumed run's)")
    train.add_argument("--dataset", choices=FIELDS["dataset"].choices,
                       help="data set (default: the preset's)")
    train.add_argument("--data-dir", help="folder holding the MNIST IDX files "
                       "(default: $RHOSCOPE_DATA_DIR, else the user's data folder)")
    length = train.add_mutually_exclusive_group()
    length.add_argument("--steps", type=_positive_int("--steps"),
                        help="optimizer steps (default: the preset's length)")
    length.add_argument("--epochs", type=_positive_float("--epochs"),
                        help="passes over the data")
    train.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    train.add_argument("--seed", type=int, help="seed of the weights and the batch order")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a setting; keys: " + ", ".join(FIELDS))
    train.add_argument("--resume", metavar="RUN.pt", help="continue a saved run")
    train.add_argument("--out", required=True, help="output folder")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    datasets = commands.add_parser(
        "datasets", help="list the data sets: present or not, where looked for, how to get")
    datasets.add_argument("--data-dir", help="folder holding the MNIST-family IDX files "
                          "(default: $RHOSCOPE_DATA_DIR, else the user's data folder)")
    datasets.add_argument("--download", metavar="NAME",
                          help="download one of mnist, fashion-mnist, kmnist, emnist into the "
                               "data folder")

    commands.add_parser("presets", help="list the presets")
    commands.add_parser("gradcheck", help="check the gradients of every cost in float64")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit status is one of EXIT_* and a failure is one line on
    stderr, never a traceback (``--help`` exits through argparse with 0)."""
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        for token in argv:
            if "\0" in token:  # no real command line holds one; paths would choke on it
                raise UsageError(f"argument {token[:40]!r} holds a NUL character")
        args = build_parser().parse_args(argv)
        if args.command == "train":
            return _train(args)
        if args.command == "presets":
            return _presets()
        if args.command == "datasets":
            return _datasets(args)
        if args.command == "gradcheck":
            return _gradcheck()
        build_parser().print_help()
        return EXIT_OK
    except (UsageError, ConfigError) as error:
        _say_error(error)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\nrhoscope: interrupted (Ctrl+C); nothing more was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (OSError, MemoryError) as error:  # a full disk, no permission, too little memory
        _say_error(error)
        return EXIT_FAILED


def _say_error(error: BaseException) -> None:
    """One line on stderr: ``rhoscope: error: <what is wrong>``."""
    if isinstance(error, MemoryError):
        text = f"out of memory ({str(error) or 'no detail'}): use fewer samples or hidden units"
    elif isinstance(error, OSError) and error.strerror and error.filename:
        text = f"{error.filename}: {error.strerror}"
    else:
        text = str(error) or type(error).__name__
    text = " ".join(text.split())  # always one line
    print(f"rhoscope: error: {text}", file=sys.stderr)


def _presets() -> int:
    from core.presets import DEFAULT_PRESET, PRESETS

    for preset in PRESETS.values():
        marker = " (default)" if preset.name == DEFAULT_PRESET else ""
        config = preset.config
        print(f"{preset.name}{marker}\n    {preset.summary}\n"
              f"    data: {config.dataset}; length: {preset.length}")
    return EXIT_OK


def _datasets(args: argparse.Namespace) -> int:
    from core.data import DATASETS, dataset_available, how_to_get, resolve_data_dir
    from core.data.families import FAMILIES

    folder = resolve_data_dir(args.data_dir)
    if args.download:
        if args.download not in FAMILIES:
            raise UsageError(f"--download = {args.download!r} is not allowed: one of "
                             + ", ".join(FAMILIES))
        return _download(args.download, folder)
    print(f"data folder: {folder}")
    for name, description in DATASETS.items():
        if name in ("digits", "patches"):
            state = "built in"
        elif name in FAMILIES:
            state = "present" if dataset_available(name, folder) else "missing"
        else:
            state = "your data"
        print(f"  {name:14s} {state:9s} {description}")
        if state != "built in":
            print(f"  {'':14s} {'':9s} {how_to_get(name, folder)}")
    return EXIT_OK


def _download(name: str, folder: Path) -> int:
    from core.data.download import (
        DownloadCancelled,
        DownloadError,
        download_family,
        download_folder,
    )
    from core.progress import ProgressBar

    bar: list[ProgressBar] = []

    def progress(done: int, total: int | None, what: str) -> bool:
        if not bar:
            bar.append(ProgressBar(total or 1))
        bar[0].total = max(1, total or done)
        bar[0].update(done, what)
        return True

    try:
        with _StopRequests() as stop:
            def cancellable(done: int, total: int | None, what: str) -> bool:
                return progress(done, total, what) and not stop.requested

            paths = download_family(name, folder, cancellable)
    except DownloadCancelled:
        print(f"\nrhoscope: download of {name} cancelled: the partial file was removed, "
              "completed files are kept for a retry", file=sys.stderr)
        return EXIT_INTERRUPTED
    except DownloadError as error:
        print(f"\nrhoscope: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if bar:
            bar[0].close()
    print(f"{name}: {len(paths)} file(s) in {download_folder(name, folder)}")
    return EXIT_OK


def _gradcheck() -> int:
    from core.gradcheck import THRESHOLD, run_gradcheck

    print(f"gradient check, float64: norm(num - ana) / norm(num + ana) < {THRESHOLD:g}")
    results = run_gradcheck()
    for result in results:
        verdict = "ok  " if result.passed else "FAIL"
        print(f"  {verdict} {result.relative_difference:9.2e}  {result.case}")
    failed = [r for r in results if not r.passed]
    print("all passed" if not failed else f"{len(failed)} failed")
    return EXIT_OK if not failed else EXIT_FAILED


def _config_from_args(args: argparse.Namespace) -> tuple[str, TrainConfig]:
    from core.presets import DEFAULT_PRESET, get_preset

    preset = get_preset(args.preset or DEFAULT_PRESET)
    settings = dict(preset.settings)
    if args.dataset and args.dataset != settings.get("dataset"):
        settings["dataset"] = args.dataset
        settings["samples"] = 0  # the preset's count was for its own data: take them all
    if args.seed is not None:
        settings["seed"] = args.seed
    for assignment in args.set:
        key, value = parse_assignment(assignment)
        settings[key] = value
    return preset.name, TrainConfig.from_dict(settings)


def _train(args: argparse.Namespace) -> int:
    with subnormals_flushed_to_zero():  # before any torch work: OpenMP workers copy it
        return _train_with(args)


def _train_with(args: argparse.Namespace) -> int:
    from core.checkpoint import CheckpointError, load_run, save_run
    from core.data import DataError, DatasetMissing, IdxError
    from core.presets import DEFAULT_PRESET, get_preset
    from core.report import (
        MetricsWriter,
        build_summary,
        save_encoder_mosaic,
        write_summary,
    )
    from core.trainer import DivergenceError, Trainer, steps_for

    payload = None
    live: dict = {}
    if args.resume:
        if args.dataset or args.seed is not None:
            raise UsageError("--dataset and --seed cannot change a resumed run (its data and "
                             "weights are fixed): allowed with --resume are --set for live "
                             "settings, --steps/--epochs, --device, --data-dir, --out")
        try:
            payload = load_run(args.resume)
        except CheckpointError as error:
            raise UsageError(str(error)) from None
        live = dict(parse_assignment(a) for a in args.set)
        config = payload["config"]
        preset_name = args.preset or payload.get("preset") or DEFAULT_PRESET
        get_preset(preset_name)  # an unknown --preset is still an error
    else:
        preset_name, config = _config_from_args(args)
    try:
        trainer = Trainer.create(config, args.device, args.data_dir)
    except (DatasetMissing, IdxError, DataError) as error:
        raise UsageError(str(error)) from None
    except RuntimeError as error:  # CUDA out of memory, a device that fails
        print(f"rhoscope: error: {_device_failure(error, args.device, None)}", file=sys.stderr)
        return EXIT_FAILED
    if payload is not None:
        try:
            trainer.load_state_dict(payload)
        except Exception as error:  # any mismatch or damage is the run file's, not a crash
            raise UsageError(f"{args.resume}: does not fit this data or is damaged "
                             f"({_first_line(error)})") from None
        if live:
            trainer.update(**live)

    preset = get_preset(preset_name)
    if args.steps:
        steps = args.steps
    elif args.epochs or preset.epochs:
        steps = steps_for(args.epochs or preset.epochs, trainer.config, len(trainer.dataset))
    else:
        steps = preset.steps or 1

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out {out}: cannot create the folder ({error.strerror})") from None

    log_every = max(1, math.ceil(steps / MAX_CSV_ROWS))
    first_step = trainer.step_count
    last_step = first_step + steps
    progress = None
    if not args.quiet:
        from core.progress import ProgressBar

        progress = ProgressBar(steps)
    status, exit_code = "finished", EXIT_OK
    started = time.monotonic()
    samples_before = trainer.samples_seen
    # metrics.csv is written beside its final name and renamed at the end, so a run that
    # fails leaves the folder's previous metrics.csv (and run.pt) as they were.
    metrics_file = _PartialFile(out / "metrics.csv")
    try:
        with metrics_file as stream:
            metrics = MetricsWriter(stream)
            if payload is not None:
                metrics.write_history(trainer.history.arrays())

            def on_rows(row_steps, epochs, values, validation) -> None:
                keep = (row_steps % log_every == 0) | (row_steps == last_step)
                keep[-1] |= validation is not None  # never drop a validation measurement
                metrics.write_rows(row_steps[keep], epochs[keep], values[keep], validation)
                if progress is not None:
                    row = values[-1]
                    progress.update(int(row_steps[-1]) - first_step,
                                    f"loss {row[0]:.4g} rho_hat {row[4]:.3f}")

            trainer.row_sink = on_rows
            try:
                with _StopRequests() as stop:
                    for _ in range(steps):
                        if stop.requested:
                            break
                        trainer.step()
                    trainer.flush()
                if stop.requested:
                    status, exit_code = "interrupted", EXIT_INTERRUPTED
                    print(f"\nrhoscope: stopped at step {trainer.step_count} "
                          f"({stop.requested}); saving the run", file=sys.stderr)
            except DivergenceError as error:
                status, exit_code = "diverged", EXIT_DIVERGED
                print(f"\nrhoscope: {error}", file=sys.stderr)
            except RuntimeError as error:  # CUDA out of memory, a lost device
                if progress is not None:
                    progress.close()
                    progress = None
                print(f"\nrhoscope: error: "
                      f"{_device_failure(error, str(trainer.device), trainer.step_count + 1)}; "
                      f"nothing was saved: {out} is as it was", file=sys.stderr)
                metrics_file.discard()
                return EXIT_FAILED
            finally:
                trainer.row_sink = None
                if progress is not None:
                    progress.close()
        seconds = time.monotonic() - started

        try:
            snapshot = trainer.snapshot(full=True)  # the whole-data evaluation
        except RuntimeError as error:
            print(f"rhoscope: error: {_device_failure(error, str(trainer.device), None)}; "
                  f"nothing was saved: {out} is as it was", file=sys.stderr)
            return EXIT_FAILED
        summary = build_summary(snapshot, preset_name, trainer.dataset.description, seconds,
                                trainer.samples_seen - samples_before, status)
        # The run first: it is what a crash or a full disk must not cost.
        save_run(out / "run.pt", trainer.state_dict(), preset_name)
        write_summary(out / "summary.json", summary)
        save_encoder_mosaic(out / "encoder_mosaic.png", snapshot)
        metrics_file.commit()
    finally:
        metrics_file.discard()  # nothing left behind when anything above failed
    target = f" (rho {config.rho:g})" if config.penalty == "kl" else ""
    print(f"{status}: step {snapshot.step} of {preset_name} on {trainer.dataset.description} "
          f"({snapshot.device}) in {seconds:.1f} s, {summary['samples_per_second']:,.0f} "
          f"samples/s\n  loss {snapshot.loss.total:.5g} (reconstruction "
          f"{snapshot.loss.reconstruction:.5g}, penalty {snapshot.loss.penalty:.5g}, "
          f"weight decay {snapshot.loss.weight_decay:.5g})\n  mean rho_hat "
          f"{summary['rho_hat_mean']:.4f}{target}, {summary['dead_units']} dead "
          f"units, {summary['fraction_near_zero'] * 100:.1f}% of activations within "
          f"{snapshot.zero_eps:g} of 0, explained variance "
          f"{summary['explained_variance']:.3f}")
    if snapshot.config.penalty == "l1":
        print(_l1_note(snapshot.config, summary["fraction_near_zero"], snapshot.zero_eps))
    print(f"  wrote {out}/summary.json, metrics.csv, encoder_mosaic.png, run.pt")
    return exit_code


class _PartialFile:
    """A text file written under a temporary name beside ``path`` and renamed onto it by
    ``commit()`` (atomic); ``discard()`` removes the temporary file if it is still there."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(f".{path.name}.partial")
        self._stream = None

    def __enter__(self):
        self._stream = open(self.partial, "w", newline="")
        return self._stream

    def __exit__(self, *exc: object) -> None:
        self._close()

    def _close(self) -> None:
        if self._stream is not None and not self._stream.closed:
            self._stream.flush()
            os.fsync(self._stream.fileno())
            self._stream.close()

    def commit(self) -> None:
        self._close()
        os.replace(self.partial, self.path)

    def discard(self) -> None:
        if self._stream is not None and not self._stream.closed:
            self._stream.close()
        self.partial.unlink(missing_ok=True)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:160] if text else type(error).__name__


def _device_failure(error: RuntimeError, device: str, step: int | None) -> str:
    """One line for a step that failed on the device, with a way on."""
    where = f"at step {step} " if step is not None else ""
    text = _first_line(error)
    if "out of memory" in str(error).lower():
        way_on = "" if device == "cpu" else ", or --device cpu"
        return (f"out of memory on {device} {where}({text}): use a smaller batch_size, "
                f"fewer hidden_units or samples{way_on}")
    way_on = "" if device == "cpu" else "; try --device cpu"
    return f"the device {device} failed {where}({type(error).__name__}: {text}){way_on}"


def _l1_note(config: TrainConfig, fraction_near_zero: float, zero_eps: float) -> str:
    """What the notes' L1Penalty weight means (it is not "the fraction of zeros")."""
    scale = config.l1_weight * config.batch_size
    return (f"  L1Penalty({config.l1_weight:g}) sums over the batch of {config.batch_size}: "
            f"its loss is {scale:g} x the mean per-sample sum_j |a_j| (double the batch, "
            f"double the pull); measured: {fraction_near_zero * 100:.1f}% of activations "
            f"within {zero_eps:g} of 0")
