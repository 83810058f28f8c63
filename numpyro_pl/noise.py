r"""
Measuring the minibatch gradient noise and adapting the masses to it.

Three pieces, each a pure function or an Optax-style ``(init, update)`` pair with explicit
state, none of which knows about NumPyro models:

- :func:`estimate_grad_var`: the reference estimator of :math:`\sigma_i^2`, the variance of
  the minibatch gradient over the choice of minibatch at a frozen position, with the two
  halves of its draws that :func:`change_beyond_sampling` compares.
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
    "change_beyond_sampling",
    "GRAD_VAR_CRITERIA",
    "MassState",
    "mass_adaptation",
    "ScheduleState",
    "reestimation_schedule",
]


def within_relative_tolerance(
    new: ArrayTree, old: ArrayTree, rtol, criterion: str = "rms"
) -> jax.Array:
    r"""Whether the standard deviations :math:`\sqrt{\sigma^2_\mathrm{new}}` and
    :math:`\sqrt{\sigma^2_\mathrm{old}}` agree to ``rtol``, measured by the relative change
    :math:`d_i = |\sqrt{\sigma^2_{i,\mathrm{new}}/\sigma^2_{i,\mathrm{old}}} - 1|`.

    :param str criterion: ``"max"`` (the reference rule): :math:`d_i \le` ``rtol`` for every
        component. ``"rms"``: :func:`mean_square_change`, the mean square of
        :math:`\min(d_i, 1)` over all components, is at most ``rtol``:math:`^2`. Two
        estimates from :math:`n` draws differ by sampling error alone by about
        :math:`1/\sqrt{n}` per component, so on :math:`10^5` components the largest
        :math:`d_i` exceeds 0.1 even at :math:`n = 1000` (``benchmarks/move_overhead.py``),
        and ``"max"`` never holds there; the mean square measures the change of the noise
        itself. To compare two independent estimates net of their sampling error, see
        :func:`change_beyond_sampling`.
    """
    if criterion == "max":
        changes = jax.tree.leaves(jax.tree.map(_relative_change, new, old))
        return jnp.all(jnp.stack([jnp.max(d) for d in changes]) <= rtol)
    return mean_square_change(new, old) <= rtol**2


def _relative_change(new, old):
    return jnp.abs(jnp.sqrt(new / old) - 1.0)


def mean_square_change(new: ArrayTree, old: ArrayTree) -> jax.Array:
    r"""The statistic of the ``"rms"`` criterion of :func:`within_relative_tolerance`: the
    mean over all components of :math:`\min(d_i, 1)^2`, with
    :math:`d_i = |\sqrt{\sigma^2_{i,\mathrm{new}}/\sigma^2_{i,\mathrm{old}}} - 1|`.

    The cap keeps a component that one estimate saw and the other missed (:math:`\sigma^2`
    at the floor in one, a gradient from a few examples in the other, :math:`d_i \sim 10^4`)
    from outweighing all the others: it counts as one fully changed component."""
    squares = jax.tree.leaves(
        jax.tree.map(lambda a, b: jnp.minimum(_relative_change(a, b), 1.0) ** 2, new, old)
    )
    return sum(jnp.sum(x) for x in squares) / sum(x.size for x in squares)


def change_beyond_sampling(new_halves, old_halves) -> jax.Array:
    r"""The mean square change of :math:`\sigma` between two independent estimates, net of
    their sampling error, from the halves of each (:attr:`GradVarEstimate.halves`):

    .. math::

        \tfrac{1}{2}\left[S(A', A) + S(B', B)\right]
            - \tfrac{1}{2}\left[S(A', B') + S(A, B)\right],

    with :math:`S` = :func:`mean_square_change`, :math:`A', B'` the halves of the new
    estimate and :math:`A, B` those of the old. If the noise has not changed and the two
    estimates have as many draws, the four halves are independent estimates of the same
    :math:`\sigma^2` from as many draws, and the two means have the same expectation
    whatever the distribution of the minibatch gradient: heavy tails, and components whose
    gradient comes from a few examples, which one half sees and another misses. A change
    of every :math:`\sigma_i` by a factor :math:`1 + c` adds about :math:`c^2`."""
    (a_new, b_new), (a_old, b_old) = new_halves, old_halves
    between = (mean_square_change(a_new, a_old) + mean_square_change(b_new, b_old)) / 2
    within = (mean_square_change(a_new, b_new) + mean_square_change(a_old, b_old)) / 2
    return between - within


#: the criteria of :func:`within_relative_tolerance`.
GRAD_VAR_CRITERIA = ("rms", "max")


class GradVarEstimate(NamedTuple):
    """Result of :func:`estimate_grad_var`."""

    #: :math:`\sigma_i^2`, floored at ``floor``; same structure as ``z``.
    grad_var: ArrayTree
    #: number of minibatch gradients spent on the estimate.
    num_draws: jax.Array
    #: the estimates from its even and from its odd draws, each floored at ``floor``, for
    #: :func:`change_beyond_sampling`.
    halves: tuple


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
    return jax.tree.map(lambda s: jnp.maximum(s / jnp.maximum(state.count - 1, 1), floor), state.m2)


def _welford_merge(a: _WelfordState, b: _WelfordState) -> _WelfordState:
    """The state of the draws of ``a`` and ``b`` together (Chan, Golub and LeVeque)."""
    count = a.count + b.count
    weight = a.count * b.count / count
    mean = jax.tree.map(lambda x, y: (a.count * x + b.count * y) / count, a.mean, b.mean)
    m2 = jax.tree.map(lambda s, t, x, y: s + t + (y - x) ** 2 * weight, a.m2, b.m2, a.mean, b.mean)
    return _WelfordState(count, mean, m2)


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
    result is floored at ``floor``. The even and the odd draws go to two accumulators, merged
    for the result, which costs the same per draw and gives the two halves that
    :func:`change_beyond_sampling` compares; with an even ``min_draws`` the halves have as
    many draws.

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

    def one_round(halves, key):
        # two draws per step, one for each half (a step of one draw that swapped the
        # halves cost about twice as much per draw at 10^6 parameters)
        def body(carry, keys):
            even, odd = carry
            return (
                _welford_update(even, grad_fn(z, keys[0])),
                _welford_update(odd, grad_fn(z, keys[1])),
            ), None

        keys = random.split(key, min_draws)
        (even, odd), _ = lax.scan(body, halves, keys[: min_draws - min_draws % 2].reshape(-1, 2))
        if min_draws % 2:
            even = _welford_update(even, grad_fn(z, keys[-1]))
        return even, odd

    def num_draws(halves):
        return halves[0].count + halves[1].count

    # Every round, the first included, is the one loop body, so that the round of draws is
    # compiled once (compiled twice, it cost 0.5 s more at each compile of a kernel).
    def cond_fn(carry):
        halves, _, converged, _ = carry
        first = num_draws(halves) == 0
        return first | ((~converged) & (num_draws(halves) + min_draws <= max_draws))

    def body_fn(carry):
        halves, var_old, _, key = carry
        key, key_round = random.split(key)
        earlier = num_draws(halves) > 0
        halves = one_round(halves, key_round)
        var_new = _welford_variance(_welford_merge(*halves), floor)
        converged = earlier & within_relative_tolerance(var_new, var_old, rtol, criterion)
        return halves, var_new, converged, key

    empty = _WelfordState(jnp.zeros((), jnp.int32), zeros, zeros)
    carry = ((empty, empty), zeros, jnp.array(False), rng_key)
    halves, grad_var, _, _ = lax.while_loop(cond_fn, body_fn, carry)
    return GradVarEstimate(
        grad_var,
        num_draws(halves),
        tuple(_welford_variance(h, floor) for h in halves),
    )


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

    ``init(grad_var, min_mass=None)`` sets every :math:`r_i = r` (``noise_ratio``) and
    :math:`M_i = \sigma_i^2 \Delta t^2/(4 r T m_1^2)`.

    ``update(state, grad_var_new, rng_key, force_reset=False, min_mass=None)`` follows the
    reference re-estimation rule:

    - with probability ``reset_prob`` (:math:`p_\mathrm{reset}`), or always when
      ``force_reset`` is true (the warmup does this), it re-initialises every
      component from ``grad_var_new`` and asks for every momentum to be redrawn;
    - otherwise it keeps :math:`M_i` and sets
      :math:`r_i \leftarrow r_i \sigma^2_{i,\mathrm{new}} / \sigma^2_{i,\mathrm{old}}`; where
      :math:`r_i > r_\mathrm{max}` (``max_noise_ratio``) it clamps :math:`r_i = r_\mathrm{max}`,
      sets :math:`M_i = \sigma_i^2 \Delta t^2 / (4 T m_1^2 r_\mathrm{max})` and asks for that
      momentum to be redrawn.

    Both then raise every mass below ``min_mass`` (a PyTree like ``grad_var``, or ``None``
    for no bound; :func:`numpyro_pl.curvature.stability_mass_bound`) to it, recompute its
    :math:`r_i` from the raised mass and, in ``update``, ask for its momentum to be redrawn.

    It returns ``(new_state, redraw)``, where ``redraw`` is a boolean PyTree marking the
    momenta to redraw. The white-noise amplitudes follow from ``mass`` and ``grad_var``
    (:mod:`numpyro_pl.dynamics`), so they are recomputed implicitly.
    """

    def init(grad_var: ArrayTree, min_mass=None) -> MassState:
        floored = jax.tree.map(
            lambda s: jnp.maximum(s, relative_mass_floor * jnp.mean(s)), grad_var
        )
        ratio = jax.tree.map(lambda s: jnp.full_like(s, noise_ratio), grad_var)
        mass = mass_from_grad_var(floored, ratio, temperature, step_size, friction)
        if min_mass is not None:
            mass = jax.tree.map(jnp.maximum, mass, min_mass)
        ratio = noise_ratio_from_mass(grad_var, mass, temperature, step_size, friction)
        return MassState(mass, grad_var, ratio)

    def update(
        state: MassState,
        grad_var_new: ArrayTree,
        rng_key: PRNGKey,
        force_reset=False,
        min_mass=None,
    ):
        def reset(_):
            redraw = jax.tree.map(lambda s: jnp.ones(jnp.shape(s), bool), grad_var_new)
            return init(grad_var_new, min_mass), redraw

        def rescale(_):
            ratio = jax.tree.map(
                lambda r, new, old: r * new / old, state.noise_ratio, grad_var_new, state.grad_var
            )
            redraw = jax.tree.map(lambda r: r > max_noise_ratio, ratio)
            ratio = jax.tree.map(lambda r: jnp.minimum(r, max_noise_ratio), ratio)
            clamped_mass = mass_from_grad_var(grad_var_new, ratio, temperature, step_size, friction)
            mass = jax.tree.map(jnp.where, redraw, clamped_mass, state.mass)
            if min_mass is not None:
                raised = jax.tree.map(lambda m, bound: bound > m, mass, min_mass)
                mass = jax.tree.map(jnp.maximum, mass, min_mass)
                bounded = noise_ratio_from_mass(
                    grad_var_new, mass, temperature, step_size, friction
                )
                ratio = jax.tree.map(jnp.where, raised, bounded, ratio)
                redraw = jax.tree.map(jnp.logical_or, redraw, raised)
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
    #: draws of the latest estimate.
    num_draws: jax.Array
    #: :attr:`GradVarEstimate.halves` of the latest estimate, for the next comparison.
    halves: tuple
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

    - ``init(warmup, estimate)`` schedules the first re-estimate: ``warmup_interval`` moves
      ahead during warmup, ``initial_interval`` moves ahead otherwise; ``estimate`` is the
      :class:`GradVarEstimate` in use.
    - ``tick(state)`` counts one move and returns ``(state, due)``.
    - ``due_now(state, reset)`` makes an estimate due at the next move (after a hot check),
      with every component re-initialised if ``reset`` (after a rollback).
    - ``update(state, grad_var_old, estimate, warmup, end_of_warmup)`` is called after a new
      :class:`GradVarEstimate`, ``estimate``.

      * During warmup the interval doubles (windows of 100, 200, 400, ... moves), so that the
        masses follow the chain while it relaxes from its initial values.
      * The estimate at the end of warmup (``end_of_warmup``) hands over to the reference
        rule: the next estimate is ``initial_interval`` moves ahead.
      * After warmup this is the reference rule (``adj_step``): if the standard deviations
        agree with the previous estimate to ``rtol`` the interval grows by ``interval_step``,
        up to ``max_interval``; otherwise it drops back to ``initial_interval``. The
        reference checks every component (``criterion="max"``); ``"rms"`` tests
        :func:`change_beyond_sampling` :math:`\le` ``rtol``:math:`^2`, the mean square change
        net of the sampling error of both estimates, measured from their halves.
    """

    def init(warmup, estimate: GradVarEstimate) -> ScheduleState:
        interval = jnp.where(warmup, warmup_interval, initial_interval).astype(jnp.int32)
        return ScheduleState(
            interval,
            interval,
            jnp.asarray(estimate.num_draws, jnp.int32),
            estimate.halves,
            jnp.zeros((), bool),
        )

    def tick(state: ScheduleState):
        countdown = state.countdown - 1
        return state._replace(countdown=countdown), countdown <= 0

    def due_now(state: ScheduleState, reset) -> ScheduleState:
        return state._replace(
            countdown=jnp.zeros_like(state.countdown), reset=state.reset | jnp.asarray(reset)
        )

    def update(
        state: ScheduleState,
        grad_var_old,
        estimate: GradVarEstimate,
        warmup=False,
        end_of_warmup=False,
    ) -> ScheduleState:
        if criterion == "max":
            stable = within_relative_tolerance(estimate.grad_var, grad_var_old, rtol, "max")
        else:
            stable = change_beyond_sampling(estimate.halves, state.halves) <= rtol**2
        grown = jnp.where(
            stable, jnp.minimum(state.interval + interval_step, max_interval), initial_interval
        )
        interval = jnp.where(warmup, 2 * state.interval, grown)
        interval = jnp.where(end_of_warmup, initial_interval, interval).astype(jnp.int32)
        return init(False, estimate)._replace(interval=interval, countdown=interval)

    return init, tick, due_now, update
