"""Element data and composition helpers for the CIF checks: radii, electronegativities, oxidation states, formulas.

pymatgen is imported lazily, inside the functions that read its element tables.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

IONIC_ELECTRONEGATIVITY_GAP = 1.0
"""Pauling electronegativity difference above which a pair is treated as ionic (ionic radii)."""


@lru_cache(maxsize=256)
def element_data(symbol: str) -> tuple[float, float, float, float, tuple[int, ...], tuple[int, ...]]:
    """Electronegativity, atomic, cationic and anionic radius (angstrom), usual and common oxidation states."""
    from pymatgen.core import Element

    with warnings.catch_warnings():
        # pymatgen warns when it has no data (noble gases); missing data is handled as NaN here.
        warnings.simplefilter("ignore")
        el = Element(symbol)
        x = float(el.X) if el.X is not None else math.nan
        atomic = float(el.atomic_radius) if el.atomic_radius is not None else math.nan
        cat = float(el.average_cationic_radius or 0.0)
        an = float(el.average_anionic_radius or 0.0)
        states = tuple(sorted(set(el.icsd_oxidation_states or ()) | set(el.common_oxidation_states or ())))
        common = tuple(el.common_oxidation_states or ())
    return x, atomic, cat, an, states, common


def anions_among(elements: Iterable[str]) -> set[str]:
    """Elements acting as anions: electronegative, with an anionic radius, near the most electronegative one."""
    data = {e: element_data(e) for e in elements}
    xs = [d[0] for d in data.values() if not math.isnan(d[0])]
    if not xs:
        return set()
    top = max(xs)
    return {e for e, d in data.items() if d[3] > 0 and d[0] >= 2.5 and d[0] >= top - 0.6}


def expected_bond_length(a: str, b: str, anions: set[str]) -> float | None:
    """Expected a-b distance (angstrom): ionic radii when electronegativities differ a lot, atomic otherwise."""
    xa, ra, ca, aa, _, _ = element_data(a)
    xb, rb, cb, ab, _, _ = element_data(b)
    a_an, b_an = a in anions, b in anions
    if a_an and b_an:
        return aa + ab
    gap = abs(xa - xb) if not (math.isnan(xa) or math.isnan(xb)) else 0.0
    if gap >= IONIC_ELECTRONEGATIVITY_GAP and a_an != b_an:
        cation_r, anion_r = (cb, aa) if a_an else (ca, ab)
        if cation_r > 0 and anion_r > 0:
            return cation_r + anion_r
    if math.isnan(ra) or math.isnan(rb):
        return None
    return ra + rb


def is_integral(comp: Any) -> bool:
    """Whether every amount of a composition is a whole number."""
    return all(abs(a - round(a)) < 1e-6 for a in comp.values())


def formula_per_unit(comp: Any) -> str:
    """A readable formula: integer compositions reduced; partly occupied ones divided by the gcd of their whole amounts."""
    from pymatgen.core import Composition

    if is_integral(comp):
        return str(comp.reduced_formula)
    whole = [round(a) for a in comp.values() if abs(a - round(a)) < 1e-6 and round(a) > 0]
    g = math.gcd(*whole) if whole else 1
    scaled = Composition({el: round(a / g, 4) for el, a in comp.items()})
    return str(scaled.reduced_formula)


def fmt_num(x: float) -> str:
    """An amount for a formula or message: three significant digits (four from 1000 on)."""
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:.4g}"


def species_text(species: Iterable[tuple[str, float]]) -> str:
    """Elements and occupancies of a site as text, e.g. Li or Ni0.8Co0.1Mn0.1."""
    return "".join(sym if abs(occ - 1) < 1e-6 else f"{sym}{occ:.3g}" for sym, occ in species)

