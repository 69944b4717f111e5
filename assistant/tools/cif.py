"""`validate_cif` for the assistant: check a pasted or attached CIF and hand back a repair prompt."""

from __future__ import annotations

from assistant.tools.base import ToolContext, ToolOutput, tool_spec
from tools.structures.models import PhysicalCheckResult, ValidateCifInput


def _validate(ctx: ToolContext, args: ValidateCifInput) -> ToolOutput:
    from assistant.cif_repair import repair_template
    from tools.structures.validation import validate_cif

    result = validate_cif(args, repair_template=repair_template(), limits=ctx.settings.cif_limits)
    verdict = "sound: no errors" if result.valid else "NOT sound"
    sg = result.spacegroup
    lines = [
        f"{args.file_name or 'The pasted CIF'}: {verdict}. Formula {result.formula or 'unknown'}; space group declared "
        f"{sg.declared or 'none'}, detected {sg.detected or 'none'}.",
        _physical_line(result.physical),
        "",
        "| severity | code | message |",
        "|---|---|---|",
    ]
    order = {"error": 0, "warning": 1, "info": 2}
    for check in sorted(result.checks, key=lambda c: order.get(c.severity, 3)):
        lines.append(f"| {check.severity} | {check.code} | {check.message} |")
    if result.repair_prompt and not result.valid:
        lines += ["", "Repair prompt for the generator:", "", "```", result.repair_prompt.strip(), "```"]
    return ToolOutput(summary="\n".join(lines), data=result.summary(), sources=[args.file_name or "pasted CIF"])


def _physical_line(phys: PhysicalCheckResult) -> str:
    """One sentence on the physical check: its numbers when it ran, otherwise why not."""
    numbers = phys.numbers_text()
    if numbers is not None:
        return f"Physical check ({phys.method}): {phys.status}; {numbers}."
    return f"Physical check: {phys.status} ({phys.reason or 'no reason given'})."


SPEC = tool_spec("validate_cif", ValidateCifInput, _validate)
