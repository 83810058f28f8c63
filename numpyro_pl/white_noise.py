r"""
The white noise :math:`\xi` of the pseudo-Langevin kick: independent, zero-mean,
unit-variance values with the structure of the latent values.

The kick injects only a fraction :math:`m_1^2 \approx 10^{-2}` of the momentum variance per
move, so the stationary momentum is a weighted sum of about :math:`1/(2 m_1^2)` draws and
close to Gaussian whatever the distribution of each draw; the fluctuation-dissipation
relation of Zambon et al. (arXiv:2603.15367) involves only the variance. Two sources:

- ``"rademacher"``: signs :math:`\pm 1`, taken 32 at a time from the bits of one
  ``uint32`` word. The words are a counter hashed under two key words that JAX's
  generator draws afresh for every move: :math:`h(h(j \oplus k_0) + k_1)`, with :math:`h`
  the ``lowbias32`` integer hash (C. Wellons, *hash-prospector*), a bijection of 32-bit
  words chosen for its low avalanche bias. JAX's own generator (threefry, 20 rounds) costs
  3-6% of a minibatch gradient at 10⁵-10⁶ parameters for the words alone, and a normal
  value costs about as much as the gradient spends per parameter; with this source a move
  costs 1.02-1.1 bare gradients on a 2-core CPU (``benchmarks/move_overhead.py``).
  ``tests/test_white_noise.py`` checks every bit position for fairness and the signs for
  correlations across positions, moves and chains.
- ``"normal"``: standard normal values, as in the paper's reference implementation.

On a linear model (harmonic well, conjugate regression) every second moment of the chain is
the same for both; the equilibrium checks on neural networks are in ``docs/benchmarks.md``.
"""

import math

import jax
import jax.numpy as jnp
from jax import lax, random

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
    dtypes of ``tree``: one sequence of hashed ``uint32`` words for the whole tree (see the
    module description), 32 signs from the bits of each word.

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
    k0, k1 = random.bits(rng_key, (2,), jnp.uint32)
    counter = jnp.arange(sum(num_words), dtype=jnp.uint32)
    # Computed in a loop that runs once: XLA would otherwise fuse the hash into the kick and
    # recompute each word for each of its 32 signs (5% of a gradient at 10^5 parameters).
    words, _ = lax.while_loop(
        lambda carry: carry[1],
        lambda carry: (_mix32(_mix32(counter ^ k0) + k1), jnp.zeros((), bool)),
        (jnp.zeros_like(counter), jnp.ones((), bool)),
    )
    signs, start = [], 0
    for x, size, count in zip(leaves, sizes, num_words, strict=True):
        bits = (words[start : start + count, None] >> jnp.arange(_BITS, dtype=jnp.uint32)) & 1
        sign = (1 - 2 * bits.astype(jnp.result_type(x))).reshape(-1)
        signs.append((sign if size == count * _BITS else sign[:size]).reshape(jnp.shape(x)))
        start += count
    return jax.tree.unflatten(treedef, signs)


def _mix32(x):
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


#: The white-noise sources by name, for the ``white_noise`` argument of the kernel.
WHITE_NOISE = {"rademacher": rademacher_like, "normal": standard_normal_like}
