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

from assistant.settings import Settings, get_settings
from tools.domain.design_space import DesignSpace, load_design_space
from tools.domain.errors import MatassistError

if TYPE_CHECKING:  # pandas and SQLAlchemy load only in the commands that need them
    from tools.domain.record import ExperimentRecord

# Off a terminal (pipes, CI logs) rich would assume 80 columns and squash the tables.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

JsonOpt = Annotated[bool, typer.Option("--json", help="print machine-readable JSON instead of tables")]
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
            err.print(f"[bold red]error:[/] {exc}", markup=True)
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
