"""From a NumPyro model to a minibatch potential (potential.py)."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer.util import potential_energy

from numpyro_pl.potential import MinibatchPlate, draw_indices, minibatch_potential

N, B = 400, 40


def regression(X, y):
    w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
    with numpyro.plate("data", X.shape[0]) as idx:
        numpyro.sample("y", dist.Normal(X[idx] @ w, 1.0), obs=y[idx])


def data():
    X = jax.random.normal(jax.random.key(0), (N, 2))
    return X, X @ jnp.array([1.0, -2.0]) + jax.random.normal(jax.random.key(1), (N,))


def test_draw_indices_in_range_and_fresh():
    plates = {"a": MinibatchPlate(10, 4), "b": MinibatchPlate(1000, 7)}
    first = draw_indices(jax.random.key(0), plates)
    second = draw_indices(jax.random.key(1), plates)
    assert first["a"].shape == (4,) and first["b"].shape == (7,)
    assert int(first["b"].min()) >= 0 and int(first["b"].max()) < 1000
    assert not np.array_equal(first["b"], second["b"])


def test_minibatch_potential_is_unbiased_with_plate_scale():
    X, y = data()
    built = minibatch_potential(jax.random.key(0), regression, model_args=(X, y), batch_size=B)
    assert built.plates == {"data": MinibatchPlate(N, B)}
    z = {"w": jnp.array([0.5, -1.0])}
    full = potential_energy(regression, (X, y), {}, z)
    pot = built.potential_fn_gen(X, y)
    draws = jax.vmap(lambda k: pot(z, k))(jax.random.split(jax.random.key(2), 4000))
    mcse = float(draws.std()) / np.sqrt(draws.size)
    assert abs(float(draws.mean()) - float(full)) < 4 * mcse
    # a minibatch is B points scaled by N/B: its spread is far from zero
    assert float(draws.std()) > 1.0


def test_model_is_never_evaluated_on_the_full_data():
    """Setting up the potential must not run the model on all N points (a 10^6-parameter
    network on 10^5 points would need gigabytes): only one abstract trace sees N rows."""
    X, y = data()
    rows = []

    def recording(X, y):
        w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
        with numpyro.plate("data", X.shape[0]) as idx:
            mean = X[idx] @ w
            rows.append((isinstance(mean, jax.core.Tracer), mean.shape[0]))
            numpyro.sample("y", dist.Normal(mean, 1.0), obs=y[idx])

    built = minibatch_potential(jax.random.key(0), recording, model_args=(X, y), batch_size=B)
    built.potential_fn_gen(X, y)(built.init_params, jax.random.key(1))
    jax.grad(built.prior_potential_fn_gen(X, y))(built.init_params)
    full = [traced for traced, n in rows if n == N]
    assert len(rows) > 2 and full == [True], rows


def hierarchical(X, y, with_likelihood=True):
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    w = numpyro.sample("w", dist.Normal(0, sigma).expand([X.shape[1]]).to_event(1))
    if with_likelihood:
        with numpyro.plate("data", X.shape[0]) as idx:
            numpyro.sample("y", dist.Normal(X[idx] @ w, 1.0), obs=y[idx])


def test_prior_potential_is_the_potential_of_the_latent_sites_alone():
    """Observations hidden; the constrained site's Jacobian kept (NumPyro's potential of the
    model without its likelihood); the same for any data."""
    X, y = data()
    built = minibatch_potential(jax.random.key(0), hierarchical, model_args=(X, y), batch_size=B)
    z = {"sigma": jnp.array(-0.7), "w": jnp.array([0.5, -1.0])}
    prior_only = potential_energy(partial(hierarchical, with_likelihood=False), (X, y), {}, z)
    np.testing.assert_allclose(built.prior_potential_fn_gen(X, y)(z), prior_only, rtol=1e-6)
    np.testing.assert_allclose(built.prior_potential_fn_gen(X, 10 * y)(z), prior_only, rtol=1e-6)


def with_deterministic(X, y, per_point):
    w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
    numpyro.deterministic("w_sq", jnp.sum(w**2))
    with numpyro.plate("data", X.shape[0]) as idx:
        mean = X[idx] @ w
        if per_point:
            numpyro.deterministic("mean", mean)
        numpyro.sample("y", dist.Normal(mean, 1.0), obs=y[idx])


@pytest.mark.parametrize("per_point", [False, True])
def test_postprocess_gives_deterministic_sites_on_the_full_data(per_point):
    """Deterministic sites come out right: one outside the plate from a minibatch run, one
    per data point (inside the plate) from the full data."""
    X, y = data()
    model = partial(with_deterministic, per_point=per_point)
    built = minibatch_potential(jax.random.key(0), model, model_args=(X, y), batch_size=B)
    z = {"w": jnp.array([0.5, -1.0])}
    out = built.postprocess_fn(X, y)(z)
    np.testing.assert_allclose(out["w_sq"], 1.25, rtol=1e-6)
    if per_point:
        np.testing.assert_allclose(out["mean"], X @ z["w"], rtol=1e-5)
