"""`use_record`: check an attached experiment record and, when it is valid, make it the conversation's record."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from assistant.tools.base import ToolContext, ToolOutput, tool_spec
from tools.domain.errors import RecordValidationError


class UseRecordInput(BaseModel):
    """Check an attached experiment-record CSV (every problem by row and column, header and cells together) and, when it is valid, make it this conversation's active record for proposals, predictions and plans."""

    model_config = ConfigDict(extra="forbid")

    file_name: str = Field(description="name of a CSV file the user attached in this conversation")
    activate: bool = Field(default=True, description="make it the active record when it is valid (false: only check it)")


def _run(ctx: ToolContext, args: UseRecordInput) -> ToolOutput:
    from tools.domain.record import read_record

    path = ctx.attached_file(args.file_name)
    try:
        record = read_record(path, space=ctx.space())
    except RecordValidationError as err:
        problems = [str(issue) for issue in err.issues]
        lines = [f"{path.name} was not loaded: {len(problems)} problem{'s' if len(problems) != 1 else ''} "
                 f"(the active record is unchanged)."]
        lines += [f"- {p}" for p in problems[:50]]
        if len(problems) > 50:
            lines.append(f"- ... and {len(problems) - 50} more")
        return ToolOutput(ok=False, summary="\n".join(lines), data={"valid": False, "problems": problems})
    frame = record.frame
    failed = int((frame["status"] == "failed").sum())
    levels = ", ".join(f"{k:g}: {v}" for k, v in frame["ni"].value_counts().sort_index().items()) if "ni" in frame else ""
    simulated = bool((frame["source"] == "synthetic").all())
    if args.activate:
        ctx.record_path = path
        ctx.last_proposals = None
    lines = [
        f"{path.name} is a valid record: {len(frame)} runs, {failed} failed" + (f"; runs per Ni level: {levels}" if levels else "") + ".",
        "It is now the active record: the next proposals, predictions and plans use it." if args.activate
        else "Not made active (only checked).",
    ]
    if simulated:
        lines.append("Every run in it says source=synthetic: it is simulated data, not measurements.")
    return ToolOutput(summary=" ".join(lines), data={"valid": True, "runs": len(frame), "failed": failed,
                                                  "active": args.activate, "simulated": simulated},
                      sources=[path.name])


SPEC = tool_spec("use_record", UseRecordInput, _run)
