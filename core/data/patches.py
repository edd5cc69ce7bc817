"""Built-in natural-image patches, prepared the way UFLDL's sparse autoencoder exercise does.

Why this exists: UFLDL's exercise trains a 64-25-64 sparse autoencoder on 8x8 patches of
ten pre-whitened natural photographs (Olshausen & Field's IMAGES.mat) and gets localized,
oriented edge detectors.  Rhoscope needs that data with no files, so it generates the images.

Images -- the dead-leaves model: opaque shapes (discs, ellipses, rotated rectangles) fall on
the canvas and later ones hide earlier ones.  Their radii follow p(r) ~ r^-3 from R_MIN = 4
pixels to half the image, the one law that makes the picture look the same at every scale
(its power spectrum falls as about 1/f^2 above the smallest shapes, as photographs' do), and
occlusion gives the sparse, sharp, straight-ish edges of natural scenes.  (With radii down to
a pixel the images fill with specks that whitening turns into dots, and the autoencoder
learns blobs instead of edges.)  Each shape has a grey level plus mild texture: a gentle
linear shading and a little 1/f noise.  The canvas is a torus (shapes wrap around), so the
images are periodic and filtering them in the Fourier domain leaves no border artefacts.

Painting is vectorized: shapes are grouped by the size of their bounding box, each group's
inside test is one broadcast numpy expression, and ``np.maximum.at`` keeps, per pixel, the
index of the last-painted (frontmost) shape that covers it.  Only numpy is used, so the result
depends on the seed alone (numpy Generator, no global state), not on thread counts;
10000 patches take about 0.3 s on one core.

Then as in UFLDL: whiten each image (Olshausen & Field's |f| exp(-(f/f0)^4) filter, which
flattens the 1/f amplitude spectrum -- without it the autoencoder learns blurry low-frequency
blobs), cut random patches, remove each patch's mean, clip at +-3 standard deviations of all
patch values and map [-1, 1] to [0.1, 0.9] so sigmoid outputs can reach every value.
ZCA whitening of the patches is optional, for larger patches.  ``core.features`` measures whether
the features learned on them are localized, oriented edge detectors.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["generate_dead_leaves", "whiten_images", "normalise_patches", "sample_patches",
           "zca_whiten", "generate_patches", "MAX_COUNT", "MIN_IMAGE_SIZE", "MAX_IMAGE_SIZE",
           "IMAGE_COUNT", "IMAGE_SIZE"]

MAX_COUNT = 10_000_000
MIN_IMAGE_SIZE = 16
MAX_IMAGE_SIZE = 2048

#: generate_patches cuts its patches from this many generated images of this size.
IMAGE_COUNT = 10
IMAGE_SIZE = 256

#: Olshausen & Field's roll-off frequency: 0.4 N cycles per picture = 0.4 cycles per pixel.
WHITENING_F0 = 0.4

#: Shape radii in pixels: from R_MIN to R_MAX_FRACTION * size, p(r) ~ r^-3.
R_MIN = 4.0
R_MAX_FRACTION = 0.5
#: Expected number of shapes over each pixel; the background shows through e^-COVER of it.
COVER = 6.0
#: Blur of the images in generate_patches: a camera's point spread, and anti-aliasing.
PATCH_IMAGE_BLUR = 0.7

_DISC, _ELLIPSE, _RECTANGLE = 0, 1, 2
_SHAPE_ODDS = (0.4, 0.3, 0.3)
#: Mean area of a shape relative to the disc of its radius: ellipses have the mean aspect
#: 0.625, rectangles 2 sin(2 corner) / pi, about 0.527 for corner uniform in [pi/12, pi/4].
_AREA_FACTOR = _SHAPE_ODDS[0] + _SHAPE_ODDS[1] * 0.625 + _SHAPE_ODDS[2] * 0.527


# ---------------------------------------------------------------------------------------------
# Argument checks: each names the argument and what is allowed.
# ---------------------------------------------------------------------------------------------

def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} = {value!r} is not allowed: an integer from {low} to {high}")
    if not low <= value <= high:
        raise ValueError(f"{name} = {value} is not allowed: an integer from {low} to {high}")
    return int(value)


def _check_seed(seed: object) -> int:
    return _check_int("seed", seed, 0, 2**63 - 1)


def _check_number(name: str, value: object, low: float, high: float,
                  low_inclusive: bool = True) -> float:
    op = "<=" if low_inclusive else "<"
    allowed = f"a number with {low:g} {op} {name} <= {high:g}"
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{name} = {value!r} is not allowed: {allowed}")
    value = float(value)
    if not math.isfinite(value) or value > high or value < low or (
            value == low and not low_inclusive):
        raise ValueError(f"{name} = {value:g} is not allowed: {allowed}")
    return value


def _check_images(images: object) -> np.ndarray:
    array = np.asarray(images)
    if array.ndim != 3 or min(array.shape) < 1 or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"images must be a numeric array (count, height, width), "
                         f"got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("images must be finite (found NaN or infinity)")
    return array


# ---------------------------------------------------------------------------------------------
# Dead leaves
# ---------------------------------------------------------------------------------------------

def _power_law_radii(rng: np.random.Generator, count: int, r_min: float,
                     r_max: float) -> np.ndarray:
    """Radii with density ~ r^-3 on [r_min, r_max] (inverse of the cumulative law)."""
    u = rng.random(count)
    low, high = r_min ** -2, r_max ** -2
    return (low - u * (low - high)) ** -0.5


def _one_over_f_noise(rng: np.random.Generator, size: int) -> np.ndarray:
    """Unit-variance periodic noise with a 1/f amplitude spectrum (natural texture)."""
    frequency = np.hypot(np.fft.fftfreq(size)[:, None], np.fft.rfftfreq(size)[None, :])
    frequency[0, 0] = np.inf
    spectrum = np.fft.rfft2(rng.standard_normal((size, size))) / frequency
    noise = np.fft.irfft2(spectrum, s=(size, size))
    return noise / max(float(noise.std()), 1e-12)


def _gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Periodic Gaussian blur with standard deviation ``sigma`` pixels (Fourier domain)."""
    size = image.shape[0]
    squared = np.fft.fftfreq(size)[:, None] ** 2 + np.fft.rfftfreq(size)[None, :] ** 2
    gain = np.exp(-2.0 * math.pi ** 2 * sigma ** 2 * squared)
    return np.fft.irfft2(np.fft.rfft2(image) * gain, s=image.shape)


