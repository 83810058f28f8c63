"""Bayesian linear regression with a conjugate Gaussian posterior, sampled by PseudoLangevin
on minibatches and by NUTS on the full data, with the same, unchanged model.

At temperature T the target exp(-U/T) is Gaussian with precision A/T and the posterior
mean, where A = X'X/s^2 + I/tau^2. Means must fall within 4 Monte Carlo standard errors
(MCSE = exact sd / sqrt(ESS)) and standard deviations within 10%.
"""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.diagnostics import effective_sample_size
from numpyro.infer import MCMC, NUTS

from numpyro_pl import PseudoLangevin, tempered

N, D, NOISE_SD, PRIOR_SD, BATCH = 2000, 3, 1.0, 1.0, 100


def regression(X, y=None):
    w = numpyro.sample("w", dist.Normal(0.0, PRIOR_SD).expand([X.shape[1]]).to_event(1))
    b = numpyro.sample("b", dist.Normal(0.0, PRIOR_SD))
    with numpyro.plate("data", X.shape[0]) as idx:
        numpyro.sample("y", dist.Normal(X[idx] @ w + b, NOISE_SD), obs=y[idx])


def regression_data():
    key_x, key_y = jax.random.split(jax.random.key(42))
    X = jax.random.normal(key_x, (N, D))
    y = X @ jnp.array([0.5, -1.0, 2.0]) + 0.3 + NOISE_SD * jax.random.normal(key_y, (N,))
    return X, y


@pytest.fixture(scope="module")
def data():
    return regression_data()


def exact_posterior(X, y, temperature):
    """Mean and sd of the tempered posterior over (w, b)."""
    Xb = np.column_stack([np.asarray(X, np.float64), np.ones(N)])
    precision = Xb.T @ Xb / NOISE_SD**2 + np.eye(D + 1) / PRIOR_SD**2
    cov = np.linalg.inv(precision)
    mean = cov @ Xb.T @ np.asarray(y, np.float64) / NOISE_SD**2
    return mean, np.sqrt(temperature * np.diag(cov))


def check_against_exact(samples, exact_mean, exact_sd):
    """samples: (chains, draws, D + 1)."""
    ess = np.asarray(effective_sample_size(np.asarray(samples)))
    mcse = exact_sd / np.sqrt(ess)
    assert np.all(ess > 100), f"too few effective samples to test: {ess}"
    mean = samples.mean(axis=(0, 1))
    sd = samples.reshape(-1, samples.shape[-1]).std(axis=0)
    assert np.all(np.abs(mean - exact_mean) < 4 * mcse), (mean, exact_mean, mcse)
    np.testing.assert_allclose(sd, exact_sd, rtol=0.10)


def stacked(samples):
    return np.concatenate([samples["w"], samples["b"][..., None]], axis=-1)


def run_pseudo_langevin(X, y, temperature):
    """4 vectorized chains of 5e4 warmup + 3e5 moves, thinned by 20."""
    kernel = PseudoLangevin(regression, batch_size=BATCH, temperature=temperature)
    mcmc = MCMC(
        kernel,
        num_warmup=50_000,
        num_samples=300_000,
        thinning=20,
        num_chains=4,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(0), X, y, extra_fields=("kinetic_temperature",))
    return mcmc


@pytest.mark.parametrize("temperature", [1.0, 0.3])
def test_pseudo_langevin_matches_conjugate_posterior(data, temperature):
    X, y = data
    mcmc = run_pseudo_langevin(X, y, temperature)
    samples = stacked(mcmc.get_samples(group_by_chain=True))
    check_against_exact(samples, *exact_posterior(X, y, temperature))
    kinetic = np.asarray(mcmc.get_extra_fields()["kinetic_temperature"])
    assert abs(kinetic.mean() / temperature - 1) < 0.05


@pytest.mark.parametrize("temperature", [1.0, 0.3])
def test_nuts_runs_the_same_model(data, temperature):
    X, y = data
    mcmc = MCMC(
        NUTS(tempered(regression, temperature)),
        num_warmup=300,
        num_samples=1000,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(1), X, y)
    samples = stacked(mcmc.get_samples(group_by_chain=True))
    check_against_exact(samples, *exact_posterior(X, y, temperature))


TIGHT_PRIOR_SD, WEAK_NOISE_SD, TIGHT_N = 0.01, 1000.0, 1000


def tight_prior(X, y=None):
    """A prior far tighter than the data: the minibatch noise (sigma^2 ~ 0.01) would give
    masses of ~100, where the prior's curvature of 10^4 needs at least 2500."""
    w = numpyro.sample("w", dist.Normal(0.0, TIGHT_PRIOR_SD).expand([2]).to_event(1))
    with numpyro.plate("data", X.shape[0]) as idx:
        numpyro.sample("y", dist.Normal(X[idx] @ w, WEAK_NOISE_SD), obs=y[idx])


@pytest.fixture(scope="module")
def tight_prior_data():
    key_x, key_y = jax.random.split(jax.random.key(7))
    X = jax.random.normal(key_x, (TIGHT_N, 2))
    return X, WEAK_NOISE_SD * jax.random.normal(key_y, (TIGHT_N,))


def run_tight_prior(X, y, **kwargs):
    kernel = PseudoLangevin(tight_prior, batch_size=BATCH, **kwargs)
    mcmc = MCMC(kernel, num_warmup=1000, num_samples=100_000, progress_bar=False)
    mcmc.run(jax.random.key(1), X, y)
    return mcmc


def test_without_the_mass_bound_a_tight_prior_blows_up(tight_prior_data):
    with pytest.raises(Exception, match="non-finite potential energy"):
        run_tight_prior(*tight_prior_data, max_prior_stability=None)


DEFAULT_STABILITY = inspect.signature(PseudoLangevin).parameters["max_prior_stability"].default


@pytest.mark.parametrize("stability", [1.0, DEFAULT_STABILITY])
def test_mass_bound_samples_a_tight_prior_with_the_integrators_known_variance(
    tight_prior_data, stability
):
    """Where the prior sets the curvature the mass sits at its bound, dt^2 kappa / M = s,
    and the integrator samples a harmonic well with variance T / (kappa (1 - s/4))
    (dynamics.py): 4/3 of the exact one at s = 1, 1.01 at s = 0.04. The second moment must
    be within 4 MCSE of it, the MCSE from the ESS of w^2."""
    X, y = tight_prior_data
    mcmc = run_tight_prior(X, y, max_prior_stability=stability)
    w = np.asarray(mcmc.get_samples()["w"], np.float64)
    precision = np.eye(2) / TIGHT_PRIOR_SD**2 + np.asarray(X.T @ X, np.float64) / WEAK_NOISE_SD**2
    cov = np.linalg.inv(precision)
    mean = cov @ np.asarray(X.T @ y, np.float64) / WEAK_NOISE_SD**2
    expected = mean**2 + np.diag(cov) / (1 - stability / 4)
    squares = w**2
    ess = np.asarray(effective_sample_size(squares[None]))
    assert np.all(ess > 1000), ess
    mcse = squares.std(axis=0) / np.sqrt(ess)
    assert np.all(np.abs(squares.mean(axis=0) - expected) < 4 * mcse), (
        squares.mean(axis=0) / expected,
        mcse / expected,
    )
