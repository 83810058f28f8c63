r"""
The datasets of the paper (Zambon et al., arXiv:2603.15367) and a small bundled one.

- **KSpin** (:func:`kspin_references`, :func:`kspin`, :func:`kspin_split`): :math:`K`
  reference vectors with i.i.d. :math:`\pm 1` entries in :math:`d` dimensions; each example
  picks a class uniformly and flips each entry of its reference with probability
  :math:`p`. The paper uses :math:`K = 10`, :math:`d = 100`, :math:`p = 0.355` and
  100 000 training examples; test sets reuse the training references with another seed.
- **Projected FashionMNIST** (:func:`load_projected_fashion_mnist`): each 784-pixel image
  times a fixed random :math:`\pm 1` matrix of shape (784, 100), then the sign. The IDX
  files must be supplied by the user: nothing here downloads anything.
- **Digits** (:func:`load_digits_dataset`): scikit-learn's bundled 8x8 digits, for quick
  examples.

Arrays are NumPy arrays, features ``float32`` and labels ``int32``; they can be passed to a
NumPyro model as they are. All randomness comes from :func:`numpy.random.default_rng`, so
every dataset is a deterministic function of its seeds.
"""

import gzip
import math
import os
import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np

from numpyro_pl.validation import check_int, check_real

__all__ = [
    "Dataset",
    "KSpin",
    "Split",
    "ProjectedFashionMNIST",
    "kspin_references",
    "kspin",
    "kspin_split",
    "read_idx",
    "load_projected_fashion_mnist",
    "load_digits_dataset",
]


class Dataset(NamedTuple):
    """Examples and labels."""

    #: features, ``float32``, shape ``(N, d)``.
    X: np.ndarray
    #: class labels, ``int32``, shape ``(N,)``.
    y: np.ndarray


class KSpin(NamedTuple):
    """A KSpin sample: examples, labels and the reference vectors they were drawn from."""

    #: examples, ``float32`` with entries :math:`\pm 1`, shape ``(N, d)``.
    X: np.ndarray
    #: classes, ``int32`` in ``[0, K)``, shape ``(N,)``.
    y: np.ndarray
    #: reference vectors, ``float32`` with entries :math:`\pm 1`, shape ``(K, d)``.
    references: np.ndarray


class Split(NamedTuple):
    """A training set and a test set."""

    train: Dataset
    test: Dataset


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


def _random_signs(rng, shape):
    return (2 * rng.integers(0, 2, size=shape, dtype=np.int8) - 1).astype(np.float32)


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