def _paint_labels(size: int, radius: np.ndarray, kind: np.ndarray, angle: np.ndarray,
                  aspect: np.ndarray, corner: np.ndarray, centre_y: np.ndarray,
                  centre_x: np.ndarray) -> np.ndarray:
    """(size, size) index of the frontmost (last-painted) shape at each pixel, -1 if none.

    Shapes are grouped by the integer half-side of their bounding box, so each group is one
    broadcast (shapes, side, side) inside test with no per-pixel gathers; ``np.maximum.at``
    then keeps the highest shape index per pixel, which is back-to-front painting.
    """
    label = np.full(size * size, -1, np.int64)
    reach = np.ceil(radius).astype(np.int64)
    cos = np.cos(angle).astype(np.float32)
    sin = np.sin(angle).astype(np.float32)
    # Ellipse: u^2 + (v / aspect)^2 <= r^2.  Rectangle: |u| <= r cos(corner), |v| <= r sin(corner).
    half_u = (radius * np.cos(corner)).astype(np.float32)
    half_v = (radius * np.sin(corner)).astype(np.float32)
    stretch = np.where(kind == _ELLIPSE, 1.0 / aspect, 1.0).astype(np.float32)
    radius2 = (radius * radius).astype(np.float32)
    order = np.argsort(reach, kind="stable")
    bounds = np.flatnonzero(np.diff(reach[order])) + 1
    for group in np.split(order, bounds):
        r = int(reach[group[0]])
        offsets = np.arange(-r, r + 1)
        dy = offsets.astype(np.float32)[None, :, None]
        dx = offsets.astype(np.float32)[None, None, :]
        c, s = cos[group, None, None], sin[group, None, None]
        u = dx * c + dy * s
        v = dy * c - dx * s
        rectangle = (kind[group] == _RECTANGLE)[:, None, None]
        inside = np.where(
            rectangle,
            (np.abs(u) <= half_u[group, None, None]) & (np.abs(v) <= half_v[group, None, None]),
            u * u + (v * stretch[group, None, None]) ** 2 <= radius2[group, None, None])
        rows = (centre_y[group, None, None] + offsets[None, :, None]) % size
        columns = (centre_x[group, None, None] + offsets[None, None, :]) % size
        pixel = rows * size + columns
        owner = np.broadcast_to(group[:, None, None], inside.shape)
        np.maximum.at(label, pixel[inside], owner[inside])
    return label.reshape(size, size)


