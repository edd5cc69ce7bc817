"""Download one of the MNIST family on request, with a progress dialog that can cancel.

The download runs in its own short-lived QThread (never the training thread, never at
start-up); progress reaches the dialog as signals, at most about 20 times a second.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from core.data.download import DownloadCancelled, DownloadError, download_family


class _DownloadThread(QThread):
    progressed = Signal(int, int, str)  # done, total (0 if unknown), what
    succeeded = Signal(list)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, name: str, folder: Path, base_url: str | None = None) -> None:
        super().__init__()
        self.name, self.folder, self.base_url = name, folder, base_url
        self.cancel_requested = False
        self._last_emit = 0.0

    def _progress(self, done: int, total: int | None, what: str) -> bool:
        now = time.monotonic()
        if now - self._last_emit > 0.05 or (total and done >= total):
            self._last_emit = now
            self.progressed.emit(done, total or 0, what)
        return not self.cancel_requested

    def run(self) -> None:
        try:
            paths = download_family(self.name, self.folder, self._progress,
                                    base_url=self.base_url)
        except DownloadCancelled:
            self.cancelled.emit()
        except DownloadError as error:
            self.failed.emit(str(error))
        except OSError as error:  # e.g. a disk that filled up while writing
            self.failed.emit(f"download failed: {error}")
        else:
            self.succeeded.emit([str(p) for p in paths])


class DownloadDialog(QProgressDialog):
    """Shows a download's progress; Cancel stops it within one chunk and keeps nothing
    partial.  ``finished_with`` tells the outcome: 'done', 'cancelled' or an error."""

    finished_with = Signal(str)

    def __init__(self, name: str, title: str, folder: Path, parent: QWidget | None = None,
                 base_url: str | None = None) -> None:
        super().__init__(f"Downloading {title} into {folder}…", "Cancel", 0, 0, parent)
        self.setWindowTitle("Download")
        self.setMinimumDuration(0)
        self.setAutoClose(False)
        self.setAutoReset(False)
        self.outcome = ""
        self._thread = _DownloadThread(name, folder, base_url)
        self._thread.progressed.connect(self._on_progress)
        self._thread.succeeded.connect(lambda paths: self._finish("done"))
        self._thread.failed.connect(self._finish)
        self._thread.cancelled.connect(lambda: self._finish("cancelled"))
        self.canceled.connect(self._on_cancel)

    def start(self) -> None:
        self.show()
        self._thread.start()

    def _on_progress(self, done: int, total: int, what: str) -> None:
        megabytes = done / 1e6
        if total:
            self.setMaximum(1000)
            self.setValue(int(1000 * done / total))
            self.setLabelText(f"{what}: {megabytes:.1f} of {total / 1e6:.1f} MB")
        else:
            self.setMaximum(0)
            self.setLabelText(f"{what}: {megabytes:.1f} MB")

    def _on_cancel(self) -> None:
        self._thread.cancel_requested = True
        self.setLabelText("Cancelling…")

    def _finish(self, outcome: str) -> None:
        self._thread.wait(5000)
        self.outcome = outcome
        self.close()
        self.finished_with.emit(outcome)

    def closeEvent(self, event) -> None:
        """Closing the dialog cancels a running download and waits for its thread."""
        if self._thread.isRunning():
            self._thread.cancel_requested = True
            self._thread.wait(5000)
        super().closeEvent(event)
