"""A virtual 1920x1080 screen for offscreen runs (tests, benchmarks), without Qt.

Qt's offscreen platform pretends an 800x800 screen, narrower than the window's docks side
by side, so the window would fold its Controls into a tab (``gui/screen_fit.py``) and the
tests and benchmarks would not see the layout a lab machine shows.
"""

from __future__ import annotations

import os
from pathlib import Path

SCREEN_FILE = Path(__file__).resolve().parents[1] / "resources" / "offscreen_screen.json"


def use_virtual_desktop() -> None:
    """Offscreen Qt on a 1920x1080 screen, where no platform other than plain offscreen
    is chosen (call before the QApplication is made)."""
    if os.environ.get("QT_QPA_PLATFORM", "offscreen") == "offscreen":
        os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={SCREEN_FILE}"
