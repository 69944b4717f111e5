"""`matassist electrode ...`: insertion-electrode voltage and capacities from composition.

`train` fits (or reuses) the electrode model on the Battery Explorer table and prints the
cross-validated comparison with the baselines; `predict` answers for one electrode or a CSV of
them. The model lives under <data dir>/models/electrodes/<data hash prefix> and is reused while
the table is unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from assistant.paths import electrode_models_dir
from cli.common import JsonOpt, emit_json, err, guarded, out, settings
from tools.domain.errors import DataFileError, ElectrodeError

if TYPE_CHECKING:
    from tools.electrodes.data import ElectrodeDataset
    from tools.electrodes.schemas import CVReport, ElectrodePredictionResult, ModelInfo

electrode_app = typer.Typer(
    help="Insertion-electrode voltage, capacities and energy from composition (Materials Project Battery Explorer data).",
    no_args_is_help=True,
)

DataOpt = Annotated[Path | None, typer.Option("--data", "-d", help="training table (Battery Explorer columns); default: the shipped snapshot")]
SCHEMES = ("grouped", "random")
PRINT_LIMIT = 20
OPTION_OF_FIELD = {"working_ion": "--ion", "charged_formula": "--charged", "discharged_formula": "--discharged"}


def register(app: typer.Typer) -> None:
    """Add the `electrode` command group to the CLI."""
    app.add_typer(electrode_app, name="electrode")


# -- train ------------------------------------------------------------------------------------------
@electrode_app.command("train")
@guarded
def train(
    data: DataOpt = None,
    scheme: Annotated[str, typer.Option("--scheme", help="CV folds: grouped (every host in one fold, all its ions) or random")] = "grouped",
    folds: Annotated[int, typer.Option("--folds", min=2, max=10, help="number of CV folds")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Fit (or reuse) the electrode model and compare it with a mean control, RF and LightGBM in 5-fold CV, per target and ion."""
    from tools.electrodes import cache
    from tools.electrodes.cv import targets_of
    from tools.electrodes.data import load_dataset
    from tools.electrodes.plots import save_parity

    if scheme not in SCHEMES:
        raise ElectrodeError(f"--scheme {scheme!r}: choose grouped or random")
    ds = load_dataset(data)
    model_note = None if as_json else (lambda message: err.print(message))
    _, info = cache.load_or_train(electrode_models_dir(settings()), data, dataset=ds, progress=model_note)
    folder = Path(info.folder)
    report, oof, cv_reused = _comparison(ds, folder, scheme, folds, quiet=as_json)
    plot = folder / ("parity.png" if scheme == "grouped" else f"parity-{scheme}.png")
    if not (cv_reused and plot.exists()):
        save_parity(targets_of(ds), oof, report, plot)
    if as_json:
        emit_json({"data": info.data_source, "model": info, "cv": report, "parity_plot": str(plot),
                   "reused": {"model": info.reused, "cv": cv_reused}})
        return
    print_cv(report)
    verb = "reused (table unchanged)" if info.reused else f"trained in {info.train_seconds:.0f} s"
    took = "reused (table unchanged)" if cv_reused else f"took {report.elapsed_s:.0f} s"
    out.print(f"model: {verb} on {info.n_train:,} electrodes ({info.data_source}); comparison {took}")
    out.print(f"model folder: {folder}")
    out.print(f"parity plot (out-of-fold, ours): {plot}")


