"""Built-in natural-image patches: the generator, UFLDL's preparation, and edge detectors.

The last test is the point of the module: trained as UFLDL's exercise (64-25-64, sigmoid,
rho 0.01, beta 3, lambda 1e-4, L-BFGS) a sparse autoencoder turns its random tiles into
localized, oriented edge detectors.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.data.patches import (
    IMAGE_SIZE,
    generate_dead_leaves,
    generate_patches,
    normalise_patches,
    sample_patches,
    whiten_images,
    zca_whiten,
)
from core.features import (
    MAX_SPREAD,
    MIN_SELECTIVITY,
    edge_like,
    orientation_selectivity,
    spatial_spread,
)

# ---------------------------------------------------------------------------------------------
# Shapes, ranges, determinism
# ---------------------------------------------------------------------------------------------


def test_dead_leaves_are_float32_images_in_unit_range_with_contrast():
    images = generate_dead_leaves(3, 64, seed=1)
    assert images.shape == (3, 64, 64) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert (images.std(axis=(1, 2)) > 0.1).all()  # shapes of many grey levels, not a wash
    assert not np.array_equal(images[0], images[1])


def test_dead_leaves_are_piecewise_smooth_and_blur_softens_the_edges():
    sharp = generate_dead_leaves(2, 128, seed=3)
    blurred = generate_dead_leaves(2, 128, seed=3, blur=1.5)
    steps = np.abs(np.diff(sharp, axis=2))
    # Occlusion: most neighbours lie on the same shape (small steps), a few on an edge.
    assert np.median(steps) < 0.02 and steps.max() > 0.3
    assert np.abs(np.diff(blurred, axis=2)).max() < steps.max()


def test_generators_are_deterministic_per_seed_and_seeds_differ():
    assert np.array_equal(generate_dead_leaves(2, 64, seed=7), generate_dead_leaves(2, 64, seed=7))
    assert not np.array_equal(generate_dead_leaves(1, 64, seed=7),
                              generate_dead_leaves(1, 64, seed=8))
    first = generate_patches(300, 8, seed=4)
    assert np.array_equal(first, generate_patches(300, 8, seed=4))
    assert not np.array_equal(first, generate_patches(300, 8, seed=5))
    images = generate_dead_leaves(1, 64, seed=0)
    assert np.array_equal(sample_patches(images, 50, 6, seed=2),
                          sample_patches(images, 50, 6, seed=2))
    assert not np.array_equal(sample_patches(images, 50, 6, seed=2),
                              sample_patches(images, 50, 6, seed=3))


@pytest.mark.parametrize(("patch_size", "whiten", "zca"),
                         [(8, True, False), (14, True, False), (8, False, False), (6, False, True)])
def test_generate_patches_shape_dtype_and_range(patch_size, whiten, zca):
    patches = generate_patches(400, patch_size, seed=0, whiten=whiten, zca=zca)
    assert patches.shape == (400, patch_size, patch_size) and patches.dtype == np.float32
    assert patches.min() >= 0.1 and patches.max() <= 0.9
    assert patches.min() < 0.15 and patches.max() > 0.85  # the range is used
    assert abs(float(patches.mean()) - 0.5) < 0.02


# ---------------------------------------------------------------------------------------------
# UFLDL's normalisation and patch sampling
# ---------------------------------------------------------------------------------------------


def test_normalisation_follows_ufldl_on_a_hand_made_input():
    # 19 quiet patches and one with a strong edge; per-patch offsets must not matter.
    quiet = np.tile([1.0, -1.0, 1.0, -1.0], (19, 1)) + np.arange(19)[:, None] * 5.0
    loud = np.array([[10.0, -10.0, 0.0, 0.0]]) + 42.0
    result = normalise_patches(np.vstack([quiet, loud]))
    assert result.dtype == np.float32 and result.shape == (20, 4)
    # Mean-free values: 76 of +-1, then 10, -10, 0, 0: std = sqrt(276 / 80), clip at 3 std.
    limit = 3 * np.sqrt(276 / 80)
    expected_quiet = 0.5 + 0.4 * np.array([1.0, -1.0, 1.0, -1.0]) / limit
    np.testing.assert_allclose(result[:19], np.tile(expected_quiet, (19, 1)), atol=1e-6)
    np.testing.assert_allclose(result[19], [0.9, 0.1, 0.5, 0.5], atol=1e-6)  # +-10 clipped


def test_normalisation_of_constant_patches_is_mid_grey():
    np.testing.assert_allclose(normalise_patches(np.full((3, 4), 7.0)), 0.5)


def test_sampled_patches_are_windows_of_the_images():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (2, 12, 15))  # uniform values never reach 3 std: no clipping
    patches = sample_patches(images, 20, 5, seed=1)
    assert patches.shape == (20, 25) and patches.dtype == np.float32
    windows = np.lib.stride_tricks.sliding_window_view(images, (5, 5), axis=(1, 2))
    windows = windows.reshape(-1, 25)
    windows = windows - windows.mean(axis=1, keepdims=True)
    windows /= np.linalg.norm(windows, axis=1, keepdims=True)
    centred = patches - 0.5
    centred /= np.linalg.norm(centred, axis=1, keepdims=True)
    # Each normalised patch is, up to the common scale, exactly one mean-free window.
    assert np.allclose((centred @ windows.T).max(axis=1), 1.0, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Whitening
# ---------------------------------------------------------------------------------------------


def _spectral_slope(images: np.ndarray, low: float = 0.02, high: float = 0.1) -> float:
    """Log-log slope of the radially averaged power spectrum between two frequencies."""
    size = images.shape[-1]
    power = (np.abs(np.fft.fft2(images - images.mean(axis=(1, 2), keepdims=True))) ** 2).mean(0)
    radius = np.hypot(np.fft.fftfreq(size)[:, None], np.fft.fftfreq(size)[None, :]).ravel()
    edges = np.geomspace(low, high, 12)
    which = np.digitize(radius, edges)
    centres = np.sqrt(edges[1:] * edges[:-1])
    profile = [power.ravel()[which == i].mean() for i in range(1, len(edges))]
    return float(np.polyfit(np.log(centres), np.log(profile), 1)[0])


def test_whitening_flattens_the_steep_spectrum_of_the_images():
    images = generate_dead_leaves(4, 256, seed=5)
    whitened = whiten_images(images)
    assert whitened.shape == images.shape and whitened.dtype == np.float32
    np.testing.assert_allclose(whitened.var(axis=(1, 2)), 1.0, rtol=1e-4)
    np.testing.assert_allclose(whitened.mean(axis=(1, 2)), 0.0, atol=1e-4)
    # measured: about -2.2 before (scale invariance gives -2), -0.3 after
    assert _spectral_slope(images) < -1.7
    assert abs(_spectral_slope(whitened)) < 0.6


def test_whitening_works_per_image():
    images = generate_dead_leaves(2, 64, seed=9)
    both = whiten_images(images)
    np.testing.assert_allclose(both[1], whiten_images(images[1:])[0], atol=1e-5)
    np.testing.assert_allclose(whiten_images(np.full((1, 32, 32), 0.3)), 0.0)


# ---------------------------------------------------------------------------------------------
# ZCA
# ---------------------------------------------------------------------------------------------


def test_zca_makes_the_covariance_the_identity_up_to_epsilon():
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    data = rng.normal(size=(20000, 16)) * np.geomspace(3.0, 0.3, 16) @ rotation + 5.0
    whitened, matrix = zca_whiten(data, epsilon=1e-4)
    assert whitened.shape == data.shape and whitened.dtype == np.float32
    assert matrix.shape == (16, 16) and matrix.dtype == np.float32
    np.testing.assert_allclose(matrix, matrix.T, atol=1e-5)  # ZCA: symmetric, no rotation
    covariance = np.cov(whitened.T.astype(np.float64), bias=True)
    np.testing.assert_allclose(covariance, np.eye(16), atol=2e-3)
    np.testing.assert_allclose(whitened, (data - data.mean(axis=0)) @ matrix, rtol=1e-4,
                               atol=1e-4)


def test_zca_epsilon_shrinks_each_direction_by_s_over_s_plus_epsilon():
    rng = np.random.default_rng(1)
    scales = np.array([2.0, 1.0, 0.5, 0.1])
    data = rng.normal(size=(50000, 4)) * scales
    whitened, _ = zca_whiten(data, epsilon=0.1)
    variance = np.linalg.eigvalsh(np.cov(data.T, bias=True))
    expected = np.sort(variance / (variance + 0.1))
    got = np.sort(np.linalg.eigvalsh(np.cov(whitened.T.astype(np.float64), bias=True)))
    np.testing.assert_allclose(got, expected, rtol=1e-3)


def test_zca_keeps_the_patch_shape():
    patches = generate_patches(500, 6, seed=0)
    whitened, matrix = zca_whiten(patches)
    assert whitened.shape == patches.shape and matrix.shape == (36, 36)


# ---------------------------------------------------------------------------------------------
# Bad arguments name the argument and what is allowed
# ---------------------------------------------------------------------------------------------

_IMAGES = np.zeros((2, 32, 32), np.float32)


@pytest.mark.parametrize(("call", "name"), [
    (lambda: generate_dead_leaves(0), "count"),
    (lambda: generate_dead_leaves(1.5), "count"),
    (lambda: generate_dead_leaves(1, size=8), "size"),
    (lambda: generate_dead_leaves(1, size=64, seed=-1), "seed"),
    (lambda: generate_dead_leaves(1, size=64, blur=-0.5), "blur"),
    (lambda: generate_dead_leaves(1, size=64, blur=float("nan")), "blur"),
    (lambda: whiten_images(np.zeros((32, 32))), "images"),
    (lambda: whiten_images(np.full((1, 8, 8), np.inf)), "images"),
    (lambda: sample_patches(_IMAGES, 0), "count"),
    (lambda: sample_patches(_IMAGES, 10, patch_size=1), "patch_size"),
    (lambda: sample_patches(_IMAGES, 10, patch_size=33), "patch_size"),
    (lambda: sample_patches(_IMAGES, 10, seed=-3), "seed"),
    (lambda: sample_patches(np.zeros(5), 10), "images"),
    (lambda: normalise_patches(np.zeros(5)), "patches"),
    (lambda: zca_whiten(np.zeros((10, 4)), epsilon=0.0), "epsilon"),
    (lambda: zca_whiten(np.zeros((1, 4))), "patches"),
    (lambda: generate_patches(0), "count"),
    (lambda: generate_patches(True), "count"),
    (lambda: generate_patches(10, patch_size=1), "patch_size"),
    (lambda: generate_patches(10, patch_size=IMAGE_SIZE + 1), "patch_size"),
    (lambda: generate_patches(10, seed=-1), "seed"),
])
def test_bad_arguments_raise_value_error_naming_them(call, name):
    with pytest.raises(ValueError, match=name) as error:
        call()
    assert "allowed" in str(error.value) or "must" in str(error.value)


def test_range_errors_say_the_allowed_range():
    with pytest.raises(ValueError, match=f"patch_size = {IMAGE_SIZE + 1} .*from 2 to {IMAGE_SIZE}"):
        generate_patches(10, patch_size=IMAGE_SIZE + 1)


# ---------------------------------------------------------------------------------------------
# The measures: random tiles against hand-made edge detectors
# ---------------------------------------------------------------------------------------------


def _gabor(size: int, angle: float, centre: tuple[float, float], width: float,
           period: float, phase: float) -> np.ndarray:
    y, x = np.mgrid[:size, :size].astype(np.float64)
    y, x = y - centre[0], x - centre[1]
    across = x * np.cos(angle) + y * np.sin(angle)
    envelope = np.exp(-(x * x + y * y) / (2 * width * width))
    return envelope * np.cos(2 * np.pi * across / period + phase)


@pytest.mark.parametrize("size", [8, 14])
def test_measures_separate_random_tiles_from_oriented_edges(size):
    rng = np.random.default_rng(0)
    random_tiles = np.vstack([rng.uniform(-1, 1, (2000, size * size)),
                              rng.normal(size=(2000, size * size))])
    gabors = np.array([
        _gabor(size, angle, (rng.uniform(0.3, 0.7) * size, rng.uniform(0.3, 0.7) * size),
               width=size / 7, period=size / 2.5, phase=rng.uniform(0, 2 * np.pi)).ravel()
        for angle in np.linspace(0, np.pi, 16, endpoint=False)])
    shape = (size, size)

    assert np.median(spatial_spread(random_tiles, shape)) > 0.95
    assert np.median(orientation_selectivity(random_tiles, shape)) < 0.15
    assert (spatial_spread(random_tiles, shape) > 0.75).all()
    assert np.mean(orientation_selectivity(random_tiles, shape) > MIN_SELECTIVITY) < 0.01
    assert not edge_like(random_tiles, shape).any()

    assert (spatial_spread(gabors, shape) < 0.6).all()
    assert (orientation_selectivity(gabors, shape) > 0.6).all()
    assert edge_like(gabors, shape).all()


def test_each_measure_alone_is_not_enough():
    y, x = np.mgrid[:8, :8] - 3.5
    blob = np.exp(-(x * x + y * y) / 2.0)  # localized but round
    grating = np.cos(2 * np.pi * (x + y) / 4)  # oriented but everywhere
    assert spatial_spread(blob.ravel()[None], (8, 8))[0] < 0.5
    assert orientation_selectivity(blob.ravel()[None], (8, 8))[0] < 0.1
    assert spatial_spread(grating.ravel()[None], (8, 8))[0] > MAX_SPREAD
    assert orientation_selectivity(grating.ravel()[None], (8, 8))[0] > 0.7
    assert not edge_like(np.stack([blob.ravel(), grating.ravel()]), (8, 8)).any()


# ---------------------------------------------------------------------------------------------
# The preset: UFLDL's exercise learns localized, oriented edge detectors
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ufldl_exercise_on_built_in_patches_learns_edge_detectors():
    from core.config import TrainConfig
    from core.data import Dataset
    from core.trainer import Trainer

    patches = generate_patches(10000, 8, seed=0)
    flat = np.ascontiguousarray(patches.reshape(len(patches), -1), np.float32)
    flat.flags.writeable = False
    dataset = Dataset("patches", flat, (8, 8), None, "10000 8x8 patches")
    config = TrainConfig(samples=10000, hidden_units=25, encoder_activation="sigmoid",
                         decoder_activation="sigmoid", penalty="kl", rho=0.01, beta=3.0,
                         weight_decay=1e-4, reconstruction_loss="half_sse", optimizer="lbfgs",
                         lr=1.0, dtype="float64")  # double precision, as UFLDL's minFunc
    trainer = Trainer(config, dataset, "cpu")
    before = trainer.model.encoder_weight.detach().numpy().copy()
    for _ in range(400):  # UFLDL's 400 L-BFGS iterations: ~7 s on 2 cores
        trainer.step()
    after = trainer.snapshot().encoder_weights

    shape = (8, 8)
    # measured (medians): spread 0.985 -> 0.755, selectivity 0.13 -> 0.61, edge-like 0 -> 96%
    assert np.median(spatial_spread(before, shape)) > 0.93
    assert np.median(orientation_selectivity(before, shape)) < 0.2
    assert edge_like(before, shape).mean() == 0.0
    assert np.median(spatial_spread(after, shape)) < 0.8
    assert np.median(orientation_selectivity(after, shape)) > 0.5
    assert edge_like(after, shape).mean() >= 0.7
