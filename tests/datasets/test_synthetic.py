"""KSpin: shapes and types, determinism, shared references, flip rate, bad arguments."""

import math

import numpy as np
import pytest

from numpyro_pl.datasets import kspin, kspin_references, kspin_split


def test_kspin_shapes_dtypes_labels():
    train, test = kspin_split(2000, 500, num_classes=7, dim=30, seed=3)
    for data, n in ((train, 2000), (test, 500)):
        assert data.X.shape == (n, 30) and data.X.dtype == np.float32
        assert data.y.shape == (n,) and data.y.dtype == np.int32
        assert data.references.shape == (7, 30) and data.references.dtype == np.float32
        assert set(np.unique(data.X)) == {-1.0, 1.0}
        assert set(np.unique(data.references)) <= {-1.0, 1.0}
        assert set(np.unique(data.y)) == set(range(7))


def test_kspin_paper_size_is_cheap():
    train, _ = kspin_split(100_000, 10, seed=0)
    assert train.X.shape == (100_000, 100) and train.references.shape == (10, 100)


def test_kspin_deterministic():
    a, b = kspin_split(300, 100, seed=5), kspin_split(300, 100, seed=5)
    for x, y in zip(a, b, strict=True):
        for field_x, field_y in zip(x, y, strict=True):
            np.testing.assert_array_equal(field_x, field_y)
    c = kspin_split(300, 100, seed=6)
    assert not np.array_equal(a.train.references, c.train.references)
    assert not np.array_equal(a.train.X, c.train.X)


def test_kspin_test_set_shares_references_with_another_draw():
    train, test = kspin_split(500, 500, seed=0)
    np.testing.assert_array_equal(train.references, test.references)
    assert not np.array_equal(train.X, test.X)
    again = kspin(500, train.references, seed=9)
    np.testing.assert_array_equal(again.references, train.references)
    assert not np.array_equal(again.X, train.X)


@pytest.mark.parametrize("flip_prob", [0.0, 0.1, 0.355, 1.0])
def test_kspin_flip_rate(flip_prob):
    n, d = 20_000, 50
    data = kspin(n, kspin_references(num_classes=4, dim=d, seed=1), flip_prob=flip_prob, seed=2)
    rate = np.mean(data.X != data.references[data.y])
    standard_error = math.sqrt(flip_prob * (1 - flip_prob) / (n * d))
    assert abs(rate - flip_prob) <= 5 * standard_error
    class_shares = np.bincount(data.y, minlength=4) / n
    np.testing.assert_allclose(class_shares, 0.25, atol=5 * math.sqrt(0.25 * 0.75 / n))


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        (dict(num_examples=0), ValueError, "num_examples"),
        (dict(num_examples=2.5), TypeError, "num_examples"),
        (dict(flip_prob=1.5), ValueError, "flip_prob"),
        (dict(seed=-1), ValueError, "seed"),
        (dict(references=np.zeros((2, 3))), ValueError, "references"),
        (dict(references=np.ones(3)), ValueError, "references"),
    ],
)
def test_kspin_bad_arguments(kwargs, error, name):
    args = dict(num_examples=10, references=np.ones((2, 3))) | kwargs
    with pytest.raises(error, match=name):
        kspin(args.pop("num_examples"), args.pop("references"), **args)


@pytest.mark.parametrize(
    "kwargs, name",
    [(dict(num_classes=0), "num_classes"), (dict(dim=0), "dim"), (dict(seed=-1), "seed")],
)
def test_kspin_references_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        kspin_references(**kwargs)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(num_train=0), "num_train"),
        (dict(num_test=0), "num_test"),
        (dict(num_classes=0), "num_classes"),
        (dict(seed=-1), "seed"),
    ],
)
def test_kspin_split_bad_arguments(kwargs, name):
    args = dict(num_train=10, num_test=10) | kwargs
    with pytest.raises(ValueError, match=name):
        kspin_split(args.pop("num_train"), args.pop("num_test"), **args)
