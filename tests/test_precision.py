"""The kernel in single and double precision.

A short run on a conjugate linear regression in float32 (JAX's default), in float64 (with
``jax.enable_x64``), and in float32 with x64 enabled. In each, every floating-point field of
the state (position, momentum, gradient, masses, sigma^2, noise ratios, move coefficients,
snapshots) has the dtype of the model's parameters: nothing is promoted to float64 by a
constant of the kernel, nor demoted to float32. The run is finite and sensible: the mean
kinetic temperature is T, and the posterior mean the exact one, within their Monte Carlo
standard errors.

``jax.enable_x64`` is a context manager in jax 0.10 (``jax.experimental.enable_x64`` is
gone); its setting is thread-local and restored on exit, so it does not leak into the other
tests, which the last test checks.
"""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.diagnostics import effective_sample_size
from numpyro.infer import MCMC

from numpyro_pl import PseudoLangevin

N, D, B, T = 500, 8, 50, 1.0
#: a run costs its compilation (about 10 s on a loaded 2-core machine), not its moves: the
#: 4 x 10 000 draws give about 600 effective ones of the kinetic temperature and 280 of w.
CHAINS, WARMUP, SAMPLES = 4, 500, 10_000

#: noise_ratio=0.1 mixes in about 1/(4 r T) = 2.5 epochs = 25 moves; sigma^2 re-estimated
#: every 100 moves, so that the samples span about 100 re-estimates.
KERNEL = dict(
    batch_size=B,
    temperature=T,
    noise_ratio=0.1,
    reestimate_interval=100,
    min_grad_var_draws=100,
    max_grad_var_draws=300,
)


def data():
    """X, y in float64 NumPy, and the exact posterior mean and sd of w."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D))
    y = X @ np.linspace(-1.0, 1.0, D) + rng.normal(size=N)
    precision = X.T @ X + np.eye(D)
    cov = np.linalg.inv(precision)
    return X, y, cov @ X.T @ y, np.sqrt(T * np.diag(cov))


def regression(X, y):
    """Every parameter and constant in the dtype of X, so that the model itself promotes
    nothing: w ~ N(0, 1), y ~ N(X w, 1)."""
    dtype = X.dtype
    prior = dist.Normal(jnp.zeros(D, dtype), jnp.ones(D, dtype))
    w = numpyro.sample("w", prior.to_event(1))
    with numpyro.plate("data", X.shape[0]) as idx:
        numpyro.sample("y", dist.Normal(X[idx] @ w, jnp.ones((), dtype)), obs=y[idx])


def run(dtype, seed=0):
    """Vectorized chains started at the exact posterior mean (a start far away would take a
    warmup of thousands of moves: docs/parameters.md), so that every draw is at equilibrium."""
    X, y, mean, _ = data()
    start = {"w": jnp.broadcast_to(jnp.asarray(mean, dtype), (CHAINS, D))}
    mcmc = MCMC(
        PseudoLangevin(regression, **KERNEL),
        num_warmup=WARMUP,
        num_samples=SAMPLES,
        num_chains=CHAINS,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(
        jax.random.key(seed),
        jnp.asarray(X, dtype),
        jnp.asarray(y, dtype),
        init_params=start,
        extra_fields=("kinetic_temperature", "potential_energy"),
    )
    return mcmc


def check_dtypes(mcmc, dtype):
    state = mcmc.last_state
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        kind = jnp.result_type(leaf)
        where = f"state{jax.tree_util.keystr(path)}"
        if jnp.issubdtype(kind, jnp.floating):
            assert kind == dtype, f"{where} is {kind}, the model's parameters {dtype}"
        elif jnp.issubdtype(kind, jnp.integer):
            assert kind == jnp.int32, f"{where} is {kind}: counters are int32"
    # the named fields, so that a field turned into another kind is not skipped above
    for leaf in jax.tree.leaves(
        (state.z, state.momentum, state.z_grad, state.mass, state.grad_var, state.noise_ratio)
    ):
        assert leaf.dtype == dtype
    for leaf in jax.tree.leaves(state.coefficients):
        assert leaf.dtype == dtype
    assert mcmc.get_samples()["w"].dtype == dtype
    fields = mcmc.get_extra_fields()
    for name in ("kinetic_temperature", "potential_energy"):
        assert fields[name].dtype == dtype, name


def check_statistics(mcmc):
    """The mean kinetic temperature within 4 MCSE of T, the mean of w within 4 MCSE of the
    exact posterior mean (MCSE = sd / sqrt(ESS), ESS over the chains), and the sd of w within
    15% of the exact one (its sampling error is about 1/sqrt(2 ESS) = 4%). pL's own bias,
    r (E[sigma^2 / sigma_hat^2] - 1) = 0.1 x 2/97 = 0.2% with sigma_hat^2 from at least 100
    draws, is far inside the MCSE of the kinetic temperature (about 2%); over six seeds the
    float32 means were 0.98-1.05, within 2.6 MCSE."""
    _, _, exact_mean, exact_sd = data()
    fields = mcmc.get_extra_fields(group_by_chain=True)
    kinetic = np.asarray(fields["kinetic_temperature"], np.float64)
    w = np.asarray(mcmc.get_samples(group_by_chain=True)["w"], np.float64)
    assert np.all(np.isfinite(kinetic)) and np.all(np.isfinite(w))
    assert not np.any(mcmc.get_extra_fields()["diverging"])

    ess = float(effective_sample_size(kinetic))
    mcse = kinetic.std() / np.sqrt(ess)
    assert ess > 200, ess
    assert abs(kinetic.mean() - T) < 4 * mcse, (kinetic.mean(), mcse, ess)

    ess_w = np.asarray(effective_sample_size(w))
    mcse_w = exact_sd / np.sqrt(ess_w)
    assert np.all(ess_w > 100), ess_w
    np.testing.assert_array_less(np.abs(w.mean(axis=(0, 1)) - exact_mean), 4 * mcse_w)
    np.testing.assert_allclose(w.reshape(-1, D).std(axis=0), exact_sd, rtol=0.15)


def test_float32():
    mcmc = run(jnp.float32)
    check_dtypes(mcmc, jnp.float32)
    check_statistics(mcmc)


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32], ids=["float64", "float32"])
def test_with_x64_enabled(dtype):
    """float64 keeps float64 (nothing demoted to float32); float32 parameters under x64
    keep float32 (no constant of the kernel promotes them to float64)."""
    with jax.enable_x64(True):
        mcmc = run(dtype)
        check_dtypes(mcmc, dtype)
        check_statistics(mcmc)


def test_x64_does_not_leak():
    """Run after the x64 tests (pytest keeps the order of the file): the default is back."""
    assert not jax.config.jax_enable_x64
    assert jnp.zeros(1).dtype == jnp.float32
    assert jnp.asarray(1.0).dtype == jnp.float32
