"""Hypothesis strategies for constraint sets on a design space: on its grid, and rough (off-grid, out of range, unknown values)."""

from __future__ import annotations

from hypothesis import strategies as st

from tools.domain.constraints import (
    ConstraintSet,
    ParameterConstraint,
    choice,
    fixed_value,
    value_range,
)
from tools.domain.design_space import CategoryParameter, DesignSpace


@st.composite
def constraint_sets(draw, space: DesignSpace) -> ConstraintSet:
    """Up to five constraints whose values lie on the space's grid (fixed values, one- or two-sided ranges, choices)."""
    items: list[ParameterConstraint] = []
    for p in draw(st.lists(st.sampled_from(space.parameters), unique_by=lambda p: p.name, max_size=5)):
        if isinstance(p, CategoryParameter):
            values = draw(st.lists(st.sampled_from(p.values), min_size=1, max_size=len(p.values), unique=True))
            items.append(choice(p.name, allowed=values) if draw(st.booleans()) else choice(p.name, excluded=values))
        else:
            assert p.n_levels is not None
            ks = sorted(draw(st.lists(st.integers(0, p.n_levels - 1), min_size=2, max_size=2)))
            lo, hi = p.value_at(ks[0]), p.value_at(ks[1])
            kind = draw(st.sampled_from(["fixed", "upper", "lower", "both"]))
            if kind == "fixed":
                items.append(fixed_value(p.name, lo))
            else:
                items.append(value_range(p.name, lo if kind in {"lower", "both"} else None, hi if kind in {"upper", "both"} else None,
                                         lower_strict=draw(st.booleans()), upper_strict=draw(st.booleans())))
    return ConstraintSet(items=tuple(items))


@st.composite
def rough_constraint_sets(draw, space: DesignSpace) -> ConstraintSet:
    """Up to four constraints as a person might state them: limits anywhere (off the grid, outside the range), unknown categories."""
    items: list[ParameterConstraint] = []
    for p in draw(st.lists(st.sampled_from(space.parameters), unique_by=lambda p: p.name, max_size=4)):
        if isinstance(p, CategoryParameter):
            pool = st.sampled_from([*p.values, "Zn", "argon"])
            values = draw(st.lists(pool, min_size=1, max_size=3, unique=True))
            items.append(choice(p.name, allowed=values) if draw(st.booleans()) else choice(p.name, excluded=values))
        else:
            span = p.high - p.low
            number = st.floats(p.low - span / 2, p.high + span / 2, allow_nan=False, allow_infinity=False)
            kind = draw(st.sampled_from(["fixed", "upper", "lower", "both"]))
            if kind == "fixed":
                items.append(fixed_value(p.name, draw(number)))
                continue
            lo, hi = draw(number), draw(number)
            items.append(value_range(p.name, lo if kind in {"lower", "both"} else None, hi if kind in {"upper", "both"} else None,
                                     lower_strict=draw(st.booleans()), upper_strict=draw(st.booleans())))
    return ConstraintSet(items=tuple(items))
