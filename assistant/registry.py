"""The tool registry: every capability of `tools/` as a named, typed tool for the router and the LLM.

Each tool has an input model (what the LLM sees as its JSON schema, pinned by a golden test),
a function taking the session's ToolContext and that input, and returns a ToolOutput: a
Markdown summary for people and models, JSON data, sources and files. User-caused problems
raise MatassistError; `run_tool` turns them into an error ToolOutput so an agent can read
the message and correct itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.paths import model_folder
from assistant.settings import Settings
from tools.domain.design_space import DesignSpace, format_value, load_design_space
from tools.domain.errors import MatassistError

if TYPE_CHECKING:  # pandas loads with the first tool that reads a record
    from tools.domain.record import ExperimentRecord

DEMO_RECORD = Path(__file__).resolve().parents[1] / "knowledge" / "demo" / "ncm_demo.csv"


class ToolOutput(BaseModel):
    """What a tool hands back: text for the conversation, data for programs."""

    model_config = ConfigDict(extra="forbid")

    ok: bool = Field(default=True, description="False when the tool refused or failed")
    summary: str = Field(description="Markdown summary of the result, every number taken from `data`")
    data: dict[str, Any] = Field(default_factory=dict, description="the result as JSON")
    sources: list[str] = Field(default_factory=list, description="where the facts come from (files, citations, databases)")
    files: list[str] = Field(default_factory=list, description="files written (plots, plans, templates)")


@dataclass
class ToolContext:
    """Per-conversation state the tools share: settings, the active record, the last proposals."""

    settings: Settings
    record_path: Path | None = None
    space_name: str | None = None
    attachments: list[Path] = field(default_factory=list)
    last_proposals: Any = None
    last_fixed: dict[str, Any] = field(default_factory=dict)
    progress: Callable[[str], None] | None = None
    _record_cache: tuple[tuple[str, int, int, str], ExperimentRecord] | None = None

    @property
    def active_record_path(self) -> Path:
        """The record the user chose, else the shipped (simulated) demo record."""
        return self.record_path or DEMO_RECORD

    @property
    def using_demo(self) -> bool:
        """True when no record was chosen and the simulated demo record stands in."""
        return self.record_path is None

    def space(self) -> DesignSpace:
        """The design space of the active record."""
        return load_design_space(self.space_name or self.settings.design_space)

    def record(self) -> ExperimentRecord:
        """Load and validate the active record (cached while the file is unchanged)."""
        from tools.domain.record import read_record

        path = self.active_record_path
        try:
            stat = path.stat()
        except OSError:
            return read_record(path, space=self.space())  # raises the clear "no such file" error
        key = (str(path), stat.st_mtime_ns, stat.st_size, self.space_name or self.settings.design_space)
        if self._record_cache is None or self._record_cache[0] != key:
            self._record_cache = (key, read_record(path, space=self.space()))
        return self._record_cache[1]

    def note(self, message: str) -> None:
        """Report progress of long work, when someone listens."""
        if self.progress is not None:
            self.progress(message)

    def output_dir(self, kind: str) -> Path:
        """A folder in the data directory for files a tool writes."""
        folder = self.settings.ensure_data_dir() / kind
        folder.mkdir(parents=True, exist_ok=True)
        return folder


@dataclass(frozen=True)
class ToolSpec:
    """One registered tool."""

    name: str
    description: str
    input_model: type[BaseModel]
    run: Callable[[ToolContext, Any], ToolOutput]


def record_note(ctx: ToolContext) -> str:
    """One line saying which record the answer rests on."""
    if ctx.using_demo:
        return "Record: the built-in demo record (652 runs, SIMULATED by the virtual lab, not measurements). Attach your own CSV to use real data."
    return f"Record: {ctx.active_record_path}"


# -- capacity model and proposer ----------------------------------------------------------------
class ProposeConditionsInput(BaseModel):
    """Propose the next experiments with the particle swarm on the capacity model."""

    model_config = ConfigDict(extra="forbid")

    fixed: dict[str, float | str] = Field(
        default_factory=dict,
        description='parameters held fixed, name -> value in the design space units; compositions are mole fractions (0.94, not 94), temperatures degC, times h, dopants weight fractions. Example: {"ni": 0.94, "atmosphere": "air"}',
    )
    n: int = Field(default=10, ge=1, le=50, description="number of distinct proposals to return")
    seed: int = Field(default=0, ge=0, description="random seed of the swarm (same seed, same proposals)")


def model_for(ctx: ToolContext, record: ExperimentRecord) -> Any:
    """The capacity model of the active record, fitted once and reused while the record is unchanged."""
    from tools.modelling.capacity_model import load_or_fit

    folder = model_folder(ctx.settings, record)
    ctx.note("loading or fitting the capacity model")
    model, reused = load_or_fit(record, folder)
    ctx.note("model reused" if reused else "model fitted")
    return model


def _propose(ctx: ToolContext, args: ProposeConditionsInput) -> ToolOutput:
    from tools.proposer.swarm import propose

    record = ctx.record()
    record.space.with_fixed(args.fixed)  # a bad request fails here, before any model is fitted
    model = model_for(ctx, record)
    ctx.note(f"searching the design space with a particle swarm for {args.n} proposals")
    result = propose(model, record, fixed=args.fixed, n=args.n, seed=args.seed)
    ctx.last_proposals = result
    ctx.last_fixed = dict(result.fixed)
    space = record.space
    varied = [n for n in space.names if n not in result.fixed and len({str(p.params[n]) for p in result.proposals}) > 1]
    lines = [
        f"{len(result.proposals)} proposals with {', '.join(f'{k} = {format_value(v)}' for k, v in result.fixed.items()) or 'nothing fixed'}"
        + (f"; best measured run under these values: {result.incumbent_mah_g:.1f} mAh/g." if result.incumbent_mah_g is not None else "."),
        "",
        "| # | reason | predicted (mAh/g) | +/- | P(fail) | " + " | ".join(varied) + " |",
        "|---|---|---|---|---|" + "---|" * len(varied),
    ]
    for i, p in enumerate(result.proposals, start=1):
        cells = " | ".join(format_value(p.params[n]) for n in varied)
        lines.append(
            f"| {i} | {p.reason} | {p.predicted_mah_g:.1f} | {p.uncertainty_mah_g:.1f} | {p.failure_probability:.2f} | {cells} |"
        )
    same = {n: result.proposals[0].params[n] for n in space.names if n not in varied} if result.proposals else {}
    if same:
        lines += ["", "Same in every proposal: " + ", ".join(f"{k} = {format_value(v)}" for k, v in same.items()) + "."]
    lines += ["", record_note(ctx)]
    return ToolOutput(
        summary="\n".join(lines),
        data=result.model_dump(mode="json", exclude={"convergence"}) | {"convergence_last": result.convergence[-1:] if result.convergence else []},
        sources=[str(ctx.active_record_path)],
    )


class PredictCapacityInput(BaseModel):
    """Predict initial discharge capacity (mAh/g) for given conditions."""

    model_config = ConfigDict(extra="forbid")

    conditions: dict[str, float | str] = Field(
        description="parameter -> value in design-space units; parameters left out are taken from the base run"
    )
    base_experiment_id: str | None = Field(
        default=None,
        description="experiment_id of the record run to start from; default: the best measured run matching the given composition",
    )


def _predict(ctx: ToolContext, args: PredictCapacityInput) -> ToolOutput:
    import pandas as pd

    record = ctx.record()
    space = record.space
    for name in args.conditions:
        space.parameter(name)  # unknown names -> DesignSpaceError with a suggestion
    ok = record.ok_runs
    if args.base_experiment_id is not None:
        base_rows = record.frame[record.frame["experiment_id"] == args.base_experiment_id]
        if base_rows.empty:
            raise MatassistError(f"no run with experiment_id '{args.base_experiment_id}' in the record")
        base = base_rows.iloc[0]
    else:
        candidates = ok
        for name in ("ni", "co", "mn"):
            if name in args.conditions and name in ok:
                candidates = candidates[(candidates[name] - float(args.conditions[name])).abs() < 1e-9]
        base = (candidates if not candidates.empty else ok).sort_values(record.target).iloc[-1]
    row: dict[str, Any] = {n: base[n] for n in space.names}
    row.update(args.conditions)
    if "ni" in args.conditions and "mn" in space.names and "co" in space.names and "mn" not in args.conditions:
        row["mn"] = round(1.0 - float(row["ni"]) - float(row["co"]), 6)
    row.update(space.conditional_values(row))
    problems = space.row_problems(row)
    if problems:
        raise MatassistError("these conditions are not valid: " + "; ".join(f"{c}: {m}" for c, m in problems))
    model = model_for(ctx, record)
    frame = pd.DataFrame([row])
    mean, std = model.predict(frame)
    p_fail = float(model.failure_probability(frame)[0])
    changed = {k: row[k] for k in space.names if str(row[k]) != str(base[k])}
    summary = (
        f"Predicted initial discharge capacity: {mean[0]:.1f} +/- {std[0]:.1f} mAh/g (ensemble mean and spread); "
        f"predicted failure probability {p_fail:.2f}.\n\n"
        f"Starting from run {base['experiment_id']} ({base[record.target]:.1f} mAh/g measured) with "
        + (", ".join(f"{k} = {format_value(v)}" for k, v in changed.items()) or "no changes")
        + ".\n\n"
        + record_note(ctx)
    )
    return ToolOutput(
        summary=summary,
        data={"params": {k: row[k] for k in space.names}, "predicted_mah_g": float(mean[0]), "uncertainty_mah_g": float(std[0]),
              "failure_probability": p_fail, "base_experiment_id": str(base["experiment_id"])},
        sources=[str(ctx.active_record_path)],
    )


class TrainModelInput(BaseModel):
    """Train (or reuse) the capacity model on the active record and report its accuracy."""

    model_config = ConfigDict(extra="forbid")

    compare_models: bool = Field(
        default=False,
        description="also compare DT, RF, GBM (LightGBM and scikit-learn) and MLP by 5-fold random search (slower, about a minute)",
    )


def _train(ctx: ToolContext, args: TrainModelInput) -> ToolOutput:
    record = ctx.record()
    model = model_for(ctx, record)
    meta = model.metadata.model_dump(mode="json")
    lines = [f"Capacity model: ensemble of {meta.get('n_members', '?')} LightGBM regressors on {meta.get('n_train')} runs."]
    metrics = meta.get("metrics") or {}
    if metrics:
        lines.append("Cross-validated accuracy: " + ", ".join(f"{k} = {format_value(v)}" for k, v in metrics.items() if v is not None) + ".")
    data: dict[str, Any] = {"metadata": meta}
    if args.compare_models:
        from tools.modelling.capacity_model import compare_models

        ctx.note("comparing DT, RF, GBM and MLP by 5-fold random search")
        report = compare_models(record)
        data["comparison"] = report.model_dump(mode="json")
        lines += ["", "| model | RMSE train | RMSE test | R2 train | R2 test |", "|---|---|---|---|---|"]
        for row in report.rows:
            lines.append(
                f"| {row.label} | {row.rmse_train:.3f} | {row.rmse_test:.3f} | {row.r2_train:.3f} | {row.r2_test:.3f} |"
            )
    counts = meta.get("source_counts") or {}
    if counts:
        lines.append("Training rows by source: " + ", ".join(f"{k}: {v}" for k, v in counts.items()) + ".")
    lines += ["", record_note(ctx)]
    return ToolOutput(summary="\n".join(lines), data=data, sources=[str(ctx.active_record_path)])


class RecordResultsInput(BaseModel):
    """Append measured results (failures included) to the active record and report per-shot prediction error."""

    model_config = ConfigDict(extra="forbid")

    results_file: str = Field(description="path of the results CSV (the plan's results template, filled in)")


def _record(ctx: ToolContext, args: RecordResultsInput) -> ToolOutput:
    from tools.campaign.simulation import shot_errors
    from tools.domain.record import append_records, read_record, write_record

    if ctx.using_demo:
        raise MatassistError("no experiment record is active: attach your record CSV first (the demo record is read-only)")
    path = Path(args.results_file)
    record = ctx.record()
    results = read_record(path, space=record.space)
    merged = append_records(record, results)
    write_record(merged, ctx.active_record_path)
    errors = shot_errors(merged)
    lines = [f"Recorded {len(results)} runs ({int((results.frame['status'] == 'failed').sum())} failed) into {ctx.active_record_path}."]
    for e in errors:
        if e.mae_mah_g is None or e.mean_pct_error is None:
            continue
        lines.append(f"- {e.shot}: MAE {e.mae_mah_g:.2f} mAh/g ({e.mean_pct_error:.2f}%) over {e.compared} runs; {e.failed_runs} failed")
    return ToolOutput(summary="\n".join(lines), data={"added": len(results), "errors": [e.model_dump(mode="json") for e in errors]},
                      files=[str(ctx.active_record_path)])


class ProfileDatasetInput(BaseModel):
    """Bias report of the active experiment record: distributions, one-valued and clustered parameters, failures."""

    model_config = ConfigDict(extra="forbid")


def _profile(ctx: ToolContext, args: ProfileDatasetInput) -> ToolOutput:
    from tools.data.profile import profile_record
    from tools.plotting import plot_profile

    record = ctx.record()
    profile = profile_record(record)
    plots = plot_profile(record, ctx.output_dir("plots") / f"profile-{ctx.active_record_path.stem}")
    lines = [
        f"{profile.rows} runs, {profile.failed_runs} failed ({profile.failed_share:.1%}), "
        f"{profile.missing_target} with no measured capacity."
    ]
    if profile.counts_by_ni:
        lines.append("Runs per Ni level: " + ", ".join(f"{k}: {v}" for k, v in profile.counts_by_ni.items()) + ".")
    lines += ["", "Findings:"] + [f"- {f}" for f in profile.findings] + ["", record_note(ctx)]
    return ToolOutput(summary="\n".join(lines), data=profile.model_dump(mode="json"), files=[str(p) for p in plots],
                      sources=[str(ctx.active_record_path)])


class PlanRunInput(BaseModel):
    """One run of a user-supplied plan."""

    model_config = ConfigDict(extra="forbid")

    params: dict[str, float | str] = Field(description="every design-space parameter -> value, design-space units")


class DraftExperimentPlanInput(BaseModel):
    """Turn the last proposals (or a given list of runs) into a plan the lab can run, with a results template."""

    model_config = ConfigDict(extra="forbid")

    runs: list[PlanRunInput] | None = Field(default=None, description="runs to plan; default: the last proposals of this conversation")
    replicates: int = Field(default=1, ge=0, le=5, description="extra repeats of the top run, to measure scatter")
    add_control: bool = Field(default=True, description="add the best measured run under the same fixed values as a control")
    title: str = Field(default="Next experiments", description="plan title")


def _plan(ctx: ToolContext, args: DraftExperimentPlanInput) -> ToolOutput:
    from tools.campaign.simulation import next_shot_label
    from tools.domain.record import atomic_write_text
    from tools.planning.plan import PlanInput, PlannedRun, draft_plan

    record = ctx.record()
    fixed: dict[str, Any] = {}
    if args.runs:
        runs = [PlannedRun(params=r.params, reason="user") for r in args.runs]
    elif ctx.last_proposals is not None:
        runs = [
            PlannedRun(params=p.params, predicted_mah_g=p.predicted_mah_g, uncertainty_mah_g=p.uncertainty_mah_g,
                       reason=p.reason if p.reason in {"exploit", "explore", "boundary probe"} else "user")
            for p in ctx.last_proposals.proposals
        ]
        fixed = dict(ctx.last_fixed)
    else:
        raise MatassistError("there are no proposals to plan yet: ask for proposals first, or give the runs")
    shot = next_shot_label(record)
    folder = ctx.output_dir("plans") / f"{date.today().isoformat()}-{shot}-{int(time.time())}"
    folder.mkdir(parents=True, exist_ok=True)
    request = PlanInput(runs=runs, title=args.title, shot=shot, replicates=args.replicates, add_control=args.add_control,
                        fixed=fixed, results_file=str(folder / "results_template.csv"))
    plan = draft_plan(request, record.space, record)
    atomic_write_text(folder / "plan.md", plan.markdown)
    atomic_write_text(folder / "runs.csv", plan.runs_csv)
    atomic_write_text(folder / "results_template.csv", plan.results_template_csv)
    files = [str(folder / "plan.md"), str(folder / "runs.csv"), str(folder / "results_template.csv")]
    summary = plan.markdown + "\n\nFiles: " + ", ".join(files)
    return ToolOutput(summary=summary, data=plan.model_dump(mode="json", exclude={"markdown"}) | {"shot": shot}, files=files)


# -- the registry ---------------------------------------------------------------------------
def _spec(name: str, model: type[BaseModel], run: Callable[[ToolContext, Any], ToolOutput]) -> ToolSpec:
    doc = (model.__doc__ or name).strip().splitlines()[0]
    return ToolSpec(name=name, description=doc, input_model=model, run=run)


def build_registry() -> dict[str, ToolSpec]:
    """Every tool available in this build, by name (the names the LLM and the router use)."""
    specs = [
        _spec("propose_conditions", ProposeConditionsInput, _propose),
        _spec("predict_capacity", PredictCapacityInput, _predict),
        _spec("train_model", TrainModelInput, _train),
        _spec("record_results", RecordResultsInput, _record),
        _spec("profile_dataset", ProfileDatasetInput, _profile),
        _spec("draft_experiment_plan", DraftExperimentPlanInput, _plan),
    ]
    specs += _optional_specs()
    return {s.name: s for s in specs}


# Modules of later capabilities; each defines TOOL_SPECS (a list of ToolSpec).
CAPABILITY_MODULES: tuple[str, ...] = ("assistant.tool_mp", "assistant.tool_cif", "assistant.tool_literature", "assistant.tool_augment")


def _optional_specs() -> list[ToolSpec]:
    """Tools of later capabilities, each registered by its own module."""
    import importlib

    found: list[ToolSpec] = []
    for module in CAPABILITY_MODULES:
        found.extend(importlib.import_module(module).TOOL_SPECS)
    return found


def call_tool(ctx: ToolContext, spec: ToolSpec, arguments: dict[str, Any]) -> ToolOutput:
    """Run a tool for a command line: its error comes back as a MatassistError, not an error output."""
    output = run_tool(ctx, spec, arguments)
    if not output.ok:
        raise MatassistError(output.summary.removeprefix("error: "))
    return output


def run_tool(ctx: ToolContext, spec: ToolSpec, arguments: dict[str, Any]) -> ToolOutput:
    """Validate arguments and run a tool; user-caused problems come back as an error ToolOutput."""
    try:
        args = spec.input_model.model_validate(arguments)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or 'input'}: {e['msg']}" for e in err.errors())
        return ToolOutput(ok=False, summary=f"error: invalid arguments for {spec.name}: {problems}", data={"error": problems})
    try:
        return spec.run(ctx, args)
    except MatassistError as err:
        return ToolOutput(ok=False, summary=f"error: {err}", data={"error": str(err)})
