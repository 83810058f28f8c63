"""The Bayesian model average and its scores (diagnostics/model_average.py), against direct
NumPy computations and hand-worked cases."""

import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_pl.diagnostics import (
    expected_calibration_error,
    model_average,
    negative_log_likelihood,
)


def linear_logits(params, X):
    return X @ params["W"]


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("chunk_size", [1, 3, 100])
def test_model_average_is_the_mean_of_the_softmax(chunk_size):
    """2 chains x 7 draws, averaged over both sample dimensions, whatever the chunking."""
    rng = np.random.default_rng(0)
    W = rng.normal(size=(2, 7, 4, 3)).astype(np.float32)
    X = rng.normal(size=(5, 4)).astype(np.float32)
    probs = model_average(linear_logits, {"W": W}, X, batch_ndims=2, chunk_size=chunk_size)
    expected = softmax(np.einsum("nd,abdc->abnc", X, W)).mean(axis=(0, 1))
    np.testing.assert_allclose(probs, expected, rtol=1e-5)


def test_negative_log_likelihood():
    probs = jnp.array([[0.8, 0.2], [0.4, 0.6], [1.0, 0.0]])
    got = negative_log_likelihood(probs, jnp.array([0, 0, 1]))
    tiny = np.finfo(np.float32).tiny
    assert float(got) == pytest.approx(-(np.log(0.8) + np.log(0.4) + np.log(tiny)) / 3)


def test_expected_calibration_error_by_hand():
    """Two items at confidence 0.95, both right (gap 0.05 each); two at 0.55, one right
    (|1 - 1.1| = 0.1): ECE = (0.1 + 0.1) / 4."""
    probs = jnp.array([[0.95, 0.05], [0.05, 0.95], [0.55, 0.45], [0.45, 0.55]])
    y = jnp.array([0, 1, 0, 0])
    assert float(expected_calibration_error(probs, y)) == pytest.approx(0.05, abs=1e-6)
    # a single bin pools the four: |3 - 3| / 4
    assert float(expected_calibration_error(probs, y, num_bins=1)) == pytest.approx(0.0, abs=1e-6)


def test_calibrated_probabilities_have_small_ece():
    """Labels drawn from the stated probabilities: the ECE is of the order of its sampling
    noise, sqrt(p (1 - p) / n) per bin, here below 0.02 for 20 000 points."""
    rng = np.random.default_rng(1)
    p = rng.uniform(0.5, 1.0, size=20_000)
    y = (rng.uniform(size=p.size) > p).astype(np.int32)
    probs = np.stack([p, 1 - p], axis=-1)
    assert float(expected_calibration_error(probs, y)) < 0.02
    assert float(expected_calibration_error(probs, 1 - y)) > 0.5  # and it sees a bad one


def test_bad_input():
    probs = jnp.full((3, 2), 0.5)
    with pytest.raises(TypeError, match="integer class labels"):
        negative_log_likelihood(probs, jnp.zeros(3))
    with pytest.raises(ValueError, match=r"`probs` must have shape \(N, num_classes\)"):
        expected_calibration_error(probs, jnp.zeros(4, jnp.int32))
    with pytest.raises(ValueError, match="num_bins"):
        expected_calibration_error(probs, jnp.zeros(3, jnp.int32), num_bins=0)
    with pytest.raises(TypeError, match="logits_fn"):
        model_average(None, {"W": jnp.zeros((2, 4, 3))}, jnp.zeros((5, 4)))
    with pytest.raises(ValueError, match="leading sample dimension"):
        model_average(linear_logits, {"W": jnp.zeros((2, 4, 3)), "b": jnp.zeros(3)}, None)
