"""Long runs on the CPU: training speed with subnormal weights zeroed, or left alone.

    python benchmarks/bench_long_run.py [--preset kl-demo] [--steps 3200] [--every 400] [--quick]

Weight decay drives the weights of always-blank pixels toward zero until they become
subnormal floats, and x86 arithmetic on those is many times slower: a run slows down
after a thousand steps or so.  The trainer zeroes them at every flush
(``Trainer.zero_subnormals``).  Two identical trainers (same preset and seed) train in
alternating blocks in one process, one with and one without; the table shows both
speeds as the run goes on, and the share of subnormal encoder weights left alone.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.data import load_for_config  # noqa: E402
from core.presets import PRESETS  # noqa: E402
from core.trainer import Trainer  # noqa: E402


def block(trainer: Trainer, steps: int) -> float:
    """Train ``steps`` steps; returns samples/s."""
    samples, started = trainer.samples_seen, time.perf_counter()
    for _ in range(steps):
        trainer.step()
    trainer.flush()
    return (trainer.samples_seen - samples) / (time.perf_counter() - started)


def subnormal_share(trainer: Trainer) -> float:
    weights = trainer.model.encoder_weight.detach()
    tiny = torch.finfo(weights.dtype).tiny
    return float(((weights != 0) & (weights.abs() < tiny)).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="kl-demo")
    parser.add_argument("--steps", type=int, default=3200, help="per trainer")
    parser.add_argument("--every", type=int, default=400, help="steps per block")
    parser.add_argument("--quick", action="store_true",
                        help="a few hundred steps that only prove the script works (CI)")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.every = 100, 50
    config = PRESETS[args.preset].config
    dataset = load_for_config(config)
    zeroed, left = Trainer(config, dataset, "cpu"), Trainer(config, dataset, "cpu")
    left.zero_subnormals = False
    print(f"preset {args.preset}: {config.hidden_units} units, batch {config.batch_size}, "
          f"{config.optimizer}, weight decay {config.weight_decay:g}; samples/s per block")
    print(f"{'steps':>6}  {'left alone':>10}  {'zeroed':>9}  {'zeroed / left':>13}  "
          f"{'subnormal W1 (left)':>19}")
    ratios = []
    for done in range(args.every, args.steps + 1, args.every):
        rate_left, rate_zeroed = block(left, args.every), block(zeroed, args.every)
        ratios.append(rate_zeroed / rate_left)
        print(f"{done:>6}  {rate_left:>10,.0f}  {rate_zeroed:>9,.0f}  {ratios[-1]:>12.2f}x  "
              f"{subnormal_share(left):>19.1%}")
    print(f"\nsubnormals zeroed / left alone: {ratios[0]:.2f}x in the first block, "
          f"{ratios[-1]:.2f}x in the last")


if __name__ == "__main__":
    main()
