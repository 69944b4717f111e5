"""The `matassist` command line: one Typer app composed from the command modules."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from assistant.commands.common import JsonOpt, emit_json, guarded, out, settings
from assistant.commands.dataset import dataset_app, print_profile, space_app, write_demo

COMMAND_MODULES: tuple[str, ...] = ("model", "knowledge", "mp", "assist", "cif", "ui", "augment")

app = typer.Typer(
    name="matassist",
    help="Battery-cathode research assistant: experiment records, capacity model, proposals, CIF checks, literature.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(dataset_app, name="dataset")
app.add_typer(space_app, name="space")

# Each capability's commands live in their own module with a `register(app)` function.
for _module in COMMAND_MODULES:
    importlib.import_module(f"assistant.commands.{_module}").register(app)


@app.command("demo")
@guarded
def demo(
    out_dir: Annotated[Path | None, typer.Option("--out-dir", help="folder for the demo outputs; default <data dir>/demo")] = None,
    seed: Annotated[int, typer.Option(help="random seed of the virtual lab")] = 7,
    as_json: JsonOpt = False,
) -> None:
    """The main job on embedded defaults: simulate the demo record, profile its biases, plot them."""
    from tools.plots import plot_profile
    from tools.profile import profile_record
    from tools.record import read_record

    folder = out_dir or settings().ensure_data_dir() / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / "ncm_demo.csv"
    meta = write_demo(csv_path, seed)
    record = read_record(csv_path)
    profile = profile_record(record)
    plots = plot_profile(record, folder)
    if as_json:
        emit_json({"record": str(csv_path), "metadata": meta, "profile": profile, "plots": [str(p) for p in plots]})
        return
    out.print(f"[yellow]{meta['note']}[/]\n")
    out.print(f"demo record: {csv_path}")
    print_profile(profile, plots)


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
