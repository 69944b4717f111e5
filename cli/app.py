"""The `matassist` command line: one Typer app composed from the command modules.

Every module in `cli/` that adds commands has one function, `register(app)`, which adds its
commands or its command group; COMMAND_MODULES lists them in the order `--help` shows them.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from cli import assist, augment, cif, dataset, demo, electrode, knowledge, loop, model, mp, ui

app = typer.Typer(
    name="matassist",
    help="Battery-cathode research assistant: experiment records, capacity model, proposals, CIF checks, literature.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"matassist {version('materials-assistant')}")
        except PackageNotFoundError:  # running from a source tree that was never installed
            typer.echo("matassist (not installed: run bash scripts/setup.sh)")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[bool, typer.Option("--version", "-V", callback=_print_version, is_eager=True,
                                               help="print the version and exit")] = False,
) -> None:
    """Battery-cathode research assistant: experiment records, capacity model, proposals, CIF checks, literature."""


COMMAND_MODULES = (demo, dataset, model, loop, assist, cif, mp, electrode, knowledge, augment, ui)
for _module in COMMAND_MODULES:
    _module.register(app)


def main() -> None:
    """Console entry point: user errors exit 2 with a message; nothing prints a traceback unless MATASSIST_DEBUG=1."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # last line of defence: report, never dump a traceback on a user
        if os.environ.get("MATASSIST_DEBUG"):
            raise
        typer.echo(f"internal error: {type(exc).__name__}: {exc} (set MATASSIST_DEBUG=1 for the traceback)", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
