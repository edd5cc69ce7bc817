"""Training speed: Rhoscope's core against the notes-style loop, and against the CPU's GEMM.

    python benchmarks/bench_training.py [--mnist DIR] [--seconds 8] [--rounds 3] [--quick]

Both loops train the notes' model (784-400 tanh, L1Penalty(0.1), 784 sigmoid, MSE, Adam
1e-3, batch 128) on the same MNIST images.  The reference is written as the notes write
it: a torchvision ``MNIST`` dataset with ``ToTensor``, a ``DataLoader``, ``.view`` per
batch.  The two are timed in alternating rounds in one process, so a noisy neighbour
slows both alike; the ratio is what counts.  The same run measures the machine's GEMM
rate (the step's forward product, repeated, into the faster of its two output layouts)
and reports the training step's achieved
FLOP rate as a fraction of it (five matrix products of 2·B·D·H flops per step: two
forward, three backward), the two timed in alternating 50 ms slices, beside the rate of
the step's five products alone; and it times the core with autograd's gradient in place
of the hand-derived one (``Trainer.hand_gradients``).
Like the app's training threads, this one flushes subnormals to zero.  Without the MNIST
files (``--mnist``) the built-in digits stand in, written as IDX files for torchvision.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import TrainConfig  # noqa: E402
from core.data import load_dataset  # noqa: E402
from core.devices import flush_subnormals_to_zero  # noqa: E402
from core.penalties import L1Penalty  # noqa: E402
from core.presets import PRESETS  # noqa: E402
from core.trainer import Trainer  # noqa: E402

BATCH, INPUT, HIDDEN = 128, 784, 400


class L1PenaltyLayer(nn.Module):
    """The notes' layer: the autograd function as a module in nn.Sequential."""

    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return L1Penalty.apply(x, self.weight)


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte IDX file: magic 0x08 and rank, big-endian sizes, the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, np.uint8).tobytes()


def write_digits_as_mnist(folder: Path, count: int = 10_000) -> Path:
    """The built-in digits as MNIST test files, for a machine without MNIST."""
    images = load_dataset("digits", samples=count).images
    pixels = np.rint(np.clip(images, 0, 1) * 255).reshape(-1, 28, 28)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(pixels)))
    labels = np.zeros(len(pixels), np.uint8)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    return folder


def torchvision_root(mnist: Path) -> Path:
    """A folder torchvision's MNIST accepts: it wants all four raw files even for one
    split, so the test split stands in for the missing training files."""
    root = Path(tempfile.mkdtemp(prefix="rhoscope-bench-"))
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for kind in ("images-idx3", "labels-idx1"):
        data = gzip.decompress((mnist / f"t10k-{kind}-ubyte.gz").read_bytes())
        (raw / f"t10k-{kind}-ubyte").write_bytes(data)  # torchvision reads them unpacked
        (raw / f"train-{kind}-ubyte").write_bytes(data)
    return root


def reference_loop(root: Path, seconds: float) -> float:
    """The notes-style loop; returns samples per second."""
    from torchvision import datasets, transforms

    dataset = datasets.MNIST(str(root), train=False, download=False,
                             transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True)
    model = nn.Sequential(nn.Linear(INPUT, HIDDEN), nn.Tanh(), L1PenaltyLayer(0.1),
                          nn.Linear(HIDDEN, INPUT), nn.Sigmoid())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.MSELoss()
    samples, started = 0, time.perf_counter()
    while True:
        for images, _ in loader:
            images = images.view(-1, INPUT)
            optimizer.zero_grad()
            loss = criterion(model(images), images)
            loss.backward()
            optimizer.step()
            samples += len(images)
            if time.perf_counter() - started > seconds:
                return samples / (time.perf_counter() - started)


def core_loop(trainer: Trainer, seconds: float) -> float:
    samples, started = trainer.samples_seen, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(32):
            trainer.step()
    trainer.flush()
    return (trainer.samples_seen - samples) / (time.perf_counter() - started)


