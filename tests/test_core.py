"""The hot check of the functional core (core.py): every SNAPSHOT_INTERVAL moves a hot chain
takes no snapshot and, after warmup, re-estimates sigma^2 at its next move; a chain at
equilibrium, whose check does not fire, is unchanged by it.

The model is a harmonic well of N independent components whose gradients carry Gaussian
noise of variance S2, so that the kinetic temperature at equilibrium is T with a relative
spread of sqrt(2/N), 4.5 % here, far below the default level of 1.5 T.
"""

import jax
import jax.numpy as jnp
import pytest
from jax import lax

from numpyro_pl.core import SNAPSHOT_INTERVAL, pl

N, S2, T, MIN_DRAWS = 1000, 0.16, 1.0, 100


def well(z, rng_key):
    return 0.5 * jnp.sum(z**2) + jnp.sqrt(S2) * jnp.sum(jax.random.normal(rng_key, z.shape) * z)


def chain(start, num_warmup=0, **kwargs):
    """The initial state at ``start`` and the move of a pL chain on the well."""
    init_kernel, sample_kernel = pl(well, temperature=T, min_grad_var_draws=MIN_DRAWS, **kwargs)
    return init_kernel(start, num_warmup, jax.random.key(0)), sample_kernel


def run(sample_kernel, state, num_moves):
    return jax.jit(lambda s: lax.fori_loop(0, num_moves, lambda i, s: sample_kernel(s), s))(state)


def run_to_check(heat, num_warmup=0, **kwargs):
    """A chain started at rest, its momentum scaled by ``heat`` (its kinetic temperature by
    about heat^2), run to the first check and one move beyond it."""
    state, sample_kernel = chain(jnp.zeros(N), num_warmup, **kwargs)
    at_check = run(sample_kernel, state._replace(momentum=heat * state.momentum), SNAPSHOT_INTERVAL)
    return at_check, jax.jit(sample_kernel)(at_check)


def kinetic_ratio(state):
    return float(state.kinetic_temperature) / T


@pytest.fixture(scope="module")
def hot():
    return run_to_check(heat=10.0)


def test_hot_chain_takes_no_snapshot_and_reestimates_at_the_next_move(hot):
    at_check, after = hot
    assert kinetic_ratio(at_check) > 3
    assert int(at_check.schedule.countdown) == 0 and not bool(at_check.schedule.reset)
    assert int(at_check.last_finite.i) == 0  # the snapshot of move 0, not of the hot move 100
    assert int(after.num_grad_evals - at_check.num_grad_evals) >= 1 + MIN_DRAWS
    assert not jnp.array_equal(after.grad_var, at_check.grad_var)


def test_hot_chain_in_warmup_takes_no_snapshot_and_no_extra_estimate():
    """During warmup the doubling windows re-match the masses: a chain relaxing from far away
    is hot by right, and an estimate every 100 moves would slow its relaxation."""
    at_check, after = run_to_check(heat=10.0, num_warmup=10_000, warmup_reestimate_interval=1000)
    assert kinetic_ratio(at_check) > 3
    assert int(at_check.last_finite.i) == 0
    assert int(after.num_grad_evals - at_check.num_grad_evals) == 1


def test_chain_at_temperature_takes_a_snapshot_and_no_extra_estimate():
    at_check, after = run_to_check(heat=1.0)
    assert kinetic_ratio(at_check) < 1.5
    assert not bool(at_check.schedule.reset)
    assert int(at_check.last_finite.i) == SNAPSHOT_INTERVAL
    assert int(after.num_grad_evals - at_check.num_grad_evals) == 1


def test_hot_check_can_be_turned_off():
    at_check, after = run_to_check(heat=10.0, hot_ratio=None)
    assert kinetic_ratio(at_check) > 3
    assert not bool(at_check.schedule.reset)
    assert int(at_check.last_finite.i) == SNAPSHOT_INTERVAL
    assert int(after.num_grad_evals - at_check.num_grad_evals) == 1


def test_chain_at_equilibrium_is_bitwise_the_same_without_the_check():
    """A check that does not fire changes nothing, not even the random stream: 2 000 moves
    of the well from its equilibrium, with the check and without."""

    start = jax.random.normal(jax.random.key(1), (N,)) * T**0.5  # the well's equilibrium

    def run_from_start(hot_ratio):
        state, sample_kernel = chain(start, hot_ratio=hot_ratio)
        return run(sample_kernel, state, 2000)

    with_check, without = run_from_start(1.5), run_from_start(None)
    assert int(with_check.last_finite.i) == 2000
    assert jnp.array_equal(with_check.z, without.z)
    assert jnp.array_equal(with_check.momentum, without.momentum)
