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


SPEC = tool_spec("record_results", RecordResultsInput, _run)
