"""Argument checks shared by the package: each raises a ``TypeError`` or ``ValueError`` that
names the argument."""

import math
import numbers

__all__ = ["check_int", "check_real"]


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
