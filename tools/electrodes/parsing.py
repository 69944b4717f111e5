"""Formulas and charged/discharged pairs: validation, one host for both end members, exact capacity.

Gravimetric capacity is not learned: it is valence x inserted ions x F / 3.6 / molar mass of the
discharged formula unit, once the charged formula is rescaled to the same host. On the whole
shipped table this reproduces the Materials Project values to 1e-12 mAh/g.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from tools.domain.errors import ElectrodeError
from tools.electrodes.constants import FARADAY_C_PER_MOL, HOST_RTOL, ION_VALENCE, MAX_Z

_ALLOWED = re.compile(r"^[A-Za-z0-9.()\[\] ]+$")
MAX_FORMULA_CHARS = 200

CHARGED = "charged_formula"
DISCHARGED = "discharged_formula"
ION = "working_ion"


@dataclass(frozen=True)
class ParsedElectrode:
    """A validated electrode whose two end members share one host.

    `charged` is rescaled so that its host (every element but the ion) has exactly the amounts
    of the discharged host; `delta_ion` is the number of ions inserted per discharged formula unit.
    """

    working_ion: str
    valence: int
    charged: Mapping[str, float]
    discharged: Mapping[str, float]
    delta_ion: float
    host_formula: str
    """Reduced formula of the host (non-ion elements), e.g. FePO4."""
    discharged_mass_g_mol: float
    """Molar mass of the discharged formula unit, g/mol."""
    gravimetric_capacity_mah_g: float
    """Exact capacity from Faraday's law, mAh per gram of discharged material."""


def parse_formula(formula: str, role: str = "formula", field: str = "") -> dict[str, float]:
    """A chemical formula as {element symbol: amount}; ElectrodeError when it is empty, negative or unparseable.

    pymatgen alone would read 'LiXx2O4' as lithium, a dummy species Xx and oxygen: an element
    symbol that does not exist is an error here.
    """
    return dict(_parse_cached(formula, role, field))


@lru_cache(maxsize=65536)
def _parse_cached(formula: str, role: str, field: str) -> tuple[tuple[str, float], ...]:
    fields = (field,) if field else ()
    if not isinstance(formula, str) or not formula.strip():
        raise ElectrodeError(f"{role} is empty", fields)
    text = formula.strip()
    if len(text) > MAX_FORMULA_CHARS:
        raise ElectrodeError(f"{role} is longer than {MAX_FORMULA_CHARS} characters", fields)
    if "-" in text:
        raise ElectrodeError(f"{role} {text!r} contains a negative amount", fields)
    if not _ALLOWED.match(text):
        raise ElectrodeError(f"{role} {text!r} contains characters that are not allowed in a formula", fields)
    from pymatgen.core import Composition, Element

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            comp = Composition(text)
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise ElectrodeError(f"{role} {text!r} cannot be parsed: {err}", fields) from err
    amounts: list[tuple[str, float]] = []
    for species, amount in comp.items():
        if not isinstance(species, Element):
            symbol = str(species).rstrip("0+-")
            raise ElectrodeError(f"{role} {text!r} contains an unknown element symbol {symbol!r}", fields)
        if amount < 0:
            raise ElectrodeError(f"{role} {text!r} contains a negative amount", fields)
        if species.Z > MAX_Z:
            raise ElectrodeError(f"{role} {text!r} contains {species.symbol} (Z > {MAX_Z}), which the model does not cover", fields)
        if amount > 0:
            amounts.append((species.symbol, float(amount)))
    if not amounts:
        raise ElectrodeError(f"{role} {text!r} has no atoms", fields)
    return tuple(amounts)


def reduced_formula(amounts: Mapping[str, float]) -> str:
    """pymatgen's reduced formula of a composition given as a mapping."""
    from pymatgen.core import Composition

    return str(Composition(dict(amounts)).reduced_formula)


def _molar_mass(amounts: Mapping[str, float]) -> float:
    from tools.electrodes.elements import element_mass

    return float(sum(element_mass(el) * amount for el, amount in amounts.items()))


