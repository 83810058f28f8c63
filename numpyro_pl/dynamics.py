r"""
The pseudo-Langevin integrator: pure functions of arrays, with no model and no NumPyro.

Every function acts component by component on PyTrees with the structure of the latent
values ``z``. The symbols follow Zambon, Caruso, Zecchina and Tiana (arXiv:2603.15367),
with the argument names used throughout the package:

============================  ====================  =========================================
symbol                        argument              meaning
============================  ====================  =========================================
:math:`T`                     ``temperature``       target :math:`\propto \exp(-U/T)`
:math:`\Delta t`              ``step_size``         time step
:math:`m_1`                   ``friction``          :math:`m_1^2 = 1 - e^{-\gamma \Delta t}`
:math:`c_1`                   (derived)             :math:`c_1 = \sqrt{1 - m_1^2}`
:math:`M_i`                   ``mass``              fictitious mass of component :math:`i`
:math:`\sigma_i^2`            ``grad_var``          minibatch variance of :math:`\partial_i U`
:math:`r_i`                   ``noise_ratio``       share of the thermal noise that the
                                                    minibatch supplies
:math:`\pi_i`                 ``half_momentum``     momentum after the friction/first kick
:math:`g_i`                   ``grad``              minibatch estimate of :math:`\partial_i U`
============================  ====================  =========================================

The fluctuation-dissipation choice of the masses and of the white-noise amplitudes is

.. math::

    M_i = \frac{\sigma_i^2 \Delta t^2}{4 r_i T m_1^2}, \qquad
    a_i^2 = M_i T m_1^2 - \frac{\sigma_i^2 \Delta t^2}{4} = (1 - r_i) M_i T m_1^2 ,

and one move of the OBABO-type block (one minibatch gradient per move) is

.. math::

    w_i &\leftarrow w_i + \Delta t\, \pi_i / M_i, \qquad
    g \leftarrow g(w)\ \text{(new minibatch)}, \\
    \pi_i &\leftarrow c_1^2 \pi_i - (1 + c_1^2) \frac{\Delta t}{2} g_i
        + \sqrt{1 + c_1^2}\, \sqrt{a_i^2 - \sigma_i^2 c_1^2 \Delta t^2 / 4}\; \xi_i .

A block starts (at initialisation and whenever a momentum is redrawn) from
:math:`\pi_i = c_1 p_i - \frac{\Delta t}{2} g_i + a_i \xi_i` with
:math:`p_i \sim \mathcal{N}(0, M_i T)`, and the physical momentum at the end of a move is
:math:`p_i = c_1 (\pi_i - \frac{\Delta t}{2} g_i)
+ \sqrt{a_i^2 + \sigma_i^2 m_1^2 \Delta t^2/4}\;\xi_i`.

The naive control variant, which ignores the minibatch noise, is obtained by passing
``grad_var=0`` to the noise amplitudes while keeping the masses (see ``compensated_var``
in :mod:`numpyro_pl.core`).
"""

import jax
import jax.numpy as jnp
from jax import random

from numpyro_pl.types import ArrayTree, PRNGKey

__all__ = [
    "mass_from_grad_var",
    "noise_ratio_from_mass",
    "standard_normal_like",
    "start_half_momentum",
    "drift",
    "kick",
    "kinetic_energy",
    "max_stable_noise_ratio",
]


def _c1_squared(friction):
    return 1.0 - friction**2


def mass_from_grad_var(grad_var, noise_ratio, temperature, step_size, friction):
    r""":math:`M_i = \sigma_i^2 \Delta t^2 / (4 r_i T m_1^2)`, leaf by leaf."""
    scale = step_size**2 / (4.0 * temperature * friction**2)
    return jax.tree.map(lambda s2, r: s2 * scale / r, grad_var, noise_ratio)


def noise_ratio_from_mass(grad_var, mass, temperature, step_size, friction):
    r""":math:`r_i = \sigma_i^2 \Delta t^2 / (4 M_i T m_1^2)`, the inverse of
    :func:`mass_from_grad_var`."""
    scale = step_size**2 / (4.0 * temperature * friction**2)
    return jax.tree.map(lambda s2, m: s2 * scale / m, grad_var, mass)


