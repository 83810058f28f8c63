r"""
The pure functional core of the pseudo-Langevin sampler, in the shape of NumPyro's
:func:`~numpyro.infer.hmc.hmc`: :func:`pl` returns a pair ``(init_kernel, sample_kernel)``
of functions that are jit- and vmap-able and carry all their state in :class:`PLState`.

One call of ``sample_kernel`` is one move: one minibatch gradient (see
:mod:`numpyro_pl.dynamics`), plus, when the schedule says so, a re-estimate of the
minibatch noise and of the masses (see :mod:`numpyro_pl.noise`).
"""

from functools import partial
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
from jax import lax, random

from numpyro_pl.curvature import site_diagonal_curvature, stability_mass_bound
from numpyro_pl.dynamics import (
    MoveCoefficients,
    drift,
    hot_temperature_ratio,
    kick,
    kinetic_energy,
    leaf_kinetic_energies,
    move_coefficients,
    num_components,
    start_half_momentum,
)
from numpyro_pl.noise import (
    MassState,
    ScheduleState,
    estimate_grad_var,
    mass_adaptation,
    reestimation_schedule,
)
from numpyro_pl.types import ArrayTree, PRNGKey
from numpyro_pl.white_noise import WHITE_NOISE

__all__ = ["PLState", "FiniteSnapshot", "NonFiniteSites", "pl", "ON_NONFINITE", "SNAPSHOT_INTERVAL"]

#: what a move that produces a non-finite potential energy does (see :func:`pl`).
ON_NONFINITE = ("raise", "rollback")
#: moves between two checks of the kinetic temperature, each of which takes a snapshot of the
#: position (the restart point of ``"rollback"``) unless the chain is hot (see ``hot_ratio``
#: in :func:`pl`).
SNAPSHOT_INTERVAL = 100


class FiniteSnapshot(NamedTuple):
    """The last position kept for a restart after a non-finite move."""

    #: the move count at which it was taken.
    i: jax.Array
    #: the latent values :math:`w` then, all finite with a finite potential energy.
    z: ArrayTree


class NonFiniteSites(NamedTuple):
    """Which sites held non-finite values after the last move; one boolean per site, all
    ``False`` unless the move had a non-finite potential energy."""

    #: the position :math:`w` (non-finite here: the previous move's momentum was, usually
    #: from a non-finite gradient there).
    z: ArrayTree
    #: the minibatch gradient :math:`g`.
    z_grad: ArrayTree
    #: the momentum :math:`\pi` after the kick.
    momentum: ArrayTree


class PLState(NamedTuple):
    """State of the pseudo-Langevin chain. Fields that hold one value per parameter have the
    structure of ``z``.

    - **i** - number of moves made so far (warmup included).
    - **z** - unconstrained latent values :math:`w`.
    - **momentum** - the half-kicked momentum :math:`\\pi` carried between moves (the block
      variable of the OBABO splitting, not the physical momentum :math:`p`).
    - **z_grad** - the minibatch gradient :math:`g` at ``z`` used by the last move.
    - **potential_energy** - the minibatch potential energy :math:`U` at ``z`` (the minibatch
      estimate of the negative log joint; the N/B scale comes from the plate). A move stores a
      non-finite value, infinite too, as NaN.
    - **mass** - fictitious masses :math:`M_i`.
    - **grad_var** - the latest estimate of the minibatch gradient variance
      :math:`\\sigma_i^2`.
    - **noise_ratio** - per-component noise ratios :math:`r_i`.
    - **mean_noise_ratio** - mean of ``noise_ratio`` over all components.
    - **coefficients** - a :class:`~numpyro_pl.dynamics.MoveCoefficients`: the constants of
      a move computed from ``mass`` and ``grad_var`` at each re-estimate.
    - **schedule** - a :class:`~numpyro_pl.noise.ScheduleState`: the current interval between
      re-estimates and the moves left before the next one.
    - **num_grad_evals** - cumulative number of minibatch gradients, including those spent on
      estimating :math:`\\sigma^2`.
    - **diverging** - whether the move produced a non-finite potential energy. A non-finite
      gradient or momentum shows there one move later, when it has moved ``z``. After a
      rollback (``on_nonfinite="rollback"``) the state is finite again and this records the
      fault.
    - **num_nonfinite** - the number of such moves so far: with thinning, or after
      rollbacks, the kept draws may not show a ``diverging`` move, this count does.
    - **nonfinite** - a :class:`NonFiniteSites`: the sites of ``z``, ``z_grad`` and
      ``momentum`` that were non-finite at a diverging move, computed only at such a move.
    - **last_finite** - a :class:`FiniteSnapshot`: a finite position taken every
      :data:`SNAPSHOT_INTERVAL` moves unless the chain is hot then, where a rollback
      restarts.
    - **rng_key** - random key for the next move.

    Two diagnostics are properties, computed from the fields only when they are read, so
    that a move does not spend a pass over every parameter on them. Both can be collected
    like fields, with ``extra_fields=("kinetic_temperature",)`` in ``MCMC.run``:

    - **kinetic_energy** - :math:`K = \\sum_i \\mathbb{E}[p_i^2]/(2M_i)`, the expected kinetic
      energy of the physical momentum at the end of the move
      (:func:`~numpyro_pl.dynamics.kinetic_energy`).
    - **kinetic_temperature** - :math:`2K/n`, which averages to the target temperature.

    On the state of several chains (``mcmc.last_state`` of a vectorized run) each property
    has one value per chain.
    """

    i: jax.Array
    z: ArrayTree
    momentum: ArrayTree
    z_grad: ArrayTree
    potential_energy: jax.Array
    mass: ArrayTree
    grad_var: ArrayTree
    noise_ratio: ArrayTree
    mean_noise_ratio: jax.Array
    coefficients: MoveCoefficients
    schedule: ScheduleState
    num_grad_evals: jax.Array
    diverging: jax.Array
    num_nonfinite: jax.Array
    nonfinite: NonFiniteSites
    last_finite: FiniteSnapshot
    rng_key: PRNGKey

    @property
    def kinetic_energy(self) -> jax.Array:
        return _kinetic_energy(self.momentum, self.z_grad, self.coefficients, jnp.ndim(self.i))

    @property
    def kinetic_temperature(self) -> jax.Array:
        batch_ndim = jnp.ndim(self.i)
        return 2.0 * self.kinetic_energy / num_components(self.z, batch_ndim)


