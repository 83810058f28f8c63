r"""
Diagnostics for a finished pseudo-Langevin run: full-batch observables of the samples, the
kinetic temperature against its target, the computational diffusion of the weights, and
conversion to ArviZ.

These are the observables with which Zambon, Caruso, Zecchina and Tiana, *Controlled
Langevin Dynamics for Sampling of Feedforward Neural Networks Trained with Minibatches*,
arXiv:2603.15367 (2026), assess the sampler: the full-batch energy, data term and weight
norm along the chain, the train and test errors, the kinetic temperature :math:`2K/n`, which
averages to :math:`T` when the minibatch noise is compensated, and the mean squared
displacement of the weights against the compute spent.
"""

import math
import numbers
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from numpyro.diagnostics import effective_sample_size
from numpyro.distributions.transforms import biject_to
from numpyro.handlers import seed, substitute, trace
from numpyro.infer import MCMC, init_to_sample
from numpyro.infer.util import compute_log_probs

from numpyro_pl.kernel import PseudoLangevin
from numpyro_pl.validation import check_int

__all__ = [
    "Diffusion",
    "FullBatchObservables",
    "TemperatureEstimate",
    "diffusion",
    "error_rate",
    "full_batch_observables",
    "kinetic_temperature",
    "plot_temperature",
    "to_arviz",
]


class FullBatchObservables(NamedTuple):
    """Full-batch observables of each sample (see :func:`full_batch_observables`)."""

    potential_energy: jax.Array
    neg_log_likelihood: jax.Array
    sq_norm: jax.Array


class TemperatureEstimate(NamedTuple):
    """Mean kinetic temperature, its Monte Carlo standard error and effective sample size,
    and the target temperature (``None`` when unknown)."""

    mean: float
    mcse: float
    ess: float
    target: Optional[float]


class Diffusion(NamedTuple):
    """Mean squared displacement against lag (see :func:`diffusion`)."""

    lags: np.ndarray
    d2: np.ndarray
    d2_se: np.ndarray
    grad_evals: Optional[np.ndarray]
    seconds: Optional[np.ndarray]


