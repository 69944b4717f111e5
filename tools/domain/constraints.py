"""What a scientist states about the next runs: fixed values, limits, ranges, choices and exclusions.

A `ParameterConstraint` says one thing about one parameter of a design space:

- a fixed value (``ni = 0.94``),
- a range with inclusive or strict ends (``calcination_temp_c < 760``, ``740 <= calcination_temp_c <= 760``),
- allowed or excluded categories (``coating in {B, Al}``, ``coating != W``, ``atmosphere = O2``).

A `ConstraintSet` holds at most one constraint per parameter. Adding a constraint on a parameter
that already has one replaces a fixed value or a choice, narrows a range end by end (a new upper
limit replaces the old upper limit; "above 740" after "below 760" gives 740 < T < 760), and a
contradiction is an error rather than a silent replacement. `check` validates a set against a
design space with one-line errors (unknown parameter, off-grid limit, empty range, unknown
category, conflict with the composition equality), and `allowed_levels`/`allowed_values` give
the narrowed grid the proposer searches. A limit on a parameter that a conditional pins (no
coating -> coating temperature 0) applies only where the parameter is active.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.domain.design_space import CategoryParameter, DesignSpace, NumberParameter, format_value
from tools.domain.errors import DesignSpaceError

_FROZEN = ConfigDict(frozen=True, extra="forbid")
_TOL = 1e-9


class Bound(BaseModel):
    """One end of a range: a value in the parameter's unit, inclusive unless `strict`."""

    model_config = _FROZEN

    value: float = Field(description="the limit, in the parameter's unit")
    strict: bool = Field(default=False, description="True for < or >, False for <= or >=")


class ParameterConstraint(BaseModel):
    """One statement about one parameter: a fixed value, a range, or a choice of categories."""

    model_config = _FROZEN

    parameter: str = Field(description="design-space parameter name")
    equals: float | str | None = Field(default=None, description="the parameter is held at this value")
    lower: Bound | None = Field(default=None, description="lowest allowed value (numbers)")
    upper: Bound | None = Field(default=None, description="highest allowed value (numbers)")
    allowed: tuple[str, ...] | None = Field(default=None, description="only these categories")
    excluded: tuple[str, ...] = Field(default=(), description="never these categories")

    @model_validator(mode="after")
    def _one_kind(self) -> ParameterConstraint:
        kinds = [self.equals is not None, self.lower is not None or self.upper is not None,
                 self.allowed is not None or bool(self.excluded)]
        if sum(kinds) != 1:
            raise ValueError(f"{self.parameter}: a constraint is a fixed value, a range, or a choice of categories")
        return self

    @property
    def kind(self) -> str:
        """'fixed', 'range' or 'choice'."""
        if self.equals is not None:
            return "fixed"
        if self.lower is not None or self.upper is not None:
            return "range"
        return "choice"

    def describe(self, unit: str = "") -> str:
        """How a person writes it: 'ni = 0.94', '740 <= calcination_temp_c < 760 degC', 'coating != W'."""
        tail = f" {unit}" if unit else ""
        if self.equals is not None:
            return f"{self.parameter} = {format_value(self.equals)}{tail if not isinstance(self.equals, str) else ''}"
        if self.lower is not None or self.upper is not None:
            if self.lower is not None and self.upper is not None:
                lo = "<" if self.lower.strict else "<="
                hi = "<" if self.upper.strict else "<="
                return f"{format_value(self.lower.value)} {lo} {self.parameter} {hi} {format_value(self.upper.value)}{tail}"
            if self.upper is not None:
                return f"{self.parameter} {'<' if self.upper.strict else '<='} {format_value(self.upper.value)}{tail}"
            assert self.lower is not None
            return f"{self.parameter} {'>' if self.lower.strict else '>='} {format_value(self.lower.value)}{tail}"
        parts = []
        if self.allowed is not None:
            allowed = [v for v in self.allowed if v not in self.excluded]
            parts.append(f"{self.parameter} = {allowed[0]}" if len(allowed) == 1 else f"{self.parameter} in {{{', '.join(allowed)}}}")
        elif self.excluded:
            parts.append(f"{self.parameter} != {self.excluded[0]}" if len(self.excluded) == 1
                         else f"{self.parameter} not in {{{', '.join(self.excluded)}}}")
        return "; ".join(parts)

    def holds(self, value: Any) -> bool:
        """True when `value` satisfies the constraint (numbers within a tiny tolerance)."""
        if self.equals is not None:
            if isinstance(self.equals, str):
                return str(value) == self.equals
            return _close(float(value), float(self.equals))
        if self.lower is not None or self.upper is not None:
            number = float(value)
            if self.lower is not None:
                if self.lower.strict and not number > self.lower.value + _TOL * max(1.0, abs(self.lower.value)):
                    return False
                if not self.lower.strict and number < self.lower.value - _TOL * max(1.0, abs(self.lower.value)):
                    return False
            if self.upper is not None:
                if self.upper.strict and not number < self.upper.value - _TOL * max(1.0, abs(self.upper.value)):
                    return False
                if not self.upper.strict and number > self.upper.value + _TOL * max(1.0, abs(self.upper.value)):
                    return False
            return True
        text = str(value)
        if self.allowed is not None and text not in self.allowed:
            return False
        return text not in self.excluded


