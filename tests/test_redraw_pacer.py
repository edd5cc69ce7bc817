"""The Redraw box's Auto: the rate that keeps the window's CPU within its budget."""

from __future__ import annotations

import math

import pytest

from gui.redraw_pacer import MIN_AUTO_HZ, SMOOTHING, RedrawPacer


def test_full_rate_until_a_frame_is_measured():
    pacer = RedrawPacer(10.0, budget=0.06)
    assert pacer.hz == 10.0
    pacer.observe(0.5, frames=0)  # paused: nothing painted, nothing learnt
    assert pacer.hz == 10.0 and pacer.cost_per_frame is None


def test_a_cheap_frame_keeps_the_ceiling():
    pacer = RedrawPacer(10.0, budget=0.06)
    pacer.observe(0.040, frames=10)  # 4 ms a frame: 4% of a core at 10 Hz
    assert pacer.hz == 10.0


def test_a_dear_frame_slows_the_rate_to_the_budget():
    pacer = RedrawPacer(10.0, budget=0.06)
    pacer.observe(0.080, frames=8)  # 10 ms a frame
    assert pacer.hz == pytest.approx(6.0)  # 0.06 / 0.010: 6% of a core


def test_never_below_the_floor_nor_above_the_ceiling():
    pacer = RedrawPacer(30.0, budget=0.06)
    pacer.observe(1.0, frames=2)  # half a second a frame
    assert pacer.hz == MIN_AUTO_HZ
    pacer.configure(1.0, 0.06)  # a ceiling below the floor is raised to it
    assert pacer.max_hz == MIN_AUTO_HZ


def test_without_a_budget_the_ceiling_always():
    pacer = RedrawPacer(30.0, budget=None)  # a GPU run
    pacer.observe(1.0, frames=2)
    assert pacer.hz == 30.0
    assert RedrawPacer(2.0, budget=None).hz == 2.0  # a rate chosen below Auto's floor


def test_the_cost_is_smoothed_and_follows_a_change():
    pacer = RedrawPacer(10.0, budget=0.06)
    pacer.observe(0.010, frames=1)
    pacer.observe(0.012, frames=1)
    assert pacer.cost_per_frame == pytest.approx(0.010 + SMOOTHING * 0.002)
    for _ in range(30):
        pacer.observe(0.012, frames=1)
    assert pacer.hz == pytest.approx(5.0, rel=1e-6)


def test_forget_and_bad_samples():
    pacer = RedrawPacer(10.0, budget=0.06)
    pacer.observe(0.5, frames=5)
    assert pacer.hz < 10.0
    pacer.forget()
    assert pacer.hz == 10.0
    for cpu in (math.nan, math.inf, -1.0):
        pacer.observe(cpu, frames=3)
    assert pacer.cost_per_frame is None


@pytest.mark.parametrize("budget", [0.0, -0.1, 1.5])
def test_a_budget_outside_its_range_is_refused(budget):
    with pytest.raises(ValueError, match=r"budget must be in \(0, 1\]"):
        RedrawPacer(10.0, budget=budget)


def test_a_floor_of_zero_is_refused():
    with pytest.raises(ValueError, match="min_hz must be above 0"):
        RedrawPacer(10.0, min_hz=0.0)


def test_measure_observes_about_once_a_period_and_not_across_a_pause():
    clock = {"wall": 0.0, "cpu": 0.0}
    pacer = RedrawPacer(10.0, budget=0.06, clock=lambda: clock["wall"],
                        cpu_clock=lambda: clock["cpu"])
    assert not pacer.measure(0) and pacer.measuring  # the first tick only starts
    clock.update(wall=0.5, cpu=0.05)
    assert not pacer.measure(5)  # half a period: nothing yet
    clock.update(wall=1.0, cpu=0.10)
    assert pacer.measure(10)  # 0.1 s of CPU over 10 frames: 10 ms a frame
    assert pacer.cost_per_frame == pytest.approx(0.010) and pacer.hz == pytest.approx(6.0)
    pacer.stop_measuring()  # paused: 5 s of whatever the thread did meanwhile ...
    clock.update(wall=6.0, cpu=3.0)
    assert not pacer.measure(10)  # ... is not a frame's cost: a new start
    assert pacer.cost_per_frame == pytest.approx(0.010)
    clock.update(wall=7.0, cpu=3.05)
    assert pacer.measure(20)
    assert pacer.cost_per_frame == pytest.approx(0.010 + SMOOTHING * (0.005 - 0.010))
    pacer.forget()
    assert not pacer.measuring and pacer.hz == 10.0


def test_retime_leaves_small_corrections_alone():
    from gui.redraw_pacer import retime

    class Timer:
        def __init__(self, interval: int) -> None:
            self._interval, self.restarts = interval, 0

        def interval(self) -> int:
            return self._interval

        def setInterval(self, interval: int) -> None:  # (Qt's name)
            self._interval, self.restarts = interval, self.restarts + 1

    timer = Timer(100)
    retime(timer, 9.8)  # 102 ms: within 5%, the timer runs on
    assert timer.interval() == 100 and timer.restarts == 0
    retime(timer, 6.5)
    assert timer.interval() == 154 and timer.restarts == 1
    retime(timer, 6.6, tolerance=0.0)  # a rate the user chose: exactly
    assert timer.interval() == 152
