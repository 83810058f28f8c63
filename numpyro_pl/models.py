r"""
Bayesian multilayer perceptrons, and the conversion between the paper's scale and NumPyro's.

The paper (Zambon et al., arXiv:2603.15367) samples :math:`\exp(-U_\mathrm{paper}/T_\mathrm{paper})`
with the mean cross-entropy over the :math:`P` training examples plus an L2 term,

.. math::

    U_\mathrm{paper}(w) = \frac{1}{P} \sum_{\mu=1}^{P} \mathrm{CE}(f(x_\mu; w), y_\mu)
        + \frac{\lambda}{2} |w|^2 .

The model of :func:`bayesian_mlp`, with a :math:`\mathrm{Normal}(0, \sigma_p)` prior on every
weight and bias and a categorical likelihood, has the potential energy

.. math::

    U(w) = \sum_{\mu=1}^{P} \mathrm{CE}(f(x_\mu; w), y_\mu) + \frac{|w|^2}{2 \sigma_p^2}
        + \mathrm{const} = P\, U_\mathrm{paper}(w) + \mathrm{const}
    \quad \text{for} \quad \sigma_p = 1/\sqrt{\lambda P},

so sampling it at :math:`T = P\, T_\mathrm{paper}` (``PseudoLangevin(model,
temperature=T)``, or NUTS on :func:`~numpyro_pl.tempered` ``(model, T)``) targets the
paper's distribution: see :func:`paper_to_numpyro`.
"""

import math
import numbers
from collections.abc import Sequence
from itertools import pairwise

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from numpyro_pl.validation import check_int, check_real

__all__ = ["bayesian_mlp", "mlp_forward", "num_params", "paper_to_numpyro", "numpyro_to_paper"]

_ACTIVATIONS = {"relu": jax.nn.relu, "tanh": jnp.tanh}
_LIKELIHOODS = ("categorical", "normal")


def _check_widths(widths):
    if isinstance(widths, str) or not isinstance(widths, Sequence):
        raise TypeError(f"`widths` must be a sequence of integers, got {type(widths).__name__}.")
    if len(widths) < 2 or not all(
        isinstance(w, numbers.Integral) and not isinstance(w, bool) and w >= 1 for w in widths
    ):
        raise ValueError(
            "`widths` must hold at least two positive integers (input, ..., output), "
            f"got {widths!r}."
        )
    return tuple(int(w) for w in widths)


def _activation_fn(activation):
    if isinstance(activation, str):
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"`activation` must be one of {sorted(_ACTIVATIONS)} or a callable, "
                f"got {activation!r}."
            )
        return _ACTIVATIONS[activation]
    if not callable(activation):
        raise TypeError(f"`activation` must be a string or a callable, got {activation!r}.")
    return activation


def num_params(widths):
    r"""Number of weights and biases of an MLP with layer widths ``widths``.

    :param widths: layer widths, input and output included.
    :return: :math:`\sum_l (n_l + 1)\, n_{l+1}`.

    **Example**

    .. doctest::

        >>> from numpyro_pl.models import num_params
        >>> num_params([100, 50, 100, 10]), num_params([100, 5000, 100, 10])
        (11160, 1006110)
    """
    widths = _check_widths(widths)
    return sum((n_in + 1) * n_out for n_in, n_out in pairwise(widths))


