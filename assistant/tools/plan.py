"""`draft_experiment_plan`: proposals turned into a runnable plan with a results template."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assistant.tools.base import ToolContext, ToolOutput, tool_spec
from prompts import load_prompt
from tools.domain.errors import MatassistError


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


def _run(ctx: ToolContext, args: DraftExperimentPlanInput) -> ToolOutput:
    from tools.campaign.shots import next_shot_label
    from tools.domain.fileio import atomic_write_text
    from tools.planning.plan import PLAN_VARIABLES, PlanInput, PlannedRun, draft_plan

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
                        fixed=fixed, constraints=ctx.constraints, results_file=str(folder / "results_template.csv"))
    template = load_prompt("experiment_plan.md", PLAN_VARIABLES)
    plan = draft_plan(request, record.space, record, template=template)
    atomic_write_text(folder / "plan.md", plan.markdown)
    atomic_write_text(folder / "runs.csv", plan.runs_csv)
    atomic_write_text(folder / "results_template.csv", plan.results_template_csv)
    files = [str(folder / "plan.md"), str(folder / "runs.csv"), str(folder / "results_template.csv")]
    summary = plan.markdown + "\n\nFiles: " + ", ".join(files)
    return ToolOutput(summary=summary, data=plan.model_dump(mode="json", exclude={"markdown"}) | {"shot": shot}, files=files)


SPEC = tool_spec("draft_experiment_plan", DraftExperimentPlanInput, _run)
