"""Long runs on the CPU: what subnormal floats cost, and what the trainer does about them.

    python benchmarks/bench_long_run.py [--preset kl-demo] [--steps 3200] [--every 400] [--quick]

Numbers below 1.2e-38 (float32) are subnormal, and x86 arithmetic on them takes a slow
microcode path.  In a long kl-demo run they come from two places: sigmoid units driven
far below zero (activations such as 1e-39 feed every matrix product) and weight decay
pulling the weights of always-blank pixels toward zero.  The app's training threads flush
subnormals to zero (``flush_subnormals_to_zero``: FTZ/DAZ); where a thread does not, the
trainer zeroes subnormal weights and moments at every flush (``Trainer.zero_subnormals``,
a pass over every weight that costs a few ms).

Three identical trainers (same preset and seed) train in alternating blocks, each in a
thread of its own, because the mode belongs to a thread and its OpenMP workers: neither
remedy, zeroing only, and flushing to zero (as the app runs).  The table shows samples/s per block
and the shares of the encoder weights and hidden activations that are subnormal without
either remedy.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
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


def subnormal_share(values: torch.Tensor) -> float:
    magnitude = values.detach().abs()
    return float(((magnitude != 0) & (magnitude < torch.finfo(values.dtype).tiny)
                  ).float().mean())


def subnormal_shares(trainer: Trainer) -> tuple[float, float]:
    """Shares of subnormal encoder weights and of subnormal hidden activations (on 1,000
    training images)."""
    with torch.no_grad():
        hidden = trainer.model.encode(trainer._data[:1000])
    return subnormal_share(trainer.model.encoder_weight), subnormal_share(hidden)


def thread_with_mode(flush_to_zero: bool) -> ThreadPoolExecutor:
    """One thread whose floating-point mode is set before its first torch operation (its
    OpenMP workers are created later, by it, and copy the mode)."""
    return ThreadPoolExecutor(1, initializer=torch.set_flush_denormal,
                              initargs=(flush_to_zero,))


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
    torch.set_flush_denormal(False)  # threads copy the mode of the thread creating them
    config = PRESETS[args.preset].config
    dataset = load_for_config(config)
    names = ("neither", "zeroing only", "FTZ (app)")
    trainers = {name: Trainer(config, dataset, "cpu") for name in names}
    trainers["neither"].zero_subnormals = False
    threads = {"neither": thread_with_mode(False), "zeroing only": thread_with_mode(False),
               "FTZ (app)": thread_with_mode(True)}
    print(f"preset {args.preset}: {config.hidden_units} units, batch {config.batch_size}, "
          f"{config.optimizer}, weight decay {config.weight_decay:g}; samples/s per block")
    print(f"{'steps':>6}" + "".join(f"  {name:>12}" for name in names)
          + f"  {'FTZ / neither':>14}  {'subnormal W1, a (neither)':>25}")
    ratios = []
    try:
        for done in range(args.every, args.steps + 1, args.every):
            rates = {name: threads[name].submit(block, trainers[name], args.every).result()
                     for name in names}
            ratios.append(rates["FTZ (app)"] / rates["neither"])
            weights, hidden = threads["neither"].submit(subnormal_shares,
                                                        trainers["neither"]).result()
            print(f"{done:>6}" + "".join(f"  {rates[name]:>12,.0f}" for name in names)
                  + f"  {ratios[-1]:>13.2f}x  {weights:>16.1%}, {hidden:.2%}")
    finally:
        for thread in threads.values():
            thread.shutdown()
    print(f"\nflushing to zero / neither: {ratios[0]:.2f}x in the first block, "
          f"{ratios[-1]:.2f}x in the last")


if __name__ == "__main__":
    main()
