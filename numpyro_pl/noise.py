r"""
Measuring the minibatch gradient noise and adapting the masses to it.

Three pieces, each a pure function or an Optax-style ``(init, update)`` pair with explicit
state, none of which knows about NumPyro models:

- :func:`estimate_grad_var`: the reference estimator of :math:`\sigma_i^2`, the variance of
  the minibatch gradient over the choice of minibatch at a frozen position.
- :func:`mass_adaptation`: the masses :math:`M_i` and per-component noise ratios
  :math:`r_i` after each new estimate, with the ``reset_prob`` (:math:`p_\mathrm{reset}`)
  reset and the ``max_noise_ratio`` (:math:`r_\mathrm{max}`) clamp.
- :func:`reestimation_schedule`: when to re-estimate (``adj_step`` in the reference code).

All follow the reference implementation described in ``method.md`` of
Zambon, Caruso, Zecchina and Tiana, arXiv:2603.15367.
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax, random

from numpyro_pl.dynamics import mass_from_grad_var, noise_ratio_from_mass
from numpyro_pl.types import ArrayTree, PRNGKey

__all__ = [
    "GradVarEstimate",
    "estimate_grad_var",
    "within_relative_tolerance",
    "mean_square_change",
    "GRAD_VAR_CRITERIA",
    "MassState",
    "mass_adaptation",
    "ScheduleState",
    "reestimation_schedule",
]


def within_relative_tolerance(
    new: ArrayTree, old: ArrayTree, rtol, criterion: str = "rms", num_draws=None
) -> jax.Array:
    r"""Whether the standard deviations :math:`\sqrt{\sigma^2_\mathrm{new}}` and
    :math:`\sqrt{\sigma^2_\mathrm{old}}` agree to ``rtol``, measured by the relative change
    :math:`d_i = |\sqrt{\sigma^2_{i,\mathrm{new}}/\sigma^2_{i,\mathrm{old}}} - 1|`.

    :param str criterion: ``"max"`` (the reference rule): :math:`d_i \le` ``rtol`` for every
        component. ``"rms"``: :math:`\sqrt{\langle d_i^2 \rangle} \le` ``rtol``, the root
        mean square over all components. Two estimates from :math:`n` draws differ by
        sampling error alone by about :math:`1/\sqrt{n}` per component, so on :math:`10^5`
        components the largest :math:`d_i` exceeds 0.1 even at :math:`n = 1000`
        (``benchmarks/move_overhead.py``), and ``"max"`` never holds there; the root mean
        square stays near :math:`1/\sqrt{n}` and measures the change of the noise itself.
    :param num_draws: ``(n_new, n_old)``, the draws of two *independent* estimates. With
        ``"rms"``, the mean square that sampling error alone gives,
        :math:`\langle d_i^2 \rangle_0 = (1/n_\mathrm{new} + 1/n_\mathrm{old})/2` for
        Gaussian minibatch gradients, is subtracted before the comparison, so that
        :math:`\langle d_i^2 \rangle - \langle d_i^2 \rangle_0 \le` ``rtol``:math:`^2`
        tests the change of :math:`\sigma` itself. (At :math:`n = 200` that floor is 0.071,
        close to the default ``rtol`` of 0.1.) Ignored by ``"max"``.
    """
    if criterion == "max":
        changes = jax.tree.leaves(jax.tree.map(_relative_change, new, old))
        return jnp.all(jnp.stack([jnp.max(d) for d in changes]) <= rtol)
    return mean_square_change(new, old, num_draws) <= rtol**2


def _relative_change(new, old):
    return jnp.abs(jnp.sqrt(new / old) - 1.0)


def mean_square_change(new: ArrayTree, old: ArrayTree, num_draws=None) -> jax.Array:
    r"""The statistic of the ``"rms"`` criterion of :func:`within_relative_tolerance`: the
    mean square over all components of
    :math:`d_i = |\sqrt{\sigma^2_{i,\mathrm{new}}/\sigma^2_{i,\mathrm{old}}} - 1|`, less
    the sampling floor :math:`(1/n_\mathrm{new} + 1/n_\mathrm{old})/2` if ``num_draws``
    :math:`= (n_\mathrm{new}, n_\mathrm{old})` is given."""
    changes = jax.tree.leaves(jax.tree.map(_relative_change, new, old))
    mean_square = sum(jnp.sum(d**2) for d in changes) / sum(d.size for d in changes)
    if num_draws is not None:
        mean_square = mean_square - sum(0.5 / jnp.asarray(n, mean_square.dtype) for n in num_draws)
    return mean_square


#: the criteria of :func:`within_relative_tolerance`.
GRAD_VAR_CRITERIA = ("rms", "max")


class GradVarEstimate(NamedTuple):
    """Result of :func:`estimate_grad_var`."""

    #: :math:`\sigma_i^2`, floored at ``floor``; same structure as ``z``.
    grad_var: ArrayTree
    #: number of minibatch gradients spent on the estimate.
    num_draws: jax.Array


class _WelfordState(NamedTuple):
    count: jax.Array
    mean: ArrayTree
    m2: ArrayTree


def _welford_update(state: _WelfordState, grad: ArrayTree) -> _WelfordState:
    count = state.count + 1
    delta = jax.tree.map(lambda g, m: g - m, grad, state.mean)
    mean = jax.tree.map(lambda m, d: m + d / count, state.mean, delta)
    m2 = jax.tree.map(lambda s, d, g, m: s + d * (g - m), state.m2, delta, grad, mean)
    return _WelfordState(count, mean, m2)


def _welford_variance(state: _WelfordState, floor) -> ArrayTree:
    return jax.tree.map(lambda s: jnp.maximum(s / (state.count - 1), floor), state.m2)


def estimate_grad_var(
    grad_fn: Callable[[ArrayTree, PRNGKey], ArrayTree],
    z: ArrayTree,
    rng_key: PRNGKey,
    *,
    min_draws: int = 100,
    max_draws: int = 1000,
    rtol: float = 0.1,
    criterion: str = "rms",
    floor: float = 1e-8,
) -> GradVarEstimate:
    r"""Estimate the per-component variance of a stochastic gradient at a frozen ``z``.

    Draws ``min_draws`` independent minibatch gradients :math:`g(z)` and takes the sample
    variance of each component (a running Welford update, so no gradient is stored). It then
    adds ``min_draws`` more draws at a time until the standard deviations agree with those of
    the previous round to ``rtol`` (:func:`within_relative_tolerance` with ``criterion``;
    ``"max"`` is the reference rule, every component), or until ``max_draws`` is reached. The
    result is floored at ``floor``.

    :param grad_fn: ``grad_fn(z, rng_key)``, one minibatch gradient; the key picks the
        minibatch.
    :param z: the frozen position.
    :param rng_key: key for the minibatch draws.
    :return: a :class:`GradVarEstimate`.

    **Example**

    .. doctest::

        >>> import jax, jax.numpy as jnp
        >>> from numpyro_pl.noise import estimate_grad_var
        >>> grad_fn = lambda z, key: z + 0.5 * jax.random.normal(key, z.shape)
        >>> est = estimate_grad_var(grad_fn, jnp.zeros(3), jax.random.key(0), max_draws=3000)
        >>> bool(jnp.allclose(est.grad_var, 0.25, rtol=0.2)), int(est.num_draws) >= 200
        (True, True)
    """
    zeros = jax.tree.map(jnp.zeros_like, z)

    def one_round(state: _WelfordState, key):
        def body(carry, k):
            return _welford_update(carry, grad_fn(z, k)), None

        state, _ = lax.scan(body, state, random.split(key, min_draws))
        return state

    def cond_fn(carry):
        state, _, converged, _ = carry
        return (~converged) & (state.count + min_draws <= max_draws)

    def body_fn(carry):
        state, var_old, _, key = carry
        key, key_round = random.split(key)
        state = one_round(state, key_round)
        var_new = _welford_variance(state, floor)
        converged = within_relative_tolerance(var_new, var_old, rtol, criterion)
        return state, var_new, converged, key

    key, key_first = random.split(rng_key)
    first = one_round(_WelfordState(jnp.zeros((), jnp.int32), zeros, zeros), key_first)
    carry = (first, _welford_variance(first, floor), jnp.array(False), key)
    state, grad_var, _, _ = lax.while_loop(cond_fn, body_fn, carry)
    return GradVarEstimate(grad_var, state.count)


class MassState(NamedTuple):
    """State of :func:`mass_adaptation`; every field has the structure of ``z``."""

    #: fictitious masses :math:`M_i`.
    mass: ArrayTree
    #: the latest estimate of :math:`\sigma_i^2` that the masses were matched to.
    grad_var: ArrayTree
    #: per-component noise ratios :math:`r_i = \sigma_i^2 \Delta t^2 / (4 M_i T m_1^2)`.
    noise_ratio: ArrayTree


def mass_adaptation(
    *,
    temperature: float,
    step_size: float,
    friction: float,
    noise_ratio: float,
    max_noise_ratio: float,
    reset_prob: float,
    relative_mass_floor: float = 1e-2,
):
    r"""Masses matched to the measured minibatch noise, as an ``(init, update)`` pair.

    A component whose gradient carries almost no minibatch noise (a weight into a dead ReLU
    unit, whose gradient comes from the prior alone) would get a vanishing mass and an
    unstable move. Its mass is therefore computed from
    :math:`\max(\sigma_i^2, \epsilon \bar\sigma^2_\mathrm{site})`, with
    :math:`\epsilon` = ``relative_mass_floor`` and :math:`\bar\sigma^2_\mathrm{site}` the
    mean over the components of the same site. Its :math:`r_i` is then below :math:`r`, and
    the white noise, computed from the measured :math:`\sigma_i^2`, keeps the
    fluctuation-dissipation relation exact.

    ``init(grad_var)`` sets every :math:`r_i = r` (``noise_ratio``) and
    :math:`M_i = \sigma_i^2 \Delta t^2/(4 r T m_1^2)`.

    ``update(state, grad_var_new, rng_key, force_reset=False)`` follows the reference
    re-estimation rule:

    - with probability ``reset_prob`` (:math:`p_\mathrm{reset}`), or always when
      ``force_reset`` is true (the warmup does this), it re-initialises every
      component from ``grad_var_new`` and asks for every momentum to be redrawn;
    - otherwise it keeps :math:`M_i` and sets
      :math:`r_i \leftarrow r_i \sigma^2_{i,\mathrm{new}} / \sigma^2_{i,\mathrm{old}}`; where
      :math:`r_i > r_\mathrm{max}` (``max_noise_ratio``) it clamps :math:`r_i = r_\mathrm{max}`,
      sets :math:`M_i = \sigma_i^2 \Delta t^2 / (4 T m_1^2 r_\mathrm{max})` and asks for that
      momentum to be redrawn.

    It returns ``(new_state, redraw)``, where ``redraw`` is a boolean PyTree marking the
    momenta to redraw. The white-noise amplitudes follow from ``mass`` and ``grad_var``
    (:mod:`numpyro_pl.dynamics`), so they are recomputed implicitly.
    """

    def init(grad_var: ArrayTree) -> MassState:
        floored = jax.tree.map(
            lambda s: jnp.maximum(s, relative_mass_floor * jnp.mean(s)), grad_var
        )
        ratio = jax.tree.map(lambda s: jnp.full_like(s, noise_ratio), grad_var)
        mass = mass_from_grad_var(floored, ratio, temperature, step_size, friction)
        ratio = noise_ratio_from_mass(grad_var, mass, temperature, step_size, friction)
        return MassState(mass, grad_var, ratio)

    def update(state: MassState, grad_var_new: ArrayTree, rng_key: PRNGKey, force_reset=False):
        def reset(_):
            redraw = jax.tree.map(lambda s: jnp.ones(jnp.shape(s), bool), grad_var_new)
            return init(grad_var_new), redraw

        def rescale(_):
            ratio = jax.tree.map(
                lambda r, new, old: r * new / old, state.noise_ratio, grad_var_new, state.grad_var
            )
            redraw = jax.tree.map(lambda r: r > max_noise_ratio, ratio)
            ratio = jax.tree.map(lambda r: jnp.minimum(r, max_noise_ratio), ratio)
            clamped_mass = mass_from_grad_var(grad_var_new, ratio, temperature, step_size, friction)
            mass = jax.tree.map(jnp.where, redraw, clamped_mass, state.mass)
            return MassState(mass, grad_var_new, ratio), redraw

        do_reset = force_reset | random.bernoulli(rng_key, reset_prob)
        return lax.cond(do_reset, reset, rescale, None)

    return init, update


class ScheduleState(NamedTuple):
    """State of :func:`reestimation_schedule`."""

    #: current interval between two estimates, in moves (``adj_step`` in the reference).
    interval: jax.Array
    #: moves left before the next estimate.
    countdown: jax.Array
    #: draws of the latest estimate, for the sampling error of the next comparison.
    num_draws: jax.Array
    #: whether the next estimate re-initialises every component (after a rollback, see
    #: :func:`numpyro_pl.core.pl`).
    reset: jax.Array


def reestimation_schedule(
    *,
    initial_interval: int = 5000,
    interval_step: int = 5000,
    max_interval: int = 50000,
    rtol: float = 0.1,
    criterion: str = "rms",
    warmup_interval: int = 100,
):
    r"""When to re-estimate :math:`\sigma^2`, as ``(init, tick, due_now, update)``.

    - ``init(warmup, num_draws)`` schedules the first re-estimate: ``warmup_interval`` moves
      ahead during warmup, ``initial_interval`` moves ahead otherwise; ``num_draws`` are
      those of the estimate in use.
    - ``tick(state)`` counts one move and returns ``(state, due)``.
    - ``due_now(state, reset)`` makes an estimate due at the next move (after a hot check),
      with every component re-initialised if ``reset`` (after a rollback).
    - ``update(state, grad_var_old, grad_var_new, num_draws, warmup)`` is called after an
      estimate of ``num_draws`` draws.

      * During warmup the interval doubles (windows of 100, 200, 400, ... moves), so that the
        masses follow the chain while it relaxes from its initial values.
      * After warmup this is the reference rule (``adj_step``): if the standard deviations
        agree with the previous estimate to ``rtol`` (:func:`within_relative_tolerance` with
        ``criterion``; the reference checks every component, ``"max"``; ``"rms"`` discounts
        the sampling error of both estimates) the interval grows by ``interval_step``, up to
        ``max_interval``; otherwise it drops back to ``initial_interval``.
    """

    def init(warmup, num_draws) -> ScheduleState:
        interval = jnp.where(warmup, warmup_interval, initial_interval).astype(jnp.int32)
        return ScheduleState(
            interval, interval, jnp.asarray(num_draws, jnp.int32), jnp.zeros((), bool)
        )

    def tick(state: ScheduleState):
        countdown = state.countdown - 1
        return state._replace(countdown=countdown), countdown <= 0

    def due_now(state: ScheduleState, reset) -> ScheduleState:
        return state._replace(
            countdown=jnp.zeros_like(state.countdown), reset=state.reset | jnp.asarray(reset)
        )

    def update(
        state: ScheduleState, grad_var_old, grad_var_new, num_draws, warmup=False
    ) -> ScheduleState:
        num_draws = jnp.asarray(num_draws, jnp.int32)
        stable = within_relative_tolerance(
            grad_var_new, grad_var_old, rtol, criterion, num_draws=(num_draws, state.num_draws)
        )
        grown = jnp.where(
            stable, jnp.minimum(state.interval + interval_step, max_interval), initial_interval
        )
        interval = jnp.where(warmup, 2 * state.interval, grown).astype(jnp.int32)
        return ScheduleState(interval, interval, num_draws, jnp.zeros((), bool))

    return init, tick, due_now, update
