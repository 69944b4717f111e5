"""Shared CLI plumbing: one error path, JSON output, record loading options."""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape

from assistant.settings import Settings, get_settings
from tools.domain.design_space import DesignSpace, load_design_space
from tools.domain.errors import MatassistError

if TYPE_CHECKING:  # pandas and SQLAlchemy load only in the commands that need them
    from tools.domain.constraints import ConstraintSet, ParameterConstraint
    from tools.domain.record import ExperimentRecord

# Off a terminal (pipes, CI logs) rich would assume 80 columns and squash the tables.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

JsonOpt = Annotated[bool, typer.Option("--json", "-j", help="print machine-readable JSON instead of tables")]
SpaceOpt = Annotated[
    str | None,
    typer.Option("--space", help="design space: built-in name (ncm) or YAML path; default from settings"),
]
TargetOpt = Annotated[
    str | None,
    typer.Option("--target", help="infer the design space from the CSV, with this column as the target"),
]


def guarded(fn: F) -> F:
    """Turn every user-caused error into one plain line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MatassistError as exc:
            # the message is text, not markup: "pip install '.[postgres]'" must keep its brackets
            err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True)
            raise typer.Exit(2) from exc

    return wrapper  # type: ignore[return-value]


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def emit_json(payload: Any) -> None:
    """Print JSON to stdout (NaN becomes null)."""
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json")
    text = json.dumps(_clean(json.loads(json.dumps(payload, default=_default))), indent=2, ensure_ascii=False)
    typer.echo(text)


def parse_fixed(items: list[str] | None) -> dict[str, str]:
    """`["ni=0.94", "atmosphere=air"]` -> {"ni": "0.94", "atmosphere": "air"}; MatassistError on bad syntax."""
    fixed: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise MatassistError(f"--fix '{item}': write NAME=VALUE, e.g. --fix ni=0.94")
        if name in fixed and fixed[name] != value:
            raise MatassistError(f"--fix {name} given twice with different values ({fixed[name]} and {value})")
        fixed[name] = value
    return fixed


def settings() -> Settings:
    """Current settings."""
    return get_settings()


def resolve_space(space: str | None, target: str | None) -> DesignSpace | None:
    """The design space named by --space, None when --target asks for inference, else the default."""
    if space and target:
        raise MatassistError("give either --space or --target, not both")
    if target:
        return None
    return load_design_space(space or settings().design_space)


def load_record(path: Path, space: str | None, target: str | None) -> ExperimentRecord:
    """Read and validate a record with the CLI's --space/--target options."""
    from tools.domain.record import read_record  # pandas: only for commands that read a record

    return read_record(path, space=resolve_space(space, target), target=target)


_WHERE_HELP = "write e.g. calcination_temp_c<760, 740<=calcination_temp_c<=760, dopant_nb<=0.003, coating!=W or 'coating in {B,Al}'"
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_VALUE = r"[^<>=!{}\s,][^<>=!{}]*?"


def parse_where(items: list[str] | None) -> list[ParameterConstraint]:
    """`--where` texts -> constraints: NAME<V, NAME<=V, NAME>V, NAME>=V, NAME=V, NAME!=V, A<=NAME<B, NAME in {a,b}, NAME not in {a,b}."""
    import re

    from tools.domain.constraints import choice, fixed_value, value_range

    found: list[ParameterConstraint] = []
    for item in items or []:
        text = item.strip()
        m_set = re.fullmatch(rf"({_NAME})\s+(not\s+in|in)\s*\{{?([^{{}}]+)\}}?", text)
        m_chain = re.fullmatch(rf"({_VALUE})\s*(<=|<)\s*({_NAME})\s*(<=|<)\s*({_VALUE})", text)
        m_one = re.fullmatch(rf"({_NAME})\s*(<=|>=|==|!=|<|>|=)\s*({_VALUE})", text)
        try:
            if m_set:
                values = [v.strip() for v in m_set.group(3).split(",") if v.strip()]
                if not values:
                    raise ValueError
                found.append(choice(m_set.group(1), excluded=values) if m_set.group(2).startswith("not")
                             else choice(m_set.group(1), allowed=values))
            elif m_chain:
                found.append(value_range(m_chain.group(3), float(m_chain.group(1)), float(m_chain.group(5)),
                                         lower_strict=m_chain.group(2) == "<", upper_strict=m_chain.group(4) == "<"))
            elif m_one:
                name, op, raw = m_one.group(1), m_one.group(2), m_one.group(3).strip()
                if op in {"=", "=="}:
                    found.append(fixed_value(name, raw))
                elif op == "!=":
                    found.append(choice(name, excluded=[raw]))
                elif op in {"<", "<="}:
                    found.append(value_range(name, upper=float(raw), upper_strict=op == "<"))
                else:
                    found.append(value_range(name, lower=float(raw), lower_strict=op == ">"))
            else:
                raise ValueError
        except ValueError as err:
            raise MatassistError(f"--where '{item}': {_WHERE_HELP}") from err
    return found


def constraint_set(fix: list[str] | None, where: list[str] | None) -> ConstraintSet:
    """--fix and --where as one constraint set (both must hold; contradictions are an error)."""
    from tools.domain.constraints import ConstraintSet, fixed_value

    constraints = ConstraintSet()
    for c in [*(fixed_value(k, v) for k, v in parse_fixed(fix).items()), *parse_where(where)]:
        constraints = constraints.intersect(c)
    return constraints


def constraint_arguments(fix: list[str] | None, where: list[str] | None) -> dict[str, Any]:
    """--fix and --where as the constraint arguments of a tool (both must hold; contradictions are an error)."""
    from tools.domain.constraints import ConstraintFields

    return {"fixed": {}, **ConstraintFields.from_set(constraint_set(fix, where))}
