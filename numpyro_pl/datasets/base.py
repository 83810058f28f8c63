"""What the datasets share: the :class:`Dataset` and :class:`Split` containers, and random
signs."""

from typing import NamedTuple

import numpy as np

__all__ = ["Dataset", "Split"]


class Dataset(NamedTuple):
    """Examples and labels."""

    #: features, ``float32``, shape ``(N, d)``.
    X: np.ndarray
    #: class labels, ``int32``, shape ``(N,)``.
    y: np.ndarray


class Split(NamedTuple):
    """A training set and a test set."""

    train: Dataset
    test: Dataset


def _random_signs(rng, shape):
    return (2 * rng.integers(0, 2, size=shape, dtype=np.int8) - 1).astype(np.float32)
