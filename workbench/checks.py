"""Argument checks that several modules share."""

from __future__ import annotations

import numbers


def is_whole(value, minimum: int | None = None, maximum: int | None = None) -> bool:
    """True for a whole number (Python's or NumPy's; a bool is not one) from `minimum` to
    `maximum`, either end open when None. Callers raise their own error: it names the argument
    and what it is for."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return False
    return (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
