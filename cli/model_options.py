"""Command-line options derived from a pydantic input model, so a command does not retype its fields.

A command lists the model fields it exposes as `Flag`s: the option's name and how a value is
written on the command line. Each option's type, default and help text come from the model
field; the command function receives the validated model instead of one argument per field.

    @app.command("search")
    @guarded
    @model_options(SearchLiteratureInput, (Flag("query", form="argument"), Flag("k", bounded=True)), param="request")
    def search(request: SearchLiteratureInput, as_json: JsonOpt = False) -> None: ...
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from tools.domain.errors import MatassistError

M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])

Form = Literal["value", "list", "repeat", "switch", "argument"]


@dataclass(frozen=True)
class Flag:
    """How one model field is written on the command line.

    `form`: value (one value), list (one comma-separated value, e.g. Li,Ni), repeat (the option
    given once per item), switch (an option without a value: `on` when given, `off` when not),
    argument (positional). `help` replaces the field's description where the command-line syntax
    differs from the model's. `bounded` lets the option parser check the field's ge/le bounds
    (a usage error) instead of the model.
    """

    field: str
    name: str | None = None
    form: Form = "value"
    help: str | None = None
    on: Any = True
    off: Any = None
    bounded: bool = False

    @property
    def option(self) -> str:
        """The option as typed, e.g. '--e-above-hull-min'; by default the field name with dashes."""
        return self.name or "--" + self.field.replace("_", "-")

    def parameter(self, info: FieldInfo) -> inspect.Parameter:
        """The Typer parameter for this field."""
        help_text = self.help or info.description
        default: Any = None
        if self.form == "argument":
            base: Any = _scalar(info.annotation)
            spec: Any = typer.Argument(help=help_text)
            default = inspect.Parameter.empty if info.is_required() else info.default
        elif self.form == "switch":
            base, spec, default = bool, typer.Option(self.option, help=help_text), False
        elif self.form == "repeat":
            base, spec = list[str] | None, typer.Option(self.option, help=help_text)
        elif self.form == "list":
            base, spec = str | None, typer.Option(self.option, help=help_text)
        else:
            base = _scalar(info.annotation)
            default = inspect.Parameter.empty if info.is_required() else info.default
            if default is None:
                base = base | None
            bounds: dict[str, Any] = {}
            if self.bounded:
                for rule in info.metadata:  # pydantic keeps ge/le as annotated-types constraints
                    if getattr(rule, "ge", None) is not None:
                        bounds["min"] = rule.ge
                    if getattr(rule, "le", None) is not None:
                        bounds["max"] = rule.le
            spec = typer.Option(self.option, help=help_text, **bounds)
        annotation = Annotated[base, spec]
        return inspect.Parameter(self.field, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)

    def value(self, given: Any) -> Any:
        """The field's value for what was given on the command line."""
        if self.form == "switch":
            return self.on if given else self.off
        if self.form == "list":
            return [part.strip() for part in given.split(",") if part.strip()] if given else None
        if self.form == "repeat":
            return given or None
        return given


def _scalar(annotation: Any) -> type:
    """The command-line type of a field: float and int as themselves, anything else (str, Literal) as text."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation if annotation in (float, int) else str


def validated(model: type[M], **fields: Any) -> M:
    """The model built from command-line values; invalid values become one readable MatassistError."""
    try:
        return model(**fields)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in err.errors())
        raise MatassistError(f"invalid input: {problems}") from err


def model_options(
    model: type[M],
    flags: Sequence[Flag],
    *,
    build: Callable[..., M] | None = None,
    param: str = "query",
) -> Callable[[F], F]:
    """Replace the command's parameter `param` by one option per flag; the command receives the built model.

    `build(**fields)` makes the model (default: `validated`, which turns validation errors into a
    MatassistError that `guarded` prints as one line).
    """
    make: Callable[..., M] = build or functools.partial(validated, model)
    unknown = [f.field for f in flags if f.field not in model.model_fields]
    if unknown:
        raise TypeError(f"{model.__name__} has no field(s) {', '.join(unknown)}")

    def decorate(fn: F) -> F:
        generated = [flag.parameter(model.model_fields[flag.field]) for flag in flags]
        params: list[inspect.Parameter] = []
        for own in inspect.signature(fn, eval_str=True).parameters.values():
            if own.name == param:
                params.extend(generated)
            else:
                params.append(own.replace(kind=inspect.Parameter.KEYWORD_ONLY))

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            fields = {flag.field: flag.value(kwargs.pop(flag.field)) for flag in flags}
            return fn(**{param: make(**fields)}, **kwargs)

        # Typer reads the signature: the generated options in place of `param`, then the command's own.
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command  # type: ignore[return-value]

    return decorate