def _tighter(a: Bound | None, b: Bound | None, upper: bool) -> Bound | None:
    """The stricter of two bounds on the same side."""
    if a is None or b is None:
        return a or b
    if _close(a.value, b.value):
        return a if a.strict else b
    if upper:
        return a if a.value < b.value else b
    return a if a.value > b.value else b


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= _TOL * max(1.0, abs(a), abs(b))


def fixed_value(parameter: str, value: float | str) -> ParameterConstraint:
    """`parameter = value`."""
    return ParameterConstraint(parameter=parameter, equals=value)


def value_range(parameter: str, lower: float | None = None, upper: float | None = None,
                lower_strict: bool = False, upper_strict: bool = False) -> ParameterConstraint:
    """`lower <= parameter <= upper` (either end optional, each inclusive unless strict)."""
    return ParameterConstraint(
        parameter=parameter,
        lower=None if lower is None else Bound(value=float(lower), strict=lower_strict),
        upper=None if upper is None else Bound(value=float(upper), strict=upper_strict),
    )


def choice(parameter: str, allowed: Iterable[str] | None = None, excluded: Iterable[str] = ()) -> ParameterConstraint:
    """`parameter in allowed` and/or `parameter not in excluded` (categories)."""
    return ParameterConstraint(parameter=parameter, allowed=None if allowed is None else tuple(allowed), excluded=tuple(excluded))


def _merge(old: ParameterConstraint, new: ParameterConstraint) -> ParameterConstraint:
    """A follow-up on the same parameter: replace a fixed value or a choice, narrow a range end by end."""
    if new.kind != old.kind or new.kind == "fixed":
        return new
    if new.kind == "range":
        return ParameterConstraint(parameter=new.parameter, lower=new.lower or old.lower, upper=new.upper or old.upper)
    if new.allowed is not None:
        return new
    excluded = tuple(dict.fromkeys([*old.excluded, *new.excluded]))
    return ParameterConstraint(parameter=new.parameter, allowed=old.allowed, excluded=excluded)


