"""Datasets: KSpin, the IDX reader and projected FashionMNIST (on synthetic files), digits."""

import gzip
import math
import struct
import sys

import numpy as np
import pytest

from numpyro_pl.datasets import (
    kspin,
    kspin_references,
    kspin_split,
    load_digits_dataset,
    load_projected_fashion_mnist,
    read_idx,
)

# --------------------------------------------------------------------------------------
# KSpin
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# IDX files and projected FashionMNIST
# --------------------------------------------------------------------------------------

_IDX_CODES = {np.dtype("u1"): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}


def write_idx(path, array, dtype="u1"):
    """Write ``array`` as an IDX file, gzipped if ``path`` ends in ``.gz``."""
    array = np.asarray(array, dtype=dtype)
    header = struct.pack(
        f">BBBB{array.ndim}I", 0, 0, _IDX_CODES[array.dtype], array.ndim, *array.shape
    )
    with (gzip.open if str(path).endswith(".gz") else open)(path, "wb") as f:
        f.write(header + array.tobytes())


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", ["u1", ">i4", ">f4"])
def test_read_idx_round_trip(tmp_path, suffix, dtype):
    array = np.arange(24).reshape(2, 3, 4) * (1 if dtype != ">f4" else 0.5)
    path = tmp_path / f"x-idx3-ubyte{suffix}"
    write_idx(path, array, dtype)
    out = read_idx(path)
    assert out.shape == (2, 3, 4) and out.dtype.isnative
    np.testing.assert_array_equal(out, array)


def test_read_idx_bad_files(tmp_path):
    bad_magic = tmp_path / "bad"
    bad_magic.write_bytes(b"\x08\x03\x00\x00" + bytes(8))
    with pytest.raises(ValueError, match="magic"):
        read_idx(bad_magic)
    short = tmp_path / "short"
    short.write_bytes(struct.pack(">BBBBI", 0, 0, 0x08, 1, 5) + bytes(3))
    with pytest.raises(ValueError, match="header announces"):
        read_idx(short)


def write_fashion_mnist(directory, rng, num_train=12, num_test=5, gz=(True, False, True, False)):
    """Tiny synthetic FashionMNIST files; returns the arrays written."""
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (num_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, num_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (num_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, num_test),
    }
    arrays["train-images-idx3-ubyte"][0] = 0  # a blank image: every projection is 0
    for (name, array), zipped in zip(arrays.items(), gz, strict=True):
        write_idx(directory / (name + (".gz" if zipped else "")), array)
    return arrays


def test_projected_fashion_mnist(tmp_path):
    arrays = write_fashion_mnist(tmp_path, np.random.default_rng(0))
    data = load_projected_fashion_mnist(tmp_path, projection_seed=4, dim=16, num_val=3)
    assert data.projection.shape == (784, 16) and set(np.unique(data.projection)) == {-1, 1}
    images = np.concatenate(
        [arrays["train-images-idx3-ubyte"], arrays["t10k-images-idx3-ubyte"]]
    ).reshape(-1, 784)
    exact = images.astype(np.int64) @ data.projection.astype(np.int64)
    expected = np.where(exact >= 0, 1.0, -1.0)
    labels = np.concatenate([arrays["train-labels-idx1-ubyte"], arrays["t10k-labels-idx1-ubyte"]])
    for split, rows in (
        (data.train, slice(0, 9)),
        (data.val, slice(9, 12)),
        (data.test, slice(12, 17)),
    ):
        assert split.X.dtype == np.float32 and split.y.dtype == np.int32
        np.testing.assert_array_equal(split.X, expected[rows])
        np.testing.assert_array_equal(split.y, labels[rows])
    np.testing.assert_array_equal(data.train.X[0], 1.0)  # sign(0) is +1
    again = load_projected_fashion_mnist(tmp_path, projection_seed=4, dim=16, num_val=3)
    np.testing.assert_array_equal(again.projection, data.projection)
    other = load_projected_fashion_mnist(tmp_path, projection_seed=5, dim=16, num_val=3)
    assert not np.array_equal(other.projection, data.projection)


def test_projected_fashion_mnist_missing_files(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((2, 28, 28)))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(2))
    with pytest.raises(FileNotFoundError) as info:
        load_projected_fashion_mnist(tmp_path)
    message = str(info.value)
    assert "train-labels-idx1-ubyte" in message and "t10k-images-idx3-ubyte" in message
    assert "train-images-idx3-ubyte'" not in message and str(tmp_path) in message
    assert "Nothing is downloaded" in message and "zalandoresearch/fashion-mnist" in message
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        load_projected_fashion_mnist(tmp_path / "does-not-exist")


def test_projected_fashion_mnist_bad_contents(tmp_path):
    arrays = write_fashion_mnist(tmp_path, np.random.default_rng(1), gz=(False,) * 4)
    with pytest.raises(ValueError, match="num_val"):
        load_projected_fashion_mnist(tmp_path, num_val=12)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", arrays["t10k-labels-idx1-ubyte"][:-1])
    with pytest.raises(ValueError, match="5 images but 4 labels"):
        load_projected_fashion_mnist(tmp_path, num_val=3)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((5, 14, 14)))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: expected \(n, 28, 28\)"):
        load_projected_fashion_mnist(tmp_path, num_val=3)


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        (dict(dim=0), ValueError, "dim"),
        (dict(num_val=-1), ValueError, "num_val"),
        (dict(projection_seed=1.0), TypeError, "projection_seed"),
    ],
)
def test_projected_fashion_mnist_bad_arguments(tmp_path, kwargs, error, name):
    with pytest.raises(error, match=name):
        load_projected_fashion_mnist(tmp_path, **kwargs)
    with pytest.raises(TypeError, match="directory"):
        load_projected_fashion_mnist(None)


# --------------------------------------------------------------------------------------
# digits
# --------------------------------------------------------------------------------------


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
