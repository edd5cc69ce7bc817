"""File > Export: a panel as PNG or SVG, the metric history as CSV, the mosaic timeline
as an animated GIF or a numbered PNG sequence (with a progress dialog that can cancel).

The writing itself is ``core.export`` (atomic, Qt-free); this module only asks where,
shows progress and reports the outcome in the banner.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QBuffer, QIODevice, Qt
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QApplication, QFileDialog, QMenu, QProgressDialog, QWidget

from core import export
from core.files import atomic_write

if TYPE_CHECKING:
    from gui.main_window import MainWindow


def export_panel_png(panel: QWidget, path: str | Path) -> Path:
    """The panel as it is on screen (title, numbers and picture)."""
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not panel.grab().save(buffer, "PNG"):
        raise OSError(f"could not encode {path} as PNG")
    return _write_atomically(path, bytes(buffer.data()))


def _write_atomically(path: str | Path, data: bytes) -> Path:
    """All or nothing: an old file of that name survives a failed export."""
    path = Path(path)
    atomic_write(path, lambda file: file.write(data))
    return path


def export_panel_svg(panel: QWidget, path: str | Path) -> Path:
    """The panel as vector graphics: curves, bars and text as SVG shapes, images embedded.

    Qt's SVG generator paints the widget as on screen (pyqtgraph's own SVG exporter fails
    on image items) into memory; the file is then written atomically.
    """
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    generator = QSvgGenerator()
    generator.setOutputDevice(buffer)
    generator.setSize(panel.size())
    generator.setViewBox(panel.rect())
    generator.setTitle(getattr(panel, "title", type(panel).__name__))
    panel.render(generator)
    del generator  # the generator completes its document when it is destroyed
    data = bytes(buffer.data())
    if not data:
        raise OSError(f"could not render {path} as SVG")
    return _write_atomically(path, data)


class Exporter:
    """Builds the Export menu of ``window`` and runs each export."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window

    def build_menu(self, parent: QMenu) -> QMenu:
        menu = parent.addMenu("Export")
        for name, panel in self.window.panels.items():
            title = panel.title
            menu.addAction(f"{title} as PNG…").triggered.connect(
                lambda _=False, n=name: self._panel(n, "png"))
            menu.addAction(f"{title} as SVG…").triggered.connect(
                lambda _=False, n=name: self._panel(n, "svg"))
        menu.addSeparator()
        menu.addAction("Metric history as CSV…").triggered.connect(self._csv)
        menu.addAction("Mosaic timeline as animated GIF…").triggered.connect(self._gif)
        menu.addAction("Mosaic timeline as PNG sequence…").triggered.connect(self._pngs)
        return menu

    def _ask(self, title: str, name: str, pattern: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self.window, title, name, pattern)
        return path

    def _done(self, path: object) -> None:
        self.window.banner.show_message(f"Exported {path}", error=False)

    def _failed(self, what: str, error: Exception) -> None:
        self.window.banner.show_message(f"Could not export {what}: {error}")

    def _panel(self, name: str, kind: str) -> None:
        panel = self.window.panels[name]
        path = self._ask(f"Export {panel.title}", f"{name}.{kind}",
                         f"{kind.upper()} files (*.{kind})")
        if path:
            self.export_panel(name, kind, path)

    def export_panel(self, name: str, kind: str, path: str) -> None:
        panel = self.window.panels[name]
        try:
            written = (export_panel_png if kind == "png" else export_panel_svg)(panel, path)
        except Exception as error:
            self._failed(panel.title, error)
        else:
            self._done(written)

    def _csv(self) -> None:
        path = self._ask("Export metric history", "history.csv", "CSV files (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path: str) -> None:
        snapshot = self.window._snapshot
        if snapshot is None:
            return
        try:
            written = export.write_history_csv(path, snapshot.history,
                                               snapshot.validation_history)
        except Exception as error:
            self._failed("the history", error)
        else:
            self._done(written)

    def _gif(self) -> None:
        path = self._ask("Export mosaic timeline", "mosaic.gif", "GIF files (*.gif)")
        if path:
            self.export_timeline("gif", path)

    def _pngs(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Folder for the PNG sequence")
        if folder:
            self.export_timeline("png", folder)

    def export_timeline(self, kind: str, path: str) -> None:
        """Every frame of the timeline's mosaic, with a progress dialog that can cancel."""
        frames = self.window.timeline.frames()
        if not frames:
            self.window.banner.show_message("Nothing recorded yet: train a little first",
                                            error=False)
            return
        dialog = QProgressDialog("Exporting the mosaic timeline…", "Cancel", 0, len(frames),
                                 self.window)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)

        def progress(done: int, total: int) -> bool:
            dialog.setMaximum(total)
            dialog.setValue(done)
            QApplication.processEvents()
            return not dialog.wasCanceled()

        mosaic = self.window.panels["MosaicPanel"]
        per_tile, which = mosaic.per_tile, mosaic.side
        try:
            if kind == "gif":
                written = export.write_mosaic_gif(path, frames, which, per_tile=per_tile, scale=2,
                                                  progress=progress)
            else:
                # A folder of its own per export: a second export never mixes with a first.
                path = str(Path(path) / time.strftime("rhoscope-mosaic-%Y%m%d-%H%M%S"))
                written = export.write_mosaic_pngs(path, frames, which, per_tile=per_tile,
                                                   progress=progress)
        except Exception as error:
            self._failed("the timeline", error)
            return
        finally:
            dialog.close()
        if written is None:
            self.window.banner.show_message("Export cancelled: nothing was written",
                                            error=False)
        else:
            self._done(path)
