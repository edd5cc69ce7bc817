"""Built-in generator of handwritten-looking digits, MNIST style (28 x 28 by default).

Why this exists: Rhoscope needs a default data set that works offline, with no files and no
network, and on which a sparse autoencoder learns stroke-like features the way it does on
MNIST. Each digit is drawn from pen strokes (Catmull-Rom splines through a few template
points) with several writing styles per digit, then randomized per sample the way people
write differently: wobble of the template points, slant, aspect, rotation, a smooth elastic
warp, pen pressure and pen width. Like MNIST, each digit is scaled so the larger side of its
ink fits a ~20 px box and is placed so its centre of mass sits at pixel (14, 14).

Rendering is vectorized over samples: evenly spaced points along every stroke are splatted
bilinearly onto the pixel grid with one ``np.bincount``, a separable Gaussian blur (two matrix
products) turns them into a smooth field that is read back as the distance to the nearest
stroke, and ink is full within half the pen width and fades over about a pixel -- the
anti-aliased look of MNIST. Only numpy is used, so the output does not depend on torch's
thread count. Samples are made in fixed-size chunks, each seeded from (seed, chunk index), so
memory stays bounded and ``generate_digits(k, s)`` is a prefix of ``generate_digits(n, s)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["generate_digits", "MIN_SIZE", "MAX_SIZE", "MAX_COUNT"]

MIN_SIZE = 8
MAX_SIZE = 256
MAX_COUNT = 10_000_000

# ---------------------------------------------------------------------------------------------
# Stroke templates
#
# Coordinates: x to the right, y DOWN (like image rows); a digit is about 1 tall and 0.6 wide.
# A style is (relative frequency, strokes); a stroke is the list of points the pen passes
# through, joined by a smooth spline. A point written as (x, y, SHARP) is a corner: the pen
# changes direction abruptly there instead of turning smoothly.
# ---------------------------------------------------------------------------------------------

SHARP = True

TemplatePoint = tuple[float, float] | tuple[float, float, bool]
Stroke = list[TemplatePoint]
Style = tuple[float, list[Stroke]]


def _arc(
    centre_x: float,
    centre_y: float,
    radius_x: float,
    radius_y: float,
    start_deg: float,
    end_deg: float,
    steps: int,
) -> Stroke:
    """Points along an elliptical arc; 0 deg = right, 90 deg = top, increasing = anticlockwise.

    Used for the round parts of 0, 6, 8, 9 so templates stay short and readable.
    """
    angles = np.radians(np.linspace(start_deg, end_deg, steps + 1))
    return [
        (round(centre_x + radius_x * math.cos(a), 4), round(centre_y - radius_y * math.sin(a), 4))
        for a in angles
    ]


# fmt: off
_DIGIT_STYLES: dict[int, list[Style]] = {
    0: [
        (0.45, [_arc(0.30, 0.50, 0.29, 0.50, 80, 455, 9)]),  # oval, closes with a small overlap
        (0.20, [_arc(0.30, 0.50, 0.24, 0.50, 100, 470, 9)]),  # narrow oval
        (0.35, [_arc(0.32, 0.50, 0.32, 0.48, 60, 405, 9)]),  # round, left a little open
    ],
    1: [
        (0.85, [[(0.50, 0.00), (0.50, 1.00)]]),  # single straight stroke
        (0.12, [[(0.34, 0.14), (0.50, 0.00, SHARP), (0.50, 0.50), (0.50, 1.00)]]),  # with flag
        (
            0.03,  # with flag and base
            [
                [(0.34, 0.14), (0.50, 0.00, SHARP), (0.50, 0.50), (0.50, 1.00)],
                [(0.25, 1.00), (0.75, 1.00)],
            ],
        ),
    ],
    2: [
        (
            0.35,  # plain: arc, diagonal, sharp turn into the base
            [[
                (0.05, 0.28), (0.22, 0.05), (0.45, 0.02), (0.60, 0.20), (0.55, 0.42),
                (0.30, 0.70), (0.02, 1.00, SHARP), (0.35, 0.98), (0.68, 1.00),
            ]],
        ),
        (
            0.35,  # with a small loop where the diagonal meets the base
            [[
                (0.05, 0.28), (0.22, 0.05), (0.45, 0.02), (0.60, 0.20), (0.55, 0.42),
                (0.30, 0.70), (0.12, 0.88), (0.04, 0.97), (0.02, 0.88), (0.12, 0.83),
                (0.25, 0.93), (0.45, 1.00), (0.70, 0.97),
            ]],
        ),
        (
            0.15,  # rounded turn into the base
            [[
                (0.05, 0.25), (0.25, 0.02), (0.55, 0.10), (0.50, 0.40), (0.05, 0.95),
                (0.30, 0.92), (0.68, 0.98),
            ]],
        ),
        (
            0.15,  # big curl where the diagonal turns into the base
            [[
                (0.05, 0.28), (0.22, 0.05), (0.45, 0.02), (0.60, 0.20), (0.55, 0.42),
                (0.32, 0.62), (0.12, 0.80), (0.00, 0.95), (0.12, 1.00), (0.36, 0.95),
                (0.40, 0.78), (0.25, 0.70), (0.12, 0.82), (0.22, 0.96), (0.45, 1.00),
                (0.70, 0.97),
            ]],
        ),
        (
            0.15,  # big round hook on top, loop at the bottom
            [[
                (0.02, 0.30), (0.10, 0.08), (0.32, 0.00), (0.55, 0.12), (0.58, 0.35),
                (0.42, 0.60), (0.20, 0.80), (0.05, 0.95), (0.00, 0.86), (0.12, 0.80),
                (0.30, 0.90), (0.45, 0.98), (0.65, 0.95),
            ]],
        ),
    ],
    3: [
        (
            0.65,  # two bowls meeting in a cusp
            [[
                (0.05, 0.12), (0.30, 0.00), (0.55, 0.10), (0.52, 0.32), (0.25, 0.47, SHARP),
                (0.52, 0.58), (0.60, 0.80), (0.38, 0.98), (0.10, 0.97), (0.00, 0.86),
            ]],
        ),
        (
            0.20,  # two bowls joined by a small round turn
            [[
                (0.05, 0.12), (0.30, 0.00), (0.55, 0.10), (0.52, 0.32), (0.30, 0.46),
                (0.52, 0.56), (0.60, 0.80), (0.38, 0.98), (0.10, 0.97), (0.00, 0.86),
            ]],
        ),
        (
            0.15,  # flat top
            [[
                (0.05, 0.00), (0.58, 0.00, SHARP), (0.25, 0.40, SHARP), (0.50, 0.45),
                (0.62, 0.70), (0.45, 0.95), (0.15, 0.98), (0.00, 0.85),
            ]],
        ),
    ],
    4: [
        (
            0.45,  # open top: slanted left stroke turning into the bar, separate upright
            [
                [(0.32, 0.00), (0.02, 0.62, SHARP), (0.35, 0.62), (0.70, 0.60)],
                [(0.52, 0.08), (0.52, 0.55), (0.50, 1.00)],
            ],
        ),
        (
            0.20,  # closed top
            [
                [(0.50, 0.00), (0.02, 0.62, SHARP), (0.35, 0.62), (0.70, 0.62)],
                [(0.50, 0.00), (0.50, 0.50), (0.50, 1.00)],
            ],
        ),
        (
            0.35,  # upright left stroke curving into the bar
            [
                [(0.05, 0.00), (0.05, 0.30), (0.12, 0.52), (0.35, 0.58), (0.70, 0.55)],
                [(0.55, 0.00), (0.55, 0.50), (0.52, 1.00)],
            ],
        ),
    ],
    5: [
        (
            0.45,  # body in one stroke, flag added separately
            [
                [
                    (0.15, 0.00), (0.10, 0.45, SHARP), (0.35, 0.38), (0.58, 0.55),
                    (0.58, 0.80), (0.35, 0.98), (0.02, 0.90),
                ],
                [(0.15, 0.00), (0.40, 0.00), (0.62, 0.00)],
            ],
        ),
        (
            0.30,  # all in one stroke, starting at the flag
            [[
                (0.62, 0.00), (0.15, 0.02, SHARP), (0.10, 0.45, SHARP), (0.35, 0.38),
                (0.58, 0.55), (0.58, 0.80), (0.35, 0.98), (0.02, 0.90),
            ]],
        ),
        (
            0.15,  # big round bowl
            [
                [
                    (0.15, 0.00), (0.12, 0.42, SHARP), (0.40, 0.33), (0.62, 0.50),
                    (0.62, 0.78), (0.40, 0.98), (0.10, 0.95), (0.00, 0.85),
                ],
                [(0.15, 0.00), (0.60, 0.02)],
            ],
        ),
    ],
    6: [
        (
            0.5,  # curved back
            [[
                (0.55, 0.00), (0.30, 0.20), (0.12, 0.50), (0.10, 0.78), (0.28, 0.99),
                (0.50, 0.90), (0.52, 0.70), (0.34, 0.60), (0.18, 0.68),
            ]],
        ),
        (
            0.3,  # straighter back
            [[
                (0.45, 0.00), (0.22, 0.35), (0.10, 0.70), (0.25, 1.00), (0.50, 0.90),
                (0.50, 0.66), (0.32, 0.58), (0.16, 0.66),
            ]],
        ),
        (
            0.2,  # long sweeping back, small low loop
            [[
                (0.60, 0.00), (0.35, 0.18), (0.15, 0.45), (0.05, 0.75), (0.20, 0.98),
                (0.45, 0.95), (0.50, 0.78), (0.35, 0.66), (0.14, 0.70),
            ]],
        ),
    ],
    7: [
        (0.60, [[(0.00, 0.02), (0.30, 0.00), (0.62, 0.00, SHARP), (0.40, 0.45), (0.25, 1.00)]]),
        (
            0.15,  # with a crossbar
            [
                [(0.00, 0.02), (0.30, 0.00), (0.62, 0.00, SHARP), (0.40, 0.45), (0.25, 1.00)],
                [(0.18, 0.50), (0.60, 0.48)],
            ],
        ),
        (
            0.25,  # with a small hook at the start
            [[(0.00, 0.22), (0.02, 0.00, SHARP), (0.60, 0.00, SHARP), (0.35, 0.50), (0.25, 1.00)]],
        ),
    ],
    8: [
        (
            0.5,  # one stroke: S-curve down, then back up through the middle
            [[
                (0.55, 0.10), (0.30, 0.00), (0.07, 0.12), (0.12, 0.35), (0.45, 0.58),
                (0.58, 0.80), (0.35, 0.99), (0.05, 0.85), (0.12, 0.60), (0.45, 0.35),
                (0.55, 0.15), (0.40, 0.02),
            ]],
        ),
        (
            0.3,  # two stacked loops
            [
                _arc(0.30, 0.24, 0.22, 0.24, 270, 640, 8),
                _arc(0.30, 0.73, 0.29, 0.27, 90, 460, 8),
            ],
        ),
    ],
    9: [
        (
            0.4,  # loop and straight stem
            [[
                (0.58, 0.12), (0.35, 0.00), (0.08, 0.12), (0.08, 0.35), (0.30, 0.45),
                (0.55, 0.32), (0.60, 0.05, SHARP), (0.58, 0.50), (0.55, 1.00),
            ]],
        ),
        (
            0.3,  # loop and curved tail
            [[
                (0.58, 0.12), (0.35, 0.00), (0.08, 0.12), (0.08, 0.35), (0.30, 0.45),
                (0.55, 0.32), (0.60, 0.05, SHARP), (0.58, 0.55), (0.45, 0.88), (0.20, 1.00),
            ]],
        ),
        (
            0.3,  # small loop on a long stem
            [[
                (0.55, 0.10), (0.32, 0.00), (0.10, 0.10), (0.12, 0.28), (0.32, 0.34),
                (0.52, 0.24), (0.56, 0.04, SHARP), (0.52, 0.50), (0.45, 1.00),
            ]],
        ),
    ],
}
# fmt: on

# Per-digit calibration of the templates against MNIST statistics: horizontal stretch (MNIST
# digits are wider than these drawings) and extra slant (x shifts right by slant * height above
# the middle) so average width and lean per digit match handwriting.
_DIGIT_CALIBRATION: dict[int, tuple[float, float]] = {
    0: (1.35, 0.13),
    1: (1.00, 0.11),
    2: (1.22, -0.05),
    3: (1.09, -0.11),
    4: (1.13, 0.14),
    5: (1.22, 0.15),
    6: (1.32, -0.20),
    7: (1.15, -0.16),
    8: (1.07, 0.04),
    9: (1.02, 0.04),
}

# ---------------------------------------------------------------------------------------------
# Template compilation: every style becomes a linear map from its control points to dense,
# evenly spaced points along its strokes, so per-sample geometry is applied to a handful of
# control points and one matrix product yields the dense points.
# ---------------------------------------------------------------------------------------------

_POINT_SPACING = 0.035  # template units between dense points: ~0.7 px, hidden by the blur
_FINE_STEPS_PER_SEGMENT = 64  # resolution used only to measure arc length at import time


def _catmull_rom_weights(t: np.ndarray) -> np.ndarray:
    """Weights of the four neighbouring control points for local parameter t in [0, 1]."""
    t2 = t * t
    t3 = t2 * t
    return 0.5 * np.stack(
        [-t + 2 * t2 - t3, 2 - 5 * t2 + 3 * t3, t + 4 * t2 - 3 * t3, -t2 + t3], axis=-1
    )


def _run_basis(run: list[int], num_controls: int, run_param: np.ndarray) -> np.ndarray:
    """Rows mapping all controls of a style to points of one smooth run at parameters t.

    ``run_param`` goes from 0 to len(run) - 1; the ends are extended linearly (phantom point
    2 * P0 - P1) so a run starts and ends heading towards its neighbour point.
    """
    num_segments = len(run) - 1
    segment = np.minimum(run_param.astype(np.int64), num_segments - 1)
    local = run_param - segment
    weights = _catmull_rom_weights(local)  # (n, 4)
    # neighbour coefficient vectors, including the linear extrapolation at both ends
    padded: list[dict[int, float]] = [{run[0]: 2.0, run[1]: -1.0}]
    padded += [{index: 1.0} for index in run]
    padded.append({run[-1]: 2.0, run[-2]: -1.0})
    coefficient = np.zeros((len(padded), num_controls))
    for row, terms in enumerate(padded):
        for index, value in terms.items():
            coefficient[row, index] += value
    basis = np.zeros((len(run_param), num_controls))
    for k in range(4):
        basis += weights[:, k : k + 1] * coefficient[segment + k]
    return basis


@dataclass(frozen=True)
class _CompiledStyle:
    """One writing style of one digit, ready for vectorized rendering."""

    digit: int
    frequency: float
    controls: np.ndarray  # (C, 2) template control points, centred on the bounding box
    control_stroke: np.ndarray  # (C,) stroke index of each control point
    basis: np.ndarray  # (N, C): dense points = basis @ controls
    linked: np.ndarray  # (N - 1,) 1 where dense point i and i + 1 lie on the same stroke
    stroke_position: np.ndarray  # (N,) 0..1 along its stroke, for pen pressure


def _compile_style(digit: int, frequency: float, strokes: list[Stroke]) -> _CompiledStyle:
    width, slant = _DIGIT_CALIBRATION[digit]
    controls: list[tuple[float, float]] = []
    control_stroke: list[int] = []
    runs_per_stroke: list[list[list[int]]] = []
    for stroke_index, stroke in enumerate(strokes):
        runs: list[list[int]] = [[]]
        for point_number, point in enumerate(stroke):
            x, y = float(point[0]), float(point[1])
            controls.append((width * x + slant * (0.5 - y), y))
            control_stroke.append(stroke_index)
            runs[-1].append(len(controls) - 1)
            is_corner = len(point) == 3 and point[2]
            if is_corner and 0 < point_number < len(stroke) - 1:
                runs.append([len(controls) - 1])
        runs_per_stroke.append(runs)

    control_array = np.asarray(controls)
    rows: list[np.ndarray] = []
    linked: list[float] = []
    positions: list[np.ndarray] = []
    for runs in runs_per_stroke:
        stroke_rows: list[np.ndarray] = []
        for run_number, run in enumerate(runs):
            fine = np.linspace(0, len(run) - 1, (len(run) - 1) * _FINE_STEPS_PER_SEGMENT + 1)
            fine_points = _run_basis(run, len(controls), fine) @ control_array
            step = np.linalg.norm(np.diff(fine_points, axis=0), axis=1)
            arc = np.concatenate([[0.0], np.cumsum(step)])
            count = max(2, math.ceil(arc[-1] / _POINT_SPACING) + 1)
            param = np.interp(np.linspace(0, arc[-1], count), arc, fine)
            run_rows = _run_basis(run, len(controls), param)
            stroke_rows.append(run_rows if run_number == 0 else run_rows[1:])  # corner once
        basis = np.concatenate(stroke_rows)
        points = basis @ control_array
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
        positions.append(arc / max(arc[-1], 1e-9))
        if rows:
            linked.append(0.0)
        linked.extend([1.0] * (len(basis) - 1))
        rows.append(basis)

    basis = np.concatenate(rows)
    dense = basis @ control_array
    centre = (dense.min(axis=0) + dense.max(axis=0)) / 2
    return _CompiledStyle(
        digit=digit,
        frequency=frequency,
        controls=control_array - centre,
        control_stroke=np.asarray(control_stroke),
        basis=basis,
        linked=np.asarray(linked),
        stroke_position=np.concatenate(positions),
    )


@dataclass(frozen=True)
class _StyleTable:
    """All styles padded to common sizes so a chunk is processed as dense (B, ...) arrays.

    Padding control points repeat the last control and padding dense points repeat the last
    dense point with no link to it, so they add no ink and do not move the bounding box.
    """

    digit_styles: list[np.ndarray]  # per digit: style indices
    digit_cumulative: list[np.ndarray]  # per digit: cumulative style probabilities
    controls: np.ndarray  # (S, C, 2) float64
    control_stroke: np.ndarray  # (S, C) int64
    basis: list[np.ndarray]  # per style (N, C) float64, N padded
    linked: np.ndarray  # (S, N - 1) float32
    stroke_position: np.ndarray  # (S, N) float32
    stroke_end: np.ndarray  # (S, N) float32, 1 at the first and last point of every stroke
    num_points: int
    max_strokes: int


def _build_style_table() -> _StyleTable:
    styles = [
        _compile_style(digit, frequency, strokes)
        for digit in range(10)
        for frequency, strokes in _DIGIT_STYLES[digit]
    ]
    max_controls = max(len(s.controls) for s in styles)
    max_points = max(len(s.basis) for s in styles)
    controls = np.zeros((len(styles), max_controls, 2))
    control_stroke = np.zeros((len(styles), max_controls), dtype=np.int64)
    basis: list[np.ndarray] = []
    linked = np.zeros((len(styles), max_points - 1), dtype=np.float32)
    stroke_position = np.zeros((len(styles), max_points), dtype=np.float32)
    stroke_end = np.zeros((len(styles), max_points), dtype=np.float32)
    for index, style in enumerate(styles):
        num_controls, num_points = len(style.controls), len(style.basis)
        controls[index, :num_controls] = style.controls
        controls[index, num_controls:] = style.controls[-1]
        control_stroke[index, :num_controls] = style.control_stroke
        padded_basis = np.zeros((max_points, max_controls))
        padded_basis[:num_points, :num_controls] = style.basis
        padded_basis[num_points:, :num_controls] = style.basis[-1]
        basis.append(padded_basis)
        linked[index, : num_points - 1] = style.linked
        stroke_position[index, :num_points] = style.stroke_position
        stroke_end[index, :num_points] = np.isin(style.stroke_position, (0.0, 1.0))
    digit_styles, digit_cumulative = [], []
    for digit in range(10):
        indices = np.asarray([i for i, s in enumerate(styles) if s.digit == digit])
        frequencies = np.asarray([styles[i].frequency for i in indices])
        digit_styles.append(indices)
        digit_cumulative.append(np.cumsum(frequencies) / frequencies.sum())
    return _StyleTable(
        digit_styles=digit_styles,
        digit_cumulative=digit_cumulative,
        controls=controls,
        control_stroke=control_stroke,
        basis=basis,
        linked=linked,
        stroke_position=stroke_position,
        stroke_end=stroke_end,
        num_points=max_points,
        max_strokes=int(control_stroke.max()) + 1,
    )


_STYLES = _build_style_table()

# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------

_CHUNK_PIXELS = 512 * 28 * 28  # pixels per independently seeded chunk: bounds memory
_MNIST_SIZE = 28
_MNIST_CENTRE = 14.0  # MNIST puts the centre of mass at pixel (14, 14) of 28 x 28 ...
_INK_BOX = 20.35  # ... and fits the larger side of the ink into a 20 px box (edges included)
_STROKE_WIDTH = 2.55  # median pen width in px at 28 x 28 (MNIST: roughly 1.5 to 3.5 px)
_BLUR_SIGMA = 0.55  # px at 28 x 28; smooths the splatted centre lines into a distance field
_SPLAT_VARIANCE = 1 / 6  # output px^2; the bilinear splat widens the field by this much
_EDGE_RAMP = 1.0  # output px over which ink fades from 1 to 0 at a stroke's edge
_END_CAP = 1.25  # extra ink at stroke ends, as stroke length in units of the field's spread


def _chunk_size(size: int) -> int:
    """Samples per chunk: 512 at 28 x 28, fewer for big images. Fixed for a given size, which
    is what makes shorter outputs prefixes of longer ones."""
    return max(8, min(512, _CHUNK_PIXELS // (size * size)))


def _pick_styles(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """One writing style per sample, drawn with each digit's style frequencies."""
    choice = rng.random(len(labels))
    style = np.empty(len(labels), dtype=np.int64)
    for digit in range(10):
        mask = labels == digit
        candidates = _STYLES.digit_styles[digit]
        pick = np.searchsorted(_STYLES.digit_cumulative[digit], choice[mask], side="right")
        style[mask] = candidates[np.minimum(pick, len(candidates) - 1)]
    return style