_kinetic_energy = jax.jit(kinetic_energy, static_argnums=3)


def _tree_mean(tree) -> jax.Array:
    return sum(jnp.sum(x) for x in jax.tree.leaves(tree)) / num_components(tree)


def pl(
    potential_fn: Optional[Callable] = None,
    potential_fn_gen: Optional[Callable] = None,
    *,
    prior_potential_fn_gen: Optional[Callable] = None,
    max_prior_stability: Optional[float] = 0.04,
    temperature: float = 1.0,
    step_size: float = 1.0,
    friction: float = 0.1,
    noise_ratio: float = 0.01,
    max_noise_ratio: Optional[float] = None,
    reset_prob: float = 0.1,
    min_grad_var_draws: int = 100,
    max_grad_var_draws: int = 1000,
    grad_var_rtol: float = 0.1,
    grad_var_criterion: str = "rms",
    grad_var_floor: float = 1e-8,
    relative_mass_floor: float = 1e-2,
    hot_ratio: Optional[float] = 1.5,
    reestimate_interval: int = 5000,
    warmup_reestimate_interval: int = 100,
    reestimate_interval_step: int = 5000,
    max_reestimate_interval: int = 50000,
    adapt_after_warmup: bool = True,
    compensate_minibatch_noise: bool = True,
    white_noise: str = "rademacher",
    on_nonfinite: str = "raise",
    chain_axis_name: Optional[str] = None,
):
    r"""Build the pseudo-Langevin transition as a pair of pure functions.

    :param potential_fn: stochastic potential ``potential_fn(z, rng_key)``, an unbiased
        minibatch estimate of :math:`U(z)` whose minibatch is chosen by ``rng_key``.
    :param potential_fn_gen: alternatively, ``potential_fn_gen(*model_args, **model_kwargs)``
        returning such a function (NumPyro's ``dynamic_args`` convention).
    :param prior_potential_fn_gen: ``prior_potential_fn_gen(*model_args, **model_kwargs)``
        returning ``prior_potential_fn(z)``, the prior's part of :math:`U`; its curvature
        bounds the masses from below (``max_prior_stability``,
        :mod:`numpyro_pl.curvature`). ``None`` (default): no bound.

    :param str on_nonfinite: a move whose potential energy is non-finite sets ``diverging``
        and ``nonfinite`` either way. ``"raise"`` leaves the state as it is (the kernel
        then stops the run with an error); ``"rollback"`` restarts the chain from
        ``last_finite``: the gradient there is recomputed and a fresh momentum drawn, and the
        next move re-estimates :math:`\sigma^2` there and resets every mass and momentum.
    :param hot_ratio: :math:`h`. Every :data:`SNAPSHOT_INTERVAL` moves the kinetic
        temperature of each leaf of ``z`` is checked. If one is above :math:`h T` (or, for a
        small leaf, above the level that its equilibrium fluctuations pass with probability
        :math:`10^{-9}`, :func:`~numpyro_pl.dynamics.hot_temperature_ratio`), the chain is
        hot: no snapshot is taken and, after warmup, if the previous check took one (the
        chain has just turned hot), the next move re-estimates :math:`\sigma^2` by the
        reference rule (where the noise has outgrown a mass, that mass is raised and its
        momentum redrawn). ``None`` turns the check off.
    :param chain_axis_name: the ``axis_name`` under which ``sample_kernel`` is vmapped over
        chains, if it is. The re-estimate then runs as one real branch, taken when any chain
        is due (and applied to those chains only). Without it, ``vmap`` would turn the branch
        into a select that computes a re-estimate on every move.

    The remaining arguments are those of :class:`~numpyro_pl.PseudoLangevin`, which documents
    each one and its symbol in the paper. Arguments are not validated here.

    :return: ``(init_kernel, sample_kernel)``:

        - ``init_kernel(init_params, num_warmup, rng_key, model_args=(), model_kwargs=None)``
          estimates :math:`\sigma^2` at ``init_params``, sets the masses and draws the first
          momentum; returns a :class:`PLState`.
        - ``sample_kernel(state, model_args=(), model_kwargs=None)`` makes one move.

    **Example**

    .. doctest::

        >>> import jax, jax.numpy as jnp
        >>> from numpyro_pl.core import pl
        >>> # a harmonic well U = w^2/2 whose gradient carries noise of variance 0.1
        >>> def potential_fn(z, key):
        ...     return 0.5 * z**2 + jnp.sqrt(0.1) * jax.random.normal(key) * z
        >>> init_kernel, sample_kernel = pl(potential_fn, temperature=1.0)
        >>> state = init_kernel(jnp.array(0.0), 0, jax.random.key(0))
        >>> state = jax.jit(sample_kernel)(state)
        >>> int(state.i), int(state.num_grad_evals) >= 102
        (1, True)
    """
    if max_noise_ratio is None:
        max_noise_ratio = noise_ratio
    mass_init, mass_update = mass_adaptation(
        temperature=temperature,
        step_size=step_size,
        friction=friction,
        noise_ratio=noise_ratio,
        max_noise_ratio=max_noise_ratio,
        reset_prob=reset_prob,
        relative_mass_floor=relative_mass_floor,
    )
    schedule_init, schedule_tick, schedule_due_now, schedule_update = reestimation_schedule(
        initial_interval=reestimate_interval,
        interval_step=reestimate_interval_step,
        max_interval=max_reestimate_interval,
        rtol=grad_var_rtol,
        criterion=grad_var_criterion,
        warmup_interval=warmup_reestimate_interval,
    )
    dyn = dict(temperature=temperature, step_size=step_size, friction=friction)
    reestimate_fields = (
        "momentum",
        "mass",
        "grad_var",
        "noise_ratio",
        "mean_noise_ratio",
        "coefficients",
        "schedule",
        "num_grad_evals",
    )
    white_noise_like = WHITE_NOISE[white_noise]
    warmup_steps = None

    def compensated(grad_var):
        if compensate_minibatch_noise:
            return grad_var
        return jax.tree.map(jnp.zeros_like, grad_var)

    def get_potential(model_args, model_kwargs):
        if potential_fn_gen is None:
            return potential_fn
        return potential_fn_gen(*model_args, **(model_kwargs or {}))

    def estimate(pe_fn, z, rng_key):
        return estimate_grad_var(
            jax.grad(pe_fn),
            z,
            rng_key,
            min_draws=min_grad_var_draws,
            max_draws=max_grad_var_draws,
            rtol=grad_var_rtol,
            criterion=grad_var_criterion,
            floor=grad_var_floor,
        )

    def get_mass_bound(model_args, model_kwargs):
        """``z -> min_mass`` from the prior's curvature at ``z``, or ``z -> None``."""
        if prior_potential_fn_gen is None or max_prior_stability is None:
            return lambda z: None
        prior_fn = prior_potential_fn_gen(*model_args, **(model_kwargs or {}))
        return lambda z: stability_mass_bound(
            site_diagonal_curvature(prior_fn, z), step_size, max_prior_stability
        )

    def coefficients(mass, grad_var):
        return move_coefficients(mass, compensated(grad_var), **dyn)

    def init_kernel(init_params, num_warmup, rng_key, model_args=(), model_kwargs=None):
        nonlocal warmup_steps
        warmup_steps = num_warmup
        pe_fn = get_potential(model_args, model_kwargs)
        key_grad, key_estimate, key_momentum, rng_key = random.split(rng_key, 4)
        pe, grad = jax.value_and_grad(pe_fn)(init_params, key_grad)
        estimate_ = estimate(pe_fn, init_params, key_estimate)
        mass_state = mass_init(
            estimate_.grad_var, get_mass_bound(model_args, model_kwargs)(init_params)
        )
        momentum = start_half_momentum(
            key_momentum, grad, mass_state.mass, compensated(mass_state.grad_var), **dyn
        )
        coefs = coefficients(mass_state.mass, mass_state.grad_var)
        return PLState(
            i=jnp.zeros((), jnp.int32),
            z=init_params,
            momentum=momentum,
            z_grad=grad,
            potential_energy=pe,
            mass=mass_state.mass,
            grad_var=mass_state.grad_var,
            noise_ratio=mass_state.noise_ratio,
            mean_noise_ratio=_tree_mean(mass_state.noise_ratio),
            coefficients=coefs,
            schedule=schedule_init(num_warmup > 0, estimate_),
            num_grad_evals=1 + estimate_.num_draws,
            diverging=~jnp.isfinite(pe),
            num_nonfinite=jnp.zeros((), jnp.int32),
            nonfinite=no_nonfinite(init_params),
            last_finite=FiniteSnapshot(jnp.zeros((), jnp.int32), init_params),
            rng_key=rng_key,
        )

    def reestimate(state: PLState, pe_fn, mass_bound, rng_key, warmup) -> dict:
        """New sigma^2 at ``state.z``, then masses and schedule; during warmup, and when the
        schedule asks for it, every component is reset to ``noise_ratio`` and every momentum
        redrawn. Returns the fields of ``state`` that change."""
        key_estimate, key_mass, key_momentum = random.split(rng_key, 3)
        estimate_ = estimate(pe_fn, state.z, key_estimate)
        mass_state, redraw = mass_update(
            MassState(state.mass, state.grad_var, state.noise_ratio),
            estimate_.grad_var,
            key_mass,
            force_reset=warmup | state.schedule.reset,
            min_mass=mass_bound(state.z),
        )
        fresh = start_half_momentum(
            key_momentum, state.z_grad, mass_state.mass, compensated(mass_state.grad_var), **dyn
        )
        schedule = schedule_update(
            state.schedule, state.grad_var, estimate_, warmup, state.i == warmup_steps
        )
        return dict(
            momentum=jax.tree.map(jnp.where, redraw, fresh, state.momentum),
            mass=mass_state.mass,
            grad_var=mass_state.grad_var,
            noise_ratio=mass_state.noise_ratio,
            mean_noise_ratio=_tree_mean(mass_state.noise_ratio),
            coefficients=coefficients(mass_state.mass, mass_state.grad_var),
            schedule=schedule,
            num_grad_evals=state.num_grad_evals + estimate_.num_draws,
        )

    def sample_kernel(state: PLState, model_args=(), model_kwargs=None) -> PLState:
        pe_fn = get_potential(model_args, model_kwargs)
        mass_bound = get_mass_bound(model_args, model_kwargs)
        rng_key, key_batch, key_noise, key_adapt = random.split(state.rng_key, 4)
        # A re-estimate that the previous move made due comes first, so that the move itself
        # (drift, gradient, kick) compiles to one straight-line block.
        warmup = state.i <= warmup_steps
        due = (state.schedule.countdown <= 0) | ((state.i == warmup_steps) & (state.i > 0))
        if not adapt_after_warmup:
            due = due & warmup
        any_due = (
            due if chain_axis_name is None else lax.psum(due.astype(jnp.int32), chain_axis_name) > 0
        )

        # Carrying only the fields that a re-estimate changes (see `once_if`: the branches
        # of a `lax.cond` copied 10% of a gradient at 10^6 parameters,
        # benchmarks/move_overhead.py).
        def reestimate_due(fields):
            new = reestimate(state._replace(**fields), pe_fn, mass_bound, key_adapt, warmup)
            return jax.tree.map(partial(jnp.where, due), new, fields)

        fields = {name: getattr(state, name) for name in reestimate_fields}
        state = state._replace(**once_if(any_due, reestimate_due, fields))

        coefs = state.coefficients
        z = drift(state.z, state.momentum, coefs.inverse_mass, coefs.step_size)
        pe, grad = jax.value_and_grad(pe_fn)(z, key_batch)
        noise = white_noise_like(key_noise, grad)
        momentum = kick(state.momentum, grad, coefs.kick_noise_scale, noise, step_size, friction)
        schedule, _ = schedule_tick(state.schedule)
        # Stored as NaN where not finite, and the test reads the stored value: a test of `pe`
        # itself, a second consumer of the sum, split the fusion that computes it (XLA CPU:
        # up to 3 % of a gradient at 10^5 parameters in same-process A/Bs, docs/benchmarks.md).
        pe = jnp.where(jnp.isfinite(pe), pe, jnp.nan)
        nonfinite_pe = jnp.isnan(pe)
        state = state._replace(
            i=state.i + 1,
            z=z,
            momentum=momentum,
            z_grad=grad,
            potential_energy=pe,
            schedule=schedule,
            num_grad_evals=state.num_grad_evals + 1,
            diverging=nonfinite_pe,
            num_nonfinite=state.num_nonfinite + nonfinite_pe.astype(jnp.int32),
            nonfinite=no_nonfinite(z),
            rng_key=rng_key,
        )
        # Both loops below run once or not at all, so a finite move pays for neither.
        state = once_if(state.diverging, partial(handle_nonfinite, pe_fn, key_adapt), state)
        due_check = (state.i % SNAPSHOT_INTERVAL == 0) & ~state.diverging
        return once_if(due_check, check, state)

    def no_nonfinite(z):
        none = jax.tree.map(lambda _: jnp.zeros((), bool), z)
        return NonFiniteSites(none, none, none)

    def handle_nonfinite(pe_fn, rng_key, state: PLState) -> PLState:
        """Record the non-finite sites; under ``"rollback"``, restart from the snapshot."""
        nonfinite = NonFiniteSites(
            *(
                jax.tree.map(lambda x: ~jnp.all(jnp.isfinite(x)), tree)
                for tree in (state.z, state.z_grad, state.momentum)
            )
        )
        state = state._replace(nonfinite=nonfinite)
        if on_nonfinite != "rollback":
            return state
        key_grad, key_momentum = random.split(random.fold_in(rng_key, 1))
        z = state.last_finite.z
        pe, grad = jax.value_and_grad(pe_fn)(z, key_grad)
        momentum = start_half_momentum(
            key_momentum, grad, state.mass, compensated(state.grad_var), **dyn
        )
        return state._replace(
            z=z,
            momentum=momentum,
            z_grad=grad,
            potential_energy=pe,
            num_grad_evals=state.num_grad_evals + 1,
            schedule=schedule_due_now(state.schedule, reset=True),
        )

    def check(state: PLState) -> PLState:
        """A snapshot of a chain that is not hot; after warmup, an estimate due for one that
        has just turned hot (the previous check took a snapshot)."""
        hot = jnp.array(False)
        if hot_ratio is not None:
            energies = leaf_kinetic_energies(state.momentum, state.z_grad, state.coefficients)
            for k, x in zip(jax.tree.leaves(energies), jax.tree.leaves(state.z), strict=True):
                level = hot_temperature_ratio(jnp.size(x), hot_ratio) * temperature
                hot = hot | ~(2.0 * k / jnp.size(x) <= level)  # NaN is hot
        turned = state.last_finite.i == state.i - SNAPSHOT_INTERVAL
        return state._replace(
            schedule=jax.tree.map(
                partial(jnp.where, hot & turned & (state.i > warmup_steps)),
                schedule_due_now(state.schedule, reset=False),
                state.schedule,
            ),
            last_finite=jax.tree.map(
                partial(jnp.where, hot), state.last_finite, FiniteSnapshot(state.i, state.z)
            ),
        )

    return init_kernel, sample_kernel


def once_if(pred, fn, state):
    """``fn(state)`` if ``pred``, else ``state``, as a loop that runs once or not at all: a
    loop updates its carry in place, where the branches of a ``lax.cond`` copy the arrays
    they pass through (σ² twice per move, 10 % of a gradient at 10⁶ parameters on CPU;
    ``docs/benchmarks.md``). ``pred`` is computed before the loop, which only carries it: with
    a condition that reads the carried state, XLA hoisted the body's loop-invariant work out
    of the loop and ran it on every move."""

    def body(carry):
        return fn(carry[0]), jnp.zeros_like(carry[1])

    return lax.while_loop(lambda carry: carry[1], body, (state, pred))[0]
