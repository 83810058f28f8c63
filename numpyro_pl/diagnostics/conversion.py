"""Conversion of a PseudoLangevin run to ArviZ, keeping the kernel's extra fields."""

import numpy as np
from numpyro.infer import MCMC

from numpyro_pl.kernel import PseudoLangevin

__all__ = ["to_arviz"]


def to_arviz(mcmc, **kwargs):
    r"""Convert a PseudoLangevin run to ArviZ with :func:`arviz.from_numpyro`, keeping the
    kernel's extra fields in ``sample_stats`` under their own names.

    ``from_numpyro`` copies every collected extra field into ``sample_stats`` but renames
    ``potential_energy`` to ``lp``, the log density, with a sign that has varied between
    ArviZ releases. For PseudoLangevin ``lp`` would mislead: the field is a minibatch
    estimate of :math:`U`. So it is stored as ``potential_energy``, exactly as the kernel
    reports it, and ``lp`` is dropped;
    ``kinetic_energy``, ``kinetic_temperature``, ``mean_noise_ratio``, ``num_grad_evals``,
    ``num_nonfinite`` and ``diverging`` (collected by default) are kept as ``from_numpyro``
    stores them. The target temperature is stored in the attribute
    ``sample_stats.attrs["temperature"]``.
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
