"""A virtual 1920x1080 screen for offscreen runs (tests, benchmarks), without Qt.

Qt's offscreen platform pretends an 800x800 screen, narrower than the window's docks side
by side, so the window would fold its Controls into a tab (``gui/screen_fit.py``) and the
tests and benchmarks would not see the layout a lab machine shows.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

SCREEN_FILE = Path(__file__).resolve().parents[1] / "resources" / "offscreen_screen.json"


def use_virtual_desktop() -> None:
    """Offscreen Qt on a 1920x1080 screen, where no platform other than plain offscreen
    is chosen (call before the QApplication is made)."""
    if os.environ.get("QT_QPA_PLATFORM", "offscreen") != "offscreen":
        return
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    path = platform_path()
    if path is None:
        warnings.warn(f"{SCREEN_FILE} has ':' or ';' in its path, which Qt's platform "
                      "argument cannot carry: offscreen Qt keeps its 800x800 screen, where "
                      "the window folds its Controls into a tab", RuntimeWarning, stacklevel=2)
    else:
        os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={path}"


def use_virtual_desktop_unless_displayed() -> None:
    """The benchmarks' rule: a real window where $DISPLAY is set and no platform is
    chosen, otherwise offscreen on the virtual 1920x1080 screen."""
    if not os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        use_virtual_desktop()


def platform_path(path: Path = SCREEN_FILE, start: Path | None = None) -> str | None:
    """``path`` as Qt's platform argument can name it, or None: Qt splits the argument at
    ':' and ';', so on Windows (C:...) relative to the working directory (or ``start``,
    a child process's)."""
    candidates = [str(path)]
    with contextlib.suppress(ValueError):  # (on another drive: no relative path)
        candidates.append(os.path.relpath(path, start))
    return next((name for name in candidates if not any(mark in name for mark in ":;")),
                None)
