"""Which compute devices exist here, and what ``auto`` means."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.config import ConfigError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


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
