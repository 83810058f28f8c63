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

from numpyro_pl.datasets.base import Dataset, Split
from numpyro_pl.datasets.digits import load_digits_dataset
from numpyro_pl.datasets.fashion_mnist import (
    ProjectedFashionMNIST,
    load_projected_fashion_mnist,
    read_idx,
)
from numpyro_pl.datasets.synthetic import KSpin, kspin, kspin_references, kspin_split

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