def _vary_control_points(rng: np.random.Generator, style: np.ndarray) -> np.ndarray:
    """Per-sample handwriting variation applied to the template points; returns (B, 2, C).

    Working on the few control points (not the dense points) keeps this cheap, and because the
    spline is affine-invariant, slant / rotation / aspect here equal applying them to the curve.
    """
    count = len(style)
    controls = _STYLES.controls[style].copy()  # (B, C, 2)
    num_controls = controls.shape[1]
    # wobble: neighbouring template points drift together, so curves bend rather than kink
    wobble = rng.uniform(0.01, 0.08, size=(count, 1, 1))
    noise = rng.standard_normal((count, num_controls + 2, 2))
    controls += 2.0 * wobble * (0.5 * noise[:, 1:-1] + 0.25 * (noise[:, :-2] + noise[:, 2:]))
    # strokes written separately (the bar of a 4, the flag of a 5) do not line up exactly
    stroke_shift = rng.normal(0.0, 0.02, size=(count, _STYLES.max_strokes, 2))
    stroke = _STYLES.control_stroke[style][:, :, None]
    controls += np.take_along_axis(stroke_shift, stroke, axis=1)

    x, y = controls[..., 0], controls[..., 1]  # y points down
    x *= np.exp(rng.normal(0.0, 0.14, size=(count, 1)))  # narrow or wide writing
    x -= np.clip(rng.normal(0.1, 0.22, size=(count, 1)), -0.5, 0.7) * y  # slant, mostly right
    angle = np.clip(rng.normal(0.0, 0.1, size=(count, 1)), -0.3, 0.3)
    cos_a, sin_a = np.cos(angle), np.sin(angle)
    x, y = cos_a * x - sin_a * y, sin_a * x + cos_a * y
    # small smooth elastic warp: two low-frequency sinusoidal displacement fields
    for _ in range(2):
        direction = rng.uniform(0, 2 * math.pi, size=(count, 1))
        frequency = rng.uniform(2.0, 5.0, size=(count, 1))  # radians per digit height
        phase = rng.uniform(0, 2 * math.pi, size=(count, 1))
        amplitude = rng.normal(0.0, 0.05, size=(count, 2, 1))
        wave = np.sin(frequency * (np.cos(direction) * x + np.sin(direction) * y) + phase)
        x, y = x + amplitude[:, 0] * wave, y + amplitude[:, 1] * wave
    return np.stack([x, y], axis=1)