class ConstraintSet(BaseModel):
    """The constraints in force: at most one per parameter, in the order they were stated."""

    model_config = _FROZEN

    items: tuple[ParameterConstraint, ...] = Field(default=(), description="one constraint per parameter")

    @model_validator(mode="after")
    def _one_per_parameter(self) -> ConstraintSet:
        names = [c.parameter for c in self.items]
        if len(set(names)) != len(names):
            raise ValueError("a constraint set holds one constraint per parameter")
        return self

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    @property
    def parameters(self) -> list[str]:
        """Constrained parameter names, in the order they were stated."""
        return [c.parameter for c in self.items]

    def get(self, parameter: str) -> ParameterConstraint | None:
        """The constraint on `parameter`, if any."""
        return next((c for c in self.items if c.parameter == parameter), None)

    @property
    def fixed(self) -> dict[str, float | str]:
        """Parameters held at one value (fixed, or a choice that leaves one category)."""
        return {c.parameter: c.equals for c in self.items if c.equals is not None}

    def add(self, constraint: ParameterConstraint) -> ConstraintSet:
        """A set with `constraint` added, or merged with the one already on its parameter."""
        old = self.get(constraint.parameter)
        merged = constraint if old is None else _merge(old, constraint)
        items = [merged if c.parameter == constraint.parameter else c for c in self.items]
        if old is None:
            items.append(merged)
        return ConstraintSet(items=tuple(items))

    def intersect(self, constraint: ParameterConstraint) -> ConstraintSet:
        """A set where `constraint` must hold as well as the one already on its parameter (both at once).

        Two ranges keep the tighter end on each side, two choices their common values; a fixed
        value must satisfy the other constraint. DesignSpaceError (one line) when they contradict.
        """
        old = self.get(constraint.parameter)
        if old is None:
            return self.add(constraint)
        if old.kind == "fixed" or constraint.kind == "fixed":
            fixed, other = (old, constraint) if old.kind == "fixed" else (constraint, old)
            if not other.holds(fixed.equals):
                raise DesignSpaceError(f"contradictory constraints: {fixed.describe()} and {other.describe()}")
            merged = fixed
        elif old.kind != constraint.kind:
            raise DesignSpaceError(f"contradictory constraints: {old.describe()} and {constraint.describe()}")
        elif old.kind == "range":
            merged = ParameterConstraint(
                parameter=old.parameter,
                lower=_tighter(old.lower, constraint.lower, upper=False),
                upper=_tighter(old.upper, constraint.upper, upper=True),
            )
        else:
            allowed = old.allowed if constraint.allowed is None else (
                constraint.allowed if old.allowed is None else tuple(v for v in old.allowed if v in constraint.allowed))
            merged = ParameterConstraint(parameter=old.parameter, allowed=allowed,
                                         excluded=tuple(dict.fromkeys([*old.excluded, *constraint.excluded])))
        return ConstraintSet(items=tuple(merged if c.parameter == merged.parameter else c for c in self.items))

    def extend(self, constraints: Iterable[ParameterConstraint]) -> ConstraintSet:
        """A set with every constraint added in order."""
        result = self
        for c in constraints:
            result = result.add(c)
        return result

    def without(self, *parameters: str) -> ConstraintSet:
        """A set with the constraints on these parameters removed."""
        drop = set(parameters)
        return ConstraintSet(items=tuple(c for c in self.items if c.parameter not in drop))

    # -- against a design space ---------------------------------------------------------------
    def validated(self, space: DesignSpace) -> ConstraintSet:
        """The set with values typed for `space` (a fixed '0.94' becomes 0.94); DesignSpaceError (one line)
        when a constraint does not fit the space or the set is infeasible."""
        typed = ConstraintSet(items=tuple(_check_one(c, space) for c in self.items))
        typed.narrowed_space(space)  # empty ranges, one-value choices and the composition equality
        return typed

    def allowed_levels(self, space: DesignSpace, parameter: NumberParameter) -> tuple[float, float] | None:
        """The narrowed [low, high] of a number (on its grid), None when unconstrained; DesignSpaceError when empty."""
        c = self.get(parameter.name)
        if c is None or c.kind != "range":
            return None
        low, high = parameter.low, parameter.high
        if c.lower is not None:
            low = max(low, _first_at_or_above(parameter, c.lower))
        if c.upper is not None:
            high = min(high, _last_at_or_below(parameter, c.upper))
        if low > high + _TOL * max(1.0, abs(high)):
            raise DesignSpaceError(f"no allowed value of {parameter.name} satisfies {c.describe(parameter.unit)} "
                                   f"(its range is {format_value(parameter.low)} to {format_value(parameter.high)} {parameter.unit})".rstrip())
        return low, high

    def allowed_values(self, parameter: CategoryParameter) -> tuple[str, ...] | None:
        """The categories still allowed, None when unconstrained."""
        c = self.get(parameter.name)
        if c is None or c.kind != "choice":
            return None
        allowed = tuple(v for v in parameter.values if (c.allowed is None or v in c.allowed) and v not in c.excluded)
        if not allowed:
            raise DesignSpaceError(f"{c.describe()} leaves no value of {parameter.name} ({', '.join(parameter.values)})")
        return allowed

    def narrowed_space(self, space: DesignSpace) -> DesignSpace:
        """The space with fixed values held, ranges and choices narrowed; checks feasibility of its equalities.

        Numbers keep their grid: their bounds move to the first and last allowed grid values;
        a choice of one category becomes a fixed value. The result is for feasibility checks and
        search bounds; records keep being validated against the original space.
        """
        fixed: dict[str, float | str] = dict(self.fixed)
        ruled_out = self._ruled_out_by_fixed(space)
        params: list[NumberParameter | CategoryParameter] = []
        for p in space.parameters:
            if isinstance(p, NumberParameter):
                levels = self.allowed_levels(space, p)
                params.append(p if levels is None else p.model_copy(update={"low": levels[0], "high": levels[1]}))
            else:
                values = self.allowed_values(p)
                if p.name in ruled_out:
                    held = fixed.get(p.name)
                    clash = ruled_out[p.name].get(str(held)) if held is not None else None
                    values = tuple(v for v in (values or p.values) if v not in ruled_out[p.name])
                    if clash is not None or not values:
                        value, why = (str(held), clash) if clash is not None else next(iter(ruled_out[p.name].items()))
                        raise DesignSpaceError(f"contradictory constraints: {p.name} = {value} {why}")
                if values is not None and len(values) == 1:
                    fixed.setdefault(p.name, values[0])
                params.append(p if values is None else p.model_copy(update={"values": values}))
        narrowed = space.model_copy(update={"parameters": tuple(params)})
        try:
            return narrowed.with_fixed(fixed)
        except DesignSpaceError as err:
            raise DesignSpaceError(_conflict_message(str(err), self)) from err

    def _ruled_out_by_fixed(self, space: DesignSpace) -> dict[str, dict[str, str]]:
        """Categories a fixed value rules out: holding coating_time_h = 2 rules out coating none (which pins it to 0).

        category -> {value: why, e.g. "pins coating_time_h to 0, but coating_time_h = 2 is held"}. A limit
        (a range) applies only where its parameter is active; a fixed value is a statement about every proposal.
        """
        out: dict[str, dict[str, str]] = {}
        for cond in space.conditionals:
            clash = [(name, pinned) for name, pinned in cond.then.items()
                     if name in self.fixed and not isinstance(self.fixed[name], str) and not _close(float(self.fixed[name]), float(pinned))]
            if clash and len(cond.when) == 1:
                (category, value), = cond.when.items()
                name, pinned = clash[0]
                out.setdefault(category, {})[value] = (f"pins {name} to {format_value(pinned)}, but {name} = "
                                                       f"{format_value(self.fixed[name])} is held")
        return out

    def violations(self, row: Mapping[str, Any], space: DesignSpace) -> list[str]:
        """Every constraint a complete row breaks, as text (empty when the row satisfies them all)."""
        pinned = space.conditional_values(row)
        broken = []
        for c in self.items:
            if c.parameter in pinned and c.kind == "range":
                continue  # the parameter is inactive here (no coating -> coating temperature 0)
            if c.parameter not in row or not c.holds(row[c.parameter]):
                unit = _unit(space, c.parameter)
                broken.append(f"{c.parameter} = {format_value(row.get(c.parameter))} breaks {c.describe(unit)}")
        return broken

    def holding_line(self, space: DesignSpace | None = None) -> str:
        """'Holding: ni = 0.94; calcination_temp_c < 760 degC; li_source = Li2CO3' (empty when nothing is held)."""
        if not self.items:
            return ""
        return "Holding: " + "; ".join(c.describe(_unit(space, c.parameter)) for c in self.items) + "."

    @classmethod
    def from_fixed(cls, fixed: Mapping[str, float | str]) -> ConstraintSet:
        """A set of fixed values only (what `--fix` and the `fixed` argument give)."""
        return cls().extend(fixed_value(k, v) for k, v in fixed.items())


