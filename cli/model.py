"""`matassist train` (and the other model commands): the capacity model on an experiment record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from assistant.paths import model_folder
from cli.common import (
    JsonOpt,
    SpaceOpt,
    TargetOpt,
    emit_json,
    err,
    guarded,
    load_record,
    out,
    settings,
)
from tools.domain.errors import ModelError


def _source_sentence(counts: dict[str, int], demo: bool) -> str:
    total = sum(counts.values())
    if set(counts) == {"synthetic"}:
        what = " (virtual-lab demo record)" if demo else " (simulated or augmented data, not measurements)"
        return f"trained on {total} synthetic rows{what}"
    parts = ", ".join(f"{k}: {v}" for k, v in counts.items())
    warn = " - includes synthetic rows" if counts.get("synthetic") else ""
    return f"trained on {total} rows ({parts}){warn}"


def train(
    data: Annotated[Path, typer.Option("--data", "-d", help="experiment record CSV")],
    space: SpaceOpt = None,
    target: TargetOpt = None,
    seed: Annotated[int, typer.Option(help="seed of the split, the searches and the ensemble")] = 0,
    n_iter: Annotated[int | None, typer.Option("--n-iter", help="random-search candidates per model (default 6)")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out-dir", help="model folder; default <data dir>/models/<data-hash-prefix>")] = None,
    out_legacy: Annotated[Path | None, typer.Option("--out", hidden=True, help="old spelling of --out-dir")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare DT, RF, GBM and NN like the reference study, then fit and save the GBM ensemble (reused when the data are unchanged)."""
    from tools.modelling import capacity_model as cm
    from tools.modelling import comparison
    from tools.modelling.assessment import assess, plot_assessment

    record = load_record(data, space, target)
    iters = comparison.DEFAULT_N_ITER if n_iter is None else n_iter
    if iters < 1:
        raise ModelError("--n-iter must be at least 1")
    folder = out_dir or out_legacy or model_folder(settings(), record)
    folder.mkdir(parents=True, exist_ok=True)
    report, cmp_reused = _comparison(record, folder / comparison.COMPARISON_FILE, seed, iters, quiet=as_json)
    model, model_reused = cm.load_or_fit(record, folder, seed=seed, hyperparameters=report.chosen_params)
    plot = folder / "parity.png"
    if not (cmp_reused and plot.exists()):
        comparison.plot_parity(report, plot)
    meta = model.metadata
    assessment = assess(record, model, seed=seed)
    oof_plot = plot_assessment(assessment, folder / "parity-out-of-fold.png")
    demo = bool(record.frame["experiment_id"].str.startswith("demo-").all())
    payload: dict[str, Any] = {
        "data": str(data),
        "model_dir": str(folder),
        "parity_plot": str(plot),
        "reused": {"comparison": cmp_reused, "model": model_reused},
        "chosen": report.chosen,
        "comparison": report.model_dump(mode="json"),
        "metadata": meta.model_dump(mode="json"),
        "assessment": assessment.model_dump(mode="json", exclude={"measured", "predicted", "shots"}),
        "out_of_fold_parity_plot": str(oof_plot),
        "note": _source_sentence(meta.source_counts, demo),
    }
    if as_json:
        emit_json(payload)
        return
    unit = report.unit or "target unit"
    table = Table(title=f"{report.target}: RMSE ({unit}) and R2, {report.n_train} train / {report.n_test} test runs, "
                        f"random search n_iter={report.n_iter} in {report.cv_folds}-fold CV, seed {report.seed}")
    # the reference study's figures only mean something next to the same target
    study = report.target == "capacity_mah_g"
    cols = ["model", "RMSE train", "RMSE test", "R2 train", "R2 test", "CV RMSE"] + (["study RMSE test", "study R2 test"] if study else [])
    for col in cols:
        table.add_column(col, justify="left" if col == "model" else "right")
    for row in report.rows:
        ref = report.reference.get(row.study_row) if study else None
        mark = " *" if row.key == report.chosen else ""
        cells = [f"{row.label}{mark}", *(f"{v:.3f}" for v in (row.rmse_train, row.rmse_test, row.r2_train, row.r2_test, row.cv_rmse))]
        table.add_row(*cells, *([f"{ref[1]:.3f}", f"{ref[3]:.3f}"] if ref else ([""] * 2 if study else [])))
    out.print(table)
    took = "saved comparison reused (data unchanged)" if cmp_reused else f"comparison took {report.elapsed_s:.0f} s"
    out.print(f"* chosen: {report.chosen} - {report.chosen_reason} ({took})")
    for note in report.notes:
        out.print(f"note: {note}")
    out.print(f"[yellow]{payload['note']}[/]; {report.n_failed_excluded} failed runs left out of the regression")
    m = meta.metrics
    cv = f"CV RMSE {m['cv_rmse']:.3f} {unit}, CV R2 {m['cv_r2']:.3f}" if m.get("cv_rmse") is not None and m.get("cv_r2") is not None else "no CV estimate"
    verb = "reused (data unchanged)" if model_reused else "fitted and saved"
    out.print(f"model: {verb}: {meta.n_members} LightGBM members, {meta.n_trees} trees; {cv}")
    out.print(f"hyper-parameters: {meta.inference_note}")
    out.print(f"failure model: {meta.failure_model_note}")
    out.print(f"predicted vs measured: {assessment.sentence()}")
    out.print(f"model folder: {folder}")
    out.print(f"parity plots: {plot} (the comparison's test split), {oof_plot} (every run, out of fold)")


def _comparison(record: Any, path: Path, seed: int, n_iter: int, quiet: bool) -> tuple[Any, bool]:
    """The comparison saved beside the model when it ran on the same data, seed and n_iter; else a new one."""
    from tools.domain.fileio import atomic_write_text
    from tools.modelling.comparison import ComparisonReport, compare_models

    if path.exists():
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            report = ComparisonReport.model_validate({**saved["report"], "parity": saved["parity"]})
        except (OSError, ValueError, KeyError, TypeError):
            report = None  # unreadable or from another version: run it again
        if report is not None and (report.data_hash, report.seed, report.n_iter) == (record.data_hash(), seed, n_iter):
            return report, True
    if quiet:
        report = compare_models(record, seed=seed, n_iter=n_iter, n_jobs=-1)
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        err.print(f"comparing 5 models (random search, {n_iter} candidates each, 5-fold CV)")
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} fits"),
                      TimeElapsedColumn(), console=err, transient=True) as bar:
            task = bar.add_task("starting", total=None)

            def show(message: str, done: int, total: int) -> None:
                bar.update(task, description=message, completed=done, total=total)

            report = compare_models(record, seed=seed, n_iter=n_iter, n_jobs=-1, progress=show)
    atomic_write_text(path, json.dumps({"report": report.model_dump(mode="json"), "parity": report.parity}) + "\n")
    return report, False


def register(app: typer.Typer) -> None:
    """Add the model commands to the main app."""
    app.command("train")(guarded(train))
