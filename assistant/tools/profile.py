"""`profile_dataset`: the bias report of the active experiment record."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from assistant.tools.base import ToolContext, ToolOutput, record_note, tool_spec


class ProfileDatasetInput(BaseModel):
    """Bias report of the active experiment record: distributions, one-valued and clustered parameters, failures."""

    model_config = ConfigDict(extra="forbid")


def _run(ctx: ToolContext, args: ProfileDatasetInput) -> ToolOutput:
    from tools.data.profile import profile_record
    from tools.data.profile_plots import plot_profile

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


SPEC = tool_spec("profile_dataset", ProfileDatasetInput, _run)
