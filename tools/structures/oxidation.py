"""Oxidation states: those a CIF declares, and which states are usual for an element.

ICSD-, Materials Project- and pymatgen-written CIFs label species with their oxidation states
(type symbols Li+, Co3+, O2- and an `_atom_type_oxidation_number` loop). pymatgen then builds
`Species` (Co3+) instead of elements; the checks work on elements, so the states are taken off
the structure here and kept as a `DeclaredOxidation` for the charge and family checks, which use
them instead of inferring states, and say so. Declarations that cover only some atom types, or
give 0 for every type (placeholders), are not used (the reason is returned for the report).

The usual states of each element are data (knowledge/chemistry/oxidation_states.yaml).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from tools.structures.chemistry import element_data, fmt_num
from tools.structures.cifblock import block_list, cif_number

if TYPE_CHECKING:
    from pymatgen.core import Structure

_STATE_TOLERANCE = 0.01


@dataclass(frozen=True)
class DeclaredOxidation:
    """Oxidation states declared in a CIF: (element, state, amount in the cell) for each species present."""

    species: tuple[tuple[str, float, float], ...]

    def total_charge(self) -> float:
        """Sum of state x amount over the cell (occupancies included)."""
        return sum(state * amount for _el, state, amount in self.species)

    def element_averages(self) -> dict[str, float]:
        """Average declared state of each element (amount-weighted; mixed valence gives a fraction)."""
        charge: dict[str, float] = defaultdict(float)
        amount: dict[str, float] = defaultdict(float)
        for el, state, amt in self.species:
            charge[el] += state * amt
            amount[el] += amt
        return {el: charge[el] / amount[el] for el in charge if amount[el] > 0}

    def states(self) -> dict[str, list[float]]:
        """The distinct declared states of each element, in order of appearance."""
        found: dict[str, list[float]] = {}
        for el, state, _amt in self.species:
            if state not in found.setdefault(el, []):
                found[el].append(state)
        return found

    def text(self) -> str:
        """The declared states for a message, e.g. 'Li +1, Co +3/+4, O -2'."""
        return ", ".join(f"{el} {'/'.join(f'{s:+g}' for s in states)}" for el, states in self.states().items())


@lru_cache(maxsize=1)
def _usual_table() -> dict[str, tuple[float, ...]]:
    path = resources.files("knowledge") / "chemistry" / "oxidation_states.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {str(el): tuple(float(s) for s in states) for el, states in data["usual"].items()}


def usual_states(element: str) -> tuple[float, ...]:
    """Usual oxidation states of an element in ionic solids; every ICSD state when the element is not in the table."""
    table = _usual_table()
    if element in table:
        return table[element]
    return tuple(float(s) for s in element_data(element)[4])


def usual_range(element: str, anion: bool) -> tuple[float, float] | None:
    """Lowest and highest usual state of the sign an element takes (negative as an anion); None without data."""
    states = [s for s in usual_states(element) if (s < 0 if anion else s > 0)] or list(usual_states(element))
    return (min(states), max(states)) if states else None


def is_usual(element: str, state: float) -> bool:
    """Whether a (possibly averaged) state lies within the element's usual states of that sign; 0 always does."""
    if abs(state) < _STATE_TOLERANCE or element not in _usual_table():
        return True
    same_sign = [s for s in usual_states(element) if s * state > 0]
    return bool(same_sign) and min(same_sign) - _STATE_TOLERANCE <= state <= max(same_sign) + _STATE_TOLERANCE


def usual_text(element: str) -> str:
    """The usual states for a message, e.g. '+2, +3, +4'."""
    return ", ".join(f"{s:+g}" for s in usual_states(element)) or "none known"


def take_declared_states(structure: Structure, block: dict[str, Any]) -> tuple[DeclaredOxidation | None, str | None]:
    """Remove the oxidation states from the structure (in place); the declared states, or why they are not used.

    Returns (states, None) when the CIF declares a state for every atom type, (None, reason) when
    its declaration cannot be used (some types left out, or all 0), and (None, None) without one.
    """
    found: dict[tuple[str, float], float] = defaultdict(float)
    for site in structure:
        for sp, occ in site.species.items():
            state = getattr(sp, "oxi_state", None)
            if state is not None:
                found[(sp.symbol, float(state))] += float(occ)
    if not found:
        return None, None
    structure.remove_oxidation_states()
    missing = _undeclared_types(block)
    if missing:
        return None, (f"the CIF declares oxidation states for some atom types but not for {', '.join(missing[:6])}; "
                      "states were inferred from the composition instead")
    if all(abs(state) < _STATE_TOLERANCE for _el, state in found):
        return None, "every declared oxidation number is 0 (placeholders); states were inferred from the composition instead"
    return DeclaredOxidation(tuple((el, state, amount) for (el, state), amount in found.items())), None


def _undeclared_types(block: dict[str, Any]) -> list[str]:
    """Atom types of the sites that the _atom_type_oxidation_number loop gives no number for (as pymatgen matches them)."""
    types = block_list(block, "_atom_type_symbol") or []
    numbers = block_list(block, "_atom_type_oxidation_number") or []
    declared = {str(t) for t, n in zip(types, numbers, strict=False) if cif_number(n) is not None}
    declared |= {_bare(t) for t in declared}
    sites = block_list(block, "_atom_site_type_symbol") or block_list(block, "_atom_site_label") or []
    return sorted({str(t) for t in sites if str(t) not in declared and _bare(str(t)) not in declared})


def _bare(symbol: str) -> str:
    """A type symbol without its charge or number ('Co3+' -> 'Co', 'O1' -> 'O')."""
    return re.sub(r"[\d.]*[+-]?$", "", symbol)


def states_text(states: dict[str, float]) -> str:
    """Element states for a message, e.g. 'Li +1, Co +3.5, O -2'."""
    return ", ".join(f"{el} {'+' if s > 0 else ''}{fmt_num(s)}" for el, s in states.items())