def full_batch_observables(samples, model, model_args=(), model_kwargs=None, *, chunk_size=100):
    r"""Evaluate, for each sample and on the full data, the potential energy :math:`U`, its
    data term and the squared norm of the latent values:

    .. math::

        U(w) = -\log p(\mathcal{D} \mid w) - \log p(w) - \log\left|\det J(w)\right|, \qquad
        -\log p(\mathcal{D} \mid w), \qquad |w|^2 = \sum_i w_i^2 ,

    with :math:`U` NumPyro's potential energy at the unconstrained value of the sample
    (:math:`J` the Jacobian of the constraining transform; it is 1 for real sites such as the
    weights of a network), the data term summed over all observed sites, and :math:`|w|^2`
    over all latent sites at their constrained values. Samples are mapped in chunks of
    ``chunk_size``, each vectorised with :func:`jax.vmap`.

    :param samples: a numpyro ``MCMC`` (its samples grouped by chain), or a dict of
        constrained samples with any leading sample dimensions, as returned by
        ``MCMC.get_samples()``. Sites other than the model's latent sites are ignored.
    :param model: the model, with its full-data plate (no ``subsample_size``).
    :param tuple model_args: arguments of ``model``: the training data, or the test data.
    :param dict model_kwargs: keyword arguments of ``model``.
    :param int chunk_size: number of samples evaluated at once.
    :return: a :class:`FullBatchObservables` of arrays shaped as the leading sample
        dimensions: ``potential_energy``, ``neg_log_likelihood`` and ``sq_norm``.

    **Example**

    .. doctest::

        >>> import jax.numpy as jnp, numpyro, numpyro.distributions as dist
        >>> from numpyro_pl.diagnostics import full_batch_observables
        >>> def model(y):
        ...     mu = numpyro.sample("mu", dist.Normal(0, 1))
        ...     with numpyro.plate("data", y.shape[0]) as idx:
        ...         numpyro.sample("y", dist.Normal(mu, 1), obs=y[idx])
        >>> obs = full_batch_observables({"mu": jnp.array([0.0, 2.0])}, model, (jnp.zeros(3),))
        >>> obs.sq_norm
        Array([0., 4.], dtype=float32)
        >>> # the data term grows by 3 mu^2 / 2, the rest is -log N(mu | 0, 1)
        >>> [round(float(x), 4) for x in obs.neg_log_likelihood - obs.neg_log_likelihood[0]]
        [0.0, 6.0]
        >>> [round(float(x), 4) for x in obs.potential_energy - obs.neg_log_likelihood]
        [0.9189, 2.9189]
    """
    if not callable(model):
        raise TypeError(f"`model` must be callable, got {type(model).__name__}.")
    check_int("chunk_size", chunk_size, 1)
    if isinstance(samples, MCMC):
        samples = samples.get_samples(group_by_chain=True)
    if not isinstance(samples, dict):
        raise TypeError(f"`samples` must be an MCMC or a dict of samples, got {samples!r}.")
    model_kwargs = {} if model_kwargs is None else model_kwargs
    model_trace = trace(substitute(seed(model, 0), substitute_fn=init_to_sample)).get_trace(
        *model_args, **model_kwargs
    )
    for name, site in model_trace.items():
        if site["type"] == "plate" and site["args"][1] not in (None, site["args"][0]):
            raise ValueError(
                f"`model` subsamples plate {name!r} ({site['args'][1]} of {site['args'][0]}); "
                "full-batch observables need the full data. Declare the plate without "
                "`subsample_size` and give `batch_size` to PseudoLangevin instead."
            )
    latent = {
        name: jnp.shape(site["value"])
        for name, site in model_trace.items()
        if site["type"] == "sample" and not site["is_observed"]
    }
    missing = sorted(set(latent) - set(samples))
    if missing:
        raise ValueError(f"`samples` lacks the latent site(s) {missing} of `model`.")
    shapes = {name: jnp.shape(samples[name]) for name in latent}
    batch_shapes = {shapes[name][: len(shapes[name]) - len(s)] for name, s in latent.items()}
    if len(batch_shapes) != 1 or any(
        shapes[name][len(shapes[name]) - len(s) :] != s for name, s in latent.items()
    ):
        raise ValueError(
            f"`samples` must hold the latent sites of `model`, of shapes {latent}, behind "
            f"common leading sample dimensions, got shapes {shapes}."
        )
    (batch_shape,) = batch_shapes
    flat = {name: jnp.reshape(samples[name], (-1,) + shape) for name, shape in latent.items()}

    def observe(params):
        log_probs, tr = compute_log_probs(model, model_args, model_kwargs, params)
        log_det = 0.0
        for name in latent:
            site = tr[name]
            transform = biject_to(site["fn"].support)
            jacobian = transform.log_abs_det_jacobian(transform.inv(site["value"]), site["value"])
            log_det += jnp.sum(jacobian) * (1.0 if site["scale"] is None else site["scale"])
        return FullBatchObservables(
            -sum(log_probs.values()) - log_det,
            -sum(log_probs[name] for name, site in tr.items() if site.get("is_observed")),
            sum(jnp.sum(jnp.square(x)) for x in params.values()),
        )

    out = lax.map(observe, flat, batch_size=chunk_size)
    return FullBatchObservables(*(jnp.reshape(x, batch_shape) for x in out))