def _dense_points(style: np.ndarray, controls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Evenly spaced points along every stroke: one matrix product per style; (B, N) x and y."""
    points = np.empty((len(style), 2, _STYLES.num_points))
    for index in np.unique(style):
        members = np.nonzero(style == index)[0]
        points[members] = controls[members] @ _STYLES.basis[index].T
    points = points.astype(np.float32)
    return points[:, 0], points[:, 1]


def _place_like_mnist(
    rng: np.random.Generator,
    style: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    stroke_width: np.ndarray,
    spread: float,
    size: int,
) -> np.ndarray:
    """Scale and move the points (in place) the way MNIST normalized its digits; return the
    ink each point deposits (arc length it stands for, times pen pressure)."""
    unit = size / _MNIST_SIZE
    ink_box = np.clip(rng.normal(_INK_BOX, 0.4, size=(len(style), 1)), 19.2, 21.1)
    box = np.maximum(ink_box.astype(np.float32) * unit - stroke_width - _EDGE_RAMP, 4.0 * unit)
    extent = np.maximum(np.ptp(px, axis=1, keepdims=True), np.ptp(py, axis=1, keepdims=True))
    scale = box / np.maximum(extent, 1e-3)
    px *= scale
    py *= scale

    segment = np.hypot(np.diff(px, axis=1), np.diff(py, axis=1)) * _STYLES.linked[style]
    length = 0.5 * (np.pad(segment, ((0, 0), (1, 0))) + np.pad(segment, ((0, 0), (0, 1))))
    # a round pen tip: extra ink at stroke ends so they end round instead of tapering
    length += _STYLES.stroke_end[style] * np.float32(_END_CAP * spread)
    # pen pressure varying along the stroke: denser ink makes the stroke a little wider
    shape = (len(style), 1)
    phase = rng.uniform(0, 2 * math.pi, size=shape).astype(np.float32)
    cycles = rng.uniform(0.5, 2.0, size=shape).astype(np.float32)
    depth = rng.uniform(0.0, 0.6, size=shape).astype(np.float32)
    along = _STYLES.stroke_position[style]
    mass = length * np.exp(depth * np.sin(np.float32(2 * math.pi) * cycles * along + phase))

    total = mass.sum(axis=1, keepdims=True)
    centre = np.float32(_MNIST_CENTRE * unit)
    px += centre - (mass * px).sum(axis=1, keepdims=True) / total
    py += centre - (mass * py).sum(axis=1, keepdims=True) / total
    return mass


def _splat(px: np.ndarray, py: np.ndarray, mass: np.ndarray, size: int) -> np.ndarray:
    """Bilinear splat of all points of all samples with a single bincount; (B, size, size)."""
    count = len(px)
    inside = (px >= 0) & (px <= size - 1) & (py >= 0) & (py <= size - 1)
    mass = mass * inside  # a point that falls off the image is dropped, not piled on the border
    px = np.clip(px, 0, size - 1.001)
    py = np.clip(py, 0, size - 1.001)
    left, top = np.floor(px), np.floor(py)
    right_share, low_share = px - left, py - top
    left_share = 1 - right_share
    upper, lower = mass * (1 - low_share), mass * low_share
    pixel = (top * size + left).astype(np.int64)
    pixel += (np.arange(count, dtype=np.int64) * (size * size))[:, None]
    index = np.concatenate([pixel, pixel + 1, pixel + size, pixel + size + 1]).ravel()
    weight = np.concatenate(
        [upper * left_share, upper * right_share, lower * left_share, lower * right_share]
    ).ravel()
    density = np.bincount(index, weight, minlength=count * size * size)
    return density.astype(np.float32).reshape(count, size, size)


def _gaussian_matrix(size: int, sigma: float) -> np.ndarray:
    """Symmetric matrix G such that image @ G blurs along x and G @ image along y.

    Not renormalized at the border, so ink near the edge fades instead of piling up."""
    offset = np.arange(size)[:, None] - np.arange(size)[None, :]
    kernel = np.exp(-0.5 * (offset / sigma) ** 2)
    kernel[kernel < 1e-9] = 0.0  # no float32 denormals: they make the matrix products crawl
    return (kernel / (sigma * math.sqrt(2 * math.pi))).astype(np.float32)


def _ink(
    density: np.ndarray, stroke_width: np.ndarray, blur_sigma: float, spread: float
) -> np.ndarray:
    """Turn splatted centre lines into pen strokes with anti-aliased edges.

    The Gaussian-blurred density of a line is exp(-d^2 / 2 spread^2) at distance d (after
    normalization), so it can be read back as a distance to the nearest stroke. Ink is full
    within half the stroke width and fades linearly over about a pixel, like MNIST's strokes,
    which were binary pen strokes box-filtered down to 20 x 20.
    """
    size = density.shape[-1]
    blur = _gaussian_matrix(size, blur_sigma)
    field = np.matmul(blur, density @ blur)  # along x, then along y
    field *= np.float32(math.sqrt(2 * math.pi) * spread)  # 1 on a lone stroke's centre line
    np.clip(field, 1e-30, 1.0, out=field)  # empty background -> far away; crossings -> centre
    distance = np.sqrt(np.log(field) * np.float32(-2 * spread**2))
    image = (stroke_width[:, :, None] * 0.5 - distance) * np.float32(1 / _EDGE_RAMP) + 0.5
    np.clip(image, 0.0, 1.0, out=image)
    return np.round(image * 255) / np.float32(255)  # 8-bit grey levels, like MNIST


def _render_chunk(rng: np.random.Generator, count: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Render ``count`` digits; every random draw happens in a fixed order from ``rng``."""
    labels = rng.permutation(np.arange(count) % 10).astype(np.int64)
    style = _pick_styles(rng, labels)
    controls = _vary_control_points(rng, style)
    px, py = _dense_points(style, controls)

    unit = size / _MNIST_SIZE  # output px per px at 28 x 28
    blur_sigma = _BLUR_SIGMA * unit
    spread = math.sqrt(blur_sigma**2 + _SPLAT_VARIANCE)  # std of a stroke's field profile
    stroke_width = np.exp(rng.normal(math.log(_STROKE_WIDTH), 0.25, size=(count, 1)))
    stroke_width = (np.clip(stroke_width, 1.2, 4.5) * unit).astype(np.float32)

    mass = _place_like_mnist(rng, style, px, py, stroke_width, spread, size)
    density = _splat(px, py, mass, size)
    images = _ink(density, stroke_width, blur_sigma, spread)
    return np.ascontiguousarray(images, dtype=np.float32), labels


def generate_digits(count: int, seed: int = 0, size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """Generate handwritten-looking digits, MNIST style.

    Returns (images, labels): images float32 C-contiguous (count, size, size) in [0, 1], ink 1
    on background 0, in 8-bit grey levels; labels int64 (count,) in 0..9, a shuffled
    round-robin within every chunk (512 images at 28 x 28), so classes are balanced.
    The same (count, seed, size) always gives byte-identical output, and the first k images of
    generate_digits(n, seed, size) equal generate_digits(k, seed, size).

    Raises ValueError for count outside [1, MAX_COUNT], size outside [MIN_SIZE, MAX_SIZE] or a
    negative or non-integer seed.
    """
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)):
        raise ValueError(f"count must be an integer in [1, {MAX_COUNT}], got {count!r}")
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"count must be in [1, {MAX_COUNT}], got {count}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise ValueError(f"size must be an integer in [{MIN_SIZE}, {MAX_SIZE}], got {size!r}")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be in [{MIN_SIZE}, {MAX_SIZE}], got {size}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")

    count, seed, size = int(count), int(seed), int(size)
    chunk = _chunk_size(size)
    images = np.empty((count, size, size), dtype=np.float32)
    labels = np.empty(count, dtype=np.int64)
    for chunk_index, start in enumerate(range(0, count, chunk)):
        rng = np.random.default_rng(np.random.SeedSequence([seed, chunk_index]))
        # always a full chunk, so a chunk's content never depends on how many are wanted
        chunk_images, chunk_labels = _render_chunk(rng, chunk, size)
        stop = min(start + chunk, count)
        images[start:stop] = chunk_images[: stop - start]
        labels[start:stop] = chunk_labels[: stop - start]
    return images, labels
