"""Exports for a lecture: the metric history as CSV, the mosaic over time as GIF or PNGs.

Every export writes to temporary files beside its target and renames them into place
only when complete, so a failure or a cancel leaves nothing half-written.  A progress
callback ``(done, total)`` is called as the work goes; returning False cancels: the
export then removes what it had written and returns None.  Importing this module does
not load torch or Pillow.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from core.files import atomic_write
from core.history import HistoryArrays
from core.png import encode_gray_png
from core.timeline import Frame

#: Called with (done, total); returning False (not None) cancels the export.
Progress = Callable[[int, int], "bool | None"]

#: The validation series' column prefix in the CSV.
VALIDATION = "validation_reconstruction"


class _Cancelled(Exception):
    """Raised inside an export when its progress callback asked to stop."""


class _Reporter:
    """Calls the progress callback at most about ``calls`` times over ``total`` items."""

    def __init__(self, progress: Progress | None, total: int, calls: int = 100) -> None:
        self.progress, self.total = progress, total
        self.every = max(1, total // calls)

    def __call__(self, done: int) -> None:
        if self.progress is None or (done % self.every and done != self.total):
            return
        if self.progress(done, self.total) is False:
            raise _Cancelled


def _cancellable(write: Callable[[], object]) -> object | None:
    """``write()``, or None when it was cancelled (even if a file writer re-raised the
    cancel as its own error, as core.files.atomic_write may)."""
    try:
        return write()
    except Exception as error:
        cause: BaseException | None = error
        seen: set[int] = set()
        while cause is not None and id(cause) not in seen:
            if isinstance(cause, _Cancelled):
                return None
            seen.add(id(cause))
            cause = cause.__cause__ or cause.__context__
        raise


# ------------------------------------------------------------------ CSV


def history_csv_columns(history: HistoryArrays, validation: bool = True) -> list[str]:
    """The header: bucket span, then mean, min and max of every column."""
    names = [*history.columns, *([VALIDATION] if validation else [])]
    return ["step_first", "step_last",
            *(f"{name}_{stat}" for name in names for stat in ("mean", "min", "max"))]


def write_history_csv(path: str | Path, history: HistoryArrays,
                      validation: HistoryArrays | None = None,
                      progress: Progress | None = None) -> Path | None:
    """The metric history as CSV: one row per bucket, mean, min and max of each term.

    ``history`` is a Snapshot's ``history`` (bucketed as core.history decimates it);
    ``validation`` its ``validation_history``, whose buckets lie elsewhere: they get rows
    of their own, merged by step, with the training cells empty (and the validation
    cells empty on training rows), so nothing is averaged away.  Numbers are written
    with every digit: parsed back they equal the arrays exactly.  None if cancelled.
    """
    path = Path(path)
    if validation is not None and validation.columns != ("reconstruction",):
        raise ValueError(f"validation history columns {validation.columns}: "
                         "expected ('reconstruction',)")
    k = len(history.columns)
    width = 2 + 3 * (k + (validation is not None))
    rows = [(int(last), 0, i) for i, last in enumerate(history.step_last)]
    if validation is not None:
        rows += [(int(last), 1, i) for i, last in enumerate(validation.step_last)]
    rows.sort()  # by step; a training row before a validation row of the same step
    report = _Reporter(progress, len(rows))

    def text() -> bytes:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(history_csv_columns(history, validation is not None))
        for done, (_, series, i) in enumerate(rows, 1):
            source = history if series == 0 else validation
            cells = [""] * width
            cells[0], cells[1] = int(source.step_first[i]), int(source.step_last[i])
            start = 2 if series == 0 else 2 + 3 * k
            for j in range(len(source.columns)):
                cells[start + 3 * j:start + 3 * j + 3] = [
                    repr(float(a[i, j])) for a in (source.mean, source.minimum,
                                                   source.maximum)]
            writer.writerow(cells)
            report(done)
        return buffer.getvalue().encode()

    def write() -> Path:
        data = text()
        atomic_write(path, lambda file: file.write(data))
        return path

    return _cancellable(write)


# ------------------------------------------------------------------ mosaics


def mosaic_pixels(frame: Frame, which: str = "encoder", per_tile: bool = True,
                  scale: int = 1) -> np.ndarray:
    """A frame's mosaic as 8-bit grey pixels, mapped as the app's PNG (-1 black, 1 white)."""
    mosaic = np.asarray(frame.mosaic(which, per_tile), np.float64)
    pixels = (np.clip((mosaic + 1.0) / 2.0, 0, 1) * 255).round().astype(np.uint8)
    if scale > 1:
        pixels = np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)
    return pixels


def _check_frames(frames: Sequence[Frame], scale: int) -> None:
    if not frames:
        raise ValueError("no frames to export")
    if len({(f.encoder.shape, f.image_shape) for f in frames}) != 1:
        raise ValueError("the frames come from models of different shapes")
    if scale < 1:
        raise ValueError(f"scale = {scale}: allowed an integer >= 1")


def png_name(index: int, step: int, prefix: str = "mosaic") -> str:
    """``mosaic_00001_step_000123.png``: sorts by index, says the step."""
    return f"{prefix}_{index:05d}_step_{step:06d}.png"


def write_mosaic_pngs(folder: str | Path, frames: Sequence[Frame], which: str = "encoder",
                      per_tile: bool = True, scale: int = 1, prefix: str = "mosaic",
                      progress: Progress | None = None) -> list[Path] | None:
    """One PNG per frame in ``folder``, named by ``png_name`` (numbered from 1).

    The files are written into a hidden temporary folder inside ``folder`` and moved
    into place once all are done; None (and nothing left behind) if cancelled.
    """
    _check_frames(frames, scale)
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    report = _Reporter(progress, len(frames))
    staging = Path(tempfile.mkdtemp(prefix=f".{prefix}-export-", dir=folder))

    def write() -> list[Path]:
        names = []
        for index, frame in enumerate(frames, 1):
            name = png_name(index, frame.step, prefix)
            data = encode_gray_png(mosaic_pixels(frame, which, per_tile, scale))
            (staging / name).write_bytes(data)
            names.append(name)
            report(index)
        targets = []
        for name in names:
            os.replace(staging / name, folder / name)
            targets.append(folder / name)
        return targets

    written = None
    try:
        written = _cancellable(write)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if written is None and created:  # cancelled or failed: not even an empty folder
            with contextlib.suppress(OSError):
                folder.rmdir()


def write_mosaic_gif(path: str | Path, frames: Sequence[Frame], which: str = "encoder",
                     per_tile: bool = True, scale: int = 1, frame_ms: int = 100,
                     loop: int = 0, progress: Progress | None = None) -> Path | None:
    """An animated GIF of the mosaic, one frame per timeline frame (``loop`` 0: forever).

    Needs Pillow (installed with torchvision).  Pillow merges identical consecutive
    frames into one longer frame (as after a pause).  None if cancelled.
    """
    from PIL import Image  # only here: imaging is needed for this export alone

    _check_frames(frames, scale)
    path = Path(path)
    report = _Reporter(progress, len(frames))

    def images() -> Iterator[Image.Image]:
        for done, frame in enumerate(frames, 1):
            image = Image.fromarray(mosaic_pixels(frame, which, per_tile, scale), "L")
            report(done)
            yield image

    def write() -> Path:
        sequence = images()
        first = next(sequence)

        def save(file: io.BufferedWriter) -> None:
            first.save(file, format="GIF", save_all=True, append_images=sequence,
                       duration=frame_ms, loop=loop)

        try:
            atomic_write(path, save)
        finally:
            with contextlib.suppress(Exception):
                sequence.close()
        return path

    return _cancellable(write)
