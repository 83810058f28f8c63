"""Tempered models: the same target for NUTS/HMC as for ``PseudoLangevin(temperature=T)``."""

import functools

from numpyro.handlers import scale

from numpyro_pl.validation import check_real

__all__ = ["tempered"]


def tempered(model, temperature):
    r"""Scale the log joint of ``model`` by :math:`1/T`.

    ``NUTS(tempered(model, T))`` samples :math:`\propto \exp(-U/T)`, the distribution that
    ``PseudoLangevin(model, temperature=T)`` targets. The returned model takes the same
    arguments as ``model``. At ``T = 1`` it is ``model`` itself.

    :param model: a NumPyro model.
    :param float temperature: :math:`T > 0`.

    **Example**

    .. doctest::

        >>> import jax, numpyro, numpyro.distributions as dist
        >>> from numpyro.infer.util import log_density
        >>> from numpyro_pl import tempered
        >>> def model():
        ...     numpyro.sample("x", dist.Normal(0.0, 1.0))
        >>> lp, _ = log_density(tempered(model, 0.5), (), {}, {"x": 1.0})
        >>> round(float(lp), 4)  # 2 * log N(1 | 0, 1)
        -2.8379
    """
    check_real("temperature", temperature, 0.0)
    if temperature == 1:
        return model
    scaled = scale(model, scale=1.0 / temperature)
    return functools.wraps(model)(lambda *args, **kwargs: scaled(*args, **kwargs))
