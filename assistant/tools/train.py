"""`train_model`: fit (or reuse) the capacity model and report its accuracy."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assistant.tools.base import ToolContext, ToolOutput, model_for, record_note, tool_spec


class TrainModelInput(BaseModel):
    """Train (or reuse) the capacity model on the active record and report its accuracy: cross-validated predicted vs measured (parity plot), RMSE, MAE and R2."""

    model_config = ConfigDict(extra="forbid")

    compare_models: bool = Field(
        default=False,
        description="also compare DT, RF, GBM (LightGBM and scikit-learn) and MLP by 5-fold random search (slower, about a minute)",
    )


def _run(ctx: ToolContext, args: TrainModelInput) -> ToolOutput:
    from tools.modelling.assessment import assess, plot_assessment

    record = ctx.record()
    model = model_for(ctx, record)
    meta = model.metadata.model_dump(mode="json")
    lines = [f"Capacity model: ensemble of {meta.get('n_members', '?')} LightGBM regressors on {meta.get('n_train')} runs."]
    ctx.note("predicting every run with a model that never saw it (5-fold cross-validation)")
    assessment = assess(record, model)
    lines.append(assessment.sentence())
    plot = plot_assessment(assessment, ctx.output_dir("plots") / f"parity-model-{ctx.active_record_path.stem}.png")
    lines.append(f"Predicted vs measured: {plot}")
    data: dict[str, Any] = {"metadata": meta, "assessment": assessment.model_dump(mode="json", exclude={"measured", "predicted", "shots"})}
    if args.compare_models:
        from tools.modelling.comparison import compare_models

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
    return ToolOutput(summary="\n".join(lines), data=data, sources=[str(ctx.active_record_path)], files=[str(plot)])


SPEC = tool_spec("train_model", TrainModelInput, _run)
