"""Per-unit rho_hat over the whole run, in fixed memory, for the unit inspector.

Pure numpy (no Qt): the window appends one row per snapshot and the inspector reads
one unit's series. It lives in ``gui`` because it is a display-side buffer, not part
of training.

Why decimation rather than a plain ring buffer: a lecturer opening a unit after an
hour wants to see how it got there (was it ever alive? when did it die?), not only the
last N snapshots. So the buffer is preallocated (capacity x hidden) and, when full,
drops every second stored row and halves the recording rate (it then keeps only every
2nd, 4th, 8th... append). The stored rows therefore always sit on a regular grid that
starts at the first snapshot and spans the whole run. The most recent append is kept
aside as well, so the series always ends at "now" even between recorded rows.
"""

from __future__ import annotations

import numpy as np


class UnitHistory:
    """Bounded history of each hidden unit's rho_hat and near-zero fraction."""

    def __init__(self, capacity: int = 1000) -> None:
        if capacity < 2:
            raise ValueError(f"capacity = {capacity} is not allowed: at least 2")
        self.capacity = int(capacity)
        self._hidden = 0
        self._steps = np.zeros(self.capacity, np.int64)
        self._rho_hat = np.zeros((self.capacity, 0), np.float32)
        self._near_zero = np.zeros((self.capacity, 0), np.float32)
        self.clear()

    # ----------------------------------------------------------------- writing

    def clear(self) -> None:
        """Forget everything (the hidden size is set again by the next append)."""
        self._count = 0  # rows stored in the preallocated arrays
        self._stride = 1  # record every stride-th append
        self._offered = 0  # appends seen since the last clear
        self._latest: tuple[int, np.ndarray, np.ndarray] | None = None

    def append(self, step: int, rho_hat: np.ndarray, near_zero: np.ndarray) -> None:
        """Offer one snapshot's per-unit values (float arrays of shape (hidden,)).

        A repeated step is ignored (the same snapshot drawn twice), a step that goes
        backwards (training was reset) or a new hidden size (another model) clears the
        history first.
        """
        rho_hat = np.asarray(rho_hat, np.float32).reshape(-1)
        near_zero = np.asarray(near_zero, np.float32).reshape(-1)
        if rho_hat.shape != near_zero.shape:
            raise ValueError(f"rho_hat {rho_hat.shape} and near_zero {near_zero.shape} differ")
        step = int(step)
        if self._latest is not None:
            if step == self._latest[0] and rho_hat.size == self._hidden:
                return
            if step < self._latest[0]:
                self.clear()
        if rho_hat.size != self._hidden:
            self._resize(rho_hat.size)
        self._latest = (step, rho_hat.copy(), near_zero.copy())
        if self._offered % self._stride == 0:
            if self._count == self.capacity:
                self._halve()
            if self._offered % self._stride == 0:
                self._steps[self._count] = step
                self._rho_hat[self._count] = rho_hat
                self._near_zero[self._count] = near_zero
                self._count += 1
        self._offered += 1

    def _resize(self, hidden: int) -> None:
        self.clear()
        self._hidden = hidden
        self._rho_hat = np.zeros((self.capacity, hidden), np.float32)
        self._near_zero = np.zeros((self.capacity, hidden), np.float32)

    def _halve(self) -> None:
        """Keep every second stored row (in place) and record half as often from now on."""
        kept = (self._count + 1) // 2
        self._steps[:kept] = self._steps[:self._count:2]
        self._rho_hat[:kept] = self._rho_hat[:self._count:2]
        self._near_zero[:kept] = self._near_zero[:self._count:2]
        self._count = kept
        self._stride *= 2

    # ----------------------------------------------------------------- reading

    @property
    def hidden_units(self) -> int:
        return self._hidden

    @property
    def stride(self) -> int:
        """How many appends one stored row stands for (1 until the buffer first fills)."""
        return self._stride

    def __len__(self) -> int:
        """Points a series has: the stored rows plus the latest append if not stored."""
        return self._count + int(self._latest_is_extra())

    def _latest_is_extra(self) -> bool:
        return self._latest is not None and (
            self._count == 0 or self._steps[self._count - 1] != self._latest[0])

    def series(self, unit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(steps, rho_hat, near_zero) of one unit in time order, as new arrays."""
        if self._hidden == 0:
            empty = np.zeros(0, np.float32)
            return np.zeros(0, np.int64), empty, empty.copy()
        if not 0 <= unit < self._hidden:
            raise IndexError(f"unit {unit} is not in 0..{self._hidden - 1}")
        count = self._count
        steps = self._steps[:count]
        rho_hat = self._rho_hat[:count, unit]
        near_zero = self._near_zero[:count, unit]
        if self._latest_is_extra():
            latest_step, latest_rho, latest_zero = self._latest
            steps = np.append(steps, latest_step)
            rho_hat = np.append(rho_hat, latest_rho[unit])
            near_zero = np.append(near_zero, latest_zero[unit])
        return steps.copy(), rho_hat.copy(), near_zero.copy()

    @property
    def nbytes(self) -> int:
        """Memory held by the preallocated buffers (constant between size changes)."""
        return self._steps.nbytes + self._rho_hat.nbytes + self._near_zero.nbytes
