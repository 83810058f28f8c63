"""The sigma^2 estimator, the mass adaptation and the re-estimation schedule (noise.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_pl.noise import (
    MassState,
    estimate_grad_var,
    mass_adaptation,
    reestimation_schedule,
    within_relative_tolerance,
)

ADAPT = dict(
    temperature=0.5,
    step_size=1.0,
    friction=0.1,
    noise_ratio=0.01,
    max_noise_ratio=0.01,
    reset_prob=0.0,
)


def noisy_grad(z, key):
    """Gradient with known per-component noise sd 0.5, 2 and 0 (plus a large mean)."""
    sd = jnp.array([0.5, 2.0, 0.0])
    return 100.0 + z + sd * jax.random.normal(key, z.shape)


def test_estimate_recovers_variance_and_floors_noiseless_components():
    est = estimate_grad_var(noisy_grad, jnp.zeros(3), jax.random.key(0), max_draws=4000, rtol=0.02)
    n = int(est.num_draws)
    assert 200 <= n <= 4000 and n % 100 == 0
    # the sample variance has relative sd sqrt(2/(n-1)); allow 4 of them
    tol = 4 * np.sqrt(2 / (n - 1))
    np.testing.assert_allclose(est.grad_var[:2], [0.25, 4.0], rtol=tol)
    assert float(est.grad_var[2]) == pytest.approx(1e-8)


def test_estimate_stops_at_max_draws():
    est = estimate_grad_var(noisy_grad, jnp.zeros(3), jax.random.key(0), max_draws=300, rtol=1e-6)
    assert int(est.num_draws) == 300


def test_within_relative_tolerance_compares_standard_deviations():
    old = {"a": jnp.array([1.0, 4.0])}
    assert within_relative_tolerance({"a": jnp.array([1.2, 4.8])}, old, 0.1)  # sd ratio 1.095
    assert not within_relative_tolerance({"a": jnp.array([1.0, 5.0])}, old, 0.1)  # 1.118


def test_mass_adaptation_rescales_and_clamps():
    init, update = mass_adaptation(**ADAPT)
    state = init(jnp.array([1.0, 1.0]))
    mass0 = state.mass
    np.testing.assert_allclose(mass0, 1.0 / (4 * 0.01 * 0.5 * 0.01), rtol=1e-6)
    new, redraw = update(state, jnp.array([0.5, 2.0]), jax.random.key(0))
    # noise halved: mass kept, r halved; noise doubled: r clamped at r_max, mass doubled
    np.testing.assert_allclose(new.noise_ratio, [0.005, 0.01], rtol=1e-6)
    np.testing.assert_allclose(new.mass, [mass0[0], 2 * mass0[1]], rtol=1e-6)
    np.testing.assert_array_equal(redraw, [False, True])


def test_mass_adaptation_reset():
    init, update = mass_adaptation(**{**ADAPT, "reset_prob": 1.0})
    state = MassState(jnp.ones(2), jnp.ones(2), jnp.array([0.001, 0.002]))
    new, redraw = update(state, jnp.array([0.5, 2.0]), jax.random.key(0))
    np.testing.assert_allclose(new.noise_ratio, 0.01)
    np.testing.assert_allclose(new.mass, init(jnp.array([0.5, 2.0])).mass)
    assert bool(jnp.all(redraw))
    _, update_no_reset = mass_adaptation(**ADAPT)
    forced, _ = update_no_reset(state, jnp.array([0.5, 2.0]), jax.random.key(0), force_reset=True)
    np.testing.assert_allclose(forced.noise_ratio, 0.01)


def test_schedule_grows_when_stable_and_resets_otherwise():
    init, tick, update = reestimation_schedule(
        initial_interval=5, interval_step=5, max_interval=12, warmup_interval=2
    )
    state = init(False)
    for _ in range(4):
        state, due = tick(state)
        assert not bool(due)
    state, due = tick(state)
    assert bool(due)
    var = jnp.ones(3)
    state = update(state, var, 1.05 * var)
    assert int(state.interval) == 10 and int(state.countdown) == 10
    state = update(state, var, var)
    assert int(state.interval) == 12  # capped
    state = update(state, var, 2 * var)
    assert int(state.interval) == 5
    warm = init(True)
    assert int(warm.interval) == 2
    assert int(update(warm, var, 2 * var, warmup=True).interval) == 4  # doubling windows


def test_noiseless_component_gets_a_floored_mass_and_a_smaller_ratio():
    """A weight into a dead ReLU unit: no minibatch noise, yet a stable mass."""
    init, _ = mass_adaptation(**ADAPT, relative_mass_floor=1e-4)
    grad_var = jnp.array([1.0, 1.0, 1e-8])
    state = init(grad_var)
    floor = 1e-4 * float(jnp.mean(grad_var))
    np.testing.assert_allclose(state.mass[2], state.mass[0] * floor, rtol=1e-5)
    np.testing.assert_allclose(state.noise_ratio[:2], 0.01, rtol=1e-6)
    # r_i = sigma_i^2 dt^2 / (4 M_i T m1^2): the white noise makes up the rest
    np.testing.assert_allclose(state.noise_ratio[2], 0.01 * 1e-8 / floor, rtol=1e-4)
    reference, _ = mass_adaptation(**ADAPT, relative_mass_floor=0.0)
    np.testing.assert_allclose(reference(grad_var).mass[2], state.mass[0] * 1e-8, rtol=1e-5)
