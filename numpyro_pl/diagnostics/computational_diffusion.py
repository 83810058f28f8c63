"""
The computational diffusion of a run: the mean squared displacement of the latent values
against the lag, in draws and, when known, in gradient evaluations and seconds.
"""

import math
import numbers
from typing import NamedTuple, Optional

import jax
import numpy as np
from numpyro.infer import MCMC

__all__ = ["Diffusion", "diffusion"]


class Diffusion(NamedTuple):
    """Mean squared displacement against lag (see :func:`diffusion`)."""

    lags: np.ndarray
    d2: np.ndarray
    d2_se: np.ndarray
    grad_evals: Optional[np.ndarray]
    seconds: Optional[np.ndarray]


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