def _unit(space: DesignSpace | None, name: str) -> str:
    if space is None or name not in space.names:
        return ""
    p = space.parameter(name)
    return p.unit if isinstance(p, NumberParameter) and p.unit not in {"mole fraction", "weight fraction", "mol/mol"} else ""


def _first_at_or_above(p: NumberParameter, bound: Bound) -> float:
    """The smallest grid value satisfying a lower bound (above it when strict); above `high` when none does."""
    if p.step is None or p.n_levels is None:
        return bound.value if not bound.strict else math.nextafter(bound.value, math.inf)
    k = max(0, math.ceil(p.grid_index(bound.value) - 1e-9))
    if bound.strict and k < p.n_levels and _close(p.value_at(k), bound.value):
        k += 1
    return p.value_at(k) if k < p.n_levels else p.high + p.step  # nothing at or above: an empty range


def _last_at_or_below(p: NumberParameter, bound: Bound) -> float:
    """The largest grid value satisfying an upper bound (below it when strict); below `low` when none does."""
    if p.step is None or p.n_levels is None:
        return bound.value if not bound.strict else math.nextafter(bound.value, -math.inf)
    k = min(p.n_levels - 1, math.floor(p.grid_index(bound.value) + 1e-9))
    if bound.strict and k >= 0 and _close(p.value_at(k), bound.value):
        k -= 1
    return p.value_at(k) if k >= 0 else p.low - p.step  # nothing at or below: an empty range


