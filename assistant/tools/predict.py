"""`predict_capacity`: the capacity model's prediction for given conditions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assistant.tools.base import ToolContext, ToolOutput, model_for, record_note, tool_spec
from tools.domain.design_space import format_value
from tools.domain.errors import MatassistError


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


def _run(ctx: ToolContext, args: PredictCapacityInput) -> ToolOutput:
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


SPEC = tool_spec("predict_capacity", PredictCapacityInput, _run)
