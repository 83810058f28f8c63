r"""
The white noise :math:`\xi` of the pseudo-Langevin kick: independent, zero-mean,
unit-variance values with the structure of the latent values.

The kick injects only a fraction :math:`m_1^2 \approx 10^{-2}` of the momentum variance per
move, so the stationary momentum is a weighted sum of about :math:`1/(2 m_1^2)` draws and
close to Gaussian whatever the distribution of each draw; the fluctuation-dissipation
relation of Zambon et al. (arXiv:2603.15367) involves only the variance. Two sources:

- ``"rademacher"``: signs :math:`\pm 1`, taken 32 at a time from the bits of one random
  ``uint32`` word. JAX's default generator spends about as long on one normal value as the
  minibatch gradient of a 10⁵-parameter MLP spends per parameter, so this is what brings a
  move close to the cost of a bare gradient (``benchmarks/move_overhead.py``).
- ``"normal"``: standard normal values, as in the paper's reference implementation.

On a linear model (harmonic well, conjugate regression) every second moment of the chain is
the same for both; the equilibrium checks on neural networks are in ``docs/benchmarks.md``.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import random

from numpyro_pl.types import ArrayTree, PRNGKey

__all__ = ["WHITE_NOISE", "rademacher_like", "standard_normal_like"]

_BITS = 32


def standard_normal_like(rng_key: PRNGKey, tree: ArrayTree) -> ArrayTree:
    """Independent standard normal values with the structure, shapes and dtypes of ``tree``."""
    leaves, treedef = jax.tree.flatten(tree)
    keys = random.split(rng_key, len(leaves))
    noise = [
        random.normal(k, jnp.shape(x), jnp.result_type(x))
        for k, x in zip(keys, leaves, strict=True)
    ]
    return jax.tree.unflatten(treedef, noise)


def rademacher_like(rng_key: PRNGKey, tree: ArrayTree) -> ArrayTree:
    """Independent signs :math:`\\pm 1` (mean 0, variance 1) with the structure, shapes and
    dtypes of ``tree``: one draw of random ``uint32`` words for the whole tree, 32 signs
    from the bits of each word.

    **Example**

    .. doctest::

        >>> import jax, jax.numpy as jnp
        >>> from numpyro_pl.white_noise import rademacher_like
        >>> xi = rademacher_like(jax.random.key(0), {"w": jnp.zeros((1000, 10))})
        >>> xi["w"].shape, bool(jnp.all(jnp.abs(xi["w"]) == 1))
        ((1000, 10), True)
        >>> bool(abs(jnp.mean(xi["w"])) < 0.05 and abs(jnp.var(xi["w"]) - 1) < 1e-3)
        True
    """
    leaves, treedef = jax.tree.flatten(tree)
    sizes = [math.prod(jnp.shape(x)) for x in leaves]
    num_words = [-(-size // _BITS) for size in sizes]  # ceil(size / 32)
    words = random.bits(rng_key, (sum(num_words),), jnp.uint32)
    bits = ((words[:, None] >> jnp.arange(_BITS, dtype=jnp.uint32)) & 1).reshape(-1)
    starts = _BITS * np.cumsum([0, *num_words[:-1]])  # each leaf starts on a new word
    signs = [
        (1 - 2 * bits[start : start + size].astype(jnp.result_type(x))).reshape(jnp.shape(x))
        for x, start, size in zip(leaves, starts, sizes, strict=True)
    ]
    return jax.tree.unflatten(treedef, signs)


#: The white-noise sources by name, for the ``white_noise`` argument of the kernel.
WHITE_NOISE = {"rademacher": rademacher_like, "normal": standard_normal_like}
