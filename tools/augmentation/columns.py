"""Columns of a synthetic row: which are modelled, held or derived; repairing a sampled row; the record's pin rules."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tools.augmentation.models import LEVELS_MAX, ColumnPlan
from tools.domain.design_space import CategoryParameter, DesignSpace, NumberParameter, format_value
from tools.domain.errors import AugmentationError
from tools.domain.record import ExperimentRecord


def plan_columns(record: ExperimentRecord) -> ColumnPlan:
    """Decide per column: held, derived, modelled as levels, number or category. AugmentationError when nothing varies."""
    space = record.space
    ok = record.ok_runs
    held: dict[str, float | str] = {}
    for p in space.parameters:
        if p.name in space.fixed:
            held[p.name] = space.fixed[p.name]
            continue
        values = ok[p.name].unique()
        if len(values) == 1:
            held[p.name] = str(values[0]) if isinstance(p, CategoryParameter) else float(values[0])
    pinned = {n for c in space.conditionals for n in c.then}
    derived: dict[str, str] = {}
    used: set[str] = set()
    for c in space.constraints:
        if c.equals is None:
            continue
        free = [t for t in c.terms if t not in held and t not in derived and t not in pinned and c.terms[t] != 0]
        if len(free) < 2:
            continue  # nothing left to model besides the derived term: the check alone decides
        dep = free[-1]
        if dep in used:
            continue
        others = [t for t in c.terms if t != dep]
        derived[dep] = f"{c.name}: ({format_value(c.equals)} - {' - '.join(others)}) / {format_value(c.terms[dep])}, snapped to its step"
        used.update(c.terms)
    numbers, levels, cats = [], [], []
    for p in space.parameters:
        if p.name in held or p.name in derived:
            continue
        if isinstance(p, CategoryParameter):
            cats.append(p.name)
        elif ok[p.name].nunique() <= LEVELS_MAX:
            levels.append(p.name)
        else:
            numbers.append(p.name)
    if not (numbers or levels or cats):
        raise AugmentationError(
            f"nothing to model: every parameter of the {len(ok)} ok runs is held at one value or derived "
            f"({', '.join(sorted(held))}); synthetic rows would all repeat the same conditions"
        )
    target = record.target
    if ok[target].nunique() < 2:
        raise AugmentationError(f"every ok run has the same {target}; a synthesizer has nothing to learn about it")
    return ColumnPlan(modelled_numbers=numbers, modelled_levels=levels, modelled_categories=cats, held=held,
                      derived=derived, target=target)


def modelled_columns(plan: ColumnPlan) -> list[str]:
    """The columns the synthesizer models, target last."""
    return [*plan.modelled_numbers, *plan.modelled_levels, *plan.modelled_categories, plan.target]


def _in_bounds(p: NumberParameter, value: float) -> bool:
    tol = 1e-9 * max(1.0, abs(p.low), abs(p.high))
    return math.isfinite(value) and p.low - tol <= value <= p.high + tol


def conditions_key(row: Mapping[str, Any], space: DesignSpace) -> tuple[str, ...]:
    """A row's conditions as text (numbers rounded), to recognise repeated runs."""
    out = []
    for p in space.parameters:
        v = row[p.name]
        out.append(str(v) if isinstance(p, CategoryParameter) else format_value(round(float(v), 10)))
    return tuple(out)


def repair_row(raw: Mapping[str, Any], space: DesignSpace, plan: ColumnPlan) -> dict[str, Any]:
    """Held values, conditionals, grid snapping (no clipping), derived terms."""
    row: dict[str, Any] = {}
    for p in space.parameters:
        if p.name in plan.held:
            row[p.name] = plan.held[p.name]
        elif p.name in plan.derived:
            row[p.name] = math.nan
        elif isinstance(p, CategoryParameter):
            row[p.name] = str(raw[p.name])
        else:
            try:
                row[p.name] = float(raw[p.name])
            except (TypeError, ValueError):
                row[p.name] = math.nan
    row.update(space.conditional_values(row))
    for p in space.numbers:
        if p.name not in plan.derived and _in_bounds(p, row[p.name]):
            row[p.name] = p.snap(row[p.name])
    for c in space.constraints:
        dep = next((t for t in c.terms if t in plan.derived), None)
        if dep is None or c.equals is None:
            continue
        rest = sum(coef * float(row[t]) for t, coef in c.terms.items() if t != dep)
        value = (c.equals - rest) / c.terms[dep]
        param = space.parameter(dep)
        assert isinstance(param, NumberParameter)
        row[dep] = param.snap(value) if _in_bounds(param, value) else value
    row.update(space.conditional_values(row))
    try:
        row[plan.target] = float(raw[plan.target])
    except (TypeError, ValueError):
        row[plan.target] = math.nan
    return row


PinRule = tuple[Mapping[str, str], str, float]


def pin_rules(record: ExperimentRecord) -> list[PinRule]:
    """Pinned values the record never uses outside their condition (no coated run has coating_amount 0).

    The design space allows them, but a synthetic row combining them (a B coating of amount 0)
    contradicts every run of the record, so such rows are rejected too.
    """
    ok = record.ok_runs.to_dict("records")
    rules: list[PinRule] = []
    for cond in record.space.conditionals:
        for name, value in cond.then.items():
            if not any(not cond.applies(r) and abs(float(r[name]) - value) <= 1e-9 for r in ok):
                rules.append((dict(cond.when), name, float(value)))
    return rules


def pin_problems(row: Mapping[str, Any], rules: list[PinRule]) -> set[str]:
    """Columns of the row holding a pinned value outside its condition."""
    bad = set()
    for when, name, value in rules:
        applies = all(str(row.get(k)) == v for k, v in when.items())
        if not applies and abs(float(row[name]) - value) <= 1e-9:
            bad.add(name)
    return bad


def describe_pin_rule(rule: PinRule) -> str:
    """A pin rule in words."""
    when, name, value = rule
    cond = " and ".join(f"{k} is {v}" for k, v in when.items())
    return f"{name} = {format_value(value)} only when {cond} (as in every run of the record)"


def target_problem(value: float, space: DesignSpace) -> bool:
    """True when the target is not finite or outside its plausible range."""
    lo, hi = space.target.low, space.target.high
    return not math.isfinite(value) or (lo is not None and value < lo) or (hi is not None and value > hi)
