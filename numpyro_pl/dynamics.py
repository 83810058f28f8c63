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

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from numpyro_pl.types import ArrayTree
from numpyro_pl.white_noise import standard_normal_like

__all__ = [
    "MoveCoefficients",
    "mass_from_grad_var",
    "move_coefficients",
    "noise_ratio_from_mass",
    "start_half_momentum",
    "drift",
    "kick",
    "kinetic_energy",
    "leaf_kinetic_energies",
    "hot_temperature_ratio",
    "num_components",
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


class MoveCoefficients(NamedTuple):
    r"""The per-component constants of a move, which change only when the masses or
    :math:`\sigma^2` do (see :func:`move_coefficients`).

    - **inverse_mass** - :math:`1 / M_i`.
    - **kick_noise_scale** - the amplitude of the white noise in :func:`kick`,
      :math:`\sqrt{(1 + c_1^2)\left(M_i T m_1^2 - (1 + c_1^2) \sigma_i^2 \Delta t^2/4\right)}`.
    - **kinetic_offset** - the part of the expected kinetic energy that does not depend on
      the momentum (see :func:`kinetic_energy`), summed over the components of each leaf:
      one scalar per leaf.
    - **kinetic_scale** - :math:`c_1^2 / 2`, a scalar.
    - **step_size** - :math:`\Delta t`, a scalar (see :func:`drift` for why it is an array
      of the state rather than a Python number).
    """

    inverse_mass: ArrayTree
    kick_noise_scale: ArrayTree
    kinetic_offset: ArrayTree
    kinetic_scale: jax.Array
    step_size: jax.Array


def move_coefficients(mass, compensated_var, temperature, step_size, friction) -> MoveCoefficients:
    r"""The constants of a move for the given masses and :math:`\sigma^2` (``compensated_var``:
    zeros for the naive variant), so that a move itself divides and takes no square root."""
    c1_sq = _c1_squared(friction)
    one_plus = 1.0 + c1_sq

    def kick_scale(m, s2):
        return jnp.sqrt(
            one_plus * (m * temperature * friction**2 - one_plus * s2 * step_size**2 / 4)
        )

    def offset(m, s2):
        return jnp.sum(0.5 * temperature * friction**2 - c1_sq * s2 * step_size**2 / (8.0 * m))

    kinetic_offset = jax.tree.map(offset, mass, compensated_var)
    dtype = jnp.result_type(*jax.tree.leaves(kinetic_offset))
    return MoveCoefficients(
        inverse_mass=jax.tree.map(lambda m: 1.0 / m, mass),
        kick_noise_scale=jax.tree.map(kick_scale, mass, compensated_var),
        kinetic_offset=kinetic_offset,
        kinetic_scale=jnp.asarray(0.5 * c1_sq, dtype),
        step_size=jnp.asarray(step_size, dtype),
    )


def drift(z, half_momentum, inverse_mass, step_size) -> ArrayTree:
    r"""Position update :math:`w_i \leftarrow w_i + \Delta t\, \pi_i / M_i`, with
    ``inverse_mass`` :math:`= 1 / M_i` and ``step_size`` :math:`= \Delta t`.

    The kernel passes :math:`\Delta t` as a traced scalar (``MoveCoefficients.step_size``),
    so that the compiled update multiplies by a broadcast scalar. On the CPU, XLA (jaxlib
    0.10) compiles an update of three whole arrays alone, :math:`w + s\,\pi` with
    :math:`s = \Delta t / M` stored, with its tiled emitter, whose code cost 0.14 of a
    minibatch gradient per move at :math:`10^5` parameters; a broadcast keeps the update in
    its loop emitter (``benchmarks/drift_emitter.py``, ``docs/benchmarks.md``).
    """
    return jax.tree.map(lambda w, p, m: w + step_size * (m * p), z, half_momentum, inverse_mass)


def kick(half_momentum, grad, kick_noise_scale, noise, step_size, friction) -> ArrayTree:
    r"""Inner momentum update with one fresh minibatch gradient.

    .. math::

        \pi_i \leftarrow c_1^2 \pi_i - (1 + c_1^2) \frac{\Delta t}{2} g_i
            + \sqrt{(1 + c_1^2) \left(M_i T m_1^2
                - (1 + c_1^2) \sigma_i^2 \Delta t^2/4\right)}\;\xi_i

    which is the block formula with :math:`a_i^2` substituted; ``kick_noise_scale`` is the
    square root (:func:`move_coefficients`) and ``noise`` holds :math:`\xi`, of zero mean
    and unit variance (:mod:`numpyro_pl.white_noise`).
    """
    c1_sq = _c1_squared(friction)
    return jax.tree.map(
        lambda p, g, a, x: c1_sq * p - (1.0 + c1_sq) * 0.5 * step_size * g + a * x,
        half_momentum,
        grad,
        kick_noise_scale,
        noise,
    )


def leaf_kinetic_energies(
    half_momentum, grad, coefficients: MoveCoefficients, batch_ndim: int = 0
) -> ArrayTree:
    r"""Expected kinetic energy :math:`K_\ell = \sum_{i \in \ell} \mathbb{E}_\xi[p_i^2] / (2 M_i)`
    of each leaf :math:`\ell` at the end of the move that used ``grad``: one value per leaf
    (per chain, with ``batch_ndim`` leading axes), summed by :func:`kinetic_energy`.

    With :math:`p_i = c_1(\pi_i - \frac{\Delta t}{2} g_i) + \sqrt{a_i^2 + \sigma_i^2 m_1^2
    \Delta t^2/4}\;\xi_i`, the expectation over :math:`\xi` is
    :math:`c_1^2 (\pi_i - \frac{\Delta t}{2} g_i)^2 + M_i T m_1^2 - \sigma_i^2 c_1^2 \Delta t^2/4`,
    so :math:`K_\ell = \frac{c_1^2}{2} \sum_{i \in \ell} (\pi_i - \frac{\Delta t}{2} g_i)^2 / M_i`
    plus the leaf's ``coefficients.kinetic_offset``. The kinetic temperature
    :math:`2K_\ell/n_\ell` of a leaf of :math:`n_\ell` components averages to :math:`T` at
    equilibrium.

    :param batch_ndim: leading axes (chains) that are not summed over.
    """

    def leaf(p, g, inv_m, offset):
        axes = tuple(range(batch_ndim, jnp.ndim(p)))
        half_step = jnp.expand_dims(0.5 * coefficients.step_size, axes)
        return (
            coefficients.kinetic_scale * jnp.sum(inv_m * (p - half_step * g) ** 2, axis=axes)
            + offset
        )

    return jax.tree.map(
        leaf, half_momentum, grad, coefficients.inverse_mass, coefficients.kinetic_offset
    )


def kinetic_energy(half_momentum, grad, coefficients: MoveCoefficients, batch_ndim: int = 0):
    r"""Expected kinetic energy :math:`K = \sum_i \mathbb{E}_\xi[p_i^2] / (2 M_i)` at the end
    of the move that used ``grad``, the sum of :func:`leaf_kinetic_energies`. The kinetic
    temperature :math:`2K/n` averages to :math:`T` at equilibrium.

    :param batch_ndim: leading axes (chains) that are not summed over.
    """
    return sum(
        jax.tree.leaves(leaf_kinetic_energies(half_momentum, grad, coefficients, batch_ndim))
    )


#: the standard normal quantile of the probability, 1e-9, that :func:`hot_temperature_ratio`
#: allows an equilibrium kinetic temperature to pass it by chance.
_HOT_QUANTILE = 6.0


def hot_temperature_ratio(num: int, hot_ratio: float) -> float:
    r"""The kinetic temperature, in units of :math:`T`, above which a leaf of ``num``
    components counts as hot: ``hot_ratio``, or, if higher, the level that the kinetic
    temperature of ``num`` Gaussian momenta at :math:`T`, :math:`\chi^2_n T / n`, passes with
    probability :math:`10^{-9}` (the Wilson-Hilferty approximation, conservative for small
    ``num``). That level is 47 for one component, 6.6 for ten, 2.1 for a hundred and 1.29 for a
    thousand (the exact quantiles: 37, 6.3, 2.09 and 1.29).

    **Example**

    .. doctest::

        >>> from numpyro_pl.dynamics import hot_temperature_ratio
        >>> round(hot_temperature_ratio(10, 1.5), 2), hot_temperature_ratio(100_000, 1.5)
        (6.56, 1.5)
    """
    a = 2.0 / (9.0 * num)
    return max(hot_ratio, (1.0 - a + _HOT_QUANTILE * math.sqrt(a)) ** 3)


def num_components(tree, batch_ndim: int = 0) -> int:
    """Number of components :math:`n` in ``tree``, not counting ``batch_ndim`` leading axes."""
    return sum(math.prod(jnp.shape(x)[batch_ndim:]) for x in jax.tree.leaves(tree))


def max_stable_noise_ratio(friction) -> float:
    r"""The largest admissible :math:`r`: :math:`1/(1 + c_1^2)`, where the inner noise
    variance of :func:`kick` reaches zero."""
    return 1.0 / (1.0 + _c1_squared(friction))
