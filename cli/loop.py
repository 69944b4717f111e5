"""`matassist propose`, `record` and `campaign`: the active-learning loop."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from assistant.rendering import proposals
from cli.common import (
    JsonOpt,
    SpaceOpt,
    TargetOpt,
    constraint_arguments,
    constraint_set,
    emit_json,
    err,
    guarded,
    load_record,
    out,
    parse_fixed,
    resolve_space,
    settings,
)
from tools.domain.errors import MatassistError

if TYPE_CHECKING:
    pass

FixOpt = Annotated[
    list[str] | None,
    typer.Option("--fix", "-f", help="hold a parameter at a value, NAME=VALUE (repeatable), e.g. --fix ni=0.94 --fix atmosphere=air"),
]
DataOpt = Annotated[Path, typer.Option("--data", "-d", help="experiment record CSV")]
WhereOpt = Annotated[
    list[str] | None,
    typer.Option("--where", "-w", help="a limit, range or choice (repeatable), e.g. --where 'calcination_temp_c<760' "
                 "--where '740<=calcination_temp_c<=760' --where 'coating!=W' --where 'coating in {B,Al}'"),
]


def propose_cmd(
    data: DataOpt,
    fix: FixOpt = None,
    where: WhereOpt = None,
    n: Annotated[int, typer.Option("--n", "-n", min=1, max=200, help="number of proposals")] = 10,
    seed: Annotated[int, typer.Option(help="random seed of the model and the swarm")] = 0,
    iterations: Annotated[int, typer.Option(min=1, help="swarm iterations")] = 1000,
    particles: Annotated[int, typer.Option(min=2, help="swarm particles")] = 100,
    space: SpaceOpt = None,
    target: TargetOpt = None,
    out_csv: Annotated[Path | None, typer.Option("--out", "-o", help="also write the proposals as a CSV ready to run (source=ml-proposal, predicted_mah_g, shot)")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="convergence PNG; default <data dir>/plots/convergence-<file>.png")] = None,
    local_scan: Annotated[bool, typer.Option("--local-scan", help="allow proposals one grid step apart (a local scan)")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Propose the next experiments: a particle swarm on the model's mean, uncertainty and failure risk."""
    from assistant.tools import build_registry
    from assistant.tools.base import ToolContext, call_tool
    from tools.campaign.shots import next_shot_label
    from tools.domain.fileio import atomic_write_text, escape_text_cells
    from tools.proposer.output import plot_convergence, proposals_frame

    record = load_record(data, space, target)  # a bad record stops here, before anything is fitted
    ctx = ToolContext(settings=settings(), record_path=data, space_name=space, target=target,
                      proposer_overrides={"iterations": iterations, "particles": particles},
                      progress=None if as_json else (lambda message: err.print(f"[dim]... {message}[/]")))
    arguments = {**constraint_arguments(fix, where), "n": n, "seed": seed, "local_scan": local_scan}
    output = call_tool(ctx, build_registry()["propose_conditions"], arguments)
    result, used = ctx.last_proposals, ctx.last_model
    assert result is not None and used is not None
    plot_path = plot or settings().ensure_data_dir() / "plots" / f"convergence-{data.stem}.png"
    plot_path.parent.mkdir(parents=True, exist_ok=True)
    plot_convergence(result, plot_path)
    shot = next_shot_label(record)
    if out_csv is not None:
        table = escape_text_cells(proposals_frame(result, record.space, shot=shot))  # text cells safe for spreadsheets
        atomic_write_text(out_csv, table.to_csv(index=False, lineterminator="\n"))
    meta = used.model.metadata
    if as_json:
        payload = result.model_dump(mode="json")
        emit_json(
            {
                "proposals": payload["proposals"],
                "fixed": payload["fixed"],
                "constraints": [c.model_dump(mode="json") for c in ctx.constraints.items],
                "batch_diversity": payload.get("batch_diversity"),
                "model": {
                    "folder": str(used.folder),
                    "reused": used.reused,
                    "n_train": meta.n_train,
                    "n_failed": meta.n_failed,
                    "n_members": meta.n_members,
                    "has_failure_model": meta.has_failure_model,
                    "metrics": meta.metrics,
                    "trained_at": meta.trained_at,
                },
                "incumbent_mah_g": result.incumbent_mah_g,
                "purpose": result.purpose,
                "local_correction": output.data.get("local_correction", "off"),
                "warnings": payload["warnings"],
                "next_shot": shot,
                "convergence": {"best_acquisition": result.convergence, "plot": str(plot_path)},
                "evaluations": result.evaluations,
                "distinct_candidates": result.distinct_candidates,
                "fast_encoding": result.fast_encoding,
                "elapsed_s": result.elapsed_s,
                "settings": payload["settings"],
                "proposals_csv": str(out_csv) if out_csv else None,
            }
        )
        return
    by_id = {str(r["experiment_id"]): r for r in record.frame[[*record.space.names, "experiment_id"]].to_dict("records")}
    out.print(f"[bold]{n} proposals[/] for {data}; model {'reused' if used.reused else 'trained'} in {used.folder}")
    holding = ctx.constraints.holding_line(record.space)
    if holding:
        out.print(holding)
    if not meta.has_failure_model:
        out.print(f"[yellow]{meta.failure_model_note}[/]")
    if result.incumbent_mah_g is not None:
        out.print(f"best measured run with these fixed values: {result.incumbent_mah_g:.2f} {record.space.target.unit}")
    for warning in result.warnings:  # extrapolation beyond the record, a constant target
        out.print(f"[yellow]warning: {warning}[/]", markup=True)
    out.print(proposals.rich_table(result.model_dump(mode="json"), record_runs=by_id))
    out.print(
        f"swarm: {result.settings.iterations} iterations x {result.settings.particles} particles, "
        f"{result.distinct_candidates} distinct candidates, {result.elapsed_s:.1f} s; convergence plot: {plot_path}"
    )
    out.print(f"local correction: {output.data.get('local_correction', 'off')}", markup=False)
    if out_csv is not None:
        out.print(f"proposals written to {out_csv} ({shot}); fill in {record.target} and status, then: matassist record --data {data} --results {out_csv}")


