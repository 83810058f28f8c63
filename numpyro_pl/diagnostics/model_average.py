r"""
The Bayesian model average of a classifier and its calibration: the class probabilities
averaged over the samples (:func:`model_average`), scored by the test negative
log-likelihood (:func:`negative_log_likelihood`) and the expected calibration error
(:func:`expected_calibration_error`).

Zambon et al. (arXiv:2603.15367) report the mean test error of the individual samples; the
average of their predictions is what a sampler offers beyond an optimiser, and these are
the scores that show whether its uncertainty is worth having.
"""

import jax
import jax.numpy as jnp
from jax import lax

from numpyro_pl.diagnostics.observables import flatten_samples
from numpyro_pl.validation import check_int

__all__ = ["expected_calibration_error", "model_average", "negative_log_likelihood"]


def model_average(logits_fn, samples, X, *, batch_ndims=1, chunk_size=100):
    r"""Class probabilities of the Bayesian model average over the samples :math:`w_s`,

    .. math::

        \bar p(c \mid x) = \frac{1}{S} \sum_{s=1}^S \operatorname{softmax}_c f(w_s, x).

    :param callable logits_fn: ``logits_fn(params, X)`` returning logits of shape
        ``(N, num_classes)`` for one sample ``params`` (as for
        :func:`~numpyro_pl.diagnostics.error_rate`).
    :param samples: a pytree of samples with ``batch_ndims`` leading sample dimensions.
    :param X: the inputs, passed to ``logits_fn`` unchanged.
    :param int batch_ndims: number of leading sample dimensions (2 for samples grouped by
        chain); all of them are averaged over.
    :param int chunk_size: number of samples evaluated at once.
    :return: the averaged probabilities, shape ``(N, num_classes)``.

    **Example**

    .. doctest::

        >>> import jax.numpy as jnp
        >>> from numpyro_pl.diagnostics import model_average
        >>> X = jnp.array([[2.0, 0.0]])
        >>> probs = model_average(lambda p, X: p["s"] * X, {"s": jnp.array([1.0, -1.0])}, X)
        >>> probs.shape, [round(float(p), 4) for p in probs[0]]
        ((1, 2), [0.5, 0.5])
    """
    if not callable(logits_fn):
        raise TypeError(f"`logits_fn` must be callable, got {type(logits_fn).__name__}.")
    check_int("chunk_size", chunk_size, 1)
    flat, _ = flatten_samples(samples, batch_ndims)
    num_samples = jax.tree.leaves(flat)[0].shape[0]

    def probabilities(params):
        logits = logits_fn(params, X)
        if jnp.ndim(logits) != 2:
            raise ValueError(
                f"`logits_fn` must return logits of shape (N, num_classes), got "
                f"{jnp.shape(logits)}."
            )
        return jax.nn.softmax(logits, axis=-1)

    # a scan over chunks of samples keeps one (N, num_classes) sum in memory, not S of them;
    # the last chunk is padded with copies of the last sample, weighted 0
    num_chunks = -(-num_samples // chunk_size)
    length = num_chunks * chunk_size
    weights = (jnp.arange(length) < num_samples).reshape(num_chunks, chunk_size)
    chunks = jax.tree.map(
        lambda x: jnp.concatenate([x, jnp.repeat(x[-1:], length - num_samples, axis=0)]).reshape(
            num_chunks, chunk_size, *x.shape[1:]
        ),
        flat,
    )

    def add_chunk(total, chunk):
        params, weight = chunk
        return total + jnp.einsum("s,snc->nc", weight, jax.vmap(probabilities)(params)), None

    shape = jax.eval_shape(probabilities, jax.tree.map(lambda x: x[0], flat)).shape
    total, _ = lax.scan(add_chunk, jnp.zeros(shape), (chunks, weights.astype(jnp.float32)))
    return total / num_samples


def negative_log_likelihood(probs, y):
    r"""Mean negative log-likelihood of the labels, :math:`-\frac{1}{N}\sum_n \log p(y_n
    \mid x_n)`, with probabilities floored at the smallest positive normal number of their
    dtype so that a confident mistake costs a large but finite amount.

    :param probs: class probabilities, shape ``(N, num_classes)``.
    :param y: integer labels, shape ``(N,)``.

    **Example**

    .. doctest::

        >>> import jax.numpy as jnp
        >>> from numpyro_pl.diagnostics import negative_log_likelihood
        >>> round(float(negative_log_likelihood(jnp.array([[0.5, 0.5]]), jnp.array([0]))), 4)
        0.6931
    """
    probs, y = _check_probs(probs, y)
    picked = jnp.take_along_axis(probs, y[:, None], axis=-1)[:, 0]
    return -jnp.mean(jnp.log(jnp.maximum(picked, jnp.finfo(probs.dtype).tiny)))


def expected_calibration_error(probs, y, *, num_bins=15):
    r"""Expected calibration error of the most probable class,

    .. math::

        \mathrm{ECE} = \sum_{b=1}^{B} \frac{|I_b|}{N}
            \left| \mathrm{acc}(I_b) - \mathrm{conf}(I_b) \right|,

    over ``num_bins`` equal-width bins :math:`I_b` of the confidence
    :math:`\max_c p(c \mid x_n)`, with :math:`\mathrm{acc}` the fraction of correct
    predictions and :math:`\mathrm{conf}` the mean confidence in the bin (Guo et al., *On
    Calibration of Modern Neural Networks*, ICML 2017).

    :param probs: class probabilities, shape ``(N, num_classes)``.
    :param y: integer labels, shape ``(N,)``.
    :param int num_bins: number of confidence bins on [0, 1].

    **Example**

    .. doctest::

        >>> import jax.numpy as jnp
        >>> from numpyro_pl.diagnostics import expected_calibration_error
        >>> probs = jnp.array([[0.9, 0.1], [0.9, 0.1]])  # 90 % confident, half right
        >>> round(float(expected_calibration_error(probs, jnp.array([0, 1]))), 4)
        0.4
    """
    check_int("num_bins", num_bins, 1)
    probs, y = _check_probs(probs, y)
    confidence = jnp.max(probs, axis=-1)
    correct = (jnp.argmax(probs, axis=-1) == y).astype(probs.dtype)
    bins = jnp.clip(jnp.ceil(confidence * num_bins).astype(jnp.int32) - 1, 0, num_bins - 1)
    gap = jnp.zeros(num_bins, probs.dtype).at[bins].add(correct - confidence)
    return jnp.sum(jnp.abs(gap)) / y.shape[0]


def _check_probs(probs, y):
    probs, y = jnp.asarray(probs), jnp.asarray(y)
    if probs.ndim != 2 or y.shape != probs.shape[:1]:
        raise ValueError(
            f"`probs` must have shape (N, num_classes) and `y` shape (N,), got {probs.shape} "
            f"and {y.shape}."
        )
    if not jnp.issubdtype(y.dtype, jnp.integer):
        raise TypeError(f"`y` must hold integer class labels, got dtype {y.dtype}.")
    return probs, y
