"""A change's effect on training speed: this checkout's core against another revision's.

    python benchmarks/ab_core.py [--against REV] [--preset notes-l1] [--rounds 40]
                                 [--steps 64] [--tiny] [--mnist DIR] [--quick]

REV's ``core/`` (``git archive``, default ``HEAD``) is unpacked into a temporary folder as
the package ``core_before`` (its imports rewritten to it), and one trainer from each
version trains the preset on the same images, in alternating slices of ``--steps`` steps
(ten times as many with ``--tiny``; the order swapped every round), so a neighbour's
burst or a change of clock slows both alike: on this shared machine the same code timed
a minute apart varies by more than the changes worth measuring.  It prints the median of
the rounds' ratios (before / after: above 1, the checkout is faster) with the quartiles.
``--tiny`` shrinks the model to 4 units and batch 4, where every kernel is trivial, so
the ratio shows what a change does to the per-call cost alone.  Without the MNIST files
(``--mnist``) the built-in digits stand in.  Changes outside ``core/`` (the GUI, the
worker) are not timed here.
"""

from __future__ import annotations

import argparse
import importlib
import io
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.devices import flush_subnormals_to_zero  # noqa: E402
from core.presets import PRESETS  # noqa: E402

BEFORE = "core_before"


#: ``core`` where it names the package: ``core.x`` (not ``np.core.x``), ``import core``
#: and ``from core import``.
OWN_NAME = re.compile(r"(?<![\w.])core(?=\.[a-z_])|(?<=import )core\b|(?<=from )core(?= import)")


def unpack_core(revision: str, folder: Path) -> None:
    """``revision``'s core/ as the package ``core_before`` under ``folder``."""
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "core"],
                                 check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        message = getattr(error, "stderr", b"") or str(error).encode()
        sys.exit(f"--against {revision}: git archive failed: {message.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.10.12+, 3.11.4+
            tar.extractall(folder, filter="data")
        else:  # git's own archive of a tracked folder
            tar.extractall(folder)
    package = folder / BEFORE
    (folder / "core").rename(package)
    for source in package.rglob("*.py"):
        source.write_text(OWN_NAME.sub(BEFORE, source.read_text()))


def make_trainer(package: str, preset: str, tiny: bool, mnist: Path | None):
    """A CPU trainer of ``package`` (``core`` or ``core_before``) on the preset's data."""
    trainer_module = importlib.import_module(f"{package}.trainer")
    presets = importlib.import_module(f"{package}.presets")
    data = importlib.import_module(f"{package}.data")
    config = presets.PRESETS[preset].config.replace(validation_fraction=0.0)
    if config.dataset == "mnist" and mnist is None:
        config = config.replace(dataset="digits", samples=10_000)
    if tiny:
        config = config.replace(hidden_units=4, batch_size=4)
    return trainer_module.Trainer(config, data.load_for_config(config, mnist), "cpu")


def seconds_per_step(trainer, steps: int) -> float:
    started = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    return (time.perf_counter() - started) / steps


def alternate(before, after, rounds: int, steps: int) -> tuple[list[float], list[float]]:
    """Seconds a step of each trainer, timed in turns (the order swapped every round)."""
    for trainer in (before, after):  # warm: first allocations, Adam's state
        seconds_per_step(trainer, 5 * steps)
    before_times, after_times = [], []
    for round_ in range(rounds):
        if round_ % 2:
            after_times.append(seconds_per_step(after, steps))
            before_times.append(seconds_per_step(before, steps))
        else:
            before_times.append(seconds_per_step(before, steps))
            after_times.append(seconds_per_step(after, steps))
    return before_times, after_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", default="HEAD", help="git revision (default HEAD)")
    parser.add_argument("--preset", default="notes-l1", choices=sorted(PRESETS))
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--steps", type=int, default=64, help="steps per slice")
    parser.add_argument("--tiny", action="store_true", help="4 units, batch 4")
    parser.add_argument("--mnist", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--quick", action="store_true",
                        help="two short rounds that only prove the script works (CI)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.steps = 2, 4
    flush_subnormals_to_zero()  # as the app's training threads do
    mnist = Path(args.mnist)
    if not (mnist / "t10k-images-idx3-ubyte.gz").is_file():
        print(f"no MNIST test files in {mnist} (--mnist DIR): the built-in digits stand in")
        mnist = None

    steps = args.steps * (10 if args.tiny else 1)
    with tempfile.TemporaryDirectory(prefix="rhoscope-ab-") as folder:
        unpack_core(args.against, Path(folder))
        sys.path.insert(0, folder)
        try:
            before = make_trainer(BEFORE, args.preset, args.tiny, mnist)
            after = make_trainer("core", args.preset, args.tiny, mnist)
            before_times, after_times = alternate(before, after, args.rounds, steps)
        finally:
            sys.path.remove(folder)
            for name in [name for name in sys.modules if name.split(".")[0] == BEFORE]:
                del sys.modules[name]
    ratios = [b / a for b, a in zip(before_times, after_times, strict=True)]

    model = "4 units, batch 4" if args.tiny else "as the preset has it"
    print(f"{args.preset} ({model}), {args.rounds} rounds of {steps} steps each")
    print(f"{'':28} {'µs a step (median)':>20}")
    print(f"{args.against + ' (before)':28} {statistics.median(before_times) * 1e6:20.0f}")
    print(f"{'this checkout (after)':28} {statistics.median(after_times) * 1e6:20.0f}")
    low, _, high = (statistics.quantiles(ratios, n=4) if len(ratios) > 1
                    else (ratios[0],) * 3)
    print(f"before / after: {statistics.median(ratios):.3f}x, median of the rounds "
          f"(quartiles {low:.3f}-{high:.3f}; above 1: this checkout is faster)")


if __name__ == "__main__":
    main()
