"""`matassist dataset ...` and `matassist space ...`: the experiment record and its design space."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from cli.common import (
    JsonOpt,
    SpaceOpt,
    TargetOpt,
    emit_json,
    guarded,
    load_record,
    out,
    resolve_space,
    settings,
)
from tools.domain.design_space import CategoryParameter, format_value, load_design_space
from tools.domain.errors import DataFileError

if TYPE_CHECKING:  # pandas and SQLAlchemy load inside the commands that use them: --help stays quick
    from tools.data.profile import DatasetProfile

dataset_app = typer.Typer(help="Experiment records: demo data, validation, bias profile, the store.", no_args_is_help=True)
space_app = typer.Typer(help="Design spaces: show the built-in one, infer one from a CSV.", no_args_is_help=True)

DEMO_NOTE = (
    "SIMULATED demonstration record from matassist's virtual lab (source=synthetic on every row). "
    "It mimics the biases of a real industrial record; it is not a measurement of anything."
)


def write_demo(out_path: Path, seed: int) -> dict[str, object]:
    """Write the virtual lab's demo record and its metadata sidecar; returns the metadata."""
    from tools.campaign.virtual_lab import VirtualLab
    from tools.domain.fileio import atomic_write_text
    from tools.domain.record import write_record

    if not out_path.parent.exists():
        raise DataFileError(f"{out_path}: folder {out_path.parent} does not exist")
    record = VirtualLab(seed=seed).demo_record()
    write_record(record, out_path)
    meta = {
        "source": "synthetic",
        "generator": "matassist virtual lab (tools/campaign/virtual_lab.py)",
        "seed": seed,
        "rows": len(record),
        "note": DEMO_NOTE,
    }
    atomic_write_text(out_path.with_suffix(".meta.json"), json.dumps(meta, indent=2) + "\n")
    return meta


@dataset_app.command("demo")
@guarded
def dataset_demo(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="CSV file to write")],
    seed: Annotated[int, typer.Option(help="random seed of the virtual lab")] = 7,
    as_json: JsonOpt = False,
) -> None:
    """Write the simulated 652-run demo record (biased like the reference study) to a CSV."""
    meta = write_demo(out_path, seed)
    if as_json:
        emit_json({"file": str(out_path), "metadata": str(out_path.with_suffix(".meta.json")), **meta})
    else:
        out.print(f"wrote {meta['rows']} runs to {out_path}")
        out.print(f"[yellow]{DEMO_NOTE}[/]")


def print_profile(profile: DatasetProfile, plots: list[Path]) -> None:
    """Human-readable profile: headline numbers, findings, per-parameter table."""
    out.print(f"[bold]{profile.rows} runs[/] in design space '{profile.design_space}', target {profile.target}")
    if profile.counts_by_ni:
        out.print("runs per Ni level: " + ", ".join(f"{k}: {v}" for k, v in profile.counts_by_ni.items()))
    out.print(
        f"failed: {profile.failed_runs} ({profile.failed_share:.1%}); "
        f"no measured {profile.target}: {profile.missing_target} ({profile.missing_target_share:.1%})"
    )
    out.print("sources: " + ", ".join(f"{k}: {v}" for k, v in profile.counts_by_source.items()))
    if profile.findings:
        out.print("\n[bold]Findings[/]")
        for finding in profile.findings:
            out.print(f"  - {finding}")
    table = Table(title="Parameters (pinned values left out)", show_lines=False)
    for col in ("parameter", "shape", "runs", "distinct", "most common", "share", "mean", "sd", "skew"):
        table.add_column(col, justify="left" if col in {"parameter", "shape", "most common"} else "right")
    for p in profile.parameters:
        table.add_row(
            p.name,
            p.shape,
            str(p.n),
            str(p.n_unique),
            format_value(p.top_value),
            f"{p.top_share:.0%}",
            "" if p.mean is None else f"{p.mean:.4g}",
            "" if p.std is None else f"{p.std:.3g}",
            "" if p.skew is None else f"{p.skew:+.2f}",
        )
    out.print(table)
    for path in plots:
        out.print(f"plot: {path}")


