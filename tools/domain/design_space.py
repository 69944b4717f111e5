"""Design spaces as validated, frozen domain objects: parameters, fixed values, constraints.

A design space says which columns an experiment record has, what values each may take
(bounds and step for numbers, a value list for categories), which values are held fixed,
which linear constraints hold (``ni + co + mn = 1``) and which numbers collapse to a fixed
value when a category takes a value (no coating -> coating temperature 0).
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Iterable, Mapping
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tools.domain.errors import DataFileError, DesignSpaceError
from tools.domain.fileio import read_user_bytes

_FROZEN = ConfigDict(frozen=True, extra="forbid")

# Relative tolerance for "is this value on the step grid": far below any real step, far
# above float noise from CSV round trips (0.1 + 0.2 style errors).
_STEP_RTOL = 1e-6


def format_value(value: Any) -> str:
    """A value as a person writes it: numbers without float noise (755, not 755.0; 0.3, not 0.30000000000000004)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    number = float(value)
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return f"{number:.10g}"



class NumberParameter(BaseModel):
    """A numeric parameter with bounds and an optional step (grid) in its unit."""

    model_config = _FROZEN

    name: str = Field(description="column name in the experiment record")
    kind: Literal["number"] = "number"
    low: float = Field(description="lowest allowed value, in `unit`")
    high: float = Field(description="highest allowed value, in `unit`")
    step: float | None = Field(default=None, description="grid step in `unit`; None for continuous")
    unit: str = Field(default="", description="unit of the values")
    description: str = Field(default="", description="what the parameter means")

    @model_validator(mode="after")
    def _check(self) -> NumberParameter:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"{self.name}: bounds must be finite numbers")
        if self.low > self.high:
            raise ValueError(f"{self.name}: low {self.low} is above high {self.high}")
        if self.step is not None:
            if not (self.step > 0 and math.isfinite(self.step)):
                raise ValueError(f"{self.name}: step must be a positive number")
            if self.high > self.low and not self._on_grid(self.high):
                raise ValueError(
                    f"{self.name}: high {format_value(self.high)} is not low {format_value(self.low)} plus a whole number of steps {format_value(self.step)}"
                )
        return self

    @property
    def n_levels(self) -> int | None:
        """Number of grid values between the bounds, or None when continuous."""
        if self.step is None:
            return None
        return int(round((self.high - self.low) / self.step)) + 1

    def grid_index(self, value: float) -> float:
        """Position of `value` on the grid, in steps from `low` (not rounded)."""
        if self.step is None:
            raise DesignSpaceError(f"{self.name} has no step")
        return (value - self.low) / self.step

    def _on_grid(self, value: float) -> bool:
        if self.step is None:
            return True
        k = self.grid_index(value)
        return abs(k - round(k)) <= _STEP_RTOL * max(1.0, abs(k))

    def snap(self, value: float) -> float:
        """Nearest allowed value: clipped to the bounds and rounded to the step grid."""
        clipped = min(max(float(value), self.low), self.high)
        if self.step is None:
            return clipped
        k = round((clipped - self.low) / self.step)
        return self.value_at(int(k))

    def value_at(self, k: int) -> float:
        """The k-th grid value, computed in decimal so it prints cleanly (0.94, not 0.9400000001)."""
        if self.step is None:
            raise DesignSpaceError(f"{self.name} has no step")
        exact = Decimal(repr(self.low)) + Decimal(k) * Decimal(repr(self.step))
        return min(max(float(exact), self.low), self.high)

    def problem(self, value: float) -> str | None:
        """Why `value` is not allowed, or None when it is."""
        if not math.isfinite(value):
            return f"{format_value(value)} is not a finite number"
        unit = f" {self.unit}" if self.unit else ""
        tol = 1e-9 * max(1.0, abs(self.high), abs(self.low))
        if value < self.low - tol or value > self.high + tol:
            hint = self._unit_hint(value)
            negative = " (a negative amount)" if value < 0 <= self.low else ""
            return (
                f"{format_value(value)}{negative} is outside the allowed range "
                f"{format_value(self.low)} to {format_value(self.high)}{unit}{hint}"
            )
        if not self._on_grid(value):
            assert self.step is not None
            k = math.floor(self.grid_index(value) + 1e-9)
            below, above = self.value_at(k), self.value_at(k + 1)
            return (
                f"{format_value(value)} is not on the {format_value(self.step)}{unit} step "
                f"(nearest allowed: {format_value(below)} or {format_value(above)})"
            )
        return None

    def _unit_hint(self, value: float) -> str:
        """Suggest the likely unit mistake behind an out-of-range value."""
        unit = self.unit.lower()
        if "degc" in unit and self.low <= value - 273.15 <= self.high:
            return "; it looks like kelvin: give degC"
        if "fraction" in unit and value > 1 and self.low <= value / 100 <= self.high:
            return f"; it looks like a percentage: write {format_value(value / 100)}, not {format_value(value)}"
        if unit == "h" and self.low <= value / 60 <= self.high:
            return "; it looks like minutes: give hours"
        return ""


