"""`predict_capacity`: the capacity model's prediction for given conditions."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from assistant.tools.base import ToolContext, ToolOutput, model_for, record_note, tool_spec
from tools.domain.design_space import format_value


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
    from tools.modelling.prediction import complete_conditions, predict_conditions

    record = ctx.record()
    completed = complete_conditions(record, args.conditions, args.base_experiment_id)  # checked before any model fit
    prediction = predict_conditions(model_for(ctx, record), completed)
    base_measured = "no capacity measured" if completed.base_measured is None else f"{completed.base_measured:.1f} mAh/g measured"
    summary = (
        f"Predicted initial discharge capacity: {prediction.predicted_mah_g:.1f} +/- {prediction.uncertainty_mah_g:.1f} mAh/g "
        f"(ensemble mean and spread); predicted failure probability {prediction.failure_probability:.2f}.\n\n"
        f"Starting from run {completed.base_experiment_id} ({base_measured}) with "
        + (", ".join(f"{k} = {format_value(v)}" for k, v in completed.changed.items()) or "no changes")
        + ".\n\n"
        + record_note(ctx)
    )
    return ToolOutput(
        summary=summary,
        data={"params": completed.params, "predicted_mah_g": prediction.predicted_mah_g,
              "uncertainty_mah_g": prediction.uncertainty_mah_g, "failure_probability": prediction.failure_probability,
              "base_experiment_id": completed.base_experiment_id},
        sources=[str(ctx.active_record_path)],
    )


SPEC = tool_spec("predict_capacity", PredictCapacityInput, _run)
