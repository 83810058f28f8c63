"""
Full-batch observables of each sample: the potential energy, its data term and the squared
norm of the latent values (:func:`full_batch_observables`), and the classification error
(:func:`error_rate`).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from numpyro.distributions.transforms import biject_to
from numpyro.handlers import seed, substitute, trace
from numpyro.infer import MCMC, init_to_sample
from numpyro.infer.util import compute_log_probs

from numpyro_pl.validation import check_int

__all__ = ["FullBatchObservables", "error_rate", "full_batch_observables"]


class FullBatchObservables(NamedTuple):
    """Full-batch observables of each sample (see :func:`full_batch_observables`)."""

    potential_energy: jax.Array
    neg_log_likelihood: jax.Array
    sq_norm: jax.Array


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


def flatten_samples(samples, batch_ndims):
    """``(flat, batch_shape)``: the samples with their ``batch_ndims`` leading sample
    dimensions merged into one, and the shape of those dimensions.

    :raises ValueError: if the leaves do not share the leading sample dimensions.
    """
    check_int("batch_ndims", batch_ndims, 0)
    leaves = jax.tree.leaves(samples)
    batch_shapes = {jnp.shape(x)[:batch_ndims] for x in leaves}
    if len(batch_shapes) != 1 or any(jnp.ndim(x) < batch_ndims for x in leaves):
        raise ValueError(
            f"`samples` must be a non-empty pytree whose leaves share {batch_ndims} leading "
            f"sample dimension(s), got shapes {[jnp.shape(x) for x in leaves]}."
        )
    (batch_shape,) = batch_shapes
    flat = jax.tree.map(lambda x: jnp.reshape(x, (-1,) + jnp.shape(x)[batch_ndims:]), samples)
    return flat, batch_shape


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
    check_int("chunk_size", chunk_size, 1)
    y = jnp.asarray(y)
    flat, batch_shape = flatten_samples(samples, batch_ndims)

    def error(params):
        logits = logits_fn(params, X)
        if jnp.shape(logits)[:-1] != y.shape:
            raise ValueError(
                f"`logits_fn` must return logits of shape y.shape + (num_classes,) = "
                f"{y.shape} + (C,), got {jnp.shape(logits)}."
            )
        return jnp.mean(jnp.argmax(logits, axis=-1) != y)

    return jnp.reshape(lax.map(error, flat, batch_size=chunk_size), batch_shape)
