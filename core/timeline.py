"""The whole run, replayable: frames kept at growing step intervals in bounded memory.

The app offers every snapshot it paints (about ten a second).  A snapshot becomes a frame
when it opens a new cell of ``interval`` steps; when the frames outgrow ``capacity`` or
``max_bytes``, the interval doubles and only the first frame of each wider cell stays.
So the frames stay spread evenly over the run from its first step, between about half
and all of ``capacity`` of them, however long it runs.  The latest snapshot is always
the last frame: it is held by reference (snapshots are immutable) and compressed only
when looked at or when it opens a new cell, so ``offer`` is cheap.

Weights and reconstructions are stored with 8 bits a value, scaled per unit (the
mosaic is an 8-bit image anyway): a 784-400 frame takes 0.65 MB instead of 2.6 MB.
Importing this module does not load torch (only ``state_dict`` needs it), so the window
can use it before the training thread has loaded torch.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from core.config import TrainConfig
from core.history import HistoryArrays
from core.mosaic import tile_mosaic
from core.snapshot import LossValues, Snapshot, frozen

if TYPE_CHECKING:
    import torch

FORMAT = "rhoscope-timeline"
FORMAT_VERSION = 1

#: Per-unit arrays copied from a snapshot into each frame, unchanged (float32 or bool).
UNIT_ARRAYS = ("rho_hat_batch", "rho_hat_ema", "near_zero_batch", "near_zero_ema",
               "mean_abs_batch", "dead_units")

#: Scalars copied from a snapshot into each frame.
SCALARS = ("fraction_near_zero", "l0_mean", "explained_variance")

_LEVELS = 255


@dataclass(frozen=True, eq=False)
class PackedRows:
    """Rows of numbers at 8 bits each, ``value = low + code * scale`` per row.

    Each row (a unit's weights, an image) gets its own range, so a quantisation error
    is at most half a 255th of that row's range.  ``exact`` keeps float32 codes instead
    (``low`` 0, ``scale`` 1) for when the stored values must be the original ones.
    """

    codes: np.ndarray  # uint8 (rows, columns), or float32 when exact
    low: np.ndarray  # float32 (rows,)
    scale: np.ndarray  # float32 (rows,)

    @classmethod
    def pack(cls, rows: np.ndarray, exact: bool = False) -> PackedRows:
        rows = np.asarray(rows, np.float32)
        if exact:
            count = rows.shape[0]
            return cls(frozen(rows), frozen(np.zeros(count, np.float32)),
                       frozen(np.ones(count, np.float32)))
        low = rows.min(axis=1)
        span = rows.max(axis=1) - low
        inverse = np.divide(np.float32(_LEVELS), span, out=np.zeros_like(span),
                            where=span > 0)
        scaled = rows - low[:, None]  # >= 0 exactly
        scaled *= inverse[:, None]
        scaled += np.float32(0.5)  # so the truncating cast rounds to nearest
        codes = scaled.astype(np.uint8)
        return cls(_sealed(codes), _sealed(low), _sealed(span / np.float32(_LEVELS)))

    @property
    def exact(self) -> bool:
        return self.codes.dtype != np.uint8

    @property
    def shape(self) -> tuple[int, int]:
        return self.codes.shape

    @property
    def nbytes(self) -> int:
        return self.codes.nbytes + self.low.nbytes + self.scale.nbytes

    def unpack(self) -> np.ndarray:
        """The rows as a read-only float32 array (computed anew, about a millisecond)."""
        if self.exact:
            return self.codes
        values = self.codes.astype(np.float32)
        values *= self.scale[:, None]
        values += self.low[:, None]
        values.flags.writeable = False
        return values

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: _tensor(getattr(self, name)) for name in ("codes", "low", "scale")}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> PackedRows:
        codes, low, scale = (_array(state[name]) for name in ("codes", "low", "scale"))
        if codes.ndim != 2 or codes.dtype not in (np.uint8, np.float32) or \
                low.shape != scale.shape or low.shape != codes.shape[:1]:
            raise ValueError("damaged timeline: a packed array has the wrong shape or type")
        return cls(frozen(codes), frozen(low.astype(np.float32)),
                   frozen(scale.astype(np.float32)))


@dataclass(frozen=True, eq=False)
class Frame:
    """One moment of the run, compact and immutable: what the panels need to redraw it."""

    step: int
    epoch: float
    samples_seen: int
    config: TrainConfig
    image_shape: tuple[int, int]
    loss: LossValues
    validation_reconstruction: float | None
    fraction_near_zero: float
    l0_mean: float
    explained_variance: float
    rho_hat_batch: np.ndarray  # float32 (hidden,), as in Snapshot
    rho_hat_ema: np.ndarray
    near_zero_batch: np.ndarray
    near_zero_ema: np.ndarray
    mean_abs_batch: np.ndarray
    dead_units: np.ndarray  # bool (hidden,)
    encoder: PackedRows  # (hidden, input): row j is unit j's filter
    decoder: PackedRows  # (hidden, input): row j is unit j's decoder column; with tied
    #                      weights the very same object as ``encoder``
    sample_inputs: PackedRows  # (k, input)
    sample_reconstructions: PackedRows  # (k, input)

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot, exact: bool = False) -> Frame:
        encoder = PackedRows.pack(snapshot.encoder_weights, exact)
        # Tied weights: the decoder is the encoder transposed, store it once.
        decoder = (encoder if snapshot.config.tied_weights
                   else PackedRows.pack(snapshot.decoder_weights.T, exact))
        return cls(
            step=int(snapshot.step), epoch=float(snapshot.epoch),
            samples_seen=int(snapshot.samples_seen), config=snapshot.config,
            image_shape=tuple(snapshot.image_shape), loss=snapshot.loss,
            validation_reconstruction=snapshot.validation_reconstruction,
            **{name: float(getattr(snapshot, name)) for name in SCALARS},
            # Snapshot arrays are read-only and never change: share them, no copy.
            **{name: _read_only(getattr(snapshot, name)) for name in UNIT_ARRAYS},
            encoder=encoder, decoder=decoder,
            sample_inputs=PackedRows.pack(snapshot.sample_inputs, exact),
            sample_reconstructions=PackedRows.pack(snapshot.sample_reconstructions, exact),
        )

    @property
    def hidden_units(self) -> int:
        return self.encoder.shape[0]

    @property
    def input_size(self) -> int:
        return self.encoder.shape[1]

    @property
    def dead_count(self) -> int:
        return int(self.dead_units.sum())

    @property
    def rho_hat_mean(self) -> float:
        return float(self.rho_hat_ema.mean())

    @property
    def encoder_weights(self) -> np.ndarray:
        """float32 (hidden, input), as Snapshot.encoder_weights (8-bit accurate)."""
        return self.encoder.unpack()

    @property
    def decoder_weights(self) -> np.ndarray:
        """float32 (input, hidden), as Snapshot.decoder_weights (8-bit accurate)."""
        return frozen(self.decoder.unpack().T)

    def mosaic(self, which: str = "encoder", per_tile: bool = True) -> np.ndarray:
        """The weight mosaic of ``which`` ("encoder" or "decoder"), as core.mosaic draws it."""
        if which not in ("encoder", "decoder"):
            raise ValueError(f"which = {which!r}: allowed encoder or decoder")
        packed = self.encoder if which == "encoder" else self.decoder
        return tile_mosaic(packed.unpack(), self.image_shape, per_tile)

    @property
    def nbytes(self) -> int:
        """Memory held by this frame's arrays (shared ones counted once)."""
        arrays = {id(a): a.nbytes for a in (getattr(self, n) for n in UNIT_ARRAYS)}
        packed = {id(p): p.nbytes for p in (self.encoder, self.decoder, self.sample_inputs,
                                             self.sample_reconstructions)}
        return sum(arrays.values()) + sum(packed.values())

    def state_dict(self) -> dict[str, Any]:
        """Plain types and tensors only (loadable with ``torch.load(weights_only=True)``)."""
        return {
            "step": self.step, "epoch": self.epoch, "samples_seen": self.samples_seen,
            "config": self.config.to_dict(), "image_shape": list(self.image_shape),
            "loss": [self.loss.total, self.loss.reconstruction, self.loss.penalty,
                     self.loss.weight_decay],
            "validation_reconstruction": self.validation_reconstruction,
            **{name: getattr(self, name) for name in SCALARS},
            **{name: _tensor(getattr(self, name)) for name in UNIT_ARRAYS},
            "encoder": self.encoder.state_dict(),
            "decoder": None if self.decoder is self.encoder else self.decoder.state_dict(),
            "sample_inputs": self.sample_inputs.state_dict(),
            "sample_reconstructions": self.sample_reconstructions.state_dict(),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Frame:
        encoder = PackedRows.from_state_dict(state["encoder"])
        decoder = (encoder if state["decoder"] is None
                   else PackedRows.from_state_dict(state["decoder"]))
        validation = state["validation_reconstruction"]
        frame = cls(
            step=int(state["step"]), epoch=float(state["epoch"]),
            samples_seen=int(state["samples_seen"]),
            config=TrainConfig.from_dict(state["config"]),
            image_shape=(int(state["image_shape"][0]), int(state["image_shape"][1])),
            loss=LossValues(*(float(v) for v in state["loss"])),
            validation_reconstruction=None if validation is None else float(validation),
            **{name: float(state[name]) for name in SCALARS},
            **{name: frozen(_array(state[name])) for name in UNIT_ARRAYS},
            encoder=encoder, decoder=decoder,
            sample_inputs=PackedRows.from_state_dict(state["sample_inputs"]),
            sample_reconstructions=PackedRows.from_state_dict(state["sample_reconstructions"]),
        )
        frame._check()
        return frame

    def _check(self) -> None:
        hidden, inputs = self.encoder.shape
        height, width = self.image_shape
        if (height * width != inputs or self.decoder.shape != (hidden, inputs)
                or any(getattr(self, n).shape != (hidden,) for n in UNIT_ARRAYS)
                or self.sample_inputs.shape[1:] != (inputs,)
                or self.sample_reconstructions.shape != self.sample_inputs.shape):
            raise ValueError(f"damaged timeline: the frame of step {self.step} has arrays "
                             "of inconsistent shapes")


class Timeline:
    """A bounded series of frames spanning the whole run (driven by one thread)."""

    def __init__(self, capacity: int = 128, max_bytes: int = 64 * 2**20,
                 min_interval: int = 1, exact: bool = False) -> None:
        if capacity < 4:
            raise ValueError("capacity must be at least 4 frames")
        if min_interval < 1:
            raise ValueError("min_interval must be at least 1 step")
        self.capacity = int(capacity)
        self.max_bytes = int(max_bytes)
        self.min_interval = int(min_interval)
        self.exact = bool(exact)
        self.clear()

    def clear(self) -> None:
        """Forget every frame (call it when the run is reset: a new run, a new timeline)."""
        self._frames: list[Frame] = []
        self._steps: list[int] = []
        self._bytes = 0
        self._interval = self.min_interval
        self._tail_snapshot: Snapshot | None = None  # the latest offer, not yet a frame
        self._tail_frame: Frame | None = None  # ... once compressed

    # ------------------------------------------------------------ recording

    @property
    def interval(self) -> int:
        """Steps per cell: at most one kept frame per cell (the latest frame aside)."""
        return self._interval

    def offer(self, snapshot: Snapshot) -> bool:
        """Record ``snapshot`` if it opens a new cell, else hold it as the latest frame.

        Costs a compression (a few ms for 784-400) only when the snapshot opens a new
        cell; otherwise it keeps a reference.  A step at or before a recorded one means
        the run went back: the frames from that step on are dropped (after a divergence
        rollback, the undone steps; after a reset, whose first snapshot is of step 0,
        all of them).  A model of another shape starts the timeline afresh.  Returns
        False only for the snapshot already held.
        """
        if snapshot is self._tail_snapshot:
            return False
        step = int(snapshot.step)
        last = self._frames[-1] if self._frames else None
        if last is not None and (last.encoder.shape != snapshot.encoder_weights.shape
                                 or last.image_shape != tuple(snapshot.image_shape)):
            self.clear()
            last = None
        self._tail_snapshot = self._tail_frame = None
        if last is not None and step <= last.step:
            self._drop_from(step)
            last = self._frames[-1] if self._frames else None
        if last is None or step // self._interval > last.step // self._interval:
            self._append(Frame.from_snapshot(snapshot, self.exact))
        else:
            self._tail_snapshot = snapshot
        return True

    def copy(self) -> Timeline:
        """An independent timeline with the same frames (frames are immutable, so this is
        cheap): hand it to another thread, e.g. to be saved, and go on offering here."""
        twin = Timeline(self.capacity, self.max_bytes, self.min_interval, self.exact)
        twin._set_frames(list(self._frames))
        twin._interval = self._interval
        twin._tail_snapshot, twin._tail_frame = self._tail_snapshot, self._tail_frame
        return twin

    def _append(self, frame: Frame) -> None:
        self._frames.append(frame)
        self._steps.append(frame.step)
        self._bytes += frame.nbytes
        while len(self._frames) > 2 and (len(self._frames) > self.capacity
                                         or self._bytes > self.max_bytes):
            self._thin()

    def _thin(self) -> None:
        """Double the interval; keep the first frame of each cell, the first and the last."""
        self._interval *= 2
        interval = self._interval
        kept = [self._frames[0]]
        for frame in self._frames[1:-1]:
            if frame.step // interval > kept[-1].step // interval:
                kept.append(frame)
        kept.append(self._frames[-1])
        self._set_frames(kept)

    def _drop_from(self, step: int) -> None:
        self._set_frames(self._frames[:bisect.bisect_left(self._steps, step)])

    def _set_frames(self, frames: list[Frame]) -> None:
        self._frames = frames
        self._steps = [f.step for f in frames]
        self._bytes = sum(f.nbytes for f in frames)

    # ------------------------------------------------------------ reading

    def _tail(self) -> Frame | None:
        if self._tail_frame is None and self._tail_snapshot is not None:
            self._tail_frame = Frame.from_snapshot(self._tail_snapshot, self.exact)
        return self._tail_frame

    def _tail_step(self) -> int | None:
        if self._tail_snapshot is not None:
            return int(self._tail_snapshot.step)
        return None if self._tail_frame is None else self._tail_frame.step

    def __len__(self) -> int:
        return len(self._frames) + (self._tail_step() is not None)

    def steps(self) -> np.ndarray:
        """The step of every frame, increasing (int64, read-only)."""
        tail = self._tail_step()
        steps = self._steps if tail is None else [*self._steps, tail]
        return frozen(np.asarray(steps, np.int64))

    def frames(self) -> tuple[Frame, ...]:
        tail = self._tail()
        return tuple(self._frames) if tail is None else (*self._frames, tail)

    def frame(self, index: int) -> Frame:
        """The frame at ``index`` (negative counts from the end, as for a list)."""
        count = len(self)
        if not -count <= index < count:
            raise IndexError(f"frame {index} of a timeline of {count}")
        index %= count
        return self._frames[index] if index < len(self._frames) else self._tail()

    def index_at(self, step: int) -> int | None:
        """Index of the last frame at or before ``step`` (the first for an earlier step)."""
        if not len(self):
            return None
        tail = self._tail_step()
        if tail is not None and step >= tail:
            return len(self) - 1
        return max(0, bisect.bisect_right(self._steps, step) - 1)

    def frame_at(self, step: int) -> Frame | None:
        """The frame shown for ``step`` on a scrub bar: at it or just before (None if empty)."""
        index = self.index_at(step)
        return None if index is None else self.frame(index)

    @property
    def nbytes(self) -> int:
        """Memory of the frames (the latest counted once compressed)."""
        tail = self._tail_frame
        return self._bytes + (tail.nbytes if tail is not None else 0)

    # ------------------------------------------------------------ persistence

    def state_dict(self) -> dict[str, Any]:
        """Plain types and tensors only: saved with torch.save, loaded weights_only."""
        tail = self._tail()
        return {
            "format": FORMAT, "version": FORMAT_VERSION,
            "capacity": self.capacity, "max_bytes": self.max_bytes,
            "min_interval": self.min_interval, "exact": self.exact,
            "interval": self._interval,
            "frames": [f.state_dict() for f in self._frames],
            "latest": None if tail is None else tail.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any], keep_limits: bool = False) -> None:
        """Replace the content by a saved one; ValueError (changing nothing) if damaged.

        ``keep_limits``: keep this timeline's capacity and byte budget (thinning the saved
        frames to fit), so a file can never make memory unbounded.
        """
        try:
            if state.get("format") != FORMAT or state.get("version") != FORMAT_VERSION:
                raise ValueError("not a Rhoscope timeline of a known version")
            frames = [Frame.from_state_dict(f) for f in state["frames"]]
            latest = state["latest"]
            tail = None if latest is None else Frame.from_state_dict(latest)
            settings = (int(state["capacity"]), int(state["max_bytes"]),
                        int(state["min_interval"]), bool(state["exact"]),
                        int(state["interval"]))
        except (KeyError, TypeError, AttributeError, IndexError) as error:
            raise ValueError(f"damaged timeline ({type(error).__name__}: {error})") from None
        steps = [f.step for f in (*frames, *([tail] if tail else []))]
        if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
            raise ValueError("damaged timeline: frame steps do not increase")
        shapes = {(f.encoder.shape, f.image_shape) for f in (*frames, *([tail] if tail else []))}
        if len(shapes) > 1:
            raise ValueError("damaged timeline: frames of differently shaped models")
        if settings[0] < 4 or settings[2] < 1 or settings[4] < 1:
            raise ValueError("damaged timeline: invalid capacity or interval")
        if not keep_limits:
            self.capacity, self.max_bytes, self.min_interval, self.exact = settings[:4]
        self._set_frames(frames)
        self._interval = settings[4]
        while len(self._frames) > 2 and (len(self._frames) > self.capacity
                                         or self._bytes > self.max_bytes):
            self._thin()
        self._tail_snapshot, self._tail_frame = None, tail

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Timeline:
        timeline = cls()
        timeline.load_state_dict(state)
        return timeline


def _sealed(array: np.ndarray) -> np.ndarray:
    """Make a freshly computed array read-only (no copy: nobody else holds it)."""
    array.flags.writeable = False
    return array


def _read_only(array: np.ndarray) -> np.ndarray:
    """Share a snapshot's read-only array, or copy one that someone could still change."""
    return array if not array.flags.writeable and array.flags.owndata else frozen(array)


def _tensor(array: np.ndarray) -> torch.Tensor:
    import torch  # only to save: displays use this module before torch is loaded

    return torch.from_numpy(np.array(array))  # a writable copy torch can own


def _array(value: Any) -> np.ndarray:
    """A tensor (as loaded) or array-like as a numpy array."""
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)



