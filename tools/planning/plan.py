"""Experiment plans a lab can run on Monday: numbered runs, controls, replicates, protocol, results template.

The plan is built from proposals (or the user's own list of conditions): each run is checked
against the design space, a control run (the best known recipe from the record) and
replicates are added, and the reference study's coin-cell protocol is written out. The
results template is a CSV in the record's own format that `matassist record` accepts once
`capacity_mah_g` and `status` are filled in.
"""

from __future__ import annotations

import io
import math
from datetime import date
from typing import Literal, Protocol

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from tools.domain.constraints import ConstraintSet
from tools.domain.design_space import DesignSpace, format_value
from tools.domain.errors import MatassistError
from tools.domain.fileio import escape_text_cells
from tools.domain.record import ExperimentRecord
from tools.domain.record_columns import BOOKKEEPING, columns_for

Reason = Literal["exploit", "explore", "boundary probe", "control", "replicate", "user"]

PROTOCOL: tuple[str, ...] = (
    "Electrode: 96.5 wt% active material, about 10 mg/cm2 loading, pressed to about 3.4 g/cm3.",
    "Cell: CR2032 coin cell against Li metal; electrolyte 1 M LiPF6 in EC/DMC 3:7 (by volume).",
    "Formation and test: 0.1 C charge and discharge between 2.75 and 4.25 V at 25 degC, "
    "with 1 C = 210 mAh/g.",
    "Report: initial discharge capacity at 0.1 C (mAh/g of active material) as capacity_mah_g; "
    "make at least two cells per run and report their mean.",
)

# The placeholders of the plan template (prompts/experiment_plan.md), checked when the caller loads it.
PLAN_VARIABLES = frozenset({"title", "date", "provenance", "runs_table", "fixed_note", "protocol", "results_file", "shot"})


class PlanTemplate(Protocol):
    """Renders the plan Markdown from the PLAN_VARIABLES values.

    The caller loads it: ``prompts.load_prompt("experiment_plan.md", PLAN_VARIABLES)`` (tools do not
    import prompts).
    """

    def render(self, **values: object) -> str:
        """The Markdown with every placeholder filled."""
        ...


class PlannedRun(BaseModel):
    """One set of conditions to run, with the model's view of it."""

    model_config = ConfigDict(extra="forbid")

    params: dict[str, float | str] = Field(description="value of every design-space parameter, in the space's units")
    predicted_mah_g: float | None = Field(default=None, description="predicted initial discharge capacity, mAh/g")
    uncertainty_mah_g: float | None = Field(default=None, description="model uncertainty (one standard deviation), mAh/g")
    reason: Reason = Field(default="user", description="why this run is in the plan")


class PlanInput(BaseModel):
    """What to plan."""

    model_config = ConfigDict(extra="forbid")

    runs: list[PlannedRun] = Field(min_length=1, description="the runs to make, best first")
    title: str = Field(default="Next experiments", description="plan title")
    shot: str = Field(default="shot-1", description="round label written to every run (shot-1, shot-2, ...)")
    replicates: int = Field(default=1, ge=0, le=5, description="extra repeats of the top run, to measure scatter")
    add_control: bool = Field(default=True, description="add the record's best measured run under the fixed values as a control")
    fixed: dict[str, float | str] = Field(default_factory=dict, description="values held fixed in this plan")
    constraints: ConstraintSet = Field(
        default_factory=ConstraintSet,
        description="limits, ranges and choices in force: every run, the control included, satisfies them",
    )
    id_prefix: str = Field(default="", description="experiment_id prefix; default plan-<date>-<shot>")
    results_file: str = Field(default="results_template.csv", description="file name the results template will be saved as")


class PlanResult(BaseModel):
    """A plan as Markdown, the run list as CSV and a results template CSV."""

    model_config = ConfigDict(extra="forbid")

    markdown: str = Field(description="the plan for the lab, Markdown")
    runs_csv: str = Field(description="numbered runs with conditions and predictions, CSV")
    results_template_csv: str = Field(description="record-format CSV to fill in and pass to `matassist record`")
    n_runs: int = Field(description="runs in the plan including control and replicates")
    runs: list[dict[str, float | str | None]] = Field(description="the numbered runs as rows")


