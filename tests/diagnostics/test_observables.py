"""Full-batch observables against a hand computation, and error rates on a known case."""

import math

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer.util import potential_energy
from regression_run import B, D, N, regression

from numpyro_pl import tempered
from numpyro_pl.diagnostics import error_rate, full_batch_observables


def scale_regression(X, y):
    """A positive noise scale, so that U has a Jacobian term."""
    w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    with numpyro.plate("data", X.shape[0]) as idx:
        numpyro.sample("y", dist.Normal(X[idx] @ w, sigma), obs=y[idx])


def subsampled(X, y):
    w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
    with numpyro.plate("data", X.shape[0], subsample_size=B):
        numpyro.sample(
            "y", dist.Normal(numpyro.subsample(X, 1) @ w, 1), obs=numpyro.subsample(y, 0)
        )


def test_full_batch_observables_match_hand_computation(data):
    rng = np.random.default_rng(0)
    samples = {"w": rng.normal(size=(4, D)), "sigma": np.array([0.3, 0.8, 1.0, 2.5])}
    obs = full_batch_observables(samples, scale_regression, data)
    X, y = (np.asarray(a, np.float64) for a in data)
    for (w, sigma), u, nll, sq_norm in zip(zip(*samples.values(), strict=True), *obs, strict=True):
        expected_nll = 0.5 * np.sum(((y - X @ w) / sigma) ** 2) + N * math.log(sigma)
        expected_nll += 0.5 * N * math.log(2 * math.pi)
        log_prior = -0.5 * (w @ w + sigma**2) - 1.5 * math.log(2 * math.pi)
        log_prior += 0.5 * math.log(2 / math.pi)  # HalfNormal normalisation
        expected_u = expected_nll - log_prior - math.log(sigma)  # Jacobian of sigma = exp(.)
        np.testing.assert_allclose(nll, expected_nll, rtol=1e-5)
        np.testing.assert_allclose(u, expected_u, rtol=1e-5)
        np.testing.assert_allclose(sq_norm, w @ w + sigma**2, rtol=1e-5)
    # NumPyro's potential energy at the unconstrained values, also under a scale handler
    unconstrained = {"w": samples["w"][3], "sigma": math.log(samples["sigma"][3])}
    for model in (scale_regression, tempered(scale_regression, 0.5)):
        direct = potential_energy(model, data, {}, unconstrained)
        u = full_batch_observables(samples, model, data).potential_energy[3]
        np.testing.assert_allclose(u, direct, rtol=1e-5)


def test_full_batch_observables_of_a_run(mcmc, data):
    obs = full_batch_observables(mcmc, regression, data)
    assert all(x.shape == (2, 300) for x in obs)
    samples = mcmc.get_samples(group_by_chain=True)
    w = samples["w"][1, 7]
    direct = potential_energy(regression, data, {}, {"w": w})
    np.testing.assert_allclose(obs.potential_energy[1, 7], direct, rtol=1e-5)
    np.testing.assert_allclose(obs.sq_norm, samples["w_sq"], rtol=1e-5)
    # flat samples, in chunks that do not divide their number
    flat = full_batch_observables(mcmc.get_samples(), regression, data, chunk_size=7)
    for a, b in zip(flat, obs, strict=True):
        np.testing.assert_allclose(a, np.reshape(b, -1), rtol=1e-5)


def test_full_batch_observables_bad_input(data):
    samples = {"w": jnp.zeros((5, D)), "sigma": jnp.ones(5)}
    with pytest.raises(ValueError, match="subsamples plate 'data'"):
        full_batch_observables({"w": samples["w"]}, subsampled, data)
    with pytest.raises(ValueError, match=r"lacks the latent site\(s\) \['sigma'\]"):
        full_batch_observables({"w": samples["w"]}, scale_regression, data)
    with pytest.raises(ValueError, match="common leading sample dimensions"):
        full_batch_observables({**samples, "sigma": jnp.ones(4)}, scale_regression, data)
    with pytest.raises(ValueError, match="common leading sample dimensions"):
        full_batch_observables({**samples, "w": jnp.zeros((5, 2))}, scale_regression, data)
    with pytest.raises(TypeError, match="`samples`"):
        full_batch_observables([samples], scale_regression, data)
    with pytest.raises(TypeError, match="`model`"):
        full_batch_observables(samples, "scale_regression", data)
    with pytest.raises(ValueError, match="`chunk_size`"):
        full_batch_observables(samples, scale_regression, data, chunk_size=0)


def logits_fn(params, X):
    return params["s"] * X


def test_error_rate_known_case():
    X = jnp.array([[2.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 3.0]])
    y = jnp.array([0, 1, 0, 0])  # the sign +1 misclassifies the last point, -1 all but it
    errors = error_rate(logits_fn, {"s": jnp.array([1.0, -1.0])}, X, y, chunk_size=1)
    np.testing.assert_allclose(errors, [0.25, 0.75])
    grouped = {"s": jnp.array([[1.0, -1.0, 1.0], [-1.0, 1.0, 1.0]])}
    np.testing.assert_allclose(
        error_rate(logits_fn, grouped, X, y, batch_ndims=2),
        [[0.25, 0.75, 0.25], [0.75] + [0.25] * 2],
    )


def test_error_rate_bad_input():
    X, y = jnp.ones((4, 2)), jnp.zeros(4, jnp.int32)
    with pytest.raises(ValueError, match="`logits_fn` must return logits of shape"):
        error_rate(lambda p, X: X @ p["w"], {"w": jnp.ones((3, 2))}, X, y)
    with pytest.raises(ValueError, match="share 1 leading"):
        error_rate(logits_fn, {"s": jnp.ones(3), "t": jnp.ones(2)}, X, y)
    with pytest.raises(ValueError, match="share 2 leading"):
        error_rate(logits_fn, {"s": jnp.ones(3)}, X, y, batch_ndims=2)
    with pytest.raises(TypeError, match="`logits_fn`"):
        error_rate(None, {"s": jnp.ones(3)}, X, y)
    with pytest.raises(TypeError, match="`batch_ndims`"):
        error_rate(logits_fn, {"s": jnp.ones(3)}, X, y, batch_ndims=1.0)