def _comparison(ds: ElectrodeDataset, folder: Path, scheme: str, folds: int, quiet: bool) -> tuple[CVReport, dict[str, Any], bool]:
    """The comparison saved beside the model for this table, config, scheme and fold count; else a new one (saved)."""
    import numpy as np

    from tools.domain.fileio import atomic_write_text
    from tools.electrodes import cache
    from tools.electrodes.cv import compare_models
    from tools.electrodes.schemas import CVReport

    config = cache.default_config()
    path = folder / f"cv-{scheme}-{folds}-{cache.config_key(config)}.json"
    if path.exists():
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            report = CVReport.model_validate(saved["report"])
            oof = {t: np.asarray(v, dtype=float) for t, v in saved["ours"].items()}
            if report.data_sha256 == ds.sha256:
                return report, oof, True
        except (OSError, ValueError, KeyError, TypeError):
            pass  # unreadable or of another version: run it again
    if quiet:
        report, predictions = compare_models(ds, config, scheme=scheme, n_splits=folds)
    elif not err.is_terminal:  # a log file: one line per model and fold
        err.print(f"comparing mean, RF, LightGBM and ours in {folds}-fold {scheme} CV on {len(ds):,} electrodes (a few minutes)")

        def say(message: str, done: int, total: int) -> None:
            err.print(f"[{done}/{total}] {message}")

        report, predictions = compare_models(ds, config, scheme=scheme, n_splits=folds, progress=say)
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        err.print(f"comparing mean, RF, LightGBM and ours in {folds}-fold {scheme} CV on {len(ds):,} electrodes (a few minutes)")
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} fits"),
                      TimeElapsedColumn(), console=err, transient=False) as bar:
            task = bar.add_task("starting", total=None)

            def show(message: str, done: int, total: int) -> None:
                bar.update(task, description=message, completed=done, total=total)

            report, predictions = compare_models(ds, config, scheme=scheme, n_splits=folds, progress=show)
    oof = predictions["ours"]
    atomic_write_text(path, json.dumps({"report": report.model_dump(mode="json"),
                                        "ours": {t: v.tolist() for t, v in oof.items()}}) + "\n")
    return report, oof, False


def print_cv(report: CVReport) -> None:
    """The comparison: all ions per model and target, then every ion per target."""
    from tools.electrodes.cv import MODEL_LABELS, OURS_NOTE
    from tools.electrodes.schemas import TARGET_LABELS, TARGET_UNITS, TARGETS

    models = list(dict.fromkeys(r.model for r in report.rows))
    how = "no host in two folds" if report.scheme == "grouped" else "shuffled rows, hosts shared between folds"
    table = Table(title=f"{report.n_splits}-fold {report.scheme} CV ({how}), {report.n_rows:,} electrodes: MAE, scaled MAE (MAE / MAE of the mean) and R2")
    table.add_column("model")
    for t in TARGETS:
        short = TARGET_LABELS[t].replace("average ", "").replace(" capacity", "")
        table.add_column(f"{short} MAE ({TARGET_UNITS[t]})", justify="right")
        table.add_column("scaled", justify="right")
        table.add_column("R2", justify="right")
    for m in models:
        cells = []
        for t in TARGETS:
            r = report.row(m, t)
            cells += [f"{r.mae:.3g}", f"{r.scaled_mae:.3f}", f"{r.r2:.3f}"] if r else ["", "", ""]
        table.add_row(MODEL_LABELS.get(m, m), *cells)
    for name in report.not_run:
        table.add_row(f"{MODEL_LABELS.get(name, name)}", *(["not run", "", ""] * len(TARGETS)))
    published = {p.target: p for p in report.published}
    if published:
        first = next(iter(published.values()))
        cells = []
        for t in TARGETS:
            p = published.get(t)
            cells += [f"{p.mae:.3g}", f"{p.scaled_mae:.3f}", ""] if p else ["", "", ""]
        table.add_row(f"{first.model}, published*", *cells)
    out.print(table)
    for t in TARGETS:
        ions = [r.ion for r in report.rows if r.model == models[0] and r.target == t and r.ion != "all"]
        per_ion = Table(title=f"{TARGET_LABELS[t]} ({TARGET_UNITS[t]}) per working ion: MAE of each model; scaled MAE and R2 of ours")
        for col in ("ion", "n", *(f"{m} MAE" for m in models), "ours scaled", "ours R2"):
            per_ion.add_column(col, justify="left" if col == "ion" else "right")
        for ion in ["all", *ions]:
            rows = {m: report.row(m, t, ion) for m in models}
            ours = rows.get("ours")
            n = next((r.n for r in rows.values() if r), 0)
            per_ion.add_row(ion, str(n), *(f"{r.mae:.3g}" if r else "" for r in rows.values()),
                            f"{ours.scaled_mae:.3f}" if ours else "", f"{ours.r2:.3f}" if ours else "")
        out.print(per_ion)
    out.print(OURS_NOTE)
    for name, reason in report.not_run.items():
        out.print(f"{MODEL_LABELS.get(name, name)}: {reason}")
    for p in report.published[:1]:
        out.print(f"* {p.source}: another split of the same table, so compare with care")


