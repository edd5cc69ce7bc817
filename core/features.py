"""Measures of what a unit has learned, for tests and benchmarks: is a tile a stroke?

A random tile has no spatial structure: neighbouring weights are uncorrelated and its
energy is spread over all pixels.  A pen-stroke detector is smooth along the stroke and
concentrates its energy on the few pixels the stroke covers.
"""

from __future__ import annotations

import numpy as np


def neighbour_correlation(weights: np.ndarray, tile_shape: tuple[int, int]) -> np.ndarray:
    """Per tile: correlation between horizontally and vertically adjacent weights."""
    tiles = np.asarray(weights, np.float64).reshape(-1, *tile_shape)
    tiles = tiles - tiles.mean(axis=(1, 2), keepdims=True)
    horizontal = (tiles[:, :, 1:] * tiles[:, :, :-1]).sum(axis=(1, 2))
    vertical = (tiles[:, 1:, :] * tiles[:, :-1, :]).sum(axis=(1, 2))
    energy = (tiles * tiles).sum(axis=(1, 2))
    return (horizontal + vertical) / (2 * np.maximum(energy, 1e-30))


def energy_concentration(weights: np.ndarray, fraction: float = 0.1) -> np.ndarray:
    """Per tile: share of the squared weights held by its top ``fraction`` of pixels."""
    energy = np.asarray(weights, np.float64).reshape(len(weights), -1) ** 2
    top = max(1, int(round(fraction * energy.shape[1])))
    ordered = np.sort(energy, axis=1)[:, ::-1]
    return ordered[:, :top].sum(axis=1) / np.maximum(ordered.sum(axis=1), 1e-30)