def mlp_forward(params, X, *, activation="relu", activate_output=False):
    """The output of the MLP (the logits, or the regression mean) for one set of parameters.

    The layers are ``h <- activation(h @ W{l} + b{l})``, for ``l = 0, 1, ...`` as long as
    ``params`` holds ``W{l}``; the activation follows the last layer only with
    ``activate_output=True``. Other entries of ``params`` are ignored, so a draw of
    :meth:`MCMC.get_samples <numpyro.infer.MCMC.get_samples>` can be passed as it is; map
    over draws with :func:`jax.vmap`.

    :param dict params: ``{"W0": (n_0, n_1), "b0": (n_1,), "W1": ...}``, the sample sites
        of :func:`bayesian_mlp`.
    :param X: inputs, shape ``(N, n_0)``.
    :param activation: ``"relu"``, ``"tanh"`` or a callable.
    :param bool activate_output: apply the activation to the output layer too.
    :return: array of shape ``(N, n_L)``.

    **Example**

    .. doctest::

        >>> import jax.numpy as jnp
        >>> from numpyro_pl.models import mlp_forward
        >>> params = {"W0": jnp.ones((3, 2)), "b0": jnp.array([0.0, -4.0])}
        >>> mlp_forward(params, jnp.ones((1, 3)), activate_output=True)
        Array([[3., 0.]], dtype=float32)
    """
    activation = _activation_fn(activation)
    num_layers = 0
    while f"W{num_layers}" in params:
        num_layers += 1
    if num_layers == 0 or any(f"b{i}" not in params for i in range(num_layers)):
        raise ValueError(f"`params` must hold W0, b0, W1, b1, ..., got keys {sorted(params)}.")
    h = X
    for i in range(num_layers):
        h = h @ params[f"W{i}"] + params[f"b{i}"]
        if activate_output or i < num_layers - 1:
            h = activation(h)
    return h


def bayesian_mlp(
    widths,
    *,
    activation="relu",
    activate_output=False,
    prior_scale=1.0,
    likelihood="categorical",
    noise_scale=1.0,
):
    r"""A Bayesian MLP as a NumPyro model ``model(X, y=None)``.

    Every weight ``W{l}`` (shape ``(n_l, n_{l+1})``) and bias ``b{l}`` is a sample site
    with prior :math:`\mathrm{Normal}(0, \sigma_p)`, ``prior_scale``; the network is
    :func:`mlp_forward`. The observations sit in the full-data plate ``"data"`` and are
    indexed by it, so the same model runs under NUTS/HMC on the full data and under
    ``PseudoLangevin(model, batch_size=B)`` on minibatches. With ``y=None`` the model
    samples ``y`` (for :class:`~numpyro.infer.Predictive`). The model records no per-example
    deterministic site; compute outputs from samples with :func:`mlp_forward`.

    The paper's network is ``bayesian_mlp([100, 50, 100, 10], activate_output=True)``
    (ReLU after every layer, the output logits included), with ``prior_scale`` from
    :func:`paper_to_numpyro`.

    :param widths: layer widths, input and output included, e.g. ``[100, 50, 100, 10]``.
    :param activation: ``"relu"``, ``"tanh"`` or a callable. Default ``"relu"``.
    :param bool activate_output: apply the activation to the output layer too.
    :param float prior_scale: :math:`\sigma_p > 0`, the prior sd of every weight and bias.
    :param str likelihood: ``"categorical"`` (``y`` of shape ``(N,)``, integer classes; the
        outputs are logits) or ``"normal"`` (``y`` of shape ``(N, n_L)``, Gaussian around
        the outputs).
    :param float noise_scale: the fixed noise sd of the ``"normal"`` likelihood.
    :return: the model, a callable ``model(X, y=None)`` with ``X`` of shape ``(N, n_0)``.

    **Example**

    .. doctest::

        >>> import jax, jax.numpy as jnp
        >>> from numpyro.infer import Predictive
        >>> from numpyro_pl.models import bayesian_mlp
        >>> model = bayesian_mlp([4, 8, 3], activate_output=True)
        >>> prior = Predictive(model, num_samples=5)(jax.random.key(0), jnp.ones((10, 4)))
        >>> prior["W0"].shape, prior["b1"].shape, prior["y"].shape
        ((5, 4, 8), (5, 3), (5, 10))
    """
    widths = _check_widths(widths)
    activation = _activation_fn(activation)
    check_real("prior_scale", prior_scale, 0.0)
    if likelihood not in _LIKELIHOODS:
        raise ValueError(f"`likelihood` must be one of {_LIKELIHOODS}, got {likelihood!r}.")
    check_real("noise_scale", noise_scale, 0.0)
    y_shape = () if likelihood == "categorical" else (widths[-1],)

    def model(X, y=None):
        X = jnp.asarray(X)
        if X.ndim != 2 or X.shape[1] != widths[0]:
            raise ValueError(f"`X` must have shape (N, {widths[0]}), got {X.shape}.")
        if y is not None:
            y = jnp.asarray(y)
            if y.shape != (X.shape[0], *y_shape):
                raise ValueError(f"`y` must have shape {(X.shape[0], *y_shape)}, got {y.shape}.")
        params, prior = {}, dist.Normal(0.0, prior_scale)
        for i, (n_in, n_out) in enumerate(pairwise(widths)):
            params[f"W{i}"] = numpyro.sample(f"W{i}", prior.expand([n_in, n_out]).to_event(2))
            params[f"b{i}"] = numpyro.sample(f"b{i}", prior.expand([n_out]).to_event(1))
        with numpyro.plate("data", X.shape[0]) as idx:
            out = mlp_forward(
                params, X[idx], activation=activation, activate_output=activate_output
            )
            if likelihood == "categorical":
                obs_dist = dist.Categorical(logits=out)
            else:
                obs_dist = dist.Normal(out, noise_scale).to_event(1)
            numpyro.sample("y", obs_dist, obs=None if y is None else y[idx])

    return model


