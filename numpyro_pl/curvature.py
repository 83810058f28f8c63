r"""
A lower bound on the masses from the curvature of the prior, so that the prior alone cannot
make a move unstable.

The masses follow the minibatch noise, :math:`M_i \propto \sigma_i^2`
(:mod:`numpyro_pl.dynamics`), and the noise comes from the data term only. Where the data
term's noise is small and the prior's curvature :math:`\kappa_i` is not, a move becomes
unstable: on a harmonic well :math:`U = \kappa w^2/2` the block of
:mod:`numpyro_pl.dynamics` is stable if and only if the *stability number*
:math:`h^2 = \Delta t^2 \kappa / M` is below 4, whatever the friction, and it samples
:math:`w` with variance

.. math::

    \langle w^2 \rangle = \frac{T}{\kappa\,(1 - h^2/4)} .

A regression with a prior of sd 0.01 and weak data blows up within 10 moves without a bound
(``tests/test_statistics.py``). Each mass is therefore kept at

.. math::

    M_i \ge \frac{\Delta t^2 \kappa_i}{s}, \qquad
    \kappa_i = \frac{\partial^2 U_\mathrm{prior}}{\partial w_i^2},

with :math:`s` = ``max_stability``: where the bound binds, the prior's share of the variance
error is :math:`s / (4 - s)`, 1 % at the kernel's default :math:`s = 0.04`. A mass does not
enter the stationary distribution, and the white noise follows the mass
(fluctuation-dissipation), so beyond that discretisation error the bound changes how fast a
component moves, not what the chain samples. It does not bound the data term's curvature,
which has no known form; see ``docs/method.md`` for what that leaves.
"""

from typing import Callable

import jax
import jax.numpy as jnp

from numpyro_pl.types import ArrayTree

__all__ = ["site_diagonal_curvature", "stability_mass_bound"]


def site_diagonal_curvature(potential_fn: Callable, z: ArrayTree) -> ArrayTree:
    r"""The diagonal of the Hessian of ``potential_fn`` at ``z``, from one Hessian-vector
    product per leaf of ``z`` with a probe of ones over that leaf:
    :math:`\kappa_i = \sum_{j \in \mathrm{site}(i)} H_{ij}`, exact when the components within
    a site are independent under ``potential_fn`` (a prior such as
    ``dist.Normal(0, s).expand(shape)``, whatever the other sites, e.g. a latent scale
    ``s``). Negative and non-finite values are returned as 0: no bound. The products run as
    one vmapped call, which holds as many copies of ``z`` as ``z`` has leaves.

    :param potential_fn: ``potential_fn(z)``, a scalar.
    :param z: where to take the curvature.

    **Example**

    .. doctest::

        >>> import jax.numpy as jnp
        >>> from numpyro_pl.curvature import site_diagonal_curvature
        >>> def prior_potential(z):  # w ~ Normal(0, 1/4), b ~ Normal(0, 1)
        ...     return 8.0 * jnp.sum(z["w"] ** 2) + 0.5 * jnp.sum(z["b"] ** 2)
        >>> kappa = site_diagonal_curvature(prior_potential, {"w": jnp.ones(2), "b": jnp.ones(1)})
        >>> kappa["w"].tolist(), kappa["b"].tolist()
        ([16.0, 16.0], [1.0])
    """
    grad_fn = jax.grad(potential_fn)
    leaves, treedef = jax.tree.flatten(z)
    # probe k is ones on leaf k and zeros elsewhere; the probes go through one vmapped HVP
    probes = treedef.unflatten(
        [
            jnp.zeros((len(leaves),) + jnp.shape(x), x.dtype).at[k].set(1)
            for k, x in enumerate(leaves)
        ]
    )
    hvps = jax.vmap(lambda probe: jax.jvp(grad_fn, (z,), (probe,))[1])(probes)
    curvature = [
        jnp.where(jnp.isfinite(h[k]) & (h[k] > 0), h[k], 0).astype(x.dtype)
        for k, (h, x) in enumerate(zip(jax.tree.leaves(hvps), leaves, strict=True))
    ]
    return treedef.unflatten(curvature)


def stability_mass_bound(curvature: ArrayTree, step_size: float, max_stability: float) -> ArrayTree:
    r""":math:`\Delta t^2 \kappa_i / s`, the smallest mass at which the curvature
    :math:`\kappa_i` (``curvature``) alone gives a stability number of at most
    :math:`s` = ``max_stability``, with :math:`\Delta t` = ``step_size``."""
    scale = step_size**2 / max_stability
    return jax.tree.map(lambda kappa: kappa * scale, curvature)
