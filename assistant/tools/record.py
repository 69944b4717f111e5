"""`record_results`: append measured results (failures too) to the active record.

It writes to the user's record, so it runs only in a turn whose user message asks to record
results (the service sets `ctx.write_allowed`), and it reads only a file the user attached or a
results template the assistant wrote (`ctx.readable_file`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from assistant.tools.base import ToolContext, ToolOutput, tool_spec
from tools.domain.errors import MatassistError


class RecordResultsInput(BaseModel):
    """Append measured results (failures included) to the active record and report per-shot prediction error."""

    model_config = ConfigDict(extra="forbid")

    results_file: str = Field(
        description="name of the results CSV: a file the user attached in this conversation, or the results template "
        "draft_experiment_plan wrote (filled in)"
    )


NOT_ASKED = (
    "not recorded: results are appended to the experiment record only when the user asks for it in the same message; "
    "tell the user to say 'record these results' (with the results CSV attached) to append them"
)


def _run(ctx: ToolContext, args: RecordResultsInput) -> ToolOutput:
    from tools.campaign.shots import shot_errors
    from tools.data.recording import record_new_results

    if not ctx.write_allowed:
        raise MatassistError(NOT_ASKED)
    if ctx.using_demo:
        raise MatassistError("no experiment record is active: attach your record CSV first (the demo record is read-only)")
    results_path = ctx.readable_file(args.results_file)  # an attachment or a template the assistant wrote, nothing else
    path = ctx.active_record_path
    ctx.settings.ensure_data_dir()  # where the default SQLite store lives
    # the same read-modify-write as `matassist record`: locked, validated, into the store and the file
    outcome = record_new_results(path, results_path, space=ctx.space(), target=ctx.target,
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
