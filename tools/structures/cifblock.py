"""Reading values out of a parsed CIF data block (pymatgen's dict of tags), and the space groups it names.

A block is the dict pymatgen's CifParser gives for one data_ block: tag -> value, or tag -> list
of values for looped tags. Tags are compared in lower case; '?' and '.' mean no value.
"""

from __future__ import annotations

import re
from typing import Any

_SPACE_GROUPS: dict[str, Any] = {}
"""pymatgen SpaceGroup objects by normalised symbol (None when pymatgen cannot build one)."""


def block_value(block: dict[str, Any], *keys: str) -> Any:
    """The first of the tags (lower case) the block gives a value for; None when none does (? and . are no value)."""
    lower = {k.lower(): v for k, v in block.items()}
    for key in keys:
        if key in lower:
            value = lower[key]
            if isinstance(value, list):
                value = value[0] if value else None
            if value not in (None, "?", "."):
                return value
    return None


def block_list(block: dict[str, Any], key: str) -> list[str] | None:
    """The values of a looped tag (lower case) as a list; None when the block lacks it."""
    lower = {k.lower(): v for k, v in block.items()}
    value = lower.get(key)
    if value is None:
        return None
    return value if isinstance(value, list) else [value]


def cif_number(text: object) -> float | None:
    """A CIF number such as '0.2396', '3.5(2)' or '-1' as a float; None for '?', '.' or text that is not a number."""
    raw = re.sub(r"\(\d+\)$", "", str(text).strip())
    try:
        return float(raw)
    except ValueError:
        return None


def space_group_symbol(block: dict[str, Any]) -> str | None:
    """The Hermann-Mauguin symbol the block declares, under any of the usual tags."""
    symbol = block_value(block, "_space_group_name_h-m_alt", "_symmetry_space_group_name_h-m",
                        "_space_group_name_h-m", "_symmetry_space_group_name_h-m_alt")
    return None if symbol is None else str(symbol)


def pymatgen_space_group(symbol: str | None) -> Any:
    """pymatgen's SpaceGroup for a symbol as pymatgen's CIF reader looks it up, held so its weak cache keeps it.

    pymatgen expands a symbol into operations through a weakly cached SpaceGroup whose set of
    operations costs about a second for cubic groups; without a strong reference that cost is
    paid again for every CIF that gives a symbol instead of operations. None when pymatgen has
    no such symbol (it then takes its slower fallbacks, or P1).
    """
    if not symbol:
        return None
    from pymatgen.symmetry.groups import SYMM_DATA, SpaceGroup

    key = re.sub(r"[\s_]", "", symbol.strip().strip("'\""))
    if key not in _SPACE_GROUPS:
        encoding = {re.sub(r"[\s_]", "", k): k for k in SYMM_DATA["space_group_encoding"]}
        name = encoding.get(key)
        try:
            _SPACE_GROUPS[key] = None if name is None else SpaceGroup(name)
        except ValueError:
            _SPACE_GROUPS[key] = None  # pymatgen will fail the same way and say so while parsing
    return _SPACE_GROUPS[key]


def pymatgen_space_group_number(number: int) -> Any:
    """pymatgen's SpaceGroup for an ITA number (its default setting), or None when it cannot build one."""
    from pymatgen.symmetry.groups import SpaceGroup

    key = f"#{number}"
    if key not in _SPACE_GROUPS:
        try:
            _SPACE_GROUPS[key] = SpaceGroup.from_int_number(number)
        except ValueError:
            _SPACE_GROUPS[key] = None
    return _SPACE_GROUPS[key]