def history_until(history: HistoryArrays, step: int) -> HistoryArrays:
    """The buckets of ``history`` that began at or before ``step`` (read-only views)."""
    keep = int(np.searchsorted(history.step_first, step, side="right"))
    return HistoryArrays(history.columns, history.step_first[:keep], history.step_last[:keep],
                         history.mean[:keep], history.minimum[:keep], history.maximum[:keep])


def replay_snapshot(frame: Frame, latest: Snapshot) -> Snapshot:
    """A snapshot that shows the run as it was at ``frame``: the frame's weights and unit
    statistics, and the curves of ``latest`` cut at the frame's step, so every panel can
    draw the past with the code that draws the present."""
    return replace(
        latest, step=frame.step, epoch=frame.epoch, samples_seen=frame.samples_seen,
        config=frame.config, image_shape=frame.image_shape, loss=frame.loss,
        history=history_until(latest.history, frame.step),
        validation_history=history_until(latest.validation_history, frame.step),
        **{name: getattr(frame, name) for name in (*SCALARS, *UNIT_ARRAYS)},
        encoder_weights=frame.encoder_weights, decoder_weights=frame.decoder_weights,
        sample_inputs=frame.sample_inputs.unpack(),
        sample_reconstructions=frame.sample_reconstructions.unpack(), full=None)