# -- predict ----------------------------------------------------------------------------------------
@electrode_app.command("predict")
@guarded
def predict(
    ion: Annotated[str | None, typer.Option("--ion", help="working ion: Li, Na, K, Rb, Cs, Mg, Ca, Zn, Al or Y")] = None,
    charged: Annotated[str | None, typer.Option("--charged", help="charged (ion-poor) formula, e.g. Mn2O4; default: the discharged formula without the ion")] = None,
    discharged: Annotated[str | None, typer.Option("--discharged", help="discharged (ion-rich) formula, e.g. LiMn2O4")] = None,
    data: Annotated[Path | None, typer.Option("--data", "-d", help="CSV of electrodes: columns 'Working Ion', 'Formula Charge', 'Formula Discharge' (others kept)")] = None,
    out_path: Annotated[Path | None, typer.Option("--out", "-o", help="write the --data table with the predictions added to this CSV")] = None,
    rank_by: Annotated[str | None, typer.Option("--rank-by", help="sort by gravimetric_energy_wh_kg, average_voltage_v, gravimetric_capacity_mah_g or volumetric_capacity_mah_cm3")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="write voltage against capacity (iso-energy lines) of the candidates to this PNG")] = None,
    model_data: Annotated[Path | None, typer.Option("--model-data", help="table the model is trained on; default: the shipped snapshot")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Voltage, capacities and specific energy of one electrode (--ion/--charged/--discharged) or of a CSV (--data/--out)."""
    from tools.electrodes import cache
    from tools.electrodes.predict import predict_candidates, ranked
    from tools.electrodes.schemas import RANK_LABELS

    if rank_by is not None and rank_by not in RANK_LABELS:
        raise ElectrodeError(f"--rank-by {rank_by!r}: choose {', '.join(RANK_LABELS)}")
    for path, option in ((out_path, "--out"), (plot, "--plot")):
        if path is not None and not path.resolve().parent.is_dir():
            raise DataFileError(f"{option} {path}: folder {path.resolve().parent} does not exist")
    if data is not None:
        if any(v is not None for v in (ion, charged, discharged)):
            raise ElectrodeError("give either --data (a table) or --ion/--charged/--discharged (one electrode), not both")
        if out_path is None:
            raise ElectrodeError("--data needs --out: the CSV to write the table with its predictions to")
        from tools.electrodes.table import read_candidates_table

        frame, candidates, _ = read_candidates_table(data)  # every row checked before anything is trained or written
    else:
        if out_path is not None:
            raise ElectrodeError("--out goes with --data (a table of electrodes)")
        candidates = [_single_candidate(ion, charged, discharged, quiet=as_json)]
    model, info = cache.load_or_train(electrode_models_dir(settings()), model_data,
                                      progress=None if as_json else (lambda message: err.print(message)))
    by_row = predict_candidates(model, info, candidates)
    result = ranked(by_row, rank_by)  # type: ignore[arg-type]
    written: dict[str, str] = {}
    if data is not None and out_path is not None:
        from tools.electrodes.table import with_predictions, write_table

        # the table keeps its own row order; a ranking applies to the printout and the plot
        write_table(with_predictions(frame, by_row.predictions), out_path)
        written["out"] = str(out_path)
    if plot is not None:
        from tools.electrodes.plots import save_energy_plot

        ions = {p.working_ion for p in result.predictions}
        background = [(k["gravimetric_capacity_mah_g"], k["average_voltage_v"]) for k in model.known if k["working_ion"] in ions]
        save_energy_plot(result.predictions, plot, background)
        written["plot"] = str(plot)
    if as_json:
        emit_json({**result.model_dump(mode="json"), "files": written})
        return
    print_predictions(result, info, limit=PRINT_LIMIT)
    for kind, path_text in written.items():
        out.print(f"wrote {'the table with predictions' if kind == 'out' else 'the voltage-capacity plot'}: {path_text}")


def _single_candidate(ion: str | None, charged: str | None, discharged: str | None, quiet: bool) -> Any:
    """The electrode of --ion/--charged/--discharged; a missing charged formula is the discharged one without the ion."""
    from assistant.electrode_questions import without_ion
    from tools.electrodes.parsing import parse_electrode
    from tools.electrodes.schemas import ElectrodeCandidate

    if ion is None or discharged is None:
        raise ElectrodeError("give --ion and --discharged (and --charged, or it is the discharged formula without the ion), or --data")
    derived = charged is None
    if charged is None:
        charged = without_ion(discharged.strip(), ion.strip()) or discharged
    try:
        parse_electrode(charged, discharged, ion)
    except ElectrodeError as error:
        options = " and ".join(OPTION_OF_FIELD[f] for f in error.fields) or "--ion/--charged/--discharged"
        hint = f" (the charged formula was taken as the discharged one without {ion.strip()})" if derived and "charged_formula" in error.fields else ""
        raise ElectrodeError(f"{options}: {error}{hint}", error.fields) from error
    if derived and not quiet:
        err.print(f"note: charged formula taken as the discharged one without {ion.strip()}: {charged}")
    return ElectrodeCandidate(working_ion=ion.strip(), charged_formula=charged.strip(), discharged_formula=discharged.strip())


def print_predictions(result: ElectrodePredictionResult, info: ModelInfo, limit: int = 20) -> None:
    """The first `limit` predictions as a table, then where the model came from."""
    from tools.electrodes.schemas import RANK_LABELS

    ranked = f", ranked by {RANK_LABELS[result.ranked_by]}" if result.ranked_by else ""
    table = Table(title=f"Predicted electrode properties{ranked} (1-sigma after ±; gravimetric capacity exact)")
    for col in ("#", "electrode (ion)", "voltage V", "mAh/g", "mAh/cm³", "Wh/kg", "in domain", "nearest known electrode"):
        table.add_column(col, justify="left" if col in {"electrode (ion)", "nearest known electrode", "in domain"} else "right")
    for rank, p in enumerate(result.predictions[:limit], start=1):
        known = p.nearest_known
        table.add_row(
            str(rank), f"{p.charged_formula} -> {p.discharged_formula} ({p.working_ion})",
            f"{p.average_voltage_v:.2f} ± {p.average_voltage_v_std:.2f}", f"{p.gravimetric_capacity_mah_g:.1f}",
            f"{p.volumetric_capacity_mah_cm3:.0f} ± {p.volumetric_capacity_mah_cm3_std:.0f}",
            f"{p.gravimetric_energy_wh_kg:.0f} ± {p.gravimetric_energy_wh_kg_std:.0f}", "yes" if p.in_domain else "no",
            ("same electrode: " if known.exact_match else "") + known.describe(),
        )
    out.print(table)
    if len(result.predictions) > limit:
        out.print(f"... and {len(result.predictions) - limit:,} more (all of them in the --out table and in --json)")
    state = "reused (table unchanged)" if info.reused else f"trained in {info.train_seconds:.0f} s"
    out.print(f"model: {state} on {info.n_train:,} electrodes ({info.data_source}); {info.folder}")
    out.print(f"data: {result.licence}")