class CategoryParameter(BaseModel):
    """A categorical parameter with a fixed list of allowed values."""

    model_config = _FROZEN

    name: str = Field(description="column name in the experiment record")
    kind: Literal["category"] = "category"
    values: tuple[str, ...] = Field(description="allowed values, as written in the record")
    description: str = Field(default="", description="what the parameter means")

    @model_validator(mode="after")
    def _check(self) -> CategoryParameter:
        if not self.values:
            raise ValueError(f"{self.name}: a category needs at least one value")
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"{self.name}: duplicated category values")
        return self

    def problem(self, value: str) -> str | None:
        """Why `value` is not allowed, or None when it is."""
        if value in self.values:
            return None
        folded = {v.lower(): v for v in self.values}
        hint = f" (did you mean '{folded[value.lower()]}'?)" if value.lower() in folded else ""
        return f"'{value}' is not one of {', '.join(self.values)}{hint}"


Parameter = Annotated[NumberParameter | CategoryParameter, Field(discriminator="kind")]


class LinearConstraint(BaseModel):
    """sum(coefficient * value) == equals (within tolerance), or within [at_least, at_most]."""

    model_config = _FROZEN

    name: str
    description: str = ""
    terms: dict[str, float] = Field(description="parameter name -> coefficient")
    equals: float | None = None
    at_least: float | None = None
    at_most: float | None = None
    tolerance: float = Field(default=1e-9, ge=0)

    @model_validator(mode="after")
    def _check(self) -> LinearConstraint:
        if not self.terms:
            raise ValueError(f"constraint {self.name}: no terms")
        if self.equals is None and self.at_least is None and self.at_most is None:
            raise ValueError(f"constraint {self.name}: give equals, at_least or at_most")
        return self

    def total(self, row: Mapping[str, Any]) -> float:
        """The constraint's left-hand side for a row."""
        return sum(coef * float(row[name]) for name, coef in self.terms.items())

    def problem(self, row: Mapping[str, Any]) -> str | None:
        """Why the row violates the constraint, or None."""
        total = self.total(row)
        lhs = " + ".join(self.terms)
        tol = self.tolerance + 1e-9
        if self.equals is not None and abs(total - self.equals) > tol:
            return f"{lhs} = {format_value(round(total, 6))}, must be {format_value(self.equals)} (within {format_value(self.tolerance)})"
        if self.at_least is not None and total < self.at_least - tol:
            return f"{lhs} = {format_value(round(total, 6))}, must be at least {format_value(self.at_least)}"
        if self.at_most is not None and total > self.at_most + tol:
            return f"{lhs} = {format_value(round(total, 6))}, must be at most {format_value(self.at_most)}"
        return None


class Conditional(BaseModel):
    """When every `when` category matches, the `then` numbers take exactly the given values."""

    model_config = _FROZEN

    when: dict[str, str]
    then: dict[str, float]

    def applies(self, row: Mapping[str, Any]) -> bool:
        """True when the row's categories match `when`."""
        return all(str(row.get(name)) == value for name, value in self.when.items())


class Target(BaseModel):
    """The measured quantity the model predicts."""

    model_config = _FROZEN

    name: str
    unit: str = ""
    description: str = ""
    low: float | None = Field(default=None, description="lowest plausible measured value")
    high: float | None = Field(default=None, description="highest plausible measured value")