def error_rate(logits_fn, samples, X, y, *, batch_ndims=1, chunk_size=100):
    r"""Classification error of each sample: the fraction of the data whose most probable
    class is not the label,

    .. math::

        \varepsilon(w) = \frac{1}{N} \sum_{n=1}^N
            \mathbb{1}\left[\operatorname{argmax}_c f_c(w, x_n) \neq y_n\right].

    Call it on the training set and on the test set for the two curves of the paper.

    :param callable logits_fn: ``logits_fn(params, X)`` returning logits of shape
        ``y.shape + (num_classes,)`` for one sample ``params``. A binary model with a single
        logit ``l`` can return ``jnp.stack([jnp.zeros_like(l), l], -1)``.
    :param samples: the samples, a pytree (such as the dict of ``MCMC.get_samples()``) whose
        leaves share ``batch_ndims`` leading sample dimensions.
    :param X: the inputs, passed to ``logits_fn`` unchanged.
    :param y: integer class labels.
    :param int batch_ndims: number of leading sample dimensions (2 for samples grouped by
        chain).
    :param int chunk_size: number of samples evaluated at once.
    :return: the error rates, an array shaped as the leading sample dimensions.

    **Example**

    .. doctest::

        >>> import jax.numpy as jnp
        >>> from numpyro_pl.diagnostics import error_rate
        >>> X, y = jnp.array([[1.0, 0.0], [0.0, 1.0]]), jnp.array([0, 1])
        >>> error_rate(lambda p, X: p["s"] * X, {"s": jnp.array([1.0, -1.0])}, X, y)
        Array([0., 1.], dtype=float32)
    """
    if not callable(logits_fn):
        raise TypeError(f"`logits_fn` must be callable, got {type(logits_fn).__name__}.")
    check_int("batch_ndims", batch_ndims, 0)
    check_int("chunk_size", chunk_size, 1)
    y = jnp.asarray(y)
    leaves = jax.tree.leaves(samples)
    batch_shapes = {jnp.shape(x)[:batch_ndims] for x in leaves}
    if len(batch_shapes) != 1 or any(jnp.ndim(x) < batch_ndims for x in leaves):
        raise ValueError(
            f"`samples` must be a non-empty pytree whose leaves share {batch_ndims} leading "
            f"sample dimension(s), got shapes {[jnp.shape(x) for x in leaves]}."
        )
    (batch_shape,) = batch_shapes
    flat = jax.tree.map(lambda x: jnp.reshape(x, (-1,) + jnp.shape(x)[batch_ndims:]), samples)

    def error(params):
        logits = logits_fn(params, X)
        if jnp.shape(logits)[:-1] != y.shape:
            raise ValueError(
                f"`logits_fn` must return logits of shape y.shape + (num_classes,) = "
                f"{y.shape} + (C,), got {jnp.shape(logits)}."
            )
        return jnp.mean(jnp.argmax(logits, axis=-1) != y)

    return jnp.reshape(lax.map(error, flat, batch_size=chunk_size), batch_shape)


def _temperature_trace(source):
    """The kinetic temperature, shape (chains, draws), and the target temperature."""
    if isinstance(source, MCMC):
        fields = source.get_extra_fields(group_by_chain=True)
        if "kinetic_temperature" not in fields:
            raise ValueError(
                "The run did not collect the kinetic temperature: pass "
                '`extra_fields=("kinetic_temperature",)` to `mcmc.run`.'
            )
        return np.asarray(fields["kinetic_temperature"]), source.sampler.temperature
    try:
        stats = source["sample_stats"]
    except (KeyError, TypeError, IndexError):
        raise TypeError(
            f"Expected a numpyro MCMC or ArviZ data with `sample_stats`, got {source!r}."
        ) from None
    if "kinetic_temperature" not in stats:
        raise ValueError(
            "`sample_stats` has no `kinetic_temperature`: convert with `to_arviz` a run made "
            'with `extra_fields=("kinetic_temperature",)`.'
        )
    return np.asarray(stats["kinetic_temperature"]), stats.attrs.get("temperature")


