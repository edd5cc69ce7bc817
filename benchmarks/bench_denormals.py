"""Long runs on the CPU: training speed with subnormal floats flushed to zero, or kept.

    python benchmarks/bench_denormals.py [--mnist DIR] [--steps 4000] [--every 500] [--quick]

After a few thousand steps, tiny gradients and Adam's second moments fall below
float32's normal range; x86 arithmetic on such subnormal numbers is many times slower,
so a run that has gone on for a while slows down.  The trainer therefore flushes them to
zero during its CPU steps (``Trainer.flush_subnormals``).  Two identical trainers (the notes' model,
batch 128, same seed) train in alternating blocks in one process, one with subnormals
kept and one with them flushed; the table shows both speeds as the run goes on.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.data import load_dataset  # noqa: E402
from core.presets import PRESETS  # noqa: E402
from core.trainer import Trainer  # noqa: E402


def block(trainer: Trainer, steps: int) -> float:
    """Train ``steps`` steps; returns samples/s."""
    samples, started = trainer.samples_seen, time.perf_counter()
    for _ in range(steps):
        trainer.step()
    trainer.flush()
    return (trainer.samples_seen - samples) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mnist", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--steps", type=int, default=4000, help="per trainer")
    parser.add_argument("--every", type=int, default=500, help="steps per block")
    parser.add_argument("--quick", action="store_true",
                        help="a few hundred steps that only prove the script works (CI)")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.every = 200, 100
    mnist = Path(args.mnist)
    if (mnist / "t10k-images-idx3-ubyte.gz").is_file():
        dataset, what = load_dataset("mnist", data_dir=mnist), "MNIST test images"
    else:
        dataset, what = load_dataset("digits", samples=10_000), "built-in digits"
    config = PRESETS["notes-l1"].config.replace(validation_fraction=0.0)
    kept, flushed = Trainer(config, dataset, "cpu"), Trainer(config, dataset, "cpu")
    kept.flush_subnormals = False
    print(f"notes' model, batch {config.batch_size}, {len(dataset):,} {what}; "
          f"samples/s per block of {args.every} steps")
    print(f"{'steps':>7}  {'kept':>9}  {'flushed':>9}  {'flushed / kept':>14}")
    ratios = []
    for done in range(args.every, args.steps + 1, args.every):
        rate_kept = block(kept, args.every)
        rate_flushed = block(flushed, args.every)
        ratios.append(rate_flushed / rate_kept)
        print(f"{done:>7}  {rate_kept:>9,.0f}  {rate_flushed:>9,.0f}  {ratios[-1]:>13.2f}x")
    print(f"\nsubnormals flushed / kept: {ratios[0]:.2f}x in the first block, "
          f"{ratios[-1]:.2f}x in the last")


if __name__ == "__main__":
    main()
