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


@pytest.mark.parametrize(
    "new, max_ok, rms_ok",
    [
        ([1.2, 4.8], True, True),  # both sd ratios 1.095
        ([1.0, 5.0], False, True),  # one ratio 1.118: rms 0.083
        ([1.3, 5.2], False, False),  # both 1.140
    ],
)
def test_within_relative_tolerance_compares_standard_deviations(new, max_ok, rms_ok):
    old = {"a": jnp.array([1.0, 4.0])}
    new = {"a": jnp.array(new)}
    assert bool(within_relative_tolerance(new, old, 0.1, "max")) is max_ok
    assert bool(within_relative_tolerance(new, old, 0.1, "rms")) is rms_ok
    assert bool(within_relative_tolerance(new, old, 0.1)) is rms_ok  # the default


def test_rms_criterion_is_not_tripped_by_sampling_error_on_many_components():
    """Two estimates of the same noise from 500 draws each, on 20 000 components: each sd
    has sampling error of about 1/sqrt(2 * 500) = 3.2%, so the largest of the 20 000
    differences exceeds 10% (the reference rule fails) while their rms stays near
    sqrt(2) * 3.2% = 4.5% (the rms rule holds)."""
    shape = (20_000,)

    def grad_fn(z, key):
        return z + jax.random.normal(key, shape)

    def estimate(seed):
        return estimate_grad_var(
            grad_fn, jnp.zeros(shape), jax.random.key(seed), min_draws=500, max_draws=500
        ).grad_var

    first, second = estimate(0), estimate(1)
    assert not bool(within_relative_tolerance(second, first, 0.1, "max"))
    assert bool(within_relative_tolerance(second, first, 0.1, "rms"))
    assert not bool(within_relative_tolerance(second, first, 0.03, "rms"))


def test_rms_criterion_discounts_the_sampling_error_of_both_estimates():
    """Two independent 200-draw estimates of the same unit noise on 20 000 components: their
    sds differ by 1/sqrt(200) = 7.1% rms from sampling alone, which fails rtol = 5% unless
    the draws are given and (1/200 + 1/200)/2 is discounted. Every sd moved by 10% (the
    same sampling error on top) still fails: only the sampling error is discounted."""
    shape = (20_000,)

    def estimate(seed, sd):
        def grad_fn(z, key):
            return z + sd * jax.random.normal(key, shape)

        est = estimate_grad_var(
            grad_fn, jnp.zeros(shape), jax.random.key(seed), min_draws=200, max_draws=200
        )
        return est.grad_var

    first, same, moved = estimate(0, 1.0), estimate(1, 1.0), estimate(2, 1.1)
    draws = (200, 200)
    assert not bool(within_relative_tolerance(same, first, 0.05, "rms"))
    assert bool(within_relative_tolerance(same, first, 0.05, "rms", num_draws=draws))
    assert not bool(within_relative_tolerance(moved, first, 0.05, "rms", num_draws=draws))
    # the reference rule is left as it is
    assert not bool(within_relative_tolerance(same, first, 0.1, "max", num_draws=draws))


def test_estimate_stops_early_under_rms_and_runs_to_max_draws_under_max():
    """On 20 000 components of unit Gaussian noise the rms rule is met after two rounds
    (200 draws); the reference rule needs at least 500 (heavier-tailed gradients of ReLU
    networks take it to the 1 000 cap, benchmarks/move_overhead.py)."""
    shape = (20_000,)

    def grad_fn(z, key):
        return z + jax.random.normal(key, shape)

    def draws(criterion):
        est = estimate_grad_var(
            grad_fn, jnp.zeros(shape), jax.random.key(0), max_draws=1000, criterion=criterion
        )
        return int(est.num_draws)

    assert draws("rms") == 200
    assert draws("max") >= 500


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
    init, tick, _, update = reestimation_schedule(
        initial_interval=5, interval_step=5, max_interval=12, warmup_interval=2
    )
    state = init(False, 200)
    for _ in range(4):
        state, due = tick(state)
        assert not bool(due)
    state, due = tick(state)
    assert bool(due)
    var = jnp.ones(3)
    state = update(state, var, 1.05 * var, 300)
    assert int(state.interval) == 10 and int(state.countdown) == 10
    assert int(state.num_draws) == 300  # the next comparison's old estimate
    state = update(state, var, var, 200)
    assert int(state.interval) == 12  # capped
    state = update(state, var, 2 * var, 200)
    assert int(state.interval) == 5
    warm = init(True, 200)
    assert int(warm.interval) == 2
    assert int(update(warm, var, 2 * var, 200, warmup=True).interval) == 4  # doubling windows


def test_schedule_criterion():
    """One component of three moves by 12%: the reference rule resets the interval, the rms
    rule (rms change 7%) lets it grow."""
    var, moved = jnp.ones(3), jnp.array([1.0, 1.0, 1.12**2])
    for criterion, interval in (("max", 5), ("rms", 10)):
        init, _, _, update = reestimation_schedule(
            initial_interval=5, interval_step=5, max_interval=12, criterion=criterion
        )
        assert int(update(init(False, 1000), var, moved, 1000).interval) == interval


def test_schedule_due_now_is_due_at_once_and_cleared_by_the_estimate():
    """A hot check makes an estimate due at the next move; a rollback also asks for a full
    reset. The estimate that follows clears the request and schedules as usual."""
    init, tick, due_now, update = reestimation_schedule(initial_interval=5)
    hot = due_now(init(False, 200), reset=False)
    assert int(hot.countdown) == 0 and not bool(hot.reset)
    state = due_now(init(False, 200), reset=True)
    assert bool(state.reset) and int(state.countdown) == 0
    _, due = tick(state)
    assert bool(due)
    var = jnp.ones(3)
    after = update(state, var, 2 * var, 200)
    assert not bool(after.reset) and int(after.countdown) == 5
    assert not bool(init(True, 200).reset)


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