def kinetic_temperature(source):
    r"""Mean kinetic temperature :math:`2K/n` of a run and its Monte Carlo standard error,

    .. math::

        \mathrm{MCSE} = \frac{\operatorname{sd}(2K/n)}{\sqrt{\mathrm{ESS}}},

    with the effective sample size of :func:`numpyro.diagnostics.effective_sample_size` over
    all chains. With the minibatch noise compensated the mean is the target :math:`T`; a
    mean above it shows uncompensated noise (about :math:`2rT` above with
    ``compensate_minibatch_noise=False``).

    :param source: a numpyro ``MCMC`` run with ``extra_fields=("kinetic_temperature",)``,
        or its :func:`to_arviz` conversion.
    :return: a :class:`TemperatureEstimate` ``(mean, mcse, ess, target)``.

    **Example**

    .. doctest::

        >>> import jax, numpyro, numpyro.distributions as dist
        >>> from numpyro.infer import MCMC
        >>> from numpyro_pl import PseudoLangevin
        >>> from numpyro_pl.diagnostics import kinetic_temperature
        >>> def model(y):
        ...     mu = numpyro.sample("mu", dist.Normal(0, 1))
        ...     with numpyro.plate("data", y.shape[0]) as idx:
        ...         numpyro.sample("y", dist.Normal(mu, 1), obs=y[idx])
        >>> kernel = PseudoLangevin(model, batch_size=10, noise_ratio=0.1, min_grad_var_draws=20)
        >>> mcmc = MCMC(kernel, num_warmup=50, num_samples=50, progress_bar=False)
        >>> y = jax.random.normal(jax.random.key(1), (100,))
        >>> mcmc.run(jax.random.key(0), y, extra_fields=("kinetic_temperature",))
        >>> estimate = kinetic_temperature(mcmc)
        >>> estimate.target, estimate.mcse > 0
        (1.0, True)
    """
    temperature, target = _temperature_trace(source)
    if temperature.shape[1] < 2:
        raise ValueError("The kinetic temperature needs at least 2 draws per chain.")
    ess = float(effective_sample_size(temperature))
    mcse = float(np.std(temperature, ddof=1)) / math.sqrt(ess)
    return TemperatureEstimate(float(np.mean(temperature)), mcse, ess, target)


