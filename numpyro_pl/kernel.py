r"""
:class:`PseudoLangevin`, the NumPyro :class:`~numpyro.infer.mcmc.MCMCKernel`: a thin class
that validates its arguments, turns the model into a minibatch potential
(:mod:`numpyro_pl.potential`) and delegates to the functional core (:mod:`numpyro_pl.core`).
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax, random, vmap
from numpyro.infer.initialization import init_to_uniform
from numpyro.infer.mcmc import MCMCKernel
from numpyro.util import identity, is_prng_key, not_jax_tracer

from numpyro_pl.core import ON_NONFINITE, SNAPSHOT_INTERVAL, PLState, pl
from numpyro_pl.dynamics import max_stable_noise_ratio
from numpyro_pl.noise import GRAD_VAR_CRITERIA
from numpyro_pl.potential import minibatch_potential
from numpyro_pl.validation import check_int, check_real, see_docs
from numpyro_pl.white_noise import WHITE_NOISE

__all__ = ["PseudoLangevin"]


def _nonfinite_report(step, diverging, nonfinite) -> str:
    """The message for a move with a non-finite potential energy: the move, the chains and,
    for the position, gradient and momentum, the sites that were non-finite."""
    chains = np.flatnonzero(np.ravel(diverging)).tolist()

    def sites(flags):
        flags = flags if isinstance(flags, dict) else {"z": flags}
        return sorted(name for name, bad in flags.items() if np.any(np.asarray(bad)))

    found = [
        f"{what} at site(s) {sites(flags)}"
        for what, flags in (
            ("position", nonfinite.z),
            ("gradient", nonfinite.z_grad),
            ("momentum", nonfinite.momentum),
        )
        if sites(flags)
    ]
    return (
        f"PseudoLangevin: non-finite potential energy at move {np.max(step)} "
        f"(chain(s) {chains}); non-finite {'; '.join(found) or 'values nowhere else'}. "
        "Lower `noise_ratio` or `temperature` (`step_size` does not help: the masses scale "
        "with it); if the chain started at a minimum, e.g. a trained network, re-match the "
        "masses sooner with `warmup_reestimate_interval=10`; or check the model and data "
        "(see docs/parameters.md)."
    )


def _raise_nonfinite(step, diverging, nonfinite):
    raise FloatingPointError(
        _nonfinite_report(step, diverging, nonfinite)
        + " Pass `on_nonfinite='rollback'` to go on from the last finite state instead."
    )


def _warn_nonfinite(step, diverging, nonfinite):
    warnings.warn(
        _nonfinite_report(step, diverging, nonfinite)
        + " Went back to the last finite snapshot and drew a fresh momentum; the next move "
        "re-estimates sigma^2 there with every mass reset; the `diverging` field records the "
        "move.",
        RuntimeWarning,
        stacklevel=2,
    )


#: a kinetic temperature this many times T, checked every
#: :data:`~numpyro_pl.core.SNAPSHOT_INTERVAL` moves, is reported as a runaway: relaxing
#: chains were measured at up to 70 T, chains that blew up went on to 1e7-1e21 T.
RUNAWAY_TEMPERATURE_RATIO = 1e4


def _warn_runaway(step, ratio):
    ratio = np.ravel(ratio)
    chains = np.flatnonzero(~(ratio <= RUNAWAY_TEMPERATURE_RATIO)).tolist()
    warnings.warn(
        f"PseudoLangevin: kinetic temperature {np.max(np.nan_to_num(ratio, nan=np.inf)):.3g} "
        f"T at move {np.max(step)} (chain(s) {chains}): the chain is running away, though "
        "its potential energy is still finite, and its draws are not from the target. Lower "
        "`noise_ratio` or `temperature`, or start nearer the typical set (see "
        "docs/parameters.md).",
        RuntimeWarning,
        stacklevel=2,
    )


def _sites_where(tree, predicate):
    """Names of the sites (keys of a dict, or ``"z"`` for a bare array) where
    ``predicate`` holds."""
    tree = tree if isinstance(tree, dict) else {"z": tree}
    return sorted(name for name, x in tree.items() if bool(predicate(np.asarray(x))))


def _check_finite_init_params(init_params):
    named = init_params if isinstance(init_params, dict) else {"z": init_params}
    integer = sorted(
        name
        for name, x in named.items()
        if not all(
            jnp.issubdtype(jnp.result_type(leaf), jnp.inexact) for leaf in jax.tree.leaves(x)
        )
    )
    if integer:
        raise TypeError(
            f"`init_params` must hold floating-point values; site(s) {integer} are not: "
            "pass e.g. `jnp.asarray(value, jnp.float32)`."
        )
    if any(not not_jax_tracer(x) for x in jax.tree.leaves(init_params)):
        return
    bad = _sites_where(init_params, lambda x: not np.all(np.isfinite(x)))
    if bad:
        raise ValueError(f"`init_params` has non-finite values at site(s) {bad}.")


class PseudoLangevin(MCMCKernel):
    r"""
    Pseudo-Langevin (pL) dynamics: sample :math:`P(w) \propto \exp(-U(w)/T)` with one
    minibatch gradient per move, with the minibatch noise measured and compensated so that
    the chain samples at the temperature it was asked for.

    The method is Zambon, Caruso, Zecchina and Tiana, *Controlled Langevin Dynamics for
    Sampling of Feedforward Neural Networks Trained with Minibatches*, arXiv:2603.15367
    (2026). :math:`U` is NumPyro's potential energy (the negative log joint on the
    unconstrained space), so ``temperature=1`` samples the Bayesian posterior.

    The variance :math:`\sigma_i^2` of each gradient component over the choice of minibatch
    is measured at a frozen position. Each component gets a fictitious mass and a white
    noise amplitude

    .. math::

        M_i = \frac{\sigma_i^2 \Delta t^2}{4 r T m_1^2}, \qquad
        a_i^2 = M_i T m_1^2 - \frac{\sigma_i^2 \Delta t^2}{4},

    so that the minibatch noise supplies the fraction :math:`r` of the thermal noise and the
    white noise the rest; the fluctuation-dissipation relation then holds at :math:`T`. Each
    move is one step of an OBABO-type block (see :mod:`numpyro_pl.dynamics`):

    .. math::

        w_i &\leftarrow w_i + \Delta t\, \pi_i / M_i, \qquad g \leftarrow g(w), \\
        \pi_i &\leftarrow c_1^2 \pi_i - (1 + c_1^2)\tfrac{\Delta t}{2} g_i
            + \sqrt{1 + c_1^2}\,\sqrt{a_i^2 - \sigma_i^2 c_1^2 \Delta t^2/4}\;\xi_i,
        \qquad c_1^2 = 1 - m_1^2 .

    This is momentum SGD with momentum :math:`c_1^2` and per-parameter learning rate
    :math:`\Delta t^2/M_i = 4 r T m_1^2/\sigma_i^2`, plus exactly the missing noise.

    **Choosing the parameters** (see ``docs/parameters.md``): ``temperature`` is the target;
    ``batch_size`` sets the cost per move; ``noise_ratio`` trades mixing speed (larger is
    faster: the relaxation time is about :math:`1/(4 r T)` epochs) against accuracy (only
    the diagonal of the minibatch noise is compensated, so strongly correlated posteriors
    come out narrow by a few percent at :math:`r = 0.1`, and the data term of the paper's
    network ran 2-4 % hot at :math:`r = 0.01`, see ``docs/method.md``); ``friction`` rarely
    needs changing.
    Started at a minimum (a trained network), pass ``warmup_reestimate_interval=10``.
    For small models where full-batch gradients are cheap, prefer NUTS.

    **Adaptation.** The initial estimate of :math:`\sigma^2` is made in :meth:`init`, before
    the first warmup move. During warmup, :math:`\sigma^2` is re-estimated at the end of
    doubling windows (``warmup_reestimate_interval`` = 100, 200, 400, ... moves) and at the
    last warmup move, and each time every :math:`r_i` is reset to :math:`r` and every
    momentum redrawn: far from the typical set :math:`\sigma^2` is often many times its
    equilibrium value, and masses matched there would slow the relaxation by as much. After
    warmup the reference schedule takes over (``reestimate_interval``, growing by
    ``reestimate_interval_step`` up to ``max_reestimate_interval``, with ``reset_prob`` and
    ``max_noise_ratio``), by default (``adapt_after_warmup=True``, as in the reference code)
    for the whole run, because :math:`\sigma^2` depends on :math:`w` and the
    fluctuation-dissipation relation holds only while the masses match it. With
    ``adapt_after_warmup=False`` the masses are frozen after warmup and the chain is
    time-homogeneous. Give a warmup of at least a few relaxation times, about
    :math:`1/(4 r T)` epochs each.

    **Minibatches.** The model keeps an ordinary full-data plate
    (``with numpyro.plate("data", N) as idx:`` and observations indexed by ``idx``) and
    ``batch_size`` subsamples it; or the model declares ``subsample_size`` itself. Fresh
    indices are drawn with replacement for every gradient; NumPyro's plate supplies the
    N/B scale. The same model runs unchanged under NUTS on the full data.

    :param model: Python callable containing NumPyro primitives, with a data plate.
    :param potential_fn: alternatively, a stochastic potential ``potential_fn(z, rng_key)``
        giving an unbiased minibatch estimate of :math:`U(z)`; ``init_params`` must then be
        given to :meth:`MCMC.run <numpyro.infer.MCMC.run>`.
    :param int batch_size: minibatch size :math:`B` for a full-data plate. Defaults to the
        plate's own ``subsample_size``.
    :param str plate_name: the plate that ``batch_size`` subsamples, when the model has
        several.
    :param float temperature: :math:`T`, the target is :math:`\propto \exp(-U/T)`. Must be
        positive. Default 1.
    :param float step_size: :math:`\Delta t`. Only :math:`\Delta t^2/M_i` matters, so this is
        a units convention. Reference default 1.
    :param float friction: :math:`m_1`, with :math:`m_1^2 = 1 - e^{-\gamma\Delta t}` the
        share of momentum damped per move. In (0, 1); reference default 0.1.
    :param float noise_ratio: :math:`r`, the share of the thermal noise supplied by the
        minibatch noise. In :math:`(0, 1/(1 + c_1^2))`; reference default 0.01.
    :param float max_noise_ratio: :math:`r_\mathrm{max}`, the clamp on each :math:`r_i`
        after a re-estimate. Defaults to ``noise_ratio``, as in the reference.
    :param float reset_prob: :math:`p_\mathrm{reset}`, the probability that a re-estimate
        resets every :math:`r_i = r` and redraws every momentum. Reference default 0.1. On a
        small ReLU network the resets after warmup biased the output layer's :math:`|W|^2`
        by 23-26 % against exact HMC, and ``0`` did not, at the price of slower mixing
        there; on an 11 160-parameter network the two agreed with each other
        (``docs/parameters.md``, ``docs/benchmarks.md``, "Mass resets against exact HMC").
    :param int min_grad_var_draws: minibatch gradients per round of the :math:`\sigma^2`
        estimate (and the minimum). Reference default 100.
    :param int max_grad_var_draws: maximum draws per estimate. Reference default 1000.
    :param float grad_var_rtol: the estimate stops when the standard deviations moved by at
        most this since the previous round; also the tolerance of the schedule. Default 0.1.
    :param str grad_var_criterion: how that change is measured over the components:
        ``"rms"``, the root mean square of the relative changes, each capped at 1 (default),
        or ``"max"``, every component (the reference rule). On networks of :math:`10^5`
        parameters and more sampling error alone moves some component by more than 0.1, so
        ``"max"`` spends the full ``max_grad_var_draws`` on every estimate and never
        lengthens the interval. For the interval, ``"rms"`` also discounts the sampling error
        of the two estimates it compares, measured from the halves of each; see
        :func:`numpyro_pl.noise.change_beyond_sampling` and ``docs/method.md``.
    :param float grad_var_floor: floor on :math:`\sigma_i^2`. Default 1e-8. The reference's
        1e-8 is on the gradient of the paper's mean loss: on a potential that sums over
        :math:`P` data points it is :math:`10^{-8} P^2`.
    :param float relative_mass_floor: :math:`\epsilon`: each mass is computed from at least
        :math:`\epsilon` times the mean :math:`\sigma^2` of its site, so that components with
        almost no minibatch noise (weights into dead ReLU units) keep a stable move; their
        white noise still matches their measured :math:`\sigma_i^2`. Default 1e-2; 0, with
        ``grad_var_floor`` at the reference's value, gives the reference rule (where it was
        unstable, and where it diffuses faster: ``docs/method.md``).
    :param float max_prior_stability: :math:`s`: each mass is at least
        :math:`\Delta t^2 \kappa_i / s`, with :math:`\kappa_i` the curvature of the part of
        :math:`U` that no minibatch subsamples (the prior) along component :math:`i`, at the
        position of each :math:`\sigma^2` estimate. The masses follow the minibatch noise,
        which comes from the data term only; where it is small against a tight prior, a mass
        matched to it makes the move unstable (a move is unstable where
        :math:`\Delta t^2 \kappa_i / M_i > 4`) and the chain blows up. At the bound, the
        move samples a harmonic well with :math:`1/(1 - s/4)` times its variance: the
        default 0.04 keeps that within 1 %. A mass does not enter the target, so the bound
        changes how fast a component moves, not what the chain samples, up to that
        discretisation error. In (0, 4); ``None`` turns it off (the reference rule). With
        ``potential_fn`` there is no prior to take the curvature from, and no bound. See
        ``docs/method.md``.
    :param float hot_ratio: :math:`h`: every 100 moves the kinetic temperature of each site is
        checked, and a site above :math:`h T` makes the chain hot (a small site must pass
        the level that its equilibrium fluctuations reach with probability :math:`10^{-9}`
        instead, e.g. 6.6 T for 10 components). A hot chain takes no snapshot. After warmup,
        a chain that has just turned hot (the previous check found it not hot) re-estimates
        :math:`\sigma^2` at its next move by the reference rule: where the noise has
        outgrown a mass, that mass is raised and its momentum redrawn. The minibatch noise of
        a ReLU network at a cold T can grow a hundredfold within a hundred moves, faster than
        the schedule re-estimates it (``docs/benchmarks.md``). At equilibrium the check rarely
        fires, and a false alarm costs one estimate (``docs/method.md``). Default 1.5;
        ``None`` turns it off.
    :param int reestimate_interval: moves between two estimates at first (``adj_step``).
        Reference default 5000.
    :param int reestimate_interval_step: growth of the interval after a stable estimate.
        Reference default 5000.
    :param int max_reestimate_interval: largest interval. Reference default 50000.
    :param int warmup_reestimate_interval: first warmup window, in moves. Default 100.
    :param bool adapt_after_warmup: keep re-estimating after warmup. Default ``True``.
    :param bool compensate_minibatch_noise: ``False`` gives the naive control variant, whose
        white noise ignores the minibatch noise (:math:`a_i^2 = M_i T m_1^2`); it runs about
        :math:`2r` too hot. Default ``True``.
    :param str white_noise: distribution of the white noise :math:`\xi` of each kick, of zero
        mean and unit variance: ``"rademacher"`` (signs :math:`\pm 1`, 32 from each random
        word; the default, since on a CPU a normal draw costs about as much as the gradient
        itself) or ``"normal"`` (the paper's reference; faster on a GPU, where the sign words
        cost a round trip to the host, ``docs/benchmarks.md``). Only the variance enters the
        fluctuation-dissipation relation; see :mod:`numpyro_pl.white_noise`.
    :param str on_nonfinite: what a move with a non-finite potential energy does (a
        non-finite gradient or momentum reaches the potential one move later). ``"raise"``
        (default): the run stops with a ``FloatingPointError`` naming the move, the chains and
        the sites whose position, gradient or momentum is non-finite (it reaches you wrapped
        in JAX's ``JaxRuntimeError``, its message last). ``"rollback"``: the chain goes back
        to its last finite snapshot (taken every
        :data:`~numpyro_pl.core.SNAPSHOT_INTERVAL` = 100 moves unless the chain is hot, see
        ``hot_ratio``), recomputes the gradient, draws a fresh momentum, re-estimates
        :math:`\sigma^2` there with every mass reset, and goes on, with a ``RuntimeWarning``
        naming the same; the ``diverging`` field records the move. Either way a finite move
        pays nothing for the check. A chain that runs away while staying finite, its kinetic
        temperature above ``RUNAWAY_TEMPERATURE_RATIO`` = 1e4 times T at one of the checks
        every 100 moves, gets a ``RuntimeWarning``. See ``docs/parameters.md`` for what makes
        a chain blow up.
    :param callable init_strategy: NumPyro per-site initialization function.

    **Example**

    .. doctest::

        >>> import jax, jax.numpy as jnp
        >>> import numpyro, numpyro.distributions as dist
        >>> from numpyro.infer import MCMC
        >>> from numpyro_pl import PseudoLangevin
        >>> def model(X, y=None):
        ...     w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
        ...     with numpyro.plate("data", X.shape[0]) as idx:
        ...         numpyro.sample("y", dist.Bernoulli(logits=X[idx] @ w), obs=y[idx])
        >>> X = jax.random.normal(jax.random.key(0), (1000, 3))
        >>> y = (X @ jnp.array([1.0, -1.0, 0.5]) > 0).astype(jnp.float32)
        >>> kernel = PseudoLangevin(model, batch_size=100, noise_ratio=0.1)
        >>> mcmc = MCMC(kernel, num_warmup=200, num_samples=200, progress_bar=False)
        >>> mcmc.run(jax.random.key(1), X, y)
        >>> mcmc.get_samples()["w"].shape
        (200, 3)
    """

    def __init__(
        self,
        model=None,
        potential_fn=None,
        *,
        batch_size=None,
        plate_name=None,
        temperature=1.0,
        step_size=1.0,
        friction=0.1,
        noise_ratio=0.01,
        max_noise_ratio=None,
        reset_prob=0.1,
        min_grad_var_draws=100,
        max_grad_var_draws=1000,
        grad_var_rtol=0.1,
        grad_var_criterion="rms",
        grad_var_floor=1e-8,
        relative_mass_floor=1e-2,
        max_prior_stability=0.04,
        hot_ratio=1.5,
        reestimate_interval=5000,
        reestimate_interval_step=5000,
        max_reestimate_interval=50000,
        warmup_reestimate_interval=100,
        adapt_after_warmup=True,
        compensate_minibatch_noise=True,
        white_noise="rademacher",
        on_nonfinite="raise",
        init_strategy=init_to_uniform,
    ):
        with see_docs("help(PseudoLangevin) and docs/parameters.md"):
            if not (model is None) ^ (potential_fn is None):
                raise ValueError("Give exactly one of `model` or `potential_fn`.")
            for name, fn in (("model", model), ("potential_fn", potential_fn)):
                if fn is not None and not callable(fn):
                    raise TypeError(f"`{name}` must be callable, got {type(fn).__name__}.")
            if potential_fn is not None and (batch_size is not None or plate_name is not None):
                raise ValueError(
                    "`batch_size` and `plate_name` apply to a `model`; a `potential_fn` draws "
                    "its own minibatch from its `rng_key` argument."
                )
            if potential_fn is not None:
                from numpyro_pl.potential import CheckedPotential

                potential_fn = CheckedPotential(potential_fn)
            if batch_size is not None:
                check_int("batch_size", batch_size, 1)
            if plate_name is not None and not isinstance(plate_name, str):
                raise TypeError(f"`plate_name` must be a string, got {type(plate_name).__name__}.")
            check_real("temperature", temperature, 0.0)
            check_real("step_size", step_size, 0.0)
            check_real("friction", friction, 0.0, 1.0)
            r_limit = max_stable_noise_ratio(friction)
            check_real("noise_ratio", noise_ratio, 0.0, r_limit)
            if max_noise_ratio is not None:
                check_real("max_noise_ratio", max_noise_ratio, 0.0, r_limit)
                if max_noise_ratio < noise_ratio:
                    raise ValueError(
                        f"`max_noise_ratio` ({max_noise_ratio}) must be at least `noise_ratio` "
                        f"({noise_ratio}): every r_i starts at `noise_ratio`."
                    )
            check_real("reset_prob", reset_prob, 0.0, 1.0, low_open=False, high_open=False)
            most = 10**9  # counts of moves and draws are int32: a sum of two stays below 2**31
            check_int("min_grad_var_draws", min_grad_var_draws, 2, most)
            check_int(
                "max_grad_var_draws",
                max_grad_var_draws,
                min_grad_var_draws,
                most,
                low_name="min_grad_var_draws",
            )
            check_real("grad_var_rtol", grad_var_rtol, 0.0)
            criterion = grad_var_criterion
            if not isinstance(criterion, str) or criterion not in GRAD_VAR_CRITERIA:
                raise ValueError(
                    f"`grad_var_criterion` must be one of {list(GRAD_VAR_CRITERIA)}, "
                    f"got {grad_var_criterion!r}."
                )
            check_real("grad_var_floor", grad_var_floor, 0.0)
            check_real("relative_mass_floor", relative_mass_floor, 0.0, 1.0, low_open=False)
            if max_prior_stability is not None:
                check_real("max_prior_stability", max_prior_stability, 0.0, 4.0)
            if hot_ratio is not None:
                check_real("hot_ratio", hot_ratio, 1.0)
            check_int("reestimate_interval", reestimate_interval, 1, most)
            check_int("reestimate_interval_step", reestimate_interval_step, 0, most)
            check_int(
                "max_reestimate_interval",
                max_reestimate_interval,
                reestimate_interval,
                most,
                low_name="reestimate_interval",
            )
            check_int("warmup_reestimate_interval", warmup_reestimate_interval, 1, most)
            for name, flag in (
                ("adapt_after_warmup", adapt_after_warmup),
                ("compensate_minibatch_noise", compensate_minibatch_noise),
            ):
                if not isinstance(flag, (bool, np.bool_)):
                    raise TypeError(f"`{name}` must be True or False, got {type(flag).__name__}.")
            if not callable(init_strategy):
                raise TypeError(
                    f"`init_strategy` must be callable, got {type(init_strategy).__name__}."
                )
            if not isinstance(on_nonfinite, str) or on_nonfinite not in ON_NONFINITE:
                raise ValueError(
                    f"`on_nonfinite` must be one of {list(ON_NONFINITE)}, got {on_nonfinite!r}."
                )
            if not isinstance(white_noise, str) or white_noise not in WHITE_NOISE:
                raise ValueError(
                    f"`white_noise` must be one of {sorted(WHITE_NOISE)}, got {white_noise!r}."
                )

        self._model = model
        self._potential_fn = potential_fn
        self._batch_size = batch_size
        self._plate_name = plate_name
        self._init_strategy = init_strategy
        self._core_kwargs = dict(
            temperature=float(temperature),
            step_size=float(step_size),
            friction=float(friction),
            noise_ratio=float(noise_ratio),
            max_noise_ratio=None if max_noise_ratio is None else float(max_noise_ratio),
            reset_prob=float(reset_prob),
            min_grad_var_draws=min_grad_var_draws,
            max_grad_var_draws=max_grad_var_draws,
            grad_var_rtol=float(grad_var_rtol),
            grad_var_criterion=grad_var_criterion,
            grad_var_floor=float(grad_var_floor),
            relative_mass_floor=float(relative_mass_floor),
            max_prior_stability=None if max_prior_stability is None else float(max_prior_stability),
            hot_ratio=None if hot_ratio is None else float(hot_ratio),
            reestimate_interval=reestimate_interval,
            reestimate_interval_step=reestimate_interval_step,
            max_reestimate_interval=max_reestimate_interval,
            warmup_reestimate_interval=warmup_reestimate_interval,
            adapt_after_warmup=bool(adapt_after_warmup),
            compensate_minibatch_noise=bool(compensate_minibatch_noise),
            white_noise=white_noise,
            on_nonfinite=on_nonfinite,
        )
        # built by `init`
        self._init_fn = None
        self._sample_fn = None
        self._postprocess_fn = None
        self._plates = None

    @property
    def model(self):
        return self._model

    @property
    def temperature(self) -> float:
        """The target temperature :math:`T`."""
        return self._core_kwargs["temperature"]

    @property
    def plates(self):
        """The subsampled plates, ``{name: MinibatchPlate(size, batch_size)}``, after init."""
        return self._plates

    @property
    def sample_field(self):
        return "z"

    @property
    def default_fields(self):
        return ("z", "diverging")

    def get_diagnostics_str(self, state):
        return "kin. temp. {:.4g} (T={:.3g}), U_mb {:.5g}".format(
            float(state.kinetic_temperature), self.temperature, float(state.potential_energy)
        )

    def postprocess_fn(self, model_args, model_kwargs):
        if self._postprocess_fn is None:
            return identity
        return self._postprocess_fn(*model_args, **(model_kwargs or {}))

    def _build(self, rng_key, model_args, model_kwargs, init_params, chain_axis_name):
        if self._model is not None:
            built = minibatch_potential(
                rng_key,
                self._model,
                model_args=model_args,
                model_kwargs=model_kwargs,
                batch_size=self._batch_size,
                plate_name=self._plate_name,
                init_strategy=self._init_strategy,
            )
            self._plates = built.plates
            self._postprocess_fn = built.postprocess_fn
            self._init_fn, self._sample_fn = pl(
                potential_fn_gen=built.potential_fn_gen,
                prior_potential_fn_gen=built.prior_potential_fn_gen,
                chain_axis_name=chain_axis_name,
                **self._core_kwargs,
            )
            if init_params is None:
                return built.init_params
            _check_finite_init_params(init_params)
            return init_params
        if init_params is None:
            raise ValueError("`init_params` must be given to `MCMC.run` with `potential_fn`.")
        _check_finite_init_params(init_params)
        self._init_fn, self._sample_fn = pl(
            potential_fn=self._potential_fn, chain_axis_name=chain_axis_name, **self._core_kwargs
        )
        return init_params

    def init(self, rng_key, num_warmup, init_params, model_args, model_kwargs):
        vectorized = not is_prng_key(rng_key)
        if vectorized:
            rng_key, key_build = jnp.swapaxes(vmap(random.split)(rng_key), 0, 1)
        else:
            rng_key, key_build = random.split(rng_key)
        axis_name = "chains" if vectorized else None
        init_params = self._build(key_build, model_args, model_kwargs, init_params, axis_name)
        init_fn = self._init_fn
        sample_fn = self._sample_fn

        @jax.jit
        def init_one(params, key, args, kwargs):
            return init_fn(params, num_warmup, key, args, kwargs)

        if vectorized:
            state = vmap(init_one, in_axes=(0, 0, None, None))(
                init_params, rng_key, model_args, model_kwargs
            )
            sample_fn = vmap(sample_fn, in_axes=(0, None, None), axis_name=axis_name)
        else:
            state = init_one(init_params, rng_key, model_args, model_kwargs)
        self._sample_fn = self._reporting(sample_fn)
        self._check_init_state(state)
        return state

    def _reporting(self, sample_fn):
        """Wrap ``sample_fn`` so that a move with a non-finite potential energy is reported
        from inside the compiled step: an error, or a warning after a rollback."""
        report = (
            _warn_nonfinite if self._core_kwargs["on_nonfinite"] == "rollback" else _raise_nonfinite
        )

        temperature = self._core_kwargs["temperature"]

        def check_runaway(new):
            ratio = new.kinetic_temperature / temperature
            lax.cond(
                jnp.any(~(ratio <= RUNAWAY_TEMPERATURE_RATIO)),  # NaN counts as a runaway
                lambda i, ratio: jax.debug.callback(_warn_runaway, i, ratio),
                lambda i, ratio: None,
                new.i,
                ratio,
            )

        def sample(state, model_args, model_kwargs):
            new = sample_fn(state, model_args, model_kwargs)
            lax.cond(
                jnp.any(new.diverging),
                lambda *args: jax.debug.callback(report, *args),
                lambda *args: None,
                new.i,
                new.diverging,
                new.nonfinite,
            )
            # the kinetic temperature, one pass over the parameters, every SNAPSHOT_INTERVAL
            lax.cond(jnp.any(new.i % SNAPSHOT_INTERVAL == 0), check_runaway, lambda new: None, new)
            return new

        return sample

    def _check_init_state(self, state: PLState):
        if not not_jax_tracer(state.potential_energy):
            return  # inside pmap: checked by the `diverging` report of the first move
        bad = _sites_where(state.z_grad, lambda x: not np.all(np.isfinite(x)))
        if bad or not np.all(np.isfinite(state.potential_energy)):
            raise ValueError(
                "Non-finite potential energy or gradient at the initial values "
                f"(potential energy {np.asarray(state.potential_energy)}; non-finite gradient "
                f"at site(s) {bad}). Check the data for NaN/inf, or pass other `init_params`."
            )
        floor = self._core_kwargs["grad_var_floor"]
        quiet = _sites_where(state.grad_var, lambda x: np.all(x <= floor))
        if quiet:
            raise ValueError(
                f"The gradient at site(s) {quiet} has no measurable minibatch noise "
                f"(variance at the floor {floor:g}), so PseudoLangevin cannot set their masses "
                "(see docs/method.md). Such sites do not depend on the subsampled data: fix "
                "them with `numpyro.handlers.condition`, move them into the likelihood, or "
                "raise `grad_var_floor` to act as their noise scale."
            )

    def sample(self, state, model_args, model_kwargs):
        return self._sample_fn(state, model_args, model_kwargs)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_init_fn"] = None
        state["_sample_fn"] = None
        state["_postprocess_fn"] = None
        return state
