"""A bounded per-step record that still spans the whole run.

Rows are buckets of consecutive steps holding the mean, minimum and maximum of each
column.  When ``capacity`` buckets are full, neighbours merge pairwise and the bucket
width doubles, so memory stays fixed however long the run while spikes survive in the
min/max envelope (peak-preserving decimation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class HistoryArrays:
    """Read-only copy of a history: one row per bucket."""

    columns: tuple[str, ...]
    step_first: np.ndarray  # int64 (rows,)
    step_last: np.ndarray  # int64 (rows,)
    mean: np.ndarray  # float64 (rows, columns)
    minimum: np.ndarray
    maximum: np.ndarray

    @property
    def steps(self) -> np.ndarray:
        """A representative step per bucket (its centre)."""
        return (self.step_first + self.step_last) / 2.0

    def column(self, name: str) -> np.ndarray:
        return self.mean[:, self.columns.index(name)]

    def __len__(self) -> int:
        return len(self.step_first)


class DecimatingHistory:
    """Append per-step rows; read them back as at most ``capacity`` buckets."""

    def __init__(self, columns: Sequence[str], capacity: int = 2048) -> None:
        if capacity < 2 or capacity % 2:
            raise ValueError("capacity must be an even number >= 2")
        self.columns = tuple(columns)
        self.capacity = capacity
        k = len(self.columns)
        self._first = np.zeros(capacity, np.int64)
        self._last = np.zeros(capacity, np.int64)
        self._count = np.zeros(capacity, np.int64)
        self._sum = np.zeros((capacity, k))
        self._min = np.zeros((capacity, k))
        self._max = np.zeros((capacity, k))
        self._rows = 0  # closed buckets plus the open one if it holds anything
        self._width = 1  # steps per closed bucket

    @property
    def bucket_width(self) -> int:
        return self._width

    def append(self, steps: np.ndarray, values: np.ndarray) -> None:
        """Add rows: ``steps`` (n,) increasing, ``values`` (n, columns)."""
        values = np.asarray(values, np.float64).reshape(len(steps), len(self.columns))
        for step, row in zip(np.asarray(steps, np.int64), values, strict=True):
            self._append_one(int(step), row)

    def _append_one(self, step: int, row: np.ndarray) -> None:
        i = self._rows - 1
        if i < 0 or self._count[i] >= self._width:
            if self._rows == self.capacity:
                self._merge_pairs()
            i = self._rows
            self._rows += 1
            self._first[i] = self._last[i] = step
            self._count[i] = 1
            self._sum[i] = row
            self._min[i] = row
            self._max[i] = row
            return
        self._last[i] = step
        self._count[i] += 1
        self._sum[i] += row
        np.minimum(self._min[i], row, out=self._min[i])
        np.maximum(self._max[i], row, out=self._max[i])

    def _merge_pairs(self) -> None:
        half = self.capacity // 2
        a, b = slice(0, self.capacity, 2), slice(1, self.capacity, 2)
        self._first[:half] = self._first[a]
        self._last[:half] = self._last[b]
        self._count[:half] = self._count[a] + self._count[b]
        self._sum[:half] = self._sum[a] + self._sum[b]
        self._min[:half] = np.minimum(self._min[a], self._min[b])
        self._max[:half] = np.maximum(self._max[a], self._max[b])
        self._rows = half
        self._width *= 2

    def arrays(self) -> HistoryArrays:
        n = self._rows
        mean = self._sum[:n] / self._count[:n, None]
        return HistoryArrays(
            self.columns,
            _frozen(self._first[:n].copy()),
            _frozen(self._last[:n].copy()),
            _frozen(mean),
            _frozen(self._min[:n].copy()),
            _frozen(self._max[:n].copy()),
        )

    def state_dict(self) -> dict[str, Any]:
        n = self._rows
        return {
            "columns": list(self.columns),
            "capacity": self.capacity,
            "width": self._width,
            "first": self._first[:n].tolist(),
            "last": self._last[:n].tolist(),
            "count": self._count[:n].tolist(),
            "sum": self._sum[:n].tolist(),
            "min": self._min[:n].tolist(),
            "max": self._max[:n].tolist(),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> DecimatingHistory:
        history = cls(state["columns"], int(state["capacity"]))
        n = len(state["first"])
        if n > history.capacity:
            raise ValueError("history holds more rows than its capacity")
        history._width = int(state["width"])
        history._rows = n
        history._first[:n] = state["first"]
        history._last[:n] = state["last"]
        history._count[:n] = state["count"]
        k = len(history.columns)
        for name, target in (("sum", history._sum), ("min", history._min),
                             ("max", history._max)):
            target[:n] = np.asarray(state[name], np.float64).reshape(n, k)
        return history