def _check_one(c: ParameterConstraint, space: DesignSpace) -> ParameterConstraint:
    """The constraint with its value typed for the space; DesignSpaceError naming what does not fit."""
    param = space.parameter(c.parameter)  # unknown name -> "unknown parameter 'temp'; the parameters are ..."
    if c.kind == "fixed":
        if isinstance(param, NumberParameter):
            try:
                number = float(c.equals)  # type: ignore[arg-type]
            except (TypeError, ValueError) as err:
                raise DesignSpaceError(f"fixed {c.parameter}: '{c.equals}' is not a number") from err
            c = fixed_value(c.parameter, number)
        else:
            c = fixed_value(c.parameter, str(c.equals))
        problem = space.value_problem(c.parameter, c.equals)
        if problem:
            raise DesignSpaceError(f"cannot fix {c.parameter}: {problem}")
        return c
    if c.kind == "range":
        if not isinstance(param, NumberParameter):
            raise DesignSpaceError(f"{c.parameter} is a category ({', '.join(param.values)}): give allowed or excluded values, not a limit")
        for bound in (c.lower, c.upper):
            if bound is None:
                continue
            if not math.isfinite(bound.value):
                raise DesignSpaceError(f"{c.describe(param.unit)}: the limit is not a finite number")
            inside = param.low - _TOL <= bound.value <= param.high + _TOL
            if inside and param.problem(bound.value) is not None:
                raise DesignSpaceError(f"{c.describe(param.unit)}: {param.problem(bound.value)}")
        return c
    if not isinstance(param, CategoryParameter):
        raise DesignSpaceError(f"{c.parameter} is a number: give a value or a limit, not categories")
    for value in [*(c.allowed or ()), *c.excluded]:
        problem = param.problem(value)
        if problem:
            raise DesignSpaceError(f"{c.describe()}: {problem}")
    return c


