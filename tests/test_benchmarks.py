"""Every benchmark script runs in its ``--quick`` mode, so none can rot unnoticed.

The numbers of a quick run mean nothing (a fraction of a second, on a busy machine); the
tests only check that each script finishes, exits 0 and prints its table.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

QUICK_RUNS = {
    "ab_core.py": ["before / after:", "this checkout (after)"],
    "bench_training.py": ["core / reference:", "of the GEMM rate"],
    "bench_gui.py": ["window / headless:", "snapshot age when painted", "Pause takes effect",
                     "GUI thread"],
    "bench_frame.py": ["GUI thread per frame", "of a core at 10 Hz", "340x540 view",
                       "250x250 view"],
    "bench_startup.py": ["visible and responsive"],
    "bench_digits.py": ["images/s"],
    "bench_patches.py": ["patches/s"],
    "gpu.py": ["GEMM", "batch"],
    "bench_long_run.py": ["flushing to zero / neither:"],
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(QUICK_RUNS))
def test_the_benchmark_runs_in_quick_mode(script):
    if script == "ab_core.py" and not is_git_checkout():
        pytest.skip("ab_core.py compares with a git revision: this copy is not a checkout")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("DISPLAY", None)
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    for expected in QUICK_RUNS[script]:
        assert expected in result.stdout, result.stdout


def is_git_checkout() -> bool:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"],
                              capture_output=True).returncode == 0
    except OSError:  # no git at all
        return False


def test_every_benchmark_script_is_run_here():
    scripts = {path.name for path in (ROOT / "benchmarks").glob("*.py")} - {"soak.py"}
    assert scripts == set(QUICK_RUNS)  # soak.py runs in tests/test_soak.py