def diffusion(samples, lags=None, *, grad_evals=None, seconds_per_sample=None):
    r"""Computational diffusion: the mean squared displacement of the latent values after a
    lag of :math:`\Delta` draws,

    .. math::

        d^2(\Delta) = \frac{1}{S - \Delta} \sum_{t=1}^{S-\Delta}
            \left|w(t + \Delta) - w(t)\right|^2 ,

    summed over all latent components, computed per chain and averaged over chains. The
    paper plots it against compute time; the number of gradient evaluations is the
    machine-independent measure of the same. For a random walk :math:`d^2` grows linearly;
    it saturates at twice the total posterior variance once the chain has decorrelated.

    :param samples: a numpyro ``MCMC`` (its latent sites, grouped by chain), or a pytree of
        samples whose leaves have leading dimensions ``(chains, draws)``.
    :param lags: integer lags in draws, in ``[0, draws)``. Defaults to about 20 lags spaced
        geometrically from 1 to ``draws // 2``.
    :param grad_evals: the cumulative gradient count per draw, shape ``(chains, draws)``:
        PseudoLangevin's ``num_grad_evals`` extra field, which is taken from an ``MCMC`` run
        with ``extra_fields=("num_grad_evals",)`` (for NUTS, the cumulative sum of
        ``num_steps``). Includes the gradients spent on estimating the minibatch noise.
    :param float seconds_per_sample: measured compute time per draw, e.g. the wall time of
        ``mcmc.run`` over the number of draws.
    :return: a :class:`Diffusion` ``(lags, d2, d2_se, grad_evals, seconds)``: ``d2_se`` is
        the standard error of ``d2`` over chains (NaN for one chain); ``grad_evals`` is
        ``lags`` times the mean gradient count per draw and ``seconds`` is ``lags`` times
        ``seconds_per_sample``, each ``None`` when not available.

    **Example**

    .. doctest::

        >>> import numpy as np
        >>> from numpyro_pl.diagnostics import diffusion
        >>> walk = np.cumsum(np.ones((1, 10, 2)), axis=1)  # one chain, unit steps in 2-D
        >>> result = diffusion({"w": walk}, lags=[0, 1, 3], seconds_per_sample=0.5)
        >>> result.d2, result.seconds
        (array([ 0.,  2., 18.]), array([0. , 0.5, 1.5]))
    """
    if isinstance(samples, MCMC):
        latent = getattr(samples.last_state, samples.sampler.sample_field)
        mcmc_samples = samples.get_samples(group_by_chain=True)
        if grad_evals is None:
            grad_evals = samples.get_extra_fields(group_by_chain=True).get("num_grad_evals")
        samples = {k: mcmc_samples[k] for k in latent} if isinstance(latent, dict) else mcmc_samples
    leaves = [np.asarray(x) for x in jax.tree.leaves(samples)]
    if not leaves or len({x.shape[:2] for x in leaves}) != 1 or min(x.ndim for x in leaves) < 2:
        raise ValueError(
            "`samples` must be a non-empty pytree whose leaves share leading dimensions "
            f"(chains, draws), got shapes {[x.shape for x in leaves]}."
        )
    num_chains, num_draws = leaves[0].shape[:2]
    leaves = [x.reshape(num_chains, num_draws, -1) for x in leaves]
    if lags is None:
        lags = np.unique(np.geomspace(1, max(num_draws // 2, 1), 20).astype(int))
    lags = np.asarray(lags)
    if lags.ndim != 1 or lags.dtype.kind not in "iu" or np.any((lags < 0) | (lags >= num_draws)):
        raise ValueError(f"`lags` must be a 1-D array of integers in [0, {num_draws}), got {lags}.")
    per_chain = np.stack(
        [
            sum(
                np.mean(np.sum(np.square(x[:, lag:] - x[:, : num_draws - lag]), -1, np.float64), 1)
                for x in leaves
            )
            for lag in lags
        ],
        axis=-1,
    )
    d2_se = (
        np.std(per_chain, axis=0, ddof=1) / math.sqrt(num_chains)
        if num_chains > 1
        else np.full(len(lags), np.nan)
    )
    seconds = None
    if grad_evals is not None:
        grad_evals = np.asarray(grad_evals)
        if grad_evals.shape != (num_chains, num_draws) or num_draws < 2:
            raise ValueError(
                f"`grad_evals` must have shape (chains, draws) = {(num_chains, num_draws)} with "
                f"at least 2 draws, got {grad_evals.shape}."
            )
        grad_evals = lags * np.mean(grad_evals[:, -1] - grad_evals[:, 0]) / (num_draws - 1)
    if seconds_per_sample is not None:
        if isinstance(seconds_per_sample, bool) or not isinstance(seconds_per_sample, numbers.Real):
            raise TypeError(
                "`seconds_per_sample` must be a real number, "
                f"got {type(seconds_per_sample).__name__}."
            )
        if not (math.isfinite(seconds_per_sample) and seconds_per_sample > 0):
            raise ValueError(f"`seconds_per_sample` must be positive, got {seconds_per_sample}.")
        seconds = lags * float(seconds_per_sample)
    return Diffusion(lags, per_chain.mean(axis=0), d2_se, grad_evals, seconds)


def to_arviz(mcmc, **kwargs):
    r"""Convert a PseudoLangevin run to ArviZ with :func:`arviz.from_numpyro`, keeping the
    kernel's extra fields in ``sample_stats`` under their own names.

    ``from_numpyro`` copies every collected extra field into ``sample_stats`` but renames
    ``potential_energy`` to ``lp``, the log density, with a sign that has varied between
    ArviZ releases. For PseudoLangevin ``lp`` would mislead: the field is a minibatch
    estimate of :math:`U`. So it is stored as ``potential_energy``, exactly as the kernel
    reports it, and ``lp`` is dropped;
    ``kinetic_energy``, ``kinetic_temperature``, ``mean_noise_ratio``, ``num_grad_evals``
    and ``diverging`` (collected by default) are kept as ``from_numpyro`` stores them. The
    target temperature is stored in the attribute ``sample_stats.attrs["temperature"]``.
    Works with ArviZ 0.x (``InferenceData``) and 1.x (``xarray.DataTree``), whose
    ``sample_stats`` groups are modified the same way.

    :param mcmc: a numpyro ``MCMC`` run with a PseudoLangevin kernel; pass the fields to
        keep, e.g. ``extra_fields=("potential_energy", "kinetic_temperature")``, to
        ``mcmc.run``.
    :param kwargs: passed to :func:`arviz.from_numpyro` (``coords``, ``dims``, ...).
    :return: the ArviZ ``InferenceData`` (ArviZ 0.x) or ``DataTree`` (ArviZ 1.x).

    **Example**

    .. doctest::

        >>> import jax, numpyro, numpyro.distributions as dist
        >>> from numpyro.infer import MCMC
        >>> from numpyro_pl import PseudoLangevin
        >>> from numpyro_pl.diagnostics import to_arviz
        >>> def model(y):
        ...     mu = numpyro.sample("mu", dist.Normal(0, 1))
        ...     with numpyro.plate("data", y.shape[0]) as idx:
        ...         numpyro.sample("y", dist.Normal(mu, 1), obs=y[idx])
        >>> kernel = PseudoLangevin(model, batch_size=10, noise_ratio=0.1, min_grad_var_draws=20)
        >>> mcmc = MCMC(kernel, num_warmup=50, num_samples=50, progress_bar=False)
        >>> y = jax.random.normal(jax.random.key(1), (100,))
        >>> mcmc.run(jax.random.key(0), y, extra_fields=("potential_energy",))
        >>> stats = to_arviz(mcmc)["sample_stats"]
        >>> sorted(stats.data_vars), stats.attrs["temperature"]
        (['diverging', 'potential_energy'], 1.0)
    """
    import arviz as az

    if not isinstance(mcmc, MCMC) or not isinstance(mcmc.sampler, PseudoLangevin):
        raise TypeError(
            f"`mcmc` must be a numpyro MCMC with a PseudoLangevin kernel, got {mcmc!r}."
        )
    idata = az.from_numpyro(mcmc, **kwargs)
    stats = idata["sample_stats"]
    fields = mcmc.get_extra_fields(group_by_chain=True)
    if "potential_energy" in fields:
        stats["potential_energy"] = stats["lp"].copy(data=np.asarray(fields["potential_energy"]))
        del stats["lp"]
    stats.attrs["temperature"] = mcmc.sampler.temperature
    return idata


def plot_temperature(source, ax=None):
    r"""Plot the kinetic temperature :math:`2K/n` of each chain against the draw, with the
    target temperature :math:`T` as a dashed line (when known).

    :param source: a numpyro ``MCMC`` run with ``extra_fields=("kinetic_temperature",)``,
        or its :func:`to_arviz` conversion.
    :param ax: a matplotlib ``Axes`` to draw on; a new figure by default.
    :return: the ``Axes``.

    **Example**

    .. doctest::

        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import jax, numpyro, numpyro.distributions as dist
        >>> from numpyro.infer import MCMC
        >>> from numpyro_pl import PseudoLangevin
        >>> from numpyro_pl.diagnostics import plot_temperature
        >>> def model(y):
        ...     mu = numpyro.sample("mu", dist.Normal(0, 1))
        ...     with numpyro.plate("data", y.shape[0]) as idx:
        ...         numpyro.sample("y", dist.Normal(mu, 1), obs=y[idx])
        >>> kernel = PseudoLangevin(model, batch_size=10, noise_ratio=0.1, min_grad_var_draws=20)
        >>> mcmc = MCMC(kernel, num_warmup=50, num_samples=50, progress_bar=False)
        >>> y = jax.random.normal(jax.random.key(1), (100,))
        >>> mcmc.run(jax.random.key(0), y, extra_fields=("kinetic_temperature",))
        >>> ax = plot_temperature(mcmc)
        >>> ax.get_ylabel()
        'kinetic temperature 2K/n'
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("plot_temperature needs matplotlib: `pip install matplotlib`.") from err
    temperature, target = _temperature_trace(source)
    if ax is None:
        ax = plt.subplots()[1]
    for chain, values in enumerate(temperature):
        ax.plot(values, lw=0.8, label=f"chain {chain}")
    if target is not None:
        ax.axhline(target, color="k", ls="--", label=f"target T = {target:g}")
    ax.set(xlabel="draw", ylabel="kinetic temperature 2K/n")
    ax.legend()
    return ax
