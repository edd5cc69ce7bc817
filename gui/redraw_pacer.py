"""The Redraw box's Auto on the CPU: redraw up to 10 times a second, less often where that
would take the window's thread more than a set share of one core.

On a CPU run the window's thread shares the cores with training, and a redraw costs the
trainer about twice the window's own CPU: the trainer's threads wait for each other at
every product, so a core taken from one stalls both.  On the 2-core machine a redraw took
about 8 ms of the window's thread in the layout a user sees (`benchmarks/bench_frame.py`),
10-11% of a core at 10 Hz while training, which then ran at 76-90% of headless; Auto
settles there at 6-7 Hz, 7% of a core (`bench_gui.py`: training at 85-91%, against 86-88%
at 10 Hz in turns in a quiet hour, within the noise).
The pacer measures what redraws really cost (the window's size, the panels shown,
presentation mode and the machine all change it) and keeps it near the budget.

On a GPU the trainer leaves the cores free and Auto keeps its fixed 30 Hz (no budget:
not measured there).  Qt-free, so it is tested without a window: a window calls ``measure``
with its count of frames painted at each redraw tick while training runs, and the pacer
reads the calling (GUI) thread's CPU clock, ``time.thread_time``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

#: The share of one core the window's thread may spend while training runs.
GUI_CPU_BUDGET = 0.07
#: Auto never redraws less often than this, whatever a frame costs: the picture must still
#: read as live in a lecture (presentation mode on a 1920x1080 screen cost the 2-core
#: machine 12-22 ms a frame while training, which the budget alone would draw at 3-6 Hz).
MIN_AUTO_HZ = 4.0
#: Weight of the newest measurement in the running cost per frame (the rest: the past).
SMOOTHING = 0.5
#: Seconds of painting each measurement covers.
PERIOD_S = 1.0


def retime(timer, hz: float, tolerance: float = 0.05) -> None:
    """Set ``timer`` (a QTimer, or anything with ``interval`` and ``setInterval``) to fire
    ``hz`` times a second, unless it is within ``tolerance`` of that already (setting it
    restarts the timer, so the pacer's small corrections are left alone)."""
    interval = round(1000 / hz)
    if abs(interval - timer.interval()) > tolerance * interval:
        timer.setInterval(interval)


class RedrawPacer:
    """The redraw rate that keeps the window's CPU near ``budget`` of a core (None: no
    budget, always ``max_hz``), at most ``max_hz`` and at least ``min_hz``."""

    def __init__(self, max_hz: float, budget: float | None = GUI_CPU_BUDGET,
                 min_hz: float = MIN_AUTO_HZ, *, clock: Callable[[], float] = time.monotonic,
                 cpu_clock: Callable[[], float] = time.thread_time) -> None:
        if not min_hz > 0:
            raise ValueError(f"min_hz must be above 0, got {min_hz}")
        self.min_hz = min_hz
        self.configure(max_hz, budget)
        #: The running estimate of the window's CPU seconds per frame (None: none yet).
        self.cost_per_frame: float | None = None
        self._clock, self._cpu_clock = clock, cpu_clock
        #: (time, CPU seconds, frames painted) where the measurement began; None: idle.
        self._mark: tuple[float, float, int] | None = None

    def configure(self, max_hz: float, budget: float | None) -> None:
        """The running device's ceiling and budget (without one, ``max_hz`` as it is)."""
        if budget is not None and not 0 < budget <= 1:
            raise ValueError(f"budget must be in (0, 1], got {budget}")
        self.budget = budget
        self.max_hz = max_hz if budget is None else max(max_hz, self.min_hz)

    def forget(self) -> None:
        """Start measuring afresh (Auto chosen again): the full rate until measured."""
        self.cost_per_frame = None
        self._mark = None

    def stop_measuring(self) -> None:
        """Training paused: what the thread does meanwhile is no redraw's cost."""
        self._mark = None

    @property
    def measuring(self) -> bool:
        return self._mark is not None

    def measure(self, frames_painted: int) -> bool:
        """At a redraw tick, from the GUI thread: about once a PERIOD_S, what the frames
        painted since cost this thread (painting, Qt's own work, the user's clicks) is
        observed.  True when it was (the rate may have changed)."""
        now, cpu = self._clock(), self._cpu_clock()
        mark = self._mark
        if mark is not None and now - mark[0] < PERIOD_S:
            return False
        self._mark = (now, cpu, frames_painted)
        if mark is None:
            return False
        self.observe(cpu - mark[1], frames_painted - mark[2])
        return True

    def observe(self, cpu_seconds: float, frames: int) -> None:
        """The window's thread spent ``cpu_seconds`` while ``frames`` were painted."""
        if frames <= 0 or not math.isfinite(cpu_seconds) or cpu_seconds < 0:
            return  # nothing painted (paused, or the worker busy): nothing learnt
        cost = cpu_seconds / frames
        if self.cost_per_frame is None:
            self.cost_per_frame = cost
        else:
            self.cost_per_frame += SMOOTHING * (cost - self.cost_per_frame)

    @property
    def hz(self) -> float:
        """Redraws a second: as many as the budget pays for, within the bounds."""
        if self.budget is None or not self.cost_per_frame:
            return self.max_hz
        return min(self.max_hz, max(self.min_hz, self.budget / self.cost_per_frame))
