"""A sparse autoencoder learns stroke-like features on the built-in digits."""

from __future__ import annotations

import numpy as np

from core.data import load_dataset
from core.features import energy_concentration, neighbour_correlation
from core.presets import PRESETS
from core.trainer import Trainer


def test_measures_tell_noise_from_strokes():
    rng = np.random.default_rng(0)
    noise = rng.uniform(-1, 1, size=(5, 28 * 28))
    stroke = np.zeros((1, 28, 28))
    stroke[0, 5:23, 13:15] = 1.0  # a vertical bar two pixels wide
    assert np.abs(neighbour_correlation(noise, (28, 28))).max() < 0.1
    assert neighbour_correlation(stroke.reshape(1, -1), (28, 28))[0] > 0.6
    assert energy_concentration(noise).max() < 0.35
    assert energy_concentration(stroke.reshape(1, -1))[0] > 0.99


def test_ufldl_training_on_built_in_digits_gives_stroke_detectors():
    config = PRESETS["ufldl-mnist"].config.replace(dataset="digits", samples=3000,
                                                   hidden_units=100)
    trainer = Trainer(config, load_dataset("digits", 3000), "cpu")
    before = trainer.model.encoder_weight.detach().numpy().copy()
    for _ in range(100):
        trainer.step()
    after = trainer.snapshot().encoder_weights

    assert np.median(neighbour_correlation(before, (28, 28))) < 0.05
    assert np.median(energy_concentration(before)) < 0.3
    # measured: smoothness 0.77, concentration 0.74 after 100 iterations
    assert np.median(neighbour_correlation(after, (28, 28))) > 0.6
    assert np.median(energy_concentration(after)) > 0.6
