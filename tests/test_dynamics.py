"""The pL update on a harmonic well with injected Gaussian gradient noise of known variance.

The potential is U(w) = k/2 sum_i w_i^2 and each gradient carries noise of variance s2, so
the exact answer is <k w_i^2>/T = 1. The n components are independent wells, which gives
many replicas per move. The tolerance is 4 Monte Carlo standard errors, from batch means.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from numpyro_pl.core import pl
from numpyro_pl.dynamics import (
    drift,
    hot_temperature_ratio,
    kick,
    kinetic_energy,
    leaf_kinetic_energies,
    mass_from_grad_var,
    max_stable_noise_ratio,
    move_coefficients,
    noise_ratio_from_mass,
)

K, S2, T = 1.0, 0.16, 1.0
N_COMPONENTS, N_MOVES, N_BURN, N_BATCHES = 4000, 60_000, 5_000, 50


def harmonic_potential(z, rng_key):
    noise = jnp.sqrt(S2) * jax.random.normal(rng_key, z.shape)
    return 0.5 * K * jnp.sum(z**2) + jnp.sum(noise * z)


def run_well(compensate, seed):
    init_kernel, sample_kernel = pl(
        harmonic_potential, temperature=T, compensate_minibatch_noise=compensate
    )
    state = init_kernel(jnp.zeros(N_COMPONENTS), 0, jax.random.key(seed))

    @jax.jit
    def run(state):
        def body(state, _):
            state = sample_kernel(state)
            return state, (K * jnp.mean(state.z**2) / T, state.mean_noise_ratio)

        return lax.scan(body, state, None, length=N_MOVES)

    _, (ratio, mean_r) = run(state)
    ratio = np.asarray(ratio[N_BURN:], np.float64)
    batch_means = ratio[: len(ratio) // N_BATCHES * N_BATCHES].reshape(N_BATCHES, -1).mean(1)
    return ratio.mean(), batch_means.std(ddof=1) / np.sqrt(N_BATCHES), float(np.mean(mean_r))


@pytest.fixture(scope="module")
def well_pl():
    return run_well(compensate=True, seed=0)


def test_harmonic_well_samples_at_temperature(well_pl):
    ratio, mcse, _ = well_pl
    assert 4 * mcse < 0.005, "too few samples to resolve 0.5%"
    assert abs(ratio - 1.0) < 4 * mcse


def test_naive_variant_runs_hot_by_about_2r(well_pl):
    ratio, mcse, mean_r = run_well(compensate=False, seed=0)
    c1_sq = 1 - 0.1**2
    excess = (1 + c1_sq) * mean_r  # minibatch noise added on top of the full thermal noise
    assert ratio - 1.0 > 10 * mcse, "the naive variant should be measurably hot"
    assert abs(ratio - 1.0 - excess) < 4 * mcse + 0.1 * excess
    assert ratio - well_pl[0] > 4 * np.hypot(mcse, well_pl[1])


def test_mass_and_noise_ratio_are_inverse():
    grad_var = {"a": jnp.array([0.5, 2.0]), "b": jnp.array(3.0)}
    ratio = {"a": jnp.array([0.01, 0.02]), "b": jnp.array(0.005)}
    mass = mass_from_grad_var(grad_var, ratio, 0.3, 1.0, 0.1)
    back = noise_ratio_from_mass(grad_var, mass, 0.3, 1.0, 0.1)
    for key in ratio:
        np.testing.assert_allclose(back[key], ratio[key], rtol=1e-6)
    np.testing.assert_allclose(mass["b"], 3.0 / (4 * 0.005 * 0.3 * 0.01), rtol=1e-6)


def test_kick_injects_the_thermal_noise():
    """Over one kick, minibatch noise plus white noise add up to (1 + c1^2) M T m1^2."""
    friction, temperature, dt = 0.1, 0.7, 1.0
    c1_sq = 1 - friction**2
    grad_var = jnp.full(200_000, 2.0)
    mass = mass_from_grad_var(grad_var, jnp.full_like(grad_var, 0.2), temperature, dt, friction)
    key_g, key_xi = jax.random.split(jax.random.key(0))
    grad = jnp.sqrt(grad_var) * jax.random.normal(key_g, grad_var.shape)
    xi = jax.random.normal(key_xi, grad_var.shape)
    coefs = move_coefficients(mass, grad_var, temperature, dt, friction)
    momentum = kick(jnp.zeros_like(mass), grad, coefs.kick_noise_scale, xi, dt, friction)
    target = (1 + c1_sq) * mass[0] * temperature * friction**2
    assert abs(jnp.var(momentum) / target - 1) < 4 * np.sqrt(2 / grad_var.size)


def test_drift_and_kinetic_energy_at_rest():
    z, p, m = jnp.ones(3), jnp.array([1.0, 2.0, 3.0]), jnp.full(3, 2.0)
    coefs = move_coefficients(m, jnp.zeros(3), temperature=2.0, step_size=0.5, friction=0.1)
    np.testing.assert_allclose(drift(z, p, coefs.inverse_mass, coefs.step_size), 1 + 0.5 * p / m)
    # zero momentum and gradient: only the white-noise expectation remains, M T m1^2 per dof
    k = kinetic_energy(jnp.zeros(3), jnp.zeros(3), coefs)
    np.testing.assert_allclose(k, 0.5 * 3 * 2.0 * 0.01, rtol=1e-6)


def test_leaf_kinetic_energies_sum_to_the_total():
    key_p, key_g = jax.random.split(jax.random.key(0))
    tree = {"a": jnp.ones(3), "b": jnp.ones((2, 2))}
    mass = {"a": jnp.full(3, 2.0), "b": jnp.full((2, 2), 0.5)}
    grad_var = jax.tree.map(lambda m: 0.1 * m, mass)
    coefs = move_coefficients(mass, grad_var, temperature=1.0, step_size=1.0, friction=0.1)
    p = {"a": jax.random.normal(key_p, (3,)), "b": jax.random.normal(key_p, (2, 2))}
    g = {"a": jax.random.normal(key_g, (3,)), "b": jax.random.normal(key_g, (2, 2))}
    parts = leaf_kinetic_energies(p, g, coefs)
    assert jax.tree.structure(parts) == jax.tree.structure(tree)
    np.testing.assert_allclose(sum(jax.tree.leaves(parts)), kinetic_energy(p, g, coefs), rtol=1e-6)
    # the offset of each leaf is that leaf's share: at rest, M T m1^2 - ... per component
    at_rest = leaf_kinetic_energies(*(jax.tree.map(jnp.zeros_like, tree),) * 2, coefs)
    np.testing.assert_allclose(at_rest["a"] / 3, at_rest["b"] / 4, rtol=1e-6)


@pytest.mark.parametrize("num", [1, 10, 100, 1000, 10_000])
def test_hot_temperature_ratio_is_above_the_equilibrium_quantile(num):
    """The level is at least the exact 1e-9 quantile of chi^2_n / n (so an equilibrium
    kinetic temperature passes it less often than that) and not far above it."""
    from scipy.stats import chi2

    exact = chi2.isf(1e-9, num) / num
    level = hot_temperature_ratio(num, 1.0)
    assert exact <= level <= 1.3 * exact
    assert hot_temperature_ratio(num, 50.0) == 50.0


def test_max_stable_noise_ratio():
    assert max_stable_noise_ratio(0.1) == pytest.approx(1 / 1.99)
