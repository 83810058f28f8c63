"""Argument checks shared by the package: each raises a ``TypeError`` or ``ValueError`` that
names the argument."""

import math
import numbers
from contextlib import contextmanager

__all__ = ["check_int", "check_real", "see_docs"]


@contextmanager
def see_docs(page: str):
    """Append "See ``page``." to the message of a ``ValueError`` or ``TypeError`` raised in
    the block, so that an error points to the documentation page that explains the choice.

    .. doctest::

        >>> from numpyro_pl.validation import check_int, see_docs
        >>> with see_docs("docs/parameters.md"):
        ...     check_int("batch_size", 0, 1)
        Traceback (most recent call last):
        ...
        ValueError: `batch_size` must be at least 1, got 0. See docs/parameters.md.
    """
    try:
        yield
    except (ValueError, TypeError) as err:
        if len(err.args) == 1 and isinstance(err.args[0], str) and " See docs/" not in err.args[0]:
            err.args = (f"{err.args[0]} See {page}.",)
        raise


def check_real(name, value, low=-math.inf, high=math.inf, *, low_open=True, high_open=True):
    """Check that ``value`` is a finite real number in the interval from ``low`` to ``high``
    (open or closed at each end)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {type(value).__name__}.")
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (math.isfinite(value) and above and below):
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"`{name}` must lie in {lo}{low}, {high}{hi}, got {value!r}.")


def check_int(name, value, low):
    """Check that ``value`` is an integer of at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer, got {type(value).__name__}.")
    if value < low:
        raise ValueError(f"`{name}` must be at least {low}, got {value}.")
