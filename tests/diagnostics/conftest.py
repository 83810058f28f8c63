"""Fixtures of the diagnostics tests, made once for the whole directory: the regression
data, a run on them that collects every extra field, and its ArviZ conversion."""

import jax
import jax.numpy as jnp
import matplotlib
import pytest
from regression_run import D, N, run

from numpyro_pl.diagnostics import to_arviz

matplotlib.use("Agg")


@pytest.fixture(scope="package")
def data():
    key_x, key_y = jax.random.split(jax.random.key(0))
    X = jax.random.normal(key_x, (N, D))
    y = X @ jnp.array([1.0, -1.0, 0.5]) + jax.random.normal(key_y, (N,))
    return X, y


@pytest.fixture(scope="package")
def mcmc(data):
    return run(data)


@pytest.fixture(scope="package")
def idata(mcmc):
    return to_arviz(mcmc)