def parse_electrode(charged_formula: str, discharged_formula: str, working_ion: str) -> ParsedElectrode:
    """Validate an electrode and compute its exact gravimetric capacity.

    The charged formula is rescaled so that its host equals the discharged host; the ions
    inserted per discharged formula unit are n_ion(discharged) - n_ion(charged, rescaled).
    ElectrodeError (one line, `fields` naming the inputs at fault) for an unknown working ion,
    an unparseable formula, an ion missing from the discharged formula, hosts that differ, or a
    discharged formula with no more ion than the charged one.
    """
    ion = working_ion.strip() if isinstance(working_ion, str) else ""
    if ion not in ION_VALENCE:
        raise ElectrodeError(f"unknown working ion {working_ion!r}; supported: {', '.join(ION_VALENCE)}", (ION,))
    discharged = parse_formula(discharged_formula, "discharged formula", DISCHARGED)
    charged = parse_formula(charged_formula, "charged formula", CHARGED)
    if discharged.get(ion, 0.0) <= 0:
        raise ElectrodeError(f"working ion {ion} is missing from the discharged formula {discharged_formula.strip()!r}", (DISCHARGED,))
    host_charged = {el: a for el, a in charged.items() if el != ion}
    host_discharged = {el: a for el, a in discharged.items() if el != ion}
    if not host_charged:
        raise ElectrodeError(f"the charged formula {charged_formula.strip()!r} has no host: it holds only the working ion {ion}", (CHARGED,))
    if not host_discharged:
        raise ElectrodeError(f"the discharged formula {discharged_formula.strip()!r} has no host: it holds only the working ion {ion}", (DISCHARGED,))
    both = (CHARGED, DISCHARGED)
    if set(host_charged) != set(host_discharged):
        only = sorted(set(host_charged) ^ set(host_discharged))
        raise ElectrodeError(f"charged and discharged hosts differ: {', '.join(only)} not in both", both)
    scale = sum(host_discharged.values()) / sum(host_charged.values())
    for el, amount in host_discharged.items():
        if abs(host_charged[el] * scale - amount) > HOST_RTOL * max(amount, 1.0):
            raise ElectrodeError(
                f"charged and discharged hosts differ: {reduced_formula(host_charged)} vs {reduced_formula(host_discharged)}", both)
    charged_scaled = {el: a * scale for el, a in charged.items()}
    delta = discharged[ion] - charged_scaled.get(ion, 0.0)
    if delta <= HOST_RTOL * discharged[ion]:
        what = "less" if delta < 0 else "no more"
        raise ElectrodeError(
            f"the discharged formula {discharged_formula.strip()!r} holds {what} {ion} per host than the charged formula "
            f"{charged_formula.strip()!r} (change {delta:+.3g} per discharged formula unit); the discharged end member is the ion-rich one", both)
    valence = ION_VALENCE[ion]
    mass = _molar_mass(discharged)
    return ParsedElectrode(
        working_ion=ion,
        valence=valence,
        charged=charged_scaled,
        discharged=discharged,
        delta_ion=float(delta),
        host_formula=reduced_formula(host_discharged),
        discharged_mass_g_mol=mass,
        gravimetric_capacity_mah_g=capacity_from_counts(valence, delta, mass),
    )


def capacity_from_counts(valence: int, delta_ion: float, discharged_mass_g_mol: float) -> float:
    """Gravimetric capacity in mAh/g: valence x delta_ion x F / 3.6 / M (1 mAh = 3.6 C)."""
    return float(valence * delta_ion * FARADAY_C_PER_MOL / 3.6 / discharged_mass_g_mol)


def gravimetric_capacity(charged_formula: str, discharged_formula: str, working_ion: str) -> float:
    """Exact gravimetric capacity in mAh per gram of discharged material; ElectrodeError for a bad electrode."""
    return parse_electrode(charged_formula, discharged_formula, working_ion).gravimetric_capacity_mah_g
