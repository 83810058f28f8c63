"""
Effect handlers for using the samples of a minibatch sampler on the full data.

PseudoLangevin evaluates the model on minibatches only while it samples (see
:mod:`numpyro_pl.potential`). Prediction is another matter: a model written with
``numpyro.plate("data", N, subsample_size=B)`` would subsample under
:class:`~numpyro.infer.Predictive` too, and quietly predict B random data points out of N.
:func:`full_data` switches that off.
"""

import jax.numpy as jnp
from numpyro.primitives import Messenger

__all__ = ["full_data"]


class full_data(Messenger):
    """Every plate of the model takes all its data points: a ``subsample_size`` given to
    :class:`numpyro.plate` is ignored and the plate's indices are ``arange(size)``, so
    :func:`numpyro.subsample` returns the whole array and no log-likelihood is rescaled.

    A model that indexes its data by a full-data plate (``with numpyro.plate("data", N) as
    idx: ... X[idx]``, the form that :func:`~numpyro_pl.models.bayesian_mlp` uses) needs
    no handler: under :class:`~numpyro.infer.Predictive` its plate already covers every
    data point.

    :param fn: a NumPyro model (or ``None``, to use as a decorator factory).

    **Example**

    .. doctest::

        >>> import jax, jax.numpy as jnp
        >>> import numpyro, numpyro.distributions as dist
        >>> from numpyro.infer import Predictive
        >>> from numpyro_pl.handlers import full_data
        >>> def model(X, y=None):
        ...     w = numpyro.sample("w", dist.Normal(0, 1).expand([2]).to_event(1))
        ...     with numpyro.plate("data", X.shape[0], subsample_size=10):
        ...         batch_X = numpyro.subsample(X, event_dim=1)
        ...         numpyro.sample("y", dist.Normal(batch_X @ w, 1.0), obs=y)
        >>> X = jnp.ones((100, 2))
        >>> samples = {"w": jnp.zeros((3, 2))}
        >>> Predictive(model, samples)(jax.random.key(0), X)["y"].shape
        (3, 10)
        >>> Predictive(full_data(model), samples)(jax.random.key(0), X)["y"].shape
        (3, 100)
    """

    def process_message(self, msg):
        if msg["type"] == "plate":
            size = msg["args"][0]
            msg["args"] = (size, None)
            msg["value"] = jnp.arange(size)
