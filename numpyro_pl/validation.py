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
        ours = type(err) in (ValueError, TypeError)  # not a subclass raised by JAX
        if (
            ours
            and len(err.args) == 1
            and isinstance(err.args[0], str)
            and " See docs/" not in err.args[0]
        ):
            err.args = (f"{err.args[0]} See {page}.",)
        raise


def check_real(name, value, low=-math.inf, high=math.inf, *, low_open=True, high_open=True):
    """Check that ``value`` is a finite real number in the interval from ``low`` to ``high``
    (open or closed at each end)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {type(value).__name__}.")
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer beyond the range of a float
        finite = False
    if not (finite and above and below):
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"`{name}` must lie in {lo}{low}, {high}{hi}, got {_show(value)}.")


def check_int(name, value, low, high=None, *, low_name=None):
    """Check that ``value`` is an integer of at least ``low`` (the value of the argument
    ``low_name``, if given) and at most ``high``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer, got {type(value).__name__}.")
    if value < low:
        bound = f"`{low_name}` ({_show(low)})" if low_name else _show(low)
        raise ValueError(f"`{name}` must be at least {bound}, got {_show(value)}.")
    if high is not None and value > high:
        raise ValueError(f"`{name}` must be at most {_show(high)}, got {_show(value)}.")


def _show(value) -> str:
    """``repr(value)``, or a description of an integer too long to print."""
    try:
        text = repr(value)
    except ValueError:  # Python refuses to print integers of more than 4300 digits
        return "an integer of more than 4300 digits"
    return text if len(text) <= 60 else f"{text[:25]}...{text[-10:]} ({len(text)} characters)"