@dataset_app.command("profile")
@guarded
def dataset_profile(
    file: Annotated[Path, typer.Argument(help="experiment record CSV")],
    space: SpaceOpt = None,
    target: TargetOpt = None,
    plots_dir: Annotated[Path | None, typer.Option("--plots", help="folder for PNG plots; default <data dir>/plots/<file>")] = None,
    no_plots: Annotated[bool, typer.Option("--no-plots", help="skip the PNG plots")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Bias report: distributions, one-valued and clustered parameters, Ni levels, failures; PNG histograms."""
    from tools.data.profile import profile_record

    record = load_record(file, space, target)
    profile = profile_record(record)
    plots: list[Path] = []
    if not no_plots:
        from tools.data.profile_plots import plot_profile

        folder = plots_dir or settings().ensure_data_dir() / "plots" / f"profile-{file.stem}"
        plots = plot_profile(record, folder)
    if as_json:
        emit_json({**profile.model_dump(mode="json"), "plots": [str(p) for p in plots]})
    else:
        print_profile(profile, plots)


@dataset_app.command("validate")
@guarded
def dataset_validate(
    file: Annotated[Path, typer.Argument(help="experiment record CSV")],
    space: SpaceOpt = None,
    target: TargetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a record against its design space; every problem is named by row, line and column."""
    record = load_record(file, space, target)
    summary = {
        "file": str(file),
        "valid": True,
        "rows": len(record),
        "failed_runs": int(len(record.failed_runs)),
        "design_space": record.space.name,
    }
    if as_json:
        emit_json(summary)
    else:
        out.print(f"{file}: valid, {len(record)} runs ({summary['failed_runs']} failed) in design space '{record.space.name}'")


@dataset_app.command("import")
@guarded
def dataset_import(
    file: Annotated[Path, typer.Argument(help="experiment record CSV")],
    name: Annotated[str | None, typer.Option(help="record name in the store; default the file name")] = None,
    space: SpaceOpt = None,
    target: TargetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Append a validated record to the durable store (one transaction: all rows or none)."""
    from tools.data.store import RecordStore, display_url

    record = load_record(file, space, target)
    cfg = settings()
    cfg.ensure_data_dir()
    store = RecordStore(cfg.store_url)
    record_name = name or file.stem
    added = store.append(record_name, record)
    total = store.count(record_name)
    if as_json:
        emit_json({"record": record_name, "added": added, "total": total, "store": display_url(cfg.store_url)})
    else:
        out.print(f"stored {added} runs in record '{record_name}' ({total} in all)")


@dataset_app.command("export")
@guarded
def dataset_export(
    name: Annotated[str, typer.Argument(help="record name in the store")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="CSV file to write")],
    space: SpaceOpt = None,
) -> None:
    """Write a stored record back to CSV (atomically)."""
    from tools.data.store import RecordStore
    from tools.domain.record import write_record

    cfg = settings()
    store = RecordStore(cfg.store_url)
    design = resolve_space(space, None)
    assert design is not None
    record = store.load(name, design)
    write_record(record, out_path)
    out.print(f"wrote {len(record)} runs of '{name}' to {out_path}")


@dataset_app.command("list")
@guarded
def dataset_list(as_json: JsonOpt = False) -> None:
    """List the records in the store."""
    from tools.data.store import RecordStore, display_url

    cfg = settings()
    store = RecordStore(cfg.store_url)
    names = store.names()
    if as_json:
        emit_json({"store": display_url(cfg.store_url), "records": [{"name": n, "runs": c} for n, c in names]})
        return
    if not names:
        out.print(f"the store at {display_url(cfg.store_url)} holds no records yet (matassist dataset import FILE)")
    for n, c in names:
        out.print(f"{n}: {c} runs")


@space_app.command("show")
@guarded
def space_show(
    name: Annotated[str | None, typer.Argument(help="built-in name or YAML path; default from settings")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a design space: parameters with bounds, steps and units; constraints; fixed values."""
    design = load_design_space(name or settings().design_space)
    if as_json:
        emit_json(design.model_dump(mode="json"))
        return
    out.print(f"[bold]{design.name}[/]: {design.description}")
    out.print(f"target: {design.target.name} ({design.target.unit}) {design.target.description}")
    table = Table()
    for col in ("parameter", "values", "step", "unit", "meaning"):
        table.add_column(col)
    for p in design.parameters:
        if isinstance(p, CategoryParameter):
            table.add_row(p.name, ", ".join(p.values), "", "", p.description)
        else:
            table.add_row(p.name, f"{p.low:g} to {p.high:g}", "" if p.step is None else f"{p.step:g}", p.unit, p.description)
    out.print(table)
    for c in design.constraints:
        out.print(f"constraint {c.name}: {' + '.join(c.terms)} = {c.equals:g} (within {c.tolerance:g})")
    for cond in design.conditionals:
        out.print(f"when {cond.when}: {cond.then}")
    if design.fixed:
        out.print(f"fixed: {design.fixed}")


@space_app.command("infer")
@guarded
def space_infer(
    file: Annotated[Path, typer.Argument(help="any CSV of runs")],
    target: Annotated[str, typer.Option("--target", help="the measured column to predict")],
    out_path: Annotated[Path | None, typer.Option("--out", "-o", help="write the inferred space as YAML")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Infer a design space from a CSV: numbers get observed bounds and step, text gets categories."""
    from tools.domain.fileio import atomic_write_text, read_csv_text
    from tools.domain.space_inference import infer_design_space

    design = infer_design_space(read_csv_text(file), target, name=file.stem)
    if out_path is not None:
        atomic_write_text(out_path, design.to_yaml())
    if as_json:
        emit_json(design.model_dump(mode="json"))
    else:
        out.print(design.to_yaml())
        if out_path is not None:
            out.print(f"wrote {out_path}")


def register(app: typer.Typer) -> None:
    """Add the `dataset` and `space` command groups."""
    app.add_typer(dataset_app, name="dataset")
    app.add_typer(space_app, name="space")
