"""The evaluation's linear probe: it reports what frozen features hold, and no more."""

import numpy as np

from workbench.toyworld.evaluate import linear_probe


def _features(rng, labels, signal):
    """Features whose first 7 dims carry a one-hot of the label times `signal`, plus noise."""
    x = rng.normal(size=(len(labels), 32))
    x[np.arange(len(labels)), labels] += signal
    return x


def test_probe_reads_an_attribute_the_features_hold():
    rng = np.random.default_rng(0)
    y_train, y_test = rng.integers(0, 7, 700), rng.integers(0, 7, 300)
    acc = linear_probe(_features(rng, y_train, 6.0), y_train, _features(rng, y_test, 6.0), y_test)
    assert acc >= 0.95


def test_probe_stays_near_chance_on_features_without_the_attribute():
    rng = np.random.default_rng(1)
    y_train, y_test = rng.integers(0, 7, 700), rng.integers(0, 7, 300)
    acc = linear_probe(_features(rng, y_train, 0.0), y_train, _features(rng, y_test, 0.0), y_test)
    assert acc <= 0.30  # chance is 1/7