def standard_normal_like(rng_key: PRNGKey, tree: ArrayTree) -> ArrayTree:
    """Independent standard normal noise with the structure, shapes and dtypes of ``tree``."""
    leaves, treedef = jax.tree.flatten(tree)
    keys = random.split(rng_key, len(leaves))
    noise = [
        random.normal(k, jnp.shape(x), jnp.result_type(x))
        for k, x in zip(keys, leaves, strict=True)
    ]
    return jax.tree.unflatten(treedef, noise)


def start_half_momentum(
    rng_key, grad, mass, compensated_var, temperature, step_size, friction
) -> ArrayTree:
    r"""Start a block from a fresh momentum :math:`p_i \sim \mathcal{N}(0, M_i T)`.

    Returns :math:`\pi_i = c_1 p_i - \frac{\Delta t}{2} g_i + a_i \xi_i`; the two Gaussian
    terms are drawn as one of variance :math:`c_1^2 M_i T + a_i^2`.

    :param grad: minibatch gradient :math:`g` at the current position.
    :param compensated_var: :math:`\sigma_i^2` for pL, zeros for the naive variant.
    """
    c1_sq = _c1_squared(friction)
    xi = standard_normal_like(rng_key, grad)

    def leaf(g, m, s2, x):
        a_sq = m * temperature * friction**2 - s2 * step_size**2 / 4.0
        return -0.5 * step_size * g + jnp.sqrt(c1_sq * m * temperature + a_sq) * x

    return jax.tree.map(leaf, grad, mass, compensated_var, xi)


def drift(z, half_momentum, mass, step_size) -> ArrayTree:
    r"""Position update :math:`w_i \leftarrow w_i + \Delta t\, \pi_i / M_i`."""
    return jax.tree.map(lambda w, p, m: w + step_size * p / m, z, half_momentum, mass)


def kick(
    half_momentum, grad, mass, compensated_var, noise, temperature, step_size, friction
) -> ArrayTree:
    r"""Inner momentum update with one fresh minibatch gradient.

    .. math::

        \pi_i \leftarrow c_1^2 \pi_i - (1 + c_1^2) \frac{\Delta t}{2} g_i
            + \sqrt{(1 + c_1^2) \left(M_i T m_1^2
                - (1 + c_1^2) \sigma_i^2 \Delta t^2/4\right)}\;\xi_i

    which is the block formula with :math:`a_i^2` substituted. ``noise`` holds the standard
    normal :math:`\xi`.
    """
    c1_sq = _c1_squared(friction)
    one_plus = 1.0 + c1_sq

    def leaf(p, g, m, s2, x):
        var = one_plus * (m * temperature * friction**2 - one_plus * s2 * step_size**2 / 4.0)
        return c1_sq * p - one_plus * 0.5 * step_size * g + jnp.sqrt(var) * x

    return jax.tree.map(leaf, half_momentum, grad, mass, compensated_var, noise)


def kinetic_energy(half_momentum, grad, mass, compensated_var, temperature, step_size, friction):
    r"""Expected kinetic energy :math:`K = \sum_i \mathbb{E}_\xi[p_i^2] / (2 M_i)` at the end
    of the current move.

    With :math:`p_i = c_1(\pi_i - \frac{\Delta t}{2} g_i) + \sqrt{a_i^2 + \sigma_i^2 m_1^2
    \Delta t^2/4}\;\xi_i`, the expectation over :math:`\xi` is
    :math:`c_1^2 (\pi_i - \frac{\Delta t}{2} g_i)^2 + M_i T m_1^2 - \sigma_i^2 c_1^2 \Delta t^2/4`.
    The kinetic temperature :math:`2K/n` averages to :math:`T` at equilibrium.
    """
    c1_sq = _c1_squared(friction)

    def leaf(p, g, m, s2):
        end = p - 0.5 * step_size * g
        p_sq = c1_sq * end**2 + m * temperature * friction**2 - s2 * c1_sq * step_size**2 / 4.0
        return jnp.sum(p_sq / m)

    parts = jax.tree.leaves(jax.tree.map(leaf, half_momentum, grad, mass, compensated_var))
    return 0.5 * sum(parts)


def max_stable_noise_ratio(friction) -> float:
    r"""The largest admissible :math:`r`: :math:`1/(1 + c_1^2)`, where the inner noise
    variance of :func:`kick` reaches zero."""
    return 1.0 / (1.0 + _c1_squared(friction))
