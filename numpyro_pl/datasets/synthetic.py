r"""
The KSpin dataset of the paper: noisy copies of :math:`K` random :math:`\pm 1` reference
vectors.
"""

from typing import NamedTuple

import numpy as np

from numpyro_pl.datasets.base import Split, _random_signs
from numpyro_pl.validation import check_int, check_real

__all__ = ["KSpin", "kspin", "kspin_references", "kspin_split"]


class KSpin(NamedTuple):
    """A KSpin sample: examples, labels and the reference vectors they were drawn from."""

    #: examples, ``float32`` with entries :math:`\pm 1`, shape ``(N, d)``.
    X: np.ndarray
    #: classes, ``int32`` in ``[0, K)``, shape ``(N,)``.
    y: np.ndarray
    #: reference vectors, ``float32`` with entries :math:`\pm 1`, shape ``(K, d)``.
    references: np.ndarray


def kspin_references(*, num_classes=10, dim=100, seed=0):
    r"""Draw the :math:`K` reference vectors of a KSpin problem.

    :param int num_classes: :math:`K`. Default 10, as in the paper.
    :param int dim: :math:`d`. Default 100, as in the paper.
    :param int seed: seed of the draw.
    :return: ``float32`` array of shape ``(num_classes, dim)`` with i.i.d. :math:`\pm 1`
        entries.

    **Example**

    .. doctest::

        >>> from numpyro_pl.datasets import kspin_references
        >>> kspin_references(num_classes=2, dim=5, seed=0).shape
        (2, 5)
    """
    check_int("num_classes", num_classes, 1)
    check_int("dim", dim, 1)
    check_int("seed", seed, 0)
    return _random_signs(np.random.default_rng(seed), (num_classes, dim))


def kspin(num_examples, references, *, flip_prob=0.355, seed=0):
    r"""Draw KSpin examples around given reference vectors.

    Each example picks a class :math:`c` uniformly and is the reference vector of :math:`c`
    with each entry flipped, independently, with probability ``flip_prob``; its label is
    :math:`c`. A test set is drawn from the training set's ``references`` with another
    ``seed``.

    :param int num_examples: number of examples :math:`N`.
    :param references: the reference vectors, shape ``(K, d)``, entries :math:`\pm 1`
        (from :func:`kspin_references`, or the ``references`` of another :class:`KSpin`).
    :param float flip_prob: probability of flipping each entry, in [0, 1]. Default 0.355,
        as in the paper.
    :param int seed: seed of the draw of classes and flips.
    :return: a :class:`KSpin`.

    **Example**

    .. doctest::

        >>> from numpyro_pl.datasets import kspin, kspin_references
        >>> train = kspin(1000, kspin_references(seed=0), seed=1)
        >>> test = kspin(200, train.references, seed=2)
        >>> test.X.shape, test.y.dtype
        ((200, 100), dtype('int32'))
    """
    check_int("num_examples", num_examples, 1)
    references = np.asarray(references, dtype=np.float32)
    if references.ndim != 2 or references.size == 0 or np.any(np.abs(references) != 1):
        raise ValueError(
            "`references` must be a non-empty 2-D array of shape (K, d) with entries +1 or -1."
        )
    check_real("flip_prob", flip_prob, 0.0, 1.0, low_open=False, high_open=False)
    check_int("seed", seed, 0)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, references.shape[0], size=num_examples, dtype=np.int32)
    flips = rng.random((num_examples, references.shape[1]), dtype=np.float32) < flip_prob
    centres = references[y]
    return KSpin(np.where(flips, -centres, centres), y, references)


def kspin_split(num_train, num_test, *, num_classes=10, dim=100, flip_prob=0.355, seed=0):
    """Draw a KSpin training set and a test set that share their reference vectors.

    The references, the training set and the test set are drawn from three independent
    seeds derived from ``seed`` with :class:`numpy.random.SeedSequence`.

    :param int num_train: number of training examples (100 000 in the paper).
    :param int num_test: number of test examples.
    :param int num_classes: :math:`K`. Default 10.
    :param int dim: :math:`d`. Default 100.
    :param float flip_prob: probability of flipping each entry. Default 0.355.
    :param int seed: seed of the whole split.
    :return: a :class:`Split` of two :class:`KSpin` with the same ``references``.

    **Example**

    .. doctest::

        >>> import numpy as np
        >>> from numpyro_pl.datasets import kspin_split
        >>> train, test = kspin_split(1000, 200, seed=0)
        >>> np.array_equal(train.references, test.references)
        True
    """
    check_int("num_train", num_train, 1)
    check_int("num_test", num_test, 1)
    check_int("seed", seed, 0)
    ref_seed, train_seed, test_seed = (
        int(s) for s in np.random.SeedSequence(seed).generate_state(3)
    )
    references = kspin_references(num_classes=num_classes, dim=dim, seed=ref_seed)
    return Split(
        kspin(num_train, references, flip_prob=flip_prob, seed=train_seed),
        kspin(num_test, references, flip_prob=flip_prob, seed=test_seed),
    )
