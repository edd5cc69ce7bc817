"""A short soak in CI: the studio trains and redraws while a lecturer clicks around, and
neither memory nor threads grow (benchmarks/soak.py runs the long version)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.mark.slow
def test_a_short_soak_keeps_memory_and_threads_flat(qtbot):
    import soak

    samples = soak.soak(seconds=24, every=2)
    assert len(samples) >= 10
    assert samples[-1].step > samples[0].step  # it trained all along
    assert soak.growth_mb(samples, warm_up=8) < soak.GROWTH_BOUND_MB
    assert len({sample.threads for sample in samples}) == 1
    assert min(sample.redraw_hz for sample in samples[2:]) > 3
