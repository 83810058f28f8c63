"""
Projected FashionMNIST, as in the paper, from IDX files supplied by the user, and the reader
of the IDX format (:func:`read_idx`).
"""

import gzip
import math
import os
import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np

from numpyro_pl.datasets.base import Dataset, _random_signs
from numpyro_pl.validation import check_int

__all__ = ["ProjectedFashionMNIST", "load_projected_fashion_mnist", "read_idx"]


class ProjectedFashionMNIST(NamedTuple):
    """The paper's split of projected FashionMNIST, and the projection matrix."""

    #: the first 60 000 - ``num_val`` images of the training file.
    train: Dataset
    #: the last ``num_val`` images of the training file.
    val: Dataset
    #: the 10 000 images of the test file.
    test: Dataset
    #: the :math:`\pm 1` projection matrix, ``float32``, shape ``(784, dim)``.
    projection: np.ndarray


#: IDX type codes (third byte of the magic number); multi-byte values are big-endian.
_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """Read an IDX file (the format of MNIST and FashionMNIST), gzipped if its name ends
    in ``.gz``.

    The header is two zero bytes, a type code, the number of dimensions :math:`n`, then
    :math:`n` big-endian ``uint32`` sizes; the data follow in C order.

    :param path: path of the file.
    :return: the array, in native byte order.
    :raises ValueError: if the magic number is not an IDX one or the size of the data does
        not match the header.

    **Example**

    .. doctest::

        >>> import os, struct, tempfile
        >>> from numpyro_pl.datasets import read_idx
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, "labels-idx1-ubyte")
        ...     with open(path, "wb") as f:
        ...         _ = f.write(struct.pack(">BBBBI", 0, 0, 0x08, 1, 3) + bytes([7, 0, 9]))
        ...     read_idx(path)
        array([7, 0, 9], dtype=uint8)
    """
    path = Path(path)
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file: bad magic number 0x{data[:4].hex()}.")
    start = 4 + 4 * data[3]
    if len(data) < start:
        raise ValueError(f"{path}: truncated IDX header.")
    shape = struct.unpack(f">{data[3]}I", data[4:start])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    if len(data) - start != math.prod(shape) * dtype.itemsize:
        raise ValueError(
            f"{path}: the header announces shape {shape} of {dtype}, but the file holds "
            f"{len(data) - start} bytes of data."
        )
    return np.frombuffer(data, dtype, offset=start).reshape(shape).astype(dtype.newbyteorder("="))


_FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _find(directory, name):
    """The path of ``name`` or ``name.gz`` in ``directory`` (the raw file first), or None."""
    return next((p for p in (directory / name, directory / f"{name}.gz") if p.is_file()), None)


def _read_fashion_mnist(path, images):
    """Read and check (n, 28, 28) uint8 images, or (n,) uint8 labels in [0, 10)."""
    array = read_idx(path)
    shape = "(n, 28, 28)" if images else "(n,)"
    if array.dtype != np.uint8 or (array.shape[1:] != (28, 28) if images else array.ndim != 1):
        raise ValueError(f"{path}: expected {shape} uint8, got {array.shape} {array.dtype}.")
    if not images and array.size and array.max() >= 10:
        raise ValueError(f"{path}: labels must lie in [0, 10), got {array.max()}.")
    return array


def load_projected_fashion_mnist(directory, *, projection_seed=0, dim=100, num_val=10_000):
    r"""Projected FashionMNIST, as in the paper, from IDX files supplied by the user.

    Each image :math:`x \in \{0, \dots, 255\}^{784}` becomes :math:`\mathrm{sign}(x R)` with
    :math:`R` a fixed random :math:`\pm 1` matrix of shape (784, ``dim``); a zero
    projection (a blank image, or an exact cancellation) is mapped to :math:`+1`, so every
    feature is :math:`\pm 1`. The projections are exact: the sums are integers below
    :math:`2^{24}`. The last ``num_val`` images of the training file form the validation
    set, without shuffling.

    The directory must hold ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each raw or gzipped
    (``.gz``; the raw file is read when both are present), from
    https://github.com/zalandoresearch/fashion-mnist. Nothing is downloaded.

    :param directory: the directory that holds the four files.
    :param int projection_seed: seed of :math:`R`.
    :param int dim: number of projected features. Default 100, as in the paper.
    :param int num_val: size of the validation set. Default 10 000: 50k train / 10k val /
        10k test, as in the paper.
    :return: a :class:`ProjectedFashionMNIST`.
    :raises FileNotFoundError: naming the files missing from ``directory``.

    **Example**

    .. doctest::

        >>> import tempfile
        >>> from numpyro_pl.datasets import load_projected_fashion_mnist
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     load_projected_fashion_mnist(tmp)  # an empty directory
        Traceback (most recent call last):
        ...
        FileNotFoundError: Missing FashionMNIST file(s) ...
        >>> data = load_projected_fashion_mnist("~/data/fashion")  # doctest: +SKIP
        >>> data.train.X.shape, data.val.X.shape, data.test.X.shape  # doctest: +SKIP
        ((50000, 100), (10000, 100), (10000, 100))
    """
    check_int("projection_seed", projection_seed, 0)
    check_int("dim", dim, 1)
    check_int("num_val", num_val, 0)
    if not isinstance(directory, str | os.PathLike):
        raise TypeError(f"`directory` must be a path, got {type(directory).__name__}.")
    directory = Path(directory).expanduser()
    paths = {name: _find(directory, name) for name in _FASHION_MNIST_FILES}
    missing = [name for name, path in paths.items() if path is None]
    if missing:
        raise FileNotFoundError(
            f"Missing FashionMNIST file(s) {missing} in directory '{directory}' (each raw or "
            "gzipped, '.gz'). Nothing is downloaded: get the files from "
            "https://github.com/zalandoresearch/fashion-mnist and put them there."
        )
    train_x, train_y, test_x, test_y = (
        _read_fashion_mnist(path, "images" in name) for name, path in paths.items()
    )
    for images, labels in ((train_x, train_y), (test_x, test_y)):
        if len(images) != len(labels):
            raise ValueError(
                f"FashionMNIST files in '{directory}': {len(images)} images but "
                f"{len(labels)} labels."
            )
    if num_val >= len(train_x):
        raise ValueError(
            f"`num_val` must be smaller than the {len(train_x)} training images, got {num_val}."
        )
    projection = _random_signs(np.random.default_rng(projection_seed), (784, dim))

    def project(images, labels):
        z = images.reshape(len(images), 784).astype(np.float32) @ projection
        return Dataset(np.where(z >= 0, 1.0, -1.0).astype(np.float32), labels.astype(np.int32))

    num_train = len(train_x) - num_val
    return ProjectedFashionMNIST(
        project(train_x[:num_train], train_y[:num_train]),
        project(train_x[num_train:], train_y[num_train:]),
        project(test_x, test_y),
        projection,
    )
