"""The charge-balance check, mixed valence allowed: LiMn2O4 (Mn +3.5) and Fe3O4 (Fe +2.67) are balanced."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tools.structures.chemistry import anions_among, element_data, fmt_num
from tools.structures.context import CheckContext

_CHARGE_TOL_PER_ATOM = 0.01  # e per atom: absorbs rounded occupancies


def check_charge(ctx: CheckContext) -> None:
    """Declared oxidation states sum to zero, or else usual oxidation states can balance the composition."""
    comp = ctx.structure.composition
    oxi = [getattr(sp, "oxi_state", None) for sp in comp]
    if oxi and all(o is not None for o in oxi):
        total = sum(float(o or 0.0) * float(comp[sp]) for sp, o in zip(comp, oxi, strict=True))
        tol = _CHARGE_TOL_PER_ATOM * comp.num_atoms
        if abs(total) > tol:
            ctx.add("CHARGE_IMBALANCE", "error", f"the oxidation states declared in the CIF sum to {total:+.3g} per cell, not 0")
        else:
            ctx.add("CHARGE_BALANCED", "info", "the oxidation states declared in the CIF sum to zero")
        return
    amounts = ctx.element_amounts()
    whole = [round(a) for a in amounts.values() if abs(a - round(a)) < 1e-6 and round(a) > 0]
    units = math.gcd(*whole) if whole else 1
    verdict = charge_balance({el: a / units for el, a in amounts.items()})
    if verdict.applicable is False:
        ctx.add("CHARGE_NOT_APPLICABLE", "info", verdict.message)
    elif verdict.balanced:
        ctx.add("CHARGE_BALANCED", "info", verdict.message)
    else:
        ctx.add("CHARGE_IMBALANCE", "error", verdict.message)


@dataclass(frozen=True)
class ChargeVerdict:
    """Outcome of the charge-balance check."""

    applicable: bool
    balanced: bool
    message: str
    oxidation_states: dict[str, float] = field(default_factory=dict)


def charge_balance(amounts: dict[str, float]) -> ChargeVerdict:
    """Whether usual oxidation states can balance a composition, allowing mixed valence.

    Each element may take any average oxidation state between its lowest and highest usual
    state (ICSD and common states from pymatgen; positive for cations, negative for anions), so
    LiMn2O4 (Mn +3.5), Fe3O4 (Fe +2.67) and LiNi0.8Co0.1Mn0.1O2 are balanced. The example
    assignment fixes s/p-block ions at their group state and shares the rest among the others.
    """
    elements = [e for e, a in amounts.items() if a > 0]
    anions = anions_among(elements)
    if not anions:
        return ChargeVerdict(False, True, "no anions (intermetallic or elemental): charge balance does not apply")
    ranges: dict[str, tuple[float, float]] = {}
    missing = []
    for el in elements:
        states = element_data(el)[4]
        usable = [s for s in states if (s < 0 if el in anions else s > 0)] or list(states)
        if not usable:
            missing.append(el)
            continue
        ranges[el] = (float(min(usable)), float(max(usable)))
    if missing:
        return ChargeVerdict(False, True, f"no oxidation-state data for {', '.join(missing)}: charge balance not assessed")
    total_atoms = sum(amounts[e] for e in elements)
    lo = sum(amounts[e] * ranges[e][0] for e in elements)
    hi = sum(amounts[e] * ranges[e][1] for e in elements)
    tol = _CHARGE_TOL_PER_ATOM * total_atoms
    formula = "".join(f"{e}{fmt_num(amounts[e])}" for e in elements)
    if not (lo - tol <= 0 <= hi + tol):
        side = "negative" if hi < 0 else "positive"
        extreme = ", ".join(f"{e} {ranges[e][1 if hi < 0 else 0]:+g}" for e in elements)
        return ChargeVerdict(True, False, f"{formula} cannot be charge balanced with usual oxidation states: the charge stays "
                             f"{side} (from {lo:+.3g} to {hi:+.3g} per formula; closest: {extreme})")
    example = _example_assignment(amounts, elements, anions, ranges)
    text = ", ".join(f"{e} {example[e]:+.3g}" for e in elements)
    return ChargeVerdict(True, True, f"charge balanced with usual oxidation states (e.g. {text}; averages, mixed valence allowed)", example)


def _example_assignment(amounts: dict[str, float], elements: list[str], anions: set[str],
                        ranges: dict[str, tuple[float, float]]) -> dict[str, float]:
    from pymatgen.core import Element

    x: dict[str, float] = {}
    flexible: list[str] = []
    for el in elements:
        lo, hi = ranges[el]
        if el in anions:
            x[el] = lo
        elif Element(el).block in ("s", "p"):
            x[el] = hi
        else:
            common = [s for s in element_data(el)[5] if s > 0]
            x[el] = float(min(common)) if common else lo
            flexible.append(el)
    for group in (flexible, [e for e in elements if e not in flexible]):
        for _ in range(len(group) + 1):
            residual = -sum(amounts[e] * x[e] for e in elements)
            if abs(residual) < 1e-9:
                break
            movable = [e for e in group if (ranges[e][1] - x[e] > 1e-9 if residual > 0 else x[e] - ranges[e][0] > 1e-9)]
            if not movable:
                break
            shift = residual / sum(amounts[e] for e in movable)
            for e in movable:
                x[e] = min(max(x[e] + shift, ranges[e][0]), ranges[e][1])
    return x