def _conflict_message(message: str, constraints: ConstraintSet) -> str:
    """Name the stated constraints behind an infeasible space, in one line."""
    if message.startswith("infeasible"):
        stated = "; ".join(c.describe() for c in constraints.items)
        return f"{message} (stated: {stated})"
    return message


class ConstraintFields(BaseModel):
    """Constraints as a tool states them: one mapping per kind, parameter -> value(s), design-space units."""

    model_config = ConfigDict(extra="forbid")

    fixed: dict[str, float | str] = Field(
        default_factory=dict,
        description='parameters held fixed, name -> value in the design space units; compositions are mole fractions (0.94, not 94), temperatures degC, times h, dopants weight fractions. Example: {"ni": 0.94, "atmosphere": "air"}',
    )
    at_most: dict[str, float] = Field(
        default_factory=dict,
        description='inclusive upper limits, name -> value in design-space units (degC, h, mole or weight fraction). Example: {"dopant_nb": 0.003}',
    )
    below: dict[str, float] = Field(
        default_factory=dict,
        description='strict upper limits (value itself not allowed), name -> value in design-space units. Example: {"calcination_temp_c": 760}',
    )
    at_least: dict[str, float] = Field(
        default_factory=dict,
        description='inclusive lower limits, name -> value in design-space units. Example: {"calcination_temp_c": 740}',
    )
    above: dict[str, float] = Field(
        default_factory=dict,
        description="strict lower limits (value itself not allowed), name -> value in design-space units",
    )
    allowed: dict[str, list[str]] = Field(
        default_factory=dict,
        description='categorical parameters limited to these values. Example: {"coating": ["B", "Al"], "li_source": ["LiOH"]}',
    )
    excluded: dict[str, list[str]] = Field(
        default_factory=dict,
        description='categorical values never to use. Example: {"coating": ["W"], "atmosphere": ["air"]}',
    )

    def constraints(self) -> list[ParameterConstraint]:
        """The stated constraints, one per parameter and kind, in a stable order."""
        found: list[ParameterConstraint] = [fixed_value(k, v) for k, v in self.fixed.items()]
        names = list(dict.fromkeys([*self.at_least, *self.above, *self.at_most, *self.below]))
        for name in names:
            if name in self.at_least and name in self.above:
                raise DesignSpaceError(f"{name}: give either at_least or above, not both")
            if name in self.at_most and name in self.below:
                raise DesignSpaceError(f"{name}: give either at_most or below, not both")
            lower = self.at_least.get(name, self.above.get(name))
            upper = self.at_most.get(name, self.below.get(name))
            found.append(value_range(name, lower, upper, lower_strict=name in self.above, upper_strict=name in self.below))
        for name in dict.fromkeys([*self.allowed, *self.excluded]):
            found.append(choice(name, self.allowed.get(name), self.excluded.get(name, ())))
        return found

    @classmethod
    def from_set(cls, constraints: ConstraintSet) -> dict[str, Any]:
        """The non-empty fields that state `constraints` (the arguments a router sends)."""
        out: dict[str, dict[str, Any]] = {}
        for c in constraints.items:
            if c.equals is not None:
                out.setdefault("fixed", {})[c.parameter] = c.equals
            if c.lower is not None:
                out.setdefault("above" if c.lower.strict else "at_least", {})[c.parameter] = c.lower.value
            if c.upper is not None:
                out.setdefault("below" if c.upper.strict else "at_most", {})[c.parameter] = c.upper.value
            if c.allowed is not None:
                out.setdefault("allowed", {})[c.parameter] = list(c.allowed)
            if c.excluded:
                out.setdefault("excluded", {})[c.parameter] = list(c.excluded)
        return out
