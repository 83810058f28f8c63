"""Type aliases shared by the package, after BlackJAX's ``blackjax.types``."""

from typing import Any, Union

import jax
import numpy as np

#: A PyTree of JAX arrays, e.g. the dict of unconstrained latent values ``z``.
ArrayTree = Union[jax.Array, Any]
#: A PyTree of array-likes (JAX or NumPy arrays, Python scalars).
ArrayLikeTree = Union[jax.Array, np.ndarray, float, Any]
#: A JAX PRNG key, either a typed key or a legacy ``uint32[2]`` key.
PRNGKey = jax.Array

__all__ = ["ArrayTree", "ArrayLikeTree", "PRNGKey"]
