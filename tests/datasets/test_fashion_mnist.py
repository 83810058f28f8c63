"""The IDX reader and projected FashionMNIST, on synthetic files."""

import gzip
import struct

import numpy as np
import pytest

from numpyro_pl.datasets import load_projected_fashion_mnist, read_idx

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
