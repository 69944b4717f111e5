"""Space-group tables from spglib: Hermann-Mauguin symbols in any common spelling, numbers, point-group orders.

spglib is imported lazily, when the tables are first needed, and the tables are built once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class _SpaceGroupType:
    number: int
    symbol: str
    point_group_order: int


_POINT_GROUP_ORDER = {
    "1": 1, "-1": 2, "2": 2, "m": 2, "2/m": 4, "222": 4, "mm2": 4, "mmm": 8, "4": 4, "-4": 4,
    "4/m": 8, "422": 8, "4mm": 8, "-42m": 8, "4/mmm": 16, "3": 3, "-3": 6, "32": 6, "3m": 6,
    "-3m": 12, "6": 6, "-6": 6, "6/m": 12, "622": 12, "6mm": 12, "-6m2": 12, "6/mmm": 24,
    "23": 12, "m-3": 24, "432": 24, "-43m": 24, "m-3m": 48,
}  # fmt: skip


def _normalise_symbol(text: str) -> str:
    text = text.strip().strip("'\"").strip()
    text = re.sub(r"(?i)origin\s*choice\s*\d", "", text)
    text = text.split(":")[0]
    tokens = text.split()
    while len(tokens) > 1 and tokens[-1].upper() in {"H", "R", "S", "Z"}:
        tokens.pop()
    return "".join(tokens).replace("_", "").lower()


@lru_cache(maxsize=1)
def _space_group_tables() -> tuple[dict[str, int], dict[int, _SpaceGroupType]]:
    import spglib

    by_symbol: dict[str, int] = {}
    by_number: dict[int, _SpaceGroupType] = {}
    for hall in range(1, 531):
        sgt = spglib.get_spacegroup_type(hall)
        if sgt is None:
            continue
        for sym in (sgt.international_short, sgt.international, sgt.international_full):
            by_symbol.setdefault(_normalise_symbol(sym), sgt.number)
        if sgt.number not in by_number:
            by_number[sgt.number] = _SpaceGroupType(
                sgt.number, sgt.international_short, _POINT_GROUP_ORDER.get(sgt.pointgroup_international.strip(), 0)
            )
    return by_symbol, by_number


def space_group_number(symbol: str) -> int | None:
    """ITA number of a Hermann-Mauguin symbol in any common spelling ('R -3 m H', 'P21/c', 'Fd-3m:2'), or None."""
    by_symbol, _ = _space_group_tables()
    return by_symbol.get(_normalise_symbol(symbol))


def space_group_symbol(number: int) -> str | None:
    """Short Hermann-Mauguin symbol of the standard setting of a space-group number."""
    _, by_number = _space_group_tables()
    sgt = by_number.get(number)
    return None if sgt is None else sgt.symbol


def point_group_order(number: int) -> int:
    """Order of the point group of a space-group number (48 for m-3m), 0 when unknown."""
    _, by_number = _space_group_tables()
    return by_number[number].point_group_order if number in by_number else 0


def sg_text(symbol: str | None, number: int | None) -> str:
    """A space group for messages, e.g. 'R-3m (166)'; 'unknown' when neither symbol nor number is known."""
    if symbol is None and number is None:
        return "unknown"
    if number is None:
        return str(symbol)
    return f"{symbol or space_group_symbol(number)} ({number})"

