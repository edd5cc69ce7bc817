"""A dependency-free progress line for the headless CLI."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressBar:
    """Redraws one line on a terminal (at most 10 times a second); on a pipe, prints a
    line every tenth of the run so logs stay short."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 24) -> None:
        self.total = max(1, total)
        self.stream = stream or sys.stderr
        self.width = width
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._last_decile = -1
        self._interactive = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, done: int, message: str = "", force: bool = False) -> None:
        now = time.monotonic()
        fraction = min(1.0, done / self.total)
        if self._interactive:
            if not force and now - self._last_draw < 0.1:
                return
        else:
            decile = int(fraction * 10)
            if not force and decile == self._last_decile:
                return
            self._last_decile = decile
        self._last_draw = now
        elapsed = now - self.started
        eta = elapsed / fraction - elapsed if fraction > 0 else 0.0
        filled = int(round(fraction * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        line = (f"[{bar}] {fraction * 100:5.1f}% {done}/{self.total} "
                f"{_duration(elapsed)}<{_duration(eta)} {message}")
        if self._interactive:
            self.stream.write("\r" + line[:200].ljust(100))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._interactive:
            self.stream.write("\n")
            self.stream.flush()
