r"""
The kinetic temperature :math:`2K/n` of a run against its target :math:`T`: its mean with a
Monte Carlo standard error (:func:`kinetic_temperature`) and its trace
(:func:`plot_temperature`).
"""

import math
from typing import NamedTuple, Optional

import numpy as np
from numpyro.diagnostics import effective_sample_size
from numpyro.infer import MCMC

__all__ = ["TemperatureEstimate", "kinetic_temperature", "plot_temperature"]


class TemperatureEstimate(NamedTuple):
    """Mean kinetic temperature, its Monte Carlo standard error and effective sample size,
    and the target temperature (``None`` when unknown)."""

    mean: float
    mcse: float
    ess: float
    target: Optional[float]


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
