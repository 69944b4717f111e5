"""`record_results`: append measured results (failures too) to the active record."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from assistant.tools.base import ToolContext, ToolOutput, tool_spec
from tools.domain.errors import MatassistError


class RecordResultsInput(BaseModel):
    """Append measured results (failures included) to the active record and report per-shot prediction error."""

    model_config = ConfigDict(extra="forbid")

    results_file: str = Field(description="path of the results CSV (the plan's results template, filled in)")


def _run(ctx: ToolContext, args: RecordResultsInput) -> ToolOutput:
    from tools.campaign.shots import shot_errors
    from tools.data.recording import record_new_results

    if ctx.using_demo:
        raise MatassistError("no experiment record is active: attach your record CSV first (the demo record is read-only)")
    path = ctx.active_record_path
    ctx.settings.ensure_data_dir()  # where the default SQLite store lives
    # the same read-modify-write as `matassist record`: locked, validated, into the store and the file
    outcome = record_new_results(path, Path(args.results_file), space=ctx.space(), target=ctx.target,
                                 store_url=ctx.settings.store_url)
    results, merged = outcome.added, outcome.record
    errors = shot_errors(merged)
    lines = [f"Recorded {len(results)} runs ({int((results.frame['status'] == 'failed').sum())} failed) into {path}"
             f" and store record '{outcome.store_record}'."]
    if outcome.shot_note:
        lines.append(f"Note: {outcome.shot_note}.")
    for e in errors:
        if e.mae_mah_g is None or e.mean_pct_error is None:
            continue
        lines.append(f"- {e.shot}: MAE {e.mae_mah_g:.2f} mAh/g ({e.mean_pct_error:.2f}%) over {e.compared} runs; {e.failed_runs} failed")
    return ToolOutput(summary="\n".join(lines),
                      data={"added": len(results), "errors": [e.model_dump(mode="json") for e in errors],
                            "store_record": outcome.store_record, "stored": outcome.stored},
                      files=[str(path)])


SPEC = tool_spec("record_results", RecordResultsInput, _run)
