"""Rhoscope: ``python main.py`` opens the window; ``python main.py COMMAND`` runs headless."""

from __future__ import annotations

import sys

HEADLESS_COMMANDS = {"train", "presets", "datasets", "gradcheck", "-h", "--help"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in HEADLESS_COMMANDS:
        from core.cli import main as cli_main

        return cli_main(argv)
    from gui.app import main as gui_main

    return gui_main(argv)


def run() -> None:
    """Console-script entry point (``rhoscope``)."""
    sys.exit(main())


if __name__ == "__main__":
    run()
