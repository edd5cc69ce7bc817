"""Which compute devices exist here, and what ``auto`` means."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from core.config import ConfigError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")

#: Per thread: does arithmetic there flush subnormals to zero? (see subnormals_are_flushed)
_probed = threading.local()


def available_devices() -> list[str]:
    """Devices usable on this machine, best first (``cpu`` is always last)."""
    import torch  # here, not at import: the window shows before torch has loaded

    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    found.append("cpu")
    return found


def resolve_device(name: str) -> torch.device:
    """``auto`` picks the best present device; asking for an absent one is an error."""
    import torch

    name = name.strip().lower()
    if name not in DEVICE_CHOICES:
        raise ConfigError("device", f"device = {name!r} is not allowed: one of "
                          + ", ".join(DEVICE_CHOICES))
    present = available_devices()
    if name == "auto":
        return torch.device(present[0])
    if name not in present:
        raise ConfigError("device", f"device = {name!r} is not available on this machine: "
                          "allowed " + ", ".join(["auto", *present]))
    return torch.device(name)


def flush_subnormals_to_zero() -> bool:
    """Make this thread, and the threads it starts from now on, treat subnormal floats
    as zero (x86 FTZ/DAZ, ARM FZ).  Returns False where the CPU has no such mode.

    Sigmoid units driven far below zero give activations under 1.2e-38, and x86
    arithmetic on such operands takes a slow microcode path: measured here, 0.1% of the
    hidden activations subnormal made the step's matrix products 2.6x slower.  Numbers
    that small never matter in this app.  The mode belongs to each thread, and OpenMP's
    workers copy it from the thread that creates them, once: so call this at the start
    of a thread that will train, before its first parallel torch operation.
    """
    import torch

    vars(_probed).pop("flushed", None)
    return bool(torch.set_flush_denormal(True))


@contextlib.contextmanager
def subnormals_flushed_to_zero() -> Iterator[bool]:
    """``flush_subnormals_to_zero()`` for a block, then this thread's own mode as it was
    (for the CLI called in-process, e.g. from a notebook or a test).  OpenMP workers
    created inside keep the mode they were created with."""
    import torch

    was_flushing = sys.float_info.min * 0.5 == 0.0  # Python floats obey the mode too
    try:
        yield flush_subnormals_to_zero()
    finally:
        torch.set_flush_denormal(was_flushing)
        vars(_probed).pop("flushed", None)


def subnormals_are_flushed() -> bool:
    """Whether arithmetic on this thread and its OpenMP workers flushes subnormals to zero
    (probed once per thread: a million subnormal products, split across the workers)."""
    flushed = getattr(_probed, "flushed", None)
    if flushed is None:
        import torch

        tiny = torch.finfo(torch.float32).tiny
        probe = torch.full((1 << 20,), tiny, dtype=torch.float32)
        flushed = not bool((probe * 0.25).any())
        _probed.flushed = flushed
    return flushed
