"""Numbers as people read them in the chat: significant digits, never in exponent form.

A capacity of 1012.3 mAh/g reads "1012", not "1.01e+03"; a spread of 0.00042 reads "0.00042",
not "4.2e-04". Every chat table that prints a measured or predicted number goes through `sig`.
"""

from __future__ import annotations

import math
from typing import Any


def sig(value: float, digits: int = 3) -> str:
    """`value` to `digits` significant digits in plain decimal form; numbers with more integer digits keep them all."""
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= digits - 1:
        return f"{value:.0f}"
    decimals = digits - 1 - magnitude
    # decimals >= 1 here; trim the trailing zeros the rounding left (0.500 -> 0.5), as the 'g' format would
    return f"{value:.{decimals}f}".rstrip("0").rstrip(".")


def cell(value: Any, digits: int = 3) -> str:
    """A table cell: '-' for a missing value, `sig` for a float, the text of anything else."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return sig(value, digits)
    return str(value)


__all__ = ["cell", "sig"]
