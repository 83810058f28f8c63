"""scikit-learn's bundled digits, split into a training and a test set, for quick
examples."""

import numpy as np

from numpyro_pl.datasets.base import Dataset, Split
from numpyro_pl.validation import check_int

__all__ = ["load_digits_dataset"]


def load_digits_dataset(*, num_test=500, seed=0):
    """scikit-learn's bundled digits (1797 8x8 images, 10 classes), split at random.

    Features are the 64 pixel intensities divided by 16, so that they lie in [0, 1].
    Needs scikit-learn (``pip install numpyro-pl[examples]``).

    :param int num_test: size of the test set, in [1, 1796]. Default 500.
    :param int seed: seed of the random permutation that makes the split.
    :return: a :class:`Split` of two :class:`Dataset`.

    **Example**

    .. doctest::

        >>> from numpyro_pl.datasets import load_digits_dataset
        >>> train, test = load_digits_dataset(num_test=500, seed=0)
        >>> train.X.shape, test.X.shape, float(train.X.max())
        ((1297, 64), (500, 64), 1.0)
    """
    check_int("num_test", num_test, 1)
    check_int("seed", seed, 0)
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise ImportError(
            "load_digits_dataset needs scikit-learn: pip install numpyro-pl[examples]"
        ) from err
    X, y = load_digits(return_X_y=True)
    if num_test >= len(y):
        raise ValueError(f"`num_test` must be smaller than {len(y)}, got {num_test}.")
    X, y = (X / 16.0).astype(np.float32), y.astype(np.int32)
    perm = np.random.default_rng(seed).permutation(len(y))
    test, train = perm[:num_test], perm[num_test:]
    return Split(Dataset(X[train], y[train]), Dataset(X[test], y[test]))
