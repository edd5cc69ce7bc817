"""Time the built-in natural-image patches on one core: generate_patches(10000, 8 and 14).

Run from the repository root: python benchmarks/bench_patches.py [--quick]
"""

from __future__ import annotations

import os

# one core for the BLAS behind numpy too; must be set before numpy is imported
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from core.data.patches import generate_patches  # noqa: E402

COUNT = 10_000
PATCH_SIZES = (8, 14)
REPEATS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a tiny run that only proves the script works (CI)")
    args = parser.parse_args()
    count, repeats = (500, 1) if args.quick else (COUNT, REPEATS)
    torch.set_num_threads(1)
    generate_patches(100, 8, seed=123)  # warm up: imports, caches, allocator
    for patch_size in PATCH_SIZES:
        timings = []
        for repeat in range(repeats):
            start = time.perf_counter()
            generate_patches(count, patch_size, seed=repeat)
            timings.append(time.perf_counter() - start)
        best = min(timings)
        print(
            f"generate_patches({count}, {patch_size}): best {best:.3f} s of {repeats} "
            f"({', '.join(f'{t:.3f}' for t in timings)}) -> {count / best:,.0f} patches/s "
            f"(1 thread)"
        )


if __name__ == "__main__":
    main()