class DesignSpace(BaseModel):
    """The searchable space of one kind of experiment, plus its target."""

    model_config = _FROZEN

    name: str
    description: str = ""
    target: Target
    parameters: tuple[Parameter, ...]
    fixed: dict[str, float | str] = Field(default_factory=dict)
    constraints: tuple[LinearConstraint, ...] = ()
    conditionals: tuple[Conditional, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> DesignSpace:
        names = [p.name for p in self.parameters]
        if not names:
            raise ValueError("a design space needs at least one parameter")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicated parameter names: {', '.join(dupes)}")
        if self.target.name in names:
            raise ValueError(f"target '{self.target.name}' is also a parameter")
        known = set(names)
        for c in self.constraints:
            unknown = set(c.terms) - known
            if unknown:
                raise ValueError(f"constraint {c.name} names unknown parameters: {', '.join(sorted(unknown))}")
            for term in c.terms:
                if not isinstance(self.parameter(term), NumberParameter):
                    raise ValueError(f"constraint {c.name}: {term} is not a number")
        for cond in self.conditionals:
            for cat, value in cond.when.items():
                param = self.parameter(cat) if cat in known else None
                if not isinstance(param, CategoryParameter) or value not in param.values:
                    raise ValueError(f"conditional: '{cat}: {value}' is not a category value of this space")
            for num in cond.then:
                if num not in known or not isinstance(self.parameter(num), NumberParameter):
                    raise ValueError(f"conditional: '{num}' is not a number parameter of this space")
        for name, fixed_value in self.fixed.items():
            if name not in known:
                raise ValueError(f"fixed value for unknown parameter '{name}'")
            msg = self.value_problem(name, fixed_value)
            if msg:
                raise ValueError(f"fixed {name}: {msg}")
        return self

    # -- look-ups -----------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Parameter names in their declared order."""
        return [p.name for p in self.parameters]

    @property
    def numbers(self) -> list[NumberParameter]:
        """The numeric parameters."""
        return [p for p in self.parameters if isinstance(p, NumberParameter)]

    @property
    def categories(self) -> list[CategoryParameter]:
        """The categorical parameters."""
        return [p for p in self.parameters if isinstance(p, CategoryParameter)]

    def parameter(self, name: str) -> NumberParameter | CategoryParameter:
        """The parameter called `name`; DesignSpaceError naming close matches otherwise."""
        for p in self.parameters:
            if p.name == name:
                return p
        hint = suggest(name, self.names) or f"; the parameters are: {', '.join(self.names)}"
        raise DesignSpaceError(f"unknown parameter '{name}'{hint}")

    # -- checks -------------------------------------------------------------------------
    def value_problem(self, name: str, value: Any) -> str | None:
        """Why `value` is not allowed for parameter `name` (ignoring conditionals), or None."""
        param = self.parameter(name)
        if isinstance(param, CategoryParameter):
            return param.problem(str(value))
        try:
            number = float(value)
        except (TypeError, ValueError):
            return f"'{value}' is not a number"
        return param.problem(number)

    def conditional_values(self, row: Mapping[str, Any]) -> dict[str, float]:
        """Numbers that the row's categories pin to a fixed value (e.g. coating none -> 0)."""
        pinned: dict[str, float] = {}
        for cond in self.conditionals:
            if cond.applies(row):
                pinned.update(cond.then)
        return pinned

    def row_problems(self, row: Mapping[str, Any]) -> list[tuple[str | None, str]]:
        """Every (column, message) problem of one complete row of parameter values."""
        problems: list[tuple[str | None, str]] = []
        pinned = self.conditional_values(row)
        for p in self.parameters:
            value = row.get(p.name)
            if p.name in pinned:
                try:
                    ok = abs(float(value) - pinned[p.name]) <= 1e-9  # type: ignore[arg-type]
                except (TypeError, ValueError):
                    ok = False
                if not ok:
                    reason = ", ".join(f"{k} is {v}" for cond in self.conditionals if cond.applies(row) for k, v in cond.when.items())
                    problems.append((p.name, f"must be {format_value(pinned[p.name])} when {reason} (got {value})"))
                continue
            msg = self.value_problem(p.name, value)
            if msg:
                problems.append((p.name, msg))
        bad = {column for column, _ in problems}
        for c in self.constraints:
            if not bad & set(c.terms):
                msg = c.problem(row)
                if msg:
                    problems.append((next(iter(c.terms)), f"{c.name}: {msg}"))
        return problems

    # -- derived spaces -------------------------------------------------------------------
    def with_fixed(self, values: Mapping[str, Any]) -> DesignSpace:
        """A copy with more values held fixed; each checked against its parameter and the constraints."""
        fixed: dict[str, float | str] = dict(self.fixed)
        for name, raw in values.items():
            param = self.parameter(name)
            value: float | str
            if isinstance(param, CategoryParameter):
                value = str(raw)
            else:
                try:
                    value = float(raw)
                except (TypeError, ValueError) as err:
                    raise DesignSpaceError(f"fixed {name}: '{raw}' is not a number") from err
            msg = self.value_problem(name, value)
            if msg:
                raise DesignSpaceError(f"cannot fix {name}: {msg}")
            fixed[name] = value
        space = self.model_copy(update={"fixed": fixed})
        space.check_feasible()
        return space

    def check_feasible(self) -> None:
        """Raise DesignSpaceError when the fixed values leave no way to satisfy a constraint."""
        for c in self.constraints:
            lo = hi = 0.0
            for name, coef in c.terms.items():
                param = self.parameter(name)
                assert isinstance(param, NumberParameter)
                if name in self.fixed:
                    a = b = float(self.fixed[name])
                else:
                    a, b = param.low, param.high
                lo += min(coef * a, coef * b)
                hi += max(coef * a, coef * b)
            tol = c.tolerance + 1e-9
            target_lo = c.equals if c.equals is not None else c.at_least
            target_hi = c.equals if c.equals is not None else c.at_most
            if (target_lo is not None and hi < target_lo - tol) or (target_hi is not None and lo > target_hi + tol):
                fixed_part = ", ".join(f"{n}={format_value(float(self.fixed[n]))}" for n in c.terms if n in self.fixed)
                if c.equals is not None:
                    needs = f"must be {format_value(c.equals)} (within {format_value(c.tolerance)})"
                else:
                    needs = f"needs {format_value(target_lo) if target_lo is not None else '-inf'} to {format_value(target_hi) if target_hi is not None else 'inf'}"
                raise DesignSpaceError(
                    f"infeasible: with {fixed_part or 'these bounds'}, {' + '.join(c.terms)} can only reach "
                    f"{format_value(round(lo, 6))} to {format_value(round(hi, 6))}, but {c.name} {needs}"
                )

    def to_yaml(self) -> str:
        """The space as YAML in the same shape `load_design_space` reads."""
        data = self.model_dump(mode="json", exclude_defaults=False)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def suggest(name: str, choices: Iterable[str]) -> str:
    """A ' (did you mean ...?)' hint for a misspelt name, or ''."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


BUILTIN_SPACES = ("ncm",)


def builtin_space_path(name: str) -> Path:
    """Path of a design space shipped in `knowledge/design_spaces/`."""
    base = resources.files("knowledge") / "design_spaces" / f"{name}.yaml"
    return Path(str(base))


_MAX_SPACE_BYTES = 1024 * 1024


def load_design_space(source: str | Path = "ncm") -> DesignSpace:
    """Load a design space from a YAML file path or the name of a built-in space ("ncm")."""
    path = Path(source)
    if not path.suffix and str(source) in BUILTIN_SPACES:
        path = builtin_space_path(str(source))
    try:
        stat = path.stat()
    except OSError as err:
        raise DesignSpaceError(
            f"design space '{source}' not found: give a YAML file path or one of {', '.join(BUILTIN_SPACES)}"
        ) from err
    # every turn of a conversation asks for its space: parse a file once while it is unchanged (spaces are frozen)
    return _load_file(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _load_file(path_text: str, mtime_ns: int, size: int) -> DesignSpace:
    path = Path(path_text)
    try:
        data = yaml.safe_load(read_user_bytes(path, max_bytes=_MAX_SPACE_BYTES).decode("utf-8"))
    except DataFileError as err:  # a pipe, a device, a huge file: never read
        raise DesignSpaceError(str(err)) from err
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise DesignSpaceError(f"{path}: not a readable YAML file ({err})") from err
    if not isinstance(data, dict):
        raise DesignSpaceError(f"{path}: expected a mapping with name, target and parameters")
    return design_space_from_dict(data, origin=str(path))


def design_space_from_dict(data: Mapping[str, Any], origin: str = "design space") -> DesignSpace:
    """Validate a plain mapping into a DesignSpace, with readable errors."""
    try:
        return DesignSpace.model_validate(dict(data))
    except ValidationError as err:
        lines = []
        for e in err.errors():
            loc = ".".join(str(x) for x in e["loc"])
            lines.append(f"  - {loc}: {e['msg']}" if loc else f"  - {e['msg']}")
        raise DesignSpaceError(f"{origin}: invalid design space\n" + "\n".join(lines)) from err