def _fmt(value: float | str | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return format_value(value)


def draft_plan(
    request: PlanInput,
    space: DesignSpace,
    record: ExperimentRecord | None = None,
    today: date | None = None,
    *,
    template: PlanTemplate,
) -> PlanResult:
    """Draft a runnable plan; every run is validated against the design space first; `template` renders the Markdown."""
    day = today or date.today()
    prefix = request.id_prefix or f"plan-{day.isoformat()}-{request.shot}"
    space_fixed = space.with_fixed(request.fixed) if request.fixed else space
    runs: list[tuple[PlannedRun, str]] = []
    problems: list[str] = []
    for i, run in enumerate(request.runs, start=1):
        row = {name: run.params.get(name) for name in space.names}
        missing = [n for n, v in row.items() if v is None]
        if missing:
            problems.append(f"run {i}: missing {', '.join(missing)}")
            continue
        for column, message in space_fixed.row_problems(row):
            problems.append(f"run {i}, {column}: {message}")
        for name, value in space_fixed.fixed.items():
            if str(row[name]) != str(value) and not _same_number(row[name], value):
                problems.append(f"run {i}, {name}: {row[name]} differs from the fixed value {value}")
        problems += [f"run {i}: {broken}" for broken in request.constraints.violations(row, space)]
        runs.append((run, run.reason))
    if problems:
        raise MatassistError("cannot plan these runs:\n  - " + "\n  - ".join(problems))

    top = runs[0][0]
    for _ in range(request.replicates):
        runs.append((top.model_copy(update={"reason": "replicate"}), "replicate"))
    control_note = ""
    if request.add_control and record is not None:
        control = _control_run(record, space_fixed, request.constraints)
        if control is not None:
            runs.append((control, "control"))
        else:
            held = "satisfies the constraints" if request.constraints else "matches the fixed values"
            control_note = f"No measured run in the record {held}, so no control run was added."

    rows: list[dict[str, float | str | None]] = []
    for k, (run, reason) in enumerate(runs, start=1):
        rows.append(
            {
                "run": k,
                "experiment_id": f"{prefix}-{k:02d}",
                "reason": reason,
                **{n: run.params[n] for n in space.names},
                "predicted_mah_g": run.predicted_mah_g,
                "uncertainty_mah_g": run.uncertainty_mah_g,
            }
        )
    frame = pd.DataFrame(rows)
    text_columns = [*(c.name for c in space.categories), "experiment_id", "reason", "shot", "source"]
    runs_csv = _to_csv(frame, text_columns)

    results_frame = pd.DataFrame({c: [""] * len(frame) for c in columns_for(space)})
    for name in space.names:
        results_frame[name] = frame[name].map(_fmt)
    results_frame["experiment_id"] = frame["experiment_id"]
    results_frame["shot"] = request.shot
    results_frame["source"] = ["expert" if r == "control" else "ml-proposal" for r in frame["reason"]]
    results_frame["predicted_mah_g"] = frame["predicted_mah_g"].map(_fmt)
    results_frame = results_frame[[*space.names, space.target.name, *BOOKKEEPING]]
    results_csv = _to_csv(results_frame, text_columns)

    varied = [n for n in space.names if n not in space_fixed.fixed and frame[n].nunique() > 1]
    table = _markdown_table(frame, varied)
    fixed_items = {**space_fixed.fixed, **{n: frame[n].iloc[0] for n in space.names if frame[n].nunique() == 1 and n not in space_fixed.fixed}}
    fixed_note = "Same in every run: " + ", ".join(f"{k} = {_fmt(v)}" for k, v in fixed_items.items()) + "." if fixed_items else ""
    if control_note:
        fixed_note = f"{fixed_note}\n\n{control_note}".strip()
    provenance = "Predictions come from the capacity model trained on the experiment record; they are estimates, not measurements."
    if record is not None and (record.frame["source"] == "synthetic").all():
        provenance += " The record behind them is simulated (virtual-lab demo record)."
    markdown = template.render(
        title=request.title,
        date=day.isoformat(),
        provenance=provenance,
        runs_table=table,
        fixed_note=fixed_note,
        protocol="\n".join(f"- {line}" for line in PROTOCOL),
        results_file=request.results_file,
        shot=request.shot,
    )
    return PlanResult(markdown=markdown, runs_csv=runs_csv, results_template_csv=results_csv, n_runs=len(frame), runs=rows)


def _same_number(a: object, b: object) -> bool:
    try:
        return abs(float(a) - float(b)) <= 1e-9  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _control_run(record: ExperimentRecord, space: DesignSpace, constraints: ConstraintSet) -> PlannedRun | None:
    """The best measured run with the fixed values that satisfies the constraints too (a furnace limit holds for it as well)."""
    ok = record.ok_runs
    for name, value in space.fixed.items():
        if isinstance(value, str):
            ok = ok[ok[name] == value]
        else:
            ok = ok[(ok[name] - float(value)).abs() <= 1e-9]
    if constraints and not ok.empty:
        rows = ok[record.space.names].to_dict("records")
        ok = ok[[not constraints.violations(row, record.space) for row in rows]]
    if ok.empty:
        return None
    best = ok.loc[ok[record.target].idxmax()]
    params = {n: (best[n] if isinstance(best[n], str) else float(best[n])) for n in space.names}
    return PlannedRun(params=params, predicted_mah_g=None, uncertainty_mah_g=None, reason="control")


def _to_csv(frame: pd.DataFrame, text_columns: list[str]) -> str:
    """CSV text with numbers formatted and text cells escaped for spreadsheets (=, +, -, @ first)."""
    buf = io.StringIO()
    escape_text_cells(frame.map(_fmt), text_columns).to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()


def _markdown_table(frame: pd.DataFrame, varied: list[str]) -> str:
    cols = ["run", "experiment_id", "reason", *varied, "predicted_mah_g", "uncertainty_mah_g"]
    header = "| " + " | ".join(c.replace("_mah_g", " (mAh/g)") for c in cols) + " |"
    sep = "|" + "---|" * len(cols)
    lines = [header, sep]
    for row in frame[cols].itertuples(index=False):
        cells = []
        for c, v in zip(cols, row, strict=True):
            if c in {"predicted_mah_g", "uncertainty_mah_g"} and isinstance(v, float) and not math.isnan(v):
                cells.append(f"{v:.1f}")
            else:
                cells.append(_fmt(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
