"""Files written atomically: the new file complete, or the previous one unchanged.

No torch here (the window imports this at start-up, before torch has loaded).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Any


class SaveError(OSError):
    """A file that could not be written (full disk, no permission...); the message names
    the file and the reason, and the previous file of that name is unchanged."""


def _default_mode() -> int:
    """Permissions a new file gets under this process's umask (read without changing it
    where the system says it, else by setting and restoring it once)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


_NEW_FILE_MODE: int | None = None


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it into place.

    A crash or a full disk midway leaves the previous file untouched and no temporary file
    behind; the failure is a SaveError naming the file.  The new file gets the permissions
    of the one it replaces (or the usual ones for a new file).
    """
    global _NEW_FILE_MODE
    path = Path(path)
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                             dir=path.parent)
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            if _NEW_FILE_MODE is None:
                _NEW_FILE_MODE = _default_mode()
            mode = _NEW_FILE_MODE
        os.chmod(temporary, mode)
        os.replace(temporary, path)
        temporary = None
        _sync_folder(path.parent)
    except Exception as error:  # whatever failed, say so and keep the previous file
        if isinstance(error, OSError):
            reason = error.strerror or str(error) or type(error).__name__
        else:
            reason = f"{type(error).__name__}: {first_line(error)}"
        failure = SaveError(f"{path}: could not be saved ({reason}); any previous "
                            f"{path.name} is unchanged")
        failure.errno = getattr(error, "errno", None)
        raise failure from error
    finally:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); harmless where folders cannot be opened."""
    if os.name != "posix":
        return
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def first_line(error: BaseException) -> str:
    """The first line of an error's message (at most 200 characters), for one-line reports."""
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__