def record_cmd(
    data: DataOpt,
    results: Annotated[Path, typer.Option("--results", help="CSV of new results (failed runs included), same columns as the record")],
    space: SpaceOpt = None,
    target: TargetOpt = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="parity PNG; default <data dir>/plots/parity-<file>.png")] = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="do not append to the experiment store")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Append new results to a record (atomically, and to the store), then report prediction error per shot."""
    from tools.campaign.shots import plot_parity, shot_errors
    from tools.data.recording import record_new_results
    from tools.data.store import display_url

    cfg = settings()
    if not no_store:
        cfg.ensure_data_dir()  # where the default SQLite store lives
    outcome = record_new_results(data, results, space=resolve_space(space, target), target=target,
                                 store_url=None if no_store else cfg.store_url)
    combined, new, shot_note, record_name, stored = outcome.record, outcome.added, outcome.shot_note, data.stem, outcome.stored
    errors = shot_errors(combined)
    plot_path = plot or cfg.ensure_data_dir() / "plots" / f"parity-{data.stem}.png"
    plot_path.parent.mkdir(parents=True, exist_ok=True)
    plot_parity(combined, plot_path)
    if as_json:
        emit_json(
            {
                "file": str(data),
                "added": len(new),
                "failed_added": int((new.frame["status"] == "failed").sum()),
                "total": len(combined),
                "store": None if no_store else {"url": display_url(cfg.store_url), "record": record_name, "stored": stored,
                                                "reconciled": outcome.reconciled},
                "shots": [e.model_dump(mode="json") for e in errors],
                "parity_plot": str(plot_path),
                "note": shot_note,
            }
        )
        return
    if shot_note:
        err.print(f"note: {shot_note}")
    out.print(f"appended {len(new)} runs to {data} ({len(combined)} in all)" + ("" if no_store else f"; store record '{record_name}' updated"))
    if outcome.reconciled:
        out.print(f"{outcome.reconciled} of these runs were already in the store from an earlier attempt that stopped before writing the file")
    table = Table(title="Prediction error per shot (ok runs with a prediction)")
    for col in ("shot", "runs", "failed", "compared", "MAE (mAh/g)", "mean % error", "best measured"):
        table.add_column(col, justify="left" if col == "shot" else "right")
    for e in errors:
        table.add_row(
            e.shot, str(e.runs), str(e.failed_runs), str(e.compared),
            "" if e.mae_mah_g is None else f"{e.mae_mah_g:.2f}",
            "" if e.mean_pct_error is None else f"{e.mean_pct_error:.2f}%",
            "" if e.best_mah_g is None else f"{e.best_mah_g:.2f}",
        )
    out.print(table)
    out.print(f"parity plot: {plot_path}")


def _parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError as exc:
        raise MatassistError(f"--seeds '{text}': write integers separated by commas, e.g. 0,1,2") from exc
    if not seeds:
        raise MatassistError("--seeds: give at least one seed")
    return seeds


def campaign_cmd(
    shots: Annotated[int, typer.Option("--shots", min=1, max=10, help="rounds of proposals (5 shots: about 25 s of CPU per seed for ours)")] = 2,
    n: Annotated[int, typer.Option("--n", "-n", min=1, max=100, help="runs per shot")] = 10,
    fix: FixOpt = None,
    where: WhereOpt = None,
    seeds: Annotated[str, typer.Option("--seeds", help="virtual-lab seeds, comma separated")] = "0,1,2,3,4",
    strategy: Annotated[
        str, typer.Option("--strategy", help="comma separated: ours, ours-v1 (before the local correction), random, expert, baybe")
    ] = "ours,random,expert",
    lab: Annotated[
        str, typer.Option("--lab", help="simulated lab(s), comma separated: a (additive) and/or b (interactions, narrow optimum, heteroscedastic noise)")
    ] = "a",
    iterations: Annotated[int, typer.Option(min=1, help="swarm iterations")] = 1000,
    particles: Annotated[int, typer.Option(min=2, help="swarm particles")] = 100,
    plot: Annotated[Path | None, typer.Option("--plot", help="best-so-far PNG per strategy; default <data dir>/plots/campaign-best-so-far.png")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Simulate the active-learning loop against the virtual lab(s), with random and expert baselines (SIMULATED)."""
    from tools.campaign.simulation import plot_best_so_far, run_campaign

    constraints = constraint_set(fix, where)
    fixed = parse_fixed(fix) or ({} if "ni" in constraints.parameters else {"ni": "0.94"})
    strategies = [s.strip() for s in strategy.split(",") if s.strip()]
    labs = [x.strip() for x in lab.split(",") if x.strip()] or ["a"]

    def say(name: str) -> Callable[[str], None]:
        return lambda msg: err.print(f"[lab {name}] {msg}" if len(labs) > 1 else msg, markup=False)

    results = [
        run_campaign(
            shots=shots,
            n=n,
            fixed=fixed,
            constraints=constraints.without(*fixed),
            seeds=_parse_seeds(seeds),
            strategies=strategies,
            iterations=iterations,
            particles=particles,
            progress=say(name),
            lab=name,
        )
        for name in labs
    ]
    plot_path = plot or settings().ensure_data_dir() / "plots" / "campaign-best-so-far.png"
    plot_path.parent.mkdir(parents=True, exist_ok=True)
    plot_best_so_far(results, plot_path)
    if as_json:
        if len(results) == 1:
            emit_json({**results[0].model_dump(mode="json"), "plot": str(plot_path)})
        else:
            emit_json({"labs": [r.model_dump(mode="json") for r in results], "plot": str(plot_path)})
        return
    for result in results:
        held = "; ".join(result.constraints) or ", ".join(f"{k}={v}" for k, v in result.fixed.items())
        out.print(
            f"[yellow]SIMULATED campaign against virtual lab {result.lab}[/]: {shots} shots x {n} runs, holding {held}, seeds {seeds}"
        )
        table = Table(title=f"Lab {result.lab}: median over seeds, per shot")
        for col in ("strategy", "shot", "best measured (mAh/g)", "gap closed", "failed runs", "prediction error"):
            table.add_column(col, justify="left" if col == "strategy" else "right")
        for rep in result.strategies:
            if not rep.available:
                table.add_row(rep.strategy, "-", "unavailable", "", "", "")
                continue
            for k in range(shots):
                pct = rep.median_mean_pct_error[k]
                table.add_row(
                    rep.strategy, str(k + 1), f"{rep.median_best_mah_g[k]:.2f}", f"{rep.median_gap_closed[k]:.0%}",
                    f"{rep.median_failed_runs[k]:g}", "" if pct is None else f"{pct:.2f}%",
                )
        out.print(table)
        for rep in result.strategies:
            if not rep.available:
                out.print(f"{rep.strategy}: {rep.message}", markup=False)
        out.print(f"({result.elapsed_s:.0f} s)")
    out.print(f"best-so-far plot: {plot_path}", markup=False)


def register(app: typer.Typer) -> None:
    """Add `propose`, `record` and `campaign`."""
    app.command("propose")(guarded(propose_cmd))
    app.command("record")(guarded(record_cmd))
    app.command("campaign")(guarded(campaign_cmd))
