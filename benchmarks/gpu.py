"""On a GPU: run the CUDA tests, then the notes' model at batch 128, 1024 and 8192 against
the GPU's own GEMM rate.

    python benchmarks/gpu.py [--mnist DIR] [--seconds 3] [--no-tests] [--quick]

For each batch size, the GUI-free trainer steps for a few seconds (metrics stay on the
device and are read every 32 steps, never once per step) and the script reports
samples/s, the achieved FLOP rate (five matrix products of 2·B·784·400 flops per step)
and its fraction of a float32 GEMM of the step's own shape measured in the same run (TF32
tensor cores, as the trainer uses them; target >= 40% at batch 8192).  Without a CUDA
device it measures the CPU instead, so ``--quick`` can run anywhere.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.data import load_dataset  # noqa: E402
from core.presets import PRESETS  # noqa: E402
from core.trainer import Trainer  # noqa: E402

INPUT, HIDDEN = 784, 400
FLOPS_PER_SAMPLE = 5 * 2 * INPUT * HIDDEN


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gemm_rate(device: torch.device, batch: int, seconds: float) -> float:
    """FLOP/s of a (batch, 784) x (784, 400) float32 product on ``device``."""
    a = torch.randn(batch, INPUT, device=device)
    b = torch.randn(INPUT, HIDDEN, device=device)
    for _ in range(10):
        a @ b
    synchronize(device)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(20):
            a @ b
        count += 20
        synchronize(device)
    return count * 2 * batch * INPUT * HIDDEN / (time.perf_counter() - started)


def training_rate(trainer: Trainer, seconds: float) -> float:
    """Samples/s of the trainer alone; one sync at each end of the timed stretch."""
    for _ in range(20):
        trainer.step()
    trainer.flush()
    synchronize(trainer.device)
    samples, started = trainer.samples_seen, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(32):
            trainer.step()
        trainer.flush()
    synchronize(trainer.device)
    return (trainer.samples_seen - samples) / (time.perf_counter() - started)


def run_cuda_tests() -> int:
    print("CUDA tests: python -m pytest tests/test_cuda.py tests/test_adam.py -k cuda")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/test_cuda.py",
                           "tests/test_adam.py", "-k", "cuda"], cwd=ROOT).returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mnist", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--seconds", type=float, default=3.0, help="per batch size")
    parser.add_argument("--no-tests", action="store_true", help="skip the CUDA tests")
    parser.add_argument("--quick", action="store_true",
                        help="short runs that only prove the script works (CI)")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    batches = (128, 1024, 8192)
    if args.quick:
        args.seconds = 0.3
        batches = batches if cuda else (128, 1024)
    status = 0
    if cuda and not args.no_tests:
        status = run_cuda_tests()
    name = torch.cuda.get_device_name(device) if cuda else "CPU (no CUDA device here)"
    mnist = Path(args.mnist)
    if (mnist / "t10k-images-idx3-ubyte.gz").is_file():
        dataset, what = load_dataset("mnist", data_dir=mnist), "MNIST test images"
    else:
        dataset, what = load_dataset("digits", samples=10_000), "built-in digits"
    print(f"{name}; torch {torch.__version__}; notes' model (784-400-784, L1, Adam) on "
          f"{len(dataset):,} {what}")
    print(f"{'batch':>6}  {'samples/s':>11}  {'GFLOP/s':>8}  {'GEMM GFLOP/s':>12}  "
          f"{'fraction':>8}")
    for batch in batches:
        config = PRESETS["notes-l1"].config.replace(validation_fraction=0.0,
                                                    batch_size=batch)
        trainer = Trainer(config, dataset, device.type)
        rate = training_rate(trainer, args.seconds)
        gemm = gemm_rate(device, batch, min(args.seconds, 1.0))
        achieved = rate * FLOPS_PER_SAMPLE
        print(f"{batch:>6}  {rate:>11,.0f}  {achieved / 1e9:>8,.0f}  {gemm / 1e9:>12,.0f}  "
              f"{achieved / gemm:>8.0%}")
        del trainer
    if cuda:
        print("\ntarget: at batch 8192, at least 40% of the GEMM rate")
    sys.exit(status)


if __name__ == "__main__":
    main()
