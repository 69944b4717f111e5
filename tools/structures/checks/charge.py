"""The charge-balance check: the declared oxidation states when the CIF gives them, else usual ones, mixed valence allowed.

LiMn2O4 (Mn +3.5) and Fe3O4 (Fe +2.67) are balanced. A composition that balances only when an
element leaves its usual states (LiCoCl2 needs Co +1) is flagged CHARGE_UNUSUAL_STATE, and so is
a declared state outside them; the usual states are data (knowledge/chemistry/oxidation_states.yaml,
read by tools/structures/oxidation.py). The states found (declared, or a balancing assignment)
stay in the context for the structure-family rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tools.structures.chemistry import anions_among, element_data, fmt_num
from tools.structures.context import CheckContext
from tools.structures.oxidation import (
    DeclaredOxidation,
    is_usual,
    states_text,
    usual_range,
    usual_text,
)

_CHARGE_TOL_PER_ATOM = 0.01  # e per atom: absorbs rounded occupancies

Ranges = dict[str, tuple[float, float]]


def check_charge(ctx: CheckContext) -> None:
    """Declared oxidation states sum to zero and are usual, or else usual oxidation states can balance the composition."""
    declared = ctx.parsed.oxidation
    if declared is not None:
        _check_declared(ctx, declared)
        return
    amounts = ctx.element_amounts()
    whole = [round(a) for a in amounts.values() if abs(a - round(a)) < 1e-6 and round(a) > 0]
    units = math.gcd(*whole) if whole else 1
    verdict = charge_balance({el: a / units for el, a in amounts.items()})
    if verdict.applicable is False:
        ctx.add("CHARGE_NOT_APPLICABLE", "info", verdict.message)
    elif not verdict.balanced:
        ctx.add("CHARGE_IMBALANCE", "error", verdict.message)
    else:
        ctx.analysis.oxidation_states, ctx.analysis.oxidation_source = verdict.oxidation_states, "inferred"
        ctx.add("CHARGE_UNUSUAL_STATE" if verdict.unusual else "CHARGE_BALANCED",
                "warning" if verdict.unusual else "info", verdict.message)


def _check_declared(ctx: CheckContext, declared: DeclaredOxidation) -> None:
    """The declared states: their sum over the cell, and any that are unusual for their element."""
    total = declared.total_charge()
    atoms = sum(amount for _el, _state, amount in declared.species)
    listed = declared.text()
    if abs(total) > _CHARGE_TOL_PER_ATOM * atoms:
        ctx.add("CHARGE_IMBALANCE", "error", f"the oxidation states declared in the CIF ({listed}) sum to {total:+.3g} "
                "per cell, not 0")
    else:
        ctx.add("CHARGE_BALANCED", "info", f"the oxidation states declared in the CIF ({listed}) sum to zero; the checks "
                "used them instead of inferring states")
    for el, states in declared.states().items():
        odd = [s for s in states if not is_usual(el, s)]
        if odd:
            ctx.add("CHARGE_UNUSUAL_STATE", "warning", f"the CIF declares {el} {'/'.join(f'{s:+g}' for s in odd)}, "
                    f"an unusual oxidation state for {el} (usual: {usual_text(el)})")
    ctx.analysis.oxidation_states, ctx.analysis.oxidation_source = declared.element_averages(), "declared"


@dataclass(frozen=True)
class ChargeVerdict:
    """Outcome of the charge-balance check."""

    applicable: bool
    balanced: bool
    message: str
    oxidation_states: dict[str, float] = field(default_factory=dict)
    unusual: dict[str, float] = field(default_factory=dict)
    """Elements the balance needs outside their usual states, with the state the example gives them."""


def charge_balance(amounts: dict[str, float]) -> ChargeVerdict:
    """Whether oxidation states can balance a composition, allowing mixed valence; usual states first.

    Each element may take any average state between its lowest and highest usual state (of the
    sign it takes: positive for cations, negative for anions), so LiMn2O4 (Mn +3.5), Fe3O4
    (Fe +2.67) and LiNi0.8Co0.1Mn0.1O2 are balanced. When only the wider range of states known
    from the ICSD balances it (LiCoCl2: Co +1), the verdict is balanced with the unusual states
    named. The example assignment fixes s/p-block ions at their group state and shares the rest.
    """
    elements = [e for e, a in amounts.items() if a > 0]
    anions = anions_among(elements)
    if not anions:
        return ChargeVerdict(False, True, "no anions (intermetallic or elemental): charge balance does not apply")
    possible, missing = _possible_ranges(elements, anions)
    if missing:
        return ChargeVerdict(False, True, f"no oxidation-state data for {', '.join(missing)}: charge balance not assessed")
    usual = {el: usual_range(el, el in anions) or possible[el] for el in elements}
    tol = _CHARGE_TOL_PER_ATOM * sum(amounts[e] for e in elements)
    formula = "".join(f"{e}{fmt_num(amounts[e])}" for e in elements)
    for ranges in (usual, possible):
        if _spans_zero(amounts, elements, ranges, tol):
            example = _example_assignment(amounts, elements, anions, ranges)
            odd = {e: example[e] for e in elements if not is_usual(e, example[e])}
            if not odd:
                return ChargeVerdict(True, True, f"charge balanced with usual oxidation states (e.g. "
                                     f"{states_text(example)}; averages, mixed valence allowed)", example)
            named = "; ".join(f"{e} {example[e]:+.3g} (usual: {usual_text(e)})" for e in odd)
            return ChargeVerdict(True, True, f"{formula} balances only with an unusual oxidation state: {named} "
                                 f"(e.g. {states_text(example)})", example, odd)
    lo = sum(amounts[e] * possible[e][0] for e in elements)
    hi = sum(amounts[e] * possible[e][1] for e in elements)
    side = "negative" if hi < 0 else "positive"
    extreme = ", ".join(f"{e} {possible[e][1 if hi < 0 else 0]:+g}" for e in elements)
    return ChargeVerdict(True, False, f"{formula} cannot be charge balanced with usual oxidation states: the charge stays "
                         f"{side} (from {lo:+.3g} to {hi:+.3g} per formula; closest: {extreme})")


def _possible_ranges(elements: list[str], anions: set[str]) -> tuple[Ranges, list[str]]:
    """Lowest and highest state of each element among those known from the ICSD (of its sign); elements without data."""
    ranges: Ranges = {}
    missing = []
    for el in elements:
        states = element_data(el)[4]
        usable = [s for s in states if (s < 0 if el in anions else s > 0)] or list(states)
        if not usable:
            missing.append(el)
            continue
        ranges[el] = (float(min(usable)), float(max(usable)))
    return ranges, missing


def _spans_zero(amounts: dict[str, float], elements: list[str], ranges: Ranges, tol: float) -> bool:
    lo = sum(amounts[e] * ranges[e][0] for e in elements)
    hi = sum(amounts[e] * ranges[e][1] for e in elements)
    return lo - tol <= 0 <= hi + tol


def _example_assignment(amounts: dict[str, float], elements: list[str], anions: set[str], ranges: Ranges) -> dict[str, float]:
    """One assignment within the ranges that sums to zero: anions low, s/p-block cations high, the others shared."""
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
            x[el] = min(max(float(min(common)), lo), hi) if common else lo
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