def paper_to_numpyro(num_examples, weight_decay, paper_temperature):
    r"""The NumPyro prior scale and temperature of a paper setting :math:`(P, \lambda,
    T_\mathrm{paper})`.

    .. math::

        \sigma_p = \frac{1}{\sqrt{\lambda P}}, \qquad T = P\, T_\mathrm{paper},

    so that :math:`U/T = U_\mathrm{paper}/T_\mathrm{paper} + \mathrm{const}` for the model of
    :func:`bayesian_mlp` with ``prior_scale`` :math:`\sigma_p` (see the module docstring).

    :param int num_examples: :math:`P`, the number of training examples.
    :param float weight_decay: :math:`\lambda > 0`, the L2 coefficient of the paper.
    :param float paper_temperature: :math:`T_\mathrm{paper} > 0`.
    :return: ``(prior_scale, temperature)``.

    **Example**

    .. doctest::

        >>> from numpyro_pl.models import paper_to_numpyro
        >>> prior_scale, temperature = paper_to_numpyro(100_000, 1e-5, 1e-6)
        >>> prior_scale, round(temperature, 12)
        (1.0, 0.1)
    """
    check_int("num_examples", num_examples, 1)
    check_real("weight_decay", weight_decay, 0.0)
    check_real("paper_temperature", paper_temperature, 0.0)
    return 1.0 / math.sqrt(weight_decay * num_examples), num_examples * paper_temperature


def numpyro_to_paper(num_examples, prior_scale, temperature):
    r"""The paper's weight decay and temperature of a NumPyro setting, the inverse of
    :func:`paper_to_numpyro`:

    .. math::

        \lambda = \frac{1}{\sigma_p^2 P}, \qquad T_\mathrm{paper} = T / P .

    :param int num_examples: :math:`P`, the number of training examples.
    :param float prior_scale: :math:`\sigma_p > 0`.
    :param float temperature: :math:`T > 0`.
    :return: ``(weight_decay, paper_temperature)``.

    **Example**

    .. doctest::

        >>> from numpyro_pl.models import numpyro_to_paper
        >>> weight_decay, paper_temperature = numpyro_to_paper(100_000, 1.0, 0.1)
        >>> weight_decay, round(paper_temperature, 18)
        (1e-05, 1e-06)
    """
    check_int("num_examples", num_examples, 1)
    check_real("prior_scale", prior_scale, 0.0)
    check_real("temperature", temperature, 0.0)
    return 1.0 / (prior_scale**2 * num_examples), temperature / num_examples
