"""`matassist augment`: synthetic rows for an experiment record, checked against its design space, with a quality report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.common import (
    JsonOpt,
    SpaceOpt,
    TargetOpt,
    emit_json,
    err,
    guarded,
    load_record,
    out,
)
from tools.domain.errors import AugmentationError

_PHASES = {
    "load": "loading SDV and torch",
    "fit": "fitting {method}",
    "sample": "sampling, repairing and checking rows",
    "check": "measuring quality and distance to real runs",
    "utility-fit": "utility check: fitting {method} on the training split",
    "utility-sample": "utility check: sampling",
    "utility-models": "utility check: training capacity models (real, real+synthetic, synthetic)",
}


def _run(record: Any, request: Any, show_progress: bool) -> Any:
    from tools.augmentation.augment import augment_record

    if not show_progress:
        return augment_record(record, request)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("epochs"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("loading SDV and torch", total=None)

        def progress(phase: str, done: int | None, total: int | None) -> None:
            text = _PHASES.get(phase, phase).format(method=request.method)
            bar.update(task, description=escape(text), completed=done or 0, total=total)

        return augment_record(record, request, progress)


def _check_out(out_path: Path, data: Path) -> None:
    """Never write over the input record, nor over a file that is not an earlier augmentation output."""
    from tools.augmentation.augment import report_path_for

    if out_path.exists() and out_path.resolve() == data.resolve():
        raise AugmentationError(f"--out {out_path} is the input record: synthetic rows go to their own file, never into the record")
    if out_path.exists() and not report_path_for(out_path).exists():
        raise AugmentationError(
            f"--out {out_path} exists and is not an earlier augmentation output (no {report_path_for(out_path).name} "
            "beside it); choose another file name"
        )
    if out_path.suffix.lower() != ".csv":
        raise AugmentationError(f"--out {out_path}: give a .csv file name")


def augment(
    data: Annotated[Path, typer.Option("--data", "-d", help="experiment record CSV (any design space)")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="CSV file for the synthetic rows; the JSON report goes next to it")],
    method: Annotated[str, typer.Option("--method", help="ctgan, tvae or gaussian_copula")],
    rows: Annotated[int, typer.Option("--rows", help="number of valid synthetic rows wanted")] = 200,
    epochs: Annotated[int | None, typer.Option("--epochs", help="training epochs of CTGAN/TVAE (default: ctgan 300, tvae 500)")] = None,
    seed: Annotated[int, typer.Option(help="random seed of fitting, sampling and the utility split")] = 0,
    no_utility: Annotated[bool, typer.Option("--no-utility", help="skip the downstream utility check (it fits a second synthesizer)")] = False,
    space: SpaceOpt = None,
    target: TargetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Generate synthetic runs (CTGAN, TVAE or Gaussian copula), keep only valid and new ones, and report their quality.

    The rows are written to their own file (source=synthetic, shot synthetic-<method>, ids syn-<method>-NNNN);
    nothing is added to the record or to a training set.
    """
    from pydantic import ValidationError

    from tools.augmentation.augment import write_augmentation
    from tools.augmentation.models import METHODS, AugmentationInput
    from tools.domain.fileio import atomic_write_text

    if method not in METHODS:
        raise AugmentationError(f"--method {method}: use one of {', '.join(METHODS)}")
    try:
        request = AugmentationInput(method=method, rows=rows, epochs=epochs, seed=seed, check_utility=not no_utility)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(f"--{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise AugmentationError(problems) from exc
    _check_out(out_path, data)
    record = load_record(data, space, target)
    from tools.augmentation.augment import check_augmentable

    check_augmentable(record)  # a clear refusal before SDV and torch take their time to load
    result = _run(record, request, show_progress=not as_json)
    csv_path, report_path = write_augmentation(result, out_path)
    files = {"synthetic": str(csv_path), "report": str(report_path)}
    if target:
        space_path = csv_path.with_name(f"{csv_path.stem}.space.yaml")
        atomic_write_text(space_path, record.space.to_yaml())
        files["design_space"] = str(space_path)
    report = result.report
    if as_json:
        emit_json({"files": files, "report": report})
        return
    _print_report(report, files)


def _num(value: float | None, fmt: str = ".3f") -> str:
    return "-" if value is None else format(value, fmt)


def _print_report(report: Any, files: dict[str, str]) -> None:
    epochs = f", {report.epochs} epochs" if report.epochs else ""
    out.print(f"[bold]{report.rows_returned}[/] synthetic rows ({report.method}{epochs}, seed {report.seed}) "
              f"from {report.input_ok_rows} ok runs of {report.input_rows}; fit {report.fit_seconds:.1f} s")
    table = Table(title="Quality of the synthetic rows", show_header=True)
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("SDMetrics column shapes (0-1)", _num(report.column_shapes))
    table.add_row("SDMetrics column pair trends (0-1)", _num(report.column_pair_trends))
    table.add_row("rejected by domain checks", f"{report.rejected_rows} of {report.sampled_rows} ({report.rejection_share:.1%})")
    table.add_row("copies of real runs dropped", f"{report.exact_copies_dropped} ({report.copies_of_failed_runs} of failed runs)")
    table.add_row(f"near copies kept (distance < {report.near_copy_distance:g})", str(report.near_copies))
    table.add_row("median distance to nearest real run", f"{_num(report.nn_distance_median)} (real-real: {_num(report.real_nn_distance_median)})")
    if report.nearest_real_failed_share is not None:
        table.add_row("nearest real run failed", f"{report.nearest_real_failed_share:.1%} (record: {report.record_failed_share:.1%})")
    out.print(table)
    if report.rejection_reasons:
        out.print("rejections by column: " + ", ".join(f"{k}: {v}" for k, v in report.rejection_reasons.items()))
    util = report.utility
    if util is not None:
        ut = Table(title=f"Downstream utility: capacity model tested on {util.n_test} held-out real runs")
        for col in ("trained on", "rows (record + synthetic)", "RMSE", "R2", "model source_counts"):
            ut.add_column(col, justify="left" if col in {"trained on", "model source_counts"} else "right")
        for arm in util.arms:
            ut.add_row(arm.training, f"{arm.origin_counts['record']} + {arm.origin_counts['augmentation']}",
                       f"{arm.rmse:.3f}", _num(arm.r2), ", ".join(f"{k}: {v}" for k, v in arm.model_source_counts.items()))
        out.print(ut)
        out.print(f"model: {util.model}")
        for note in util.notes:
            out.print(f"note: {note}")
    out.print(f"failed runs: {report.failed_runs_policy}")
    for note in report.notes:
        out.print(f"[yellow]note:[/] {note}")
    for warning in report.warnings:
        out.print(f"[dim]library warning: {escape(warning)}[/]")
    for kind, path in files.items():
        out.print(f"{kind}: {path}")


def register(app: typer.Typer) -> None:
    """Add `augment` to the main app."""
    app.command("augment")(guarded(augment))
