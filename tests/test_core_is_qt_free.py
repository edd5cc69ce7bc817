"""core/ must import and work with every Qt binding and pyqtgraph blocked."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import core

ROOT = Path(__file__).resolve().parents[1]

BLOCKER = """
import importlib.abc, sys
BLOCKED = ("PySide6", "PyQt5", "PyQt6", "PySide2", "shiboken6", "pyqtgraph", "gui")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"core imported {name}")
sys.meta_path.insert(0, Block())
"""


def core_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(core.__path__, "core."))


def test_every_core_module_imports_with_qt_blocked():
    modules = core_modules()
    assert "core.trainer" in modules and "core.cli" in modules
    script = BLOCKER + "\n".join(f"import {m}" for m in modules) + "\nprint('ok')"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_headless_cli_runs_with_qt_blocked(tmp_path):
    script = BLOCKER + (
        "from core.cli import main\n"
        f"raise SystemExit(main(['train', '--steps', '3', '--quiet', '--set', 'samples=500',"
        f" '--out', {str(tmp_path)!r}]))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "summary.json").is_file()
