"""Element data for the composition features, from pymatgen: 25 properties of elements 1-103 and their masses.

No matminer: the Magpie-style properties come from pymatgen.core.periodic_table; a property
pymatgen lacks for an element is imputed with the mean over the elements. Built once per process.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from tools.electrodes.constants import MAX_Z

if TYPE_CHECKING:
    import numpy as np

ELEMENT_PROPERTIES: tuple[str, ...] = (
    "Z",
    "mendeleev_no",
    "atomic_mass",
    "melting_point",
    "boiling_point",
    "group",
    "row",
    "atomic_radius",
    "X",
    "molar_volume",
    "density_of_solid",
    "ionization_energy",
    "electron_affinity",
    "average_ionic_radius",
    "van_der_waals_radius",
    "bulk_modulus",
    "n_s_valence",
    "n_p_valence",
    "n_d_valence",
    "n_f_valence",
    "n_valence",
    "n_unfilled",
    "max_oxidation_state",
    "min_oxidation_state",
    "is_metal",
)

STATS: tuple[str, ...] = ("mean", "min", "max", "range", "avgdev", "mode")


def _float_attr(el: Any, name: str) -> float:
    import math
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            val = getattr(el, name)
        except (AttributeError, KeyError, ValueError, TypeError):  # pymatgen has no such datum for this element
            return math.nan
    if val is None:
        return math.nan
    try:
        return float(val)
    except (TypeError, ValueError):
        return math.nan


def _element_row(symbol: str) -> list[float]:
    import math
    import warnings

    from pymatgen.core import Element

    el = Element(symbol)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            shells = el.full_electronic_structure
        except (AttributeError, KeyError, ValueError, TypeError):
            shells = []
        try:
            oxi = list(el.common_oxidation_states) or list(el.oxidation_states)
        except (AttributeError, KeyError, ValueError, TypeError):
            oxi = []
    n_max = max((n for n, _, _ in shells), default=0)
    ns = sum(e for n, sub, e in shells if sub == "s" and n == n_max)
    np_ = sum(e for n, sub, e in shells if sub == "p" and n == n_max)
    nd = sum(e for n, sub, e in shells if sub == "d" and n == n_max - 1)
    nf = sum(e for n, sub, e in shells if sub == "f" and n == n_max - 2)
    unfilled = (2 - ns if ns else 0) + (6 - np_ if np_ else 0) + (10 - nd if nd else 0) + (14 - nf if nf else 0)
    radius = _float_attr(el, "atomic_radius_calculated")
    if math.isnan(radius):
        radius = _float_attr(el, "atomic_radius")
    row: list[float] = []
    for prop in ELEMENT_PROPERTIES:
        if prop == "atomic_radius":
            row.append(radius)
        elif prop == "n_s_valence":
            row.append(float(ns))
        elif prop == "n_p_valence":
            row.append(float(np_))
        elif prop == "n_d_valence":
            row.append(float(nd))
        elif prop == "n_f_valence":
            row.append(float(nf))
        elif prop == "n_valence":
            row.append(float(ns + np_ + nd + nf))
        elif prop == "n_unfilled":
            row.append(float(unfilled))
        elif prop == "max_oxidation_state":
            row.append(float(max(oxi)) if oxi else math.nan)
        elif prop == "min_oxidation_state":
            row.append(float(min(oxi)) if oxi else math.nan)
        elif prop == "is_metal":
            row.append(float(bool(getattr(el, "is_metal", False))))
        else:
            row.append(_float_attr(el, prop))
    return row


@lru_cache(maxsize=1)
def element_table() -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Element symbols (Z = 1..103), property matrix (NaN imputed by column mean) and masses.

    Returns:
        ``(symbols, props, masses)``: ``props`` has shape ``(103, len(ELEMENT_PROPERTIES))``;
        ``masses`` are atomic masses in g/mol.
    """
    import numpy as np
    from pymatgen.core import Element

    symbols = tuple(Element.from_Z(z).symbol for z in range(1, MAX_Z + 1))
    props = np.array([_element_row(s) for s in symbols], dtype=float)
    col_mean = np.nanmean(props, axis=0)
    nan_r, nan_c = np.where(np.isnan(props))
    props[nan_r, nan_c] = col_mean[nan_c]
    masses = np.array([float(Element(s).atomic_mass) for s in symbols])
    return symbols, props, masses


@lru_cache(maxsize=1)
def symbol_index() -> dict[str, int]:
    """Row of each element symbol in element_table()."""
    return {s: i for i, s in enumerate(element_table()[0])}


def element_mass(symbol: str) -> float:
    """Atomic mass of an element in g/mol."""
    from pymatgen.core import Element

    idx = symbol_index().get(symbol)
    if idx is None:
        return float(Element(symbol).atomic_mass)
    return float(element_table()[2][idx])
