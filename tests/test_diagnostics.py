"""Diagnostics of a finished run: full-batch observables against a hand computation, error
rates on a known case, the diffusion d^2 of a Gaussian random walk against its exact value,
the kinetic temperature, the ArviZ conversion and the temperature plot."""

import math

import arviz as az
import jax
import jax.numpy as jnp
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC, init_to_value
from numpyro.infer.util import potential_energy

from numpyro_pl import PseudoLangevin, tempered
from numpyro_pl.diagnostics import (
    diffusion,
    error_rate,
    full_batch_observables,
    kinetic_temperature,
    plot_temperature,
    to_arviz,
)

matplotlib.use("Agg")

N, D, B = 300, 3, 30
FAST = dict(reestimate_interval=50, min_grad_var_draws=20, max_grad_var_draws=60)
EXTRA = (
    "potential_energy",
    "kinetic_energy",
    "kinetic_temperature",
    "mean_noise_ratio",
    "num_grad_evals",
)


def regression(X, y):
    w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
    numpyro.deterministic("w_sq", jnp.sum(w**2))  # not a latent site: ignored
    with numpyro.plate("data", X.shape[0]) as idx:
        numpyro.sample("y", dist.Normal(X[idx] @ w, 1.0), obs=y[idx])


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


@pytest.fixture(scope="module")
def data():
    key_x, key_y = jax.random.split(jax.random.key(0))
    X = jax.random.normal(key_x, (N, D))
    y = X @ jnp.array([1.0, -1.0, 0.5]) + jax.random.normal(key_y, (N,))
    return X, y


def run(data, extra_fields=EXTRA, num_samples=300, num_chains=2):
    """A short run started at the mode, near equilibrium (a start far from the posterior
    takes thousands of moves to relax)."""
    start = init_to_value(values={"w": jnp.linalg.lstsq(*data)[0]})
    kernel = PseudoLangevin(
        regression, batch_size=B, noise_ratio=0.1, friction=0.3, init_strategy=start, **FAST
    )
    mcmc = MCMC(
        kernel,
        num_warmup=200,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(1), *data, extra_fields=extra_fields)
    return mcmc


@pytest.fixture(scope="module")
def mcmc(data):
    return run(data)


@pytest.fixture(scope="module")
def idata(mcmc):
    return to_arviz(mcmc)


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


def test_diffusion_of_a_random_walk():
    """d^2(lag) = lag * num_components * step_var, within 4 standard errors over chains."""
    steps = 0.5 * np.random.default_rng(0).standard_normal((40, 400, 3))
    walk = np.cumsum(steps, axis=1)
    result = diffusion({"a": walk[..., :2], "b": walk[..., 2]}, [0, 1, 5, 20, 50])
    expected = result.lags * 3 * 0.25
    assert result.d2[0] == 0 and np.all(result.d2_se[1:] > 0)
    assert np.all(np.abs(result.d2 - expected)[1:] < 4 * result.d2_se[1:]), (result, expected)
    assert result.grad_evals is None and result.seconds is None
    default = diffusion({"a": walk})
    assert default.lags[0] == 1 and default.lags[-1] == 200 and np.all(np.diff(default.d2) > 0)
    assert np.all(np.isnan(diffusion({"a": walk[:1]}, [1, 2]).d2_se))


def test_diffusion_of_a_run(mcmc):
    result = diffusion(mcmc, [0, 1, 10, 100], seconds_per_sample=0.01)
    assert result.d2[0] == 0 and np.all(result.d2[1:] > 0)
    samples = mcmc.get_samples(group_by_chain=True)
    latent = diffusion({"w": samples["w"]}, [0, 1, 10, 100])
    np.testing.assert_allclose(result.d2, latent.d2)  # the deterministic site is left out
    counts = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["num_grad_evals"])
    per_draw = np.mean(counts[:, -1] - counts[:, 0]) / (counts.shape[1] - 1)
    assert per_draw >= 1
    np.testing.assert_allclose(result.grad_evals, result.lags * per_draw)
    np.testing.assert_allclose(result.seconds, [0.0, 0.01, 0.1, 1.0])


def test_diffusion_bad_input():
    walk = {"a": np.zeros((2, 10, 3))}
    for lags in ([-1], [10], [0.5], [[1]]):
        with pytest.raises(
            ValueError, match=r"`lags` must be a 1-D array of integers in \[0, 10\)"
        ):
            diffusion(walk, lags)
    with pytest.raises(ValueError, match=r"`grad_evals` must have shape \(chains, draws\)"):
        diffusion(walk, grad_evals=np.zeros(10))
    with pytest.raises(TypeError, match="`seconds_per_sample`"):
        diffusion(walk, seconds_per_sample="1s")
    with pytest.raises(ValueError, match="`seconds_per_sample`"):
        diffusion(walk, seconds_per_sample=-1.0)
    with pytest.raises(ValueError, match=r"leading dimensions \(chains, draws\)"):
        diffusion({"a": np.zeros(10)})
    with pytest.raises(ValueError, match=r"leading dimensions \(chains, draws\)"):
        diffusion({"a": np.zeros((2, 10)), "b": np.zeros((2, 9))})


def test_kinetic_temperature(mcmc, idata):
    estimate = kinetic_temperature(mcmc)
    assert estimate.target == 1.0 and estimate.ess > 10 and estimate.mcse > 0
    assert abs(estimate.mean - 1.0) < 4 * estimate.mcse, estimate
    assert kinetic_temperature(idata) == estimate
    assert kinetic_temperature(az.from_numpyro(mcmc)).target is None


def test_kinetic_temperature_missing(data):
    short = run(data, extra_fields=(), num_samples=20, num_chains=1)
    with pytest.raises(ValueError, match=r'extra_fields=\("kinetic_temperature",\)'):
        kinetic_temperature(short)
    with pytest.raises(ValueError, match="`sample_stats` has no `kinetic_temperature`"):
        kinetic_temperature(to_arviz(short))
    with pytest.raises(TypeError, match="numpyro MCMC or ArviZ data"):
        kinetic_temperature(42)


def test_to_arviz(mcmc, idata):
    stats = idata["sample_stats"]
    assert set(EXTRA) | {"diverging"} <= set(stats.data_vars) and "lp" not in stats.data_vars
    fields = mcmc.get_extra_fields(group_by_chain=True)
    np.testing.assert_array_equal(stats["potential_energy"], fields["potential_energy"])
    np.testing.assert_array_equal(stats["kinetic_temperature"], fields["kinetic_temperature"])
    assert stats["kinetic_temperature"].dims == ("chain", "draw")
    assert stats.attrs["temperature"] == 1.0
    assert len(az.summary(idata, var_names=["w"])) == D
    az.plot_trace(idata, var_names=["w"])
    named = to_arviz(mcmc, dims={"w": ["feature"]})
    assert named["posterior"]["w"].dims == ("chain", "draw", "feature")
    with pytest.raises(TypeError, match="`mcmc` must be a numpyro MCMC with a PseudoLangevin"):
        to_arviz(idata)
    plt.close("all")


def test_plot_temperature(mcmc, idata):
    ax = plot_temperature(mcmc)
    assert isinstance(ax, matplotlib.axes.Axes) and len(ax.get_lines()) == 3  # 2 chains, T
    assert ax.get_lines()[-1].get_ydata()[0] == 1.0
    fig, given = plt.subplots()
    assert plot_temperature(idata, ax=given) is given and len(given.get_lines()) == 3
    assert len(plot_temperature(az.from_numpyro(mcmc)).get_lines()) == 2  # target unknown
    plt.close("all")