def _dead_leaves_image(rng: np.random.Generator, size: int) -> np.ndarray:
    """One periodic dead-leaves image, float64 (size, size), roughly in [0, 1]."""
    r_max = R_MAX_FRACTION * size
    # Enough shapes to cover the canvas COVER times over on average: E[pi r^2] for r ~ r^-3.
    disc_area = 2 * math.pi * math.log(r_max / R_MIN) / (R_MIN ** -2 - r_max ** -2)
    count = int(math.ceil(COVER * size * size / (disc_area * _AREA_FACTOR)))
    radius = _power_law_radii(rng, count, R_MIN, r_max)
    kind = rng.choice(3, size=count, p=_SHAPE_ODDS)
    angle = rng.uniform(0.0, math.pi, count)
    # Ellipses: minor/major axis ratio.  Rectangles: the half-diagonal is the radius, at
    # ``corner`` from the long side (pi/4: a square).
    aspect = rng.uniform(0.25, 1.0, count)
    corner = rng.uniform(math.pi / 12, math.pi / 4, count)
    centre_y = rng.integers(0, size, count)
    centre_x = rng.integers(0, size, count)
    grey = rng.uniform(0.05, 0.95, count)
    shading = rng.normal(0.0, 0.08, (count, 2)) / radius[:, None]
    texture = rng.uniform(0.0, 0.04, count)

    label = _paint_labels(size, radius, kind, angle, aspect, corner, centre_y, centre_x)

    # Pixels no shape reached keep a grey background (e^-COVER of the canvas on average).
    covered = label >= 0
    safe = np.where(covered, label, 0)
    rows = np.arange(size)[:, None]
    columns = np.arange(size)[None, :]
    # Signed offsets from the shape centre on the torus, for the linear shading.
    offset_y = (rows - centre_y[safe] + size // 2) % size - size // 2
    offset_x = (columns - centre_x[safe] + size // 2) % size - size // 2
    noise = _one_over_f_noise(rng, size)
    image = (grey[safe] + shading[safe, 0] * offset_y + shading[safe, 1] * offset_x
             + texture[safe] * noise)
    return np.where(covered, image, rng.uniform(0.0, 1.0))


def generate_dead_leaves(count: int, size: int = 256, seed: int = 0,
                         blur: float = 0.0) -> np.ndarray:
    """float32 (count, size, size) grayscale images in [0, 1]: dead-leaves model.

    Periodic (shapes wrap around the borders); ``blur`` is a Gaussian's standard deviation in
    pixels (0 = sharp).  Image ``i`` depends only on ``seed`` and ``i``.
    """
    count = _check_int("count", count, 1, MAX_COUNT)
    size = _check_int("size", size, MIN_IMAGE_SIZE, MAX_IMAGE_SIZE)
    seed = _check_seed(seed)
    blur = _check_number("blur", blur, 0.0, size / 4)
    streams = np.random.SeedSequence(seed).spawn(count)
    images = np.empty((count, size, size), np.float32)
    for index, stream in enumerate(streams):
        image = _dead_leaves_image(np.random.default_rng(stream), size)
        if blur > 0:
            image = _gaussian_blur(image, blur)
        images[index] = np.clip(image, 0.0, 1.0)
    return images


# ---------------------------------------------------------------------------------------------
# Whitening, patches, normalisation
# ---------------------------------------------------------------------------------------------

def whiten_images(images: np.ndarray) -> np.ndarray:
    """Olshausen-Field 1/f whitening (|f|*exp(-(f/f0)^4) filter in the Fourier domain), float32,
    per image, unit variance.

    The |f| ramp flattens natural images' 1/f amplitude spectrum, so no single (low) frequency
    dominates what an autoencoder learns; the exp(-(f/f0)^4) roll-off, f0 = 0.4 cycles/pixel,
    keeps the ramp from amplifying aliasing and noise at the highest frequencies.
    """
    array = _check_images(images).astype(np.float64)
    _, height, width = array.shape
    frequency = np.hypot(np.fft.fftfreq(height)[:, None], np.fft.rfftfreq(width)[None, :])
    gain = frequency * np.exp(-((frequency / WHITENING_F0) ** 4))
    whitened = np.fft.irfft2(np.fft.rfft2(array) * gain, s=(height, width))
    spread = whitened.std(axis=(1, 2), keepdims=True)
    return (whitened / np.where(spread > 0, spread, 1.0)).astype(np.float32)


def normalise_patches(patches: np.ndarray) -> np.ndarray:
    """UFLDL's normalizeData: float32 (count, n) in [0.1, 0.9].

    Remove each patch's own mean (brightness carries no edge information), clip at +-3
    standard deviations of all values together (a few strong edges must not squash the
    rest), then map [-1, 1] to [0.1, 0.9] -- inside the range of a sigmoid output.
    """
    array = np.asarray(patches)
    if array.ndim != 2 or min(array.shape) < 1:
        raise ValueError(f"patches must be a 2-D array (count, pixels), got shape {array.shape}")
    # float32 working copies (millions of patches fit), float64 accumulators.
    centred = array.astype(np.float32)
    centred -= centred.mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
    limit = 3.0 * float(centred.std(dtype=np.float64))
    if limit == 0:
        return np.full(centred.shape, 0.5, np.float32)
    centred *= np.float32(0.4 / limit)
    centred += np.float32(0.5)
    return np.clip(centred, np.float32(0.1), np.float32(0.9), out=centred)


def _cut_patches(images: np.ndarray, count: int, patch_size: int,
                 rng: np.random.Generator) -> np.ndarray:
    """``count`` random patches (count, patch_size**2): a random image, a random position."""
    number, height, width = images.shape
    which = rng.integers(0, number, count)
    top = rng.integers(0, height - patch_size + 1, count)
    left = rng.integers(0, width - patch_size + 1, count)
    span = np.arange(patch_size)
    rows = (top[:, None] + span)[:, :, None]
    columns = (left[:, None] + span)[:, None, :]
    return images[which[:, None, None], rows, columns].reshape(count, patch_size * patch_size)


def sample_patches(images: np.ndarray, count: int, patch_size: int = 8,
                   seed: int = 0) -> np.ndarray:
    """float32 (count, patch_size*patch_size) UFLDL-normalised patches in [0.1, 0.9].

    As sampleIMAGES.m: each patch from a random image at a random position, then
    ``normalise_patches``.
    """
    array = _check_images(images)
    count = _check_int("count", count, 1, MAX_COUNT)
    largest = min(array.shape[1], array.shape[2])
    if largest < 2:
        raise ValueError(f"images of {array.shape[1]}x{array.shape[2]} pixels are too small "
                         "for patches of at least 2x2")
    patch_size = _check_int("patch_size", patch_size, 2, largest)
    seed = _check_seed(seed)
    rng = np.random.default_rng(seed)
    return normalise_patches(_cut_patches(array, count, patch_size, rng))


def zca_whiten(patches: np.ndarray, epsilon: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """(whitened patches, whitening matrix) -- ZCA with regularisation epsilon; for larger patches.

    whitened = (patches - mean over patches) @ matrix, with the symmetric
    matrix = U diag(1 / sqrt(S + epsilon)) U^T from the covariance's eigenvectors U and
    eigenvalues S: decorrelated pixels, unit variance where the data vary much more than
    epsilon, and still looking like image patches (ZCA, unlike PCA, does not rotate).
    ``patches`` is (count, n) or (count, h, w); the result has the same shape, float32.
    """
    array = np.asarray(patches)
    if array.ndim not in (2, 3) or array.shape[0] < 2 or array[0].size < 1:
        raise ValueError(f"patches must be (count, n) or (count, h, w) with count >= 2, "
                         f"got shape {array.shape}")
    epsilon = _check_number("epsilon", epsilon, 0.0, 1e12, low_inclusive=False)
    flat = array.reshape(array.shape[0], -1).astype(np.float64)
    if not np.isfinite(flat).all():
        raise ValueError("patches must be finite (found NaN or infinity)")
    centred = flat - flat.mean(axis=0)
    covariance = centred.T @ centred / len(centred)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    eigenvalues = np.maximum(eigenvalues, 0.0)  # rounding can make tiny ones negative
    matrix = (eigenvectors / np.sqrt(eigenvalues + epsilon)) @ eigenvectors.T
    whitened = (centred @ matrix).reshape(array.shape)
    return whitened.astype(np.float32), matrix.astype(np.float32)


def generate_patches(count: int, patch_size: int = 8, seed: int = 0, whiten: bool = True,
                     zca: bool = False) -> np.ndarray:
    """The built-in data set: float32 (count, patch_size, patch_size) in [0.1, 0.9],
    deterministic by seed.

    Generates IMAGE_COUNT dead-leaves images of IMAGE_SIZE pixels (slightly blurred, as a lens
    would), whitens them (``whiten``, as IMAGES.mat), samples and normalises patches as UFLDL,
    and optionally ZCA-whitens them (``zca``), then rescales to [0.1, 0.9] again so sigmoid
    outputs can reach them.

    ``zca`` is an alternative to ``whiten`` (use ``whiten=False, zca=True``): both flatten the
    spectrum, and on 14x14 patches both give edge detectors.  Doing both whitens twice, which
    lifts the rolled-off highest frequencies to noise level; the autoencoder then learned
    nothing (every unit at rho) in our 14x14 run.
    """
    count = _check_int("count", count, 1, MAX_COUNT)
    patch_size = _check_int("patch_size", patch_size, 2, IMAGE_SIZE)
    seed = _check_seed(seed)
    image_stream, patch_stream = np.random.SeedSequence(seed).spawn(2)
    image_seed = int(image_stream.generate_state(1, np.uint64)[0] >> np.uint64(1))
    images = generate_dead_leaves(IMAGE_COUNT, IMAGE_SIZE, image_seed, PATCH_IMAGE_BLUR)
    if whiten:
        images = whiten_images(images)
    rng = np.random.default_rng(patch_stream)
    patches = normalise_patches(_cut_patches(images, count, patch_size, rng))
    if zca:
        patches = _zca_rescaled(patches)
    return patches.reshape(count, patch_size, patch_size)


def _zca_rescaled(patches: np.ndarray) -> np.ndarray:
    """ZCA-whiten normalised patches, epsilon relative to their mean variance, renormalise."""
    if len(patches) < 2:
        return patches
    variance = float(np.asarray(patches, np.float64).var(axis=0).mean())
    whitened, _ = zca_whiten(patches, epsilon=max(0.1 * variance, 1e-12))
    return normalise_patches(whitened)
