"""Prediction on the full data from PseudoLangevin samples (handlers.py): numpyro's
Predictive and log_likelihood must see every data point, in order, for both model forms."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC, Predictive
from numpyro.infer.util import log_likelihood
from short_runs import FAST

from numpyro_pl import PseudoLangevin, bayesian_mlp, mlp_forward
from numpyro_pl.handlers import full_data

N, B, NOISE = 300, 30, 1e-3
WIDTHS = [2, 4, 1]


def declared(X, y=None):
    """A linear regression that subsamples itself (``subsample_size`` in the plate)."""
    w = numpyro.sample("w", dist.Normal(0, 1).expand([2]).to_event(1))
    with numpyro.plate("data", X.shape[0], subsample_size=B):
        batch_X = numpyro.subsample(X, event_dim=1)
        batch_y = None if y is None else numpyro.subsample(y, event_dim=0)
        numpyro.sample("y", dist.Normal(batch_X @ w, NOISE), obs=batch_y)


@pytest.fixture(scope="module")
def data():
    key_x, key_y = jax.random.split(jax.random.key(0))
    X = jax.random.normal(key_x, (N, 2))
    return X, X @ jnp.array([1.0, -0.5]) + 0.1 * jax.random.normal(key_y, (N,))


def sample(model, data, **kernel_kwargs):
    mcmc = MCMC(
        PseudoLangevin(model, **kernel_kwargs, **FAST),
        num_warmup=20,
        num_samples=5,
        progress_bar=False,
    )
    mcmc.run(jax.random.key(1), *data)
    return mcmc.get_samples()


def test_predictive_of_a_full_data_plate_model_covers_every_point(data):
    """bayesian_mlp indexes its data by a full-data plate: Predictive needs no handler and
    predicts every row from its own inputs."""
    X, y = data
    model = bayesian_mlp(WIDTHS, likelihood="normal", noise_scale=NOISE)
    samples = sample(model, (X, y[:, None]), batch_size=B)
    predicted = Predictive(model, samples)(jax.random.key(2), X)["y"]
    assert predicted.shape == (5, N, 1)
    expected = jax.vmap(lambda p: mlp_forward(p, X))(samples)
    np.testing.assert_allclose(predicted, expected, atol=6 * NOISE)


def test_full_data_switches_off_the_model_s_own_subsampling(data):
    X, y = data
    samples = sample(declared, data)
    subsampled = Predictive(declared, samples)(jax.random.key(2), X)["y"]
    assert subsampled.shape == (5, B)  # the pitfall that full_data exists for
    predicted = Predictive(full_data(declared), samples)(jax.random.key(2), X)["y"]
    assert predicted.shape == (5, N)
    np.testing.assert_allclose(predicted, samples["w"] @ X.T, atol=6 * NOISE)


def test_full_data_log_likelihood_is_unscaled_and_pointwise(data):
    """The pointwise log-likelihood on all N points, not B points scaled by N/B."""
    X, y = data
    samples = sample(declared, data)
    loglik = log_likelihood(full_data(declared), samples, X, y)["y"]
    assert loglik.shape == (5, N)
    expected = dist.Normal(samples["w"] @ X.T, NOISE).log_prob(y)
    np.testing.assert_allclose(loglik, expected, rtol=1e-5)
