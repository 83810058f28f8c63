"""Digits: the random split of scikit-learn's bundled data, bad arguments, no scikit-learn."""

import sys

import numpy as np
import pytest

from numpyro_pl.datasets import load_digits_dataset


def test_digits_split():
    load_digits = pytest.importorskip("sklearn.datasets").load_digits
    train, test = load_digits_dataset(num_test=300, seed=1)
    assert train.X.shape == (1497, 64) and test.X.shape == (300, 64)
    assert train.X.dtype == np.float32 and train.y.dtype == np.int32
    assert 0.0 <= train.X.min() and train.X.max() <= 1.0
    assert set(np.unique(train.y)) == set(range(10))
    X, y = load_digits(return_X_y=True)  # the two sets partition the data
    full = zip(map(bytes, (X / 16).astype(np.float32)), y.tolist(), strict=True)
    both = zip(
        map(bytes, np.concatenate([train.X, test.X])),
        np.concatenate([train.y, test.y]).tolist(),
        strict=True,
    )
    assert sorted(both) == sorted(full)
    again = load_digits_dataset(num_test=300, seed=1)
    np.testing.assert_array_equal(again.test.X, test.X)
    assert not np.array_equal(load_digits_dataset(num_test=300, seed=2).test.y, test.y)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(num_test=0), ValueError),
        (dict(num_test=1797), ValueError),
        (dict(seed="0"), TypeError),
    ],
)
def test_digits_bad_arguments(kwargs, error):
    pytest.importorskip("sklearn")
    with pytest.raises(error, match=next(iter(kwargs))):
        load_digits_dataset(**kwargs)


def test_digits_without_sklearn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install numpyro-pl\[examples\]"):
        load_digits_dataset()