def interleaved_rates(trainer: Trainer, seconds: float) -> tuple[float, float, float, float]:
    """FLOP/s of the training step, of the step's five products alone, and of the reference
    product in its two output layouts, timed in alternating slices of about 50 ms, so a
    neighbour's burst or a clock change slows all alike (rates timed seconds apart varied
    by 1.6x here).

    The reference is the step's forward product on the step's operands (x row-major, W1 as
    the parameter is stored), written as the notes write it (``x @ W1^T``, row-major out)
    and unit-major (out = ``(W1 x^T)^T``, the layout the step writes), each into an output
    made once: MKL runs the second faster here (benchmarks/README.md), so the machine's
    GEMM rate is the faster of the two."""
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(BATCH, INPUT, generator=generator)
    w1 = torch.randn(HIDDEN, INPUT, generator=generator) * 0.05
    w2 = torch.randn(INPUT, HIDDEN, generator=generator) * 0.05
    b1, b2 = torch.zeros(HIDDEN), torch.zeros(INPUT)
    row_major = torch.empty(BATCH, HIDDEN)
    unit_major = torch.empty(HIDDEN, BATCH).t()  # (batch, hidden), unit-major in memory

    def five_products() -> None:  # as a step has them: two forward, three backward
        a = torch.addmm(b1, x, w1.t(), out=torch.empty_like(unit_major))
        x_hat_t = torch.addmm(b2[:, None], w2, a.t())  # pixel-major, as the step's
        torch.mm(x_hat_t, a)
        da = torch.mm(x_hat_t.t(), w2, out=torch.empty_like(unit_major))
        torch.mm(da.t(), x)

    def reference_product() -> None:  # x @ W1^T, as the notes write it
        torch.mm(x, w1.t(), out=row_major)

    def reference_product_unit_major() -> None:
        torch.mm(x, w1.t(), out=unit_major)

    flops = 2 * BATCH * INPUT * HIDDEN
    slices = [(trainer.step, 16, 5 * flops), (five_products, 16, 5 * flops),
              (reference_product, 40, flops), (reference_product_unit_major, 40, flops)]
    busy, done = [0.0] * len(slices), [0] * len(slices)
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for index, (work, repeats, work_flops) in enumerate(slices):
            begun = time.perf_counter()
            for _ in range(repeats):
                work()
            busy[index] += time.perf_counter() - begun
            done[index] += repeats * work_flops
    trainer.flush()
    step, five, row_major, unit_major_rate = (d / b for d, b in zip(done, busy, strict=True))
    return step, five, row_major, unit_major_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mnist", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--seconds", type=float, default=8.0, help="per loop and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="one short round that only proves the script works (CI)")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds = 0.5, 1
    flush_subnormals_to_zero()  # as the app's training threads do, before any torch work
    mnist = Path(args.mnist)
    stand_in = None
    if not (mnist / "t10k-images-idx3-ubyte.gz").is_file():
        print(f"no MNIST test files in {mnist} (--mnist DIR): the built-in digits stand in")
        stand_in = Path(tempfile.mkdtemp(prefix="rhoscope-digits-"))
        mnist = write_digits_as_mnist(stand_in, 2000 if args.quick else 10_000)

    root = torchvision_root(mnist)
    config: TrainConfig = PRESETS["notes-l1"].config.replace(validation_fraction=0.0)
    dataset = load_dataset("mnist", data_dir=mnist)
    trainer = Trainer(config, dataset, "cpu")
    autograd_trainer = Trainer(config, dataset, "cpu")
    autograd_trainer.hand_gradients = False
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; notes' model, "
          f"batch {BATCH}, {len(trainer.dataset):,} "
          f"{'built-in digits' if stand_in else 'MNIST test images'}")
    reference, core, autograd = [], [], []
    #: step, five products, GEMM row-major out, GEMM unit-major out: FLOP/s
    rates: list[tuple[float, float, float, float]] = []
    try:
        for round_ in range(args.rounds):
            reference.append(reference_loop(root, args.seconds))
            core.append(core_loop(trainer, args.seconds))
            autograd.append(core_loop(autograd_trainer, args.seconds))
            rates.append(interleaved_rates(trainer, 0.5 if args.quick else args.seconds / 2))
            step_rate, five_rate, row_rate, unit_rate = rates[-1]
            print(f"round {round_ + 1}: reference {reference[-1]:,.0f} samples/s, core "
                  f"{core[-1]:,.0f} samples/s (with autograd {autograd[-1]:,.0f}); "
                  f"interleaved: step {step_rate / 1e9:.0f}, its five products alone "
                  f"{five_rate / 1e9:.0f}, GEMM {row_rate / 1e9:.0f} (row-major out) and "
                  f"{unit_rate / 1e9:.0f} (unit-major out) GFLOP/s")
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if stand_in is not None:
            shutil.rmtree(stand_in, ignore_errors=True)
    # Each round times both loops back to back; the median of the rounds' ratios is the
    # least disturbed by a neighbour's burst (the best rounds are shown beside it).
    speedup = statistics.median(c / r for c, r in zip(core, reference, strict=True))
    # The machine's GEMM rate: the faster layout of the reference product, each round.
    fraction = statistics.median(step / max(row, unit) for step, _, row, unit in rates)
    of_row_major = statistics.median(step / row for step, _, row, _ in rates)
    five_fraction = statistics.median(five / max(row, unit) for _, five, row, unit in rates)
    best = max(rates, key=lambda r: r[0] / max(r[2], r[3]))
    print(f"\ncore / reference: {speedup:.2f}x, median of the rounds (best rounds: "
          f"{max(core):,.0f} vs {max(reference):,.0f} samples/s; target >= 3x)")
    print(f"training step: {fraction:.0%} of the GEMM rate (its faster layout), median of "
          f"the rounds (best: {best[0] / 1e9:.0f} of {max(best[2], best[3]) / 1e9:.0f} "
          f"GFLOP/s; target >= 60%); {of_row_major:.0%} of the row-major product's rate "
          f"(x @ W1^T, as the notes write it); its five products alone: {five_fraction:.0%}")
    by_hand = statistics.median(c / a for c, a in zip(core, autograd, strict=True))
    print(f"hand-derived gradient / autograd: {by_hand:.2f}x, median of the rounds")


if __name__ == "__main__":
    main()
