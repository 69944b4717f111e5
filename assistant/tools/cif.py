"""`validate_cif` for the assistant: check a pasted or attached CIF and hand back a repair prompt.

An attached CIF is passed by name and read here (only attachments, as a regular file under a
size limit), so its text never travels in the tool call's arguments.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from assistant.tools.base import ToolContext, ToolOutput, tool_spec
from tools.domain.errors import MatassistError
from tools.structures.models import PhysicalCheckResult, ValidateCifInput

_FIELDS = ValidateCifInput.model_fields


class ValidateCifToolInput(BaseModel):
    """Check a CIF (crystal structure) for soundness: parsing, cell, formula, distances, space group, charge balance, Wyckoff sites and structure-family rules."""

    model_config = ConfigDict(extra="forbid")

    cif_text: str | None = Field(default=None, description="the complete CIF text, when it was pasted; leave it out to check an attached file")
    file_name: str | None = Field(
        default=None,
        description="name of a .cif file the user attached in this conversation (read from the attachment when cif_text "
        "is left out); with cif_text, the name shown in the report",
    )
    rules: str = Field(default="auto", description=_FIELDS["rules"].description)
    physical: bool = Field(default=True, description=_FIELDS["physical"].description)


def validator_input(ctx: ToolContext, args: ValidateCifToolInput) -> ValidateCifInput:
    """The validator's input: the pasted text, or the text of the attached file named."""
    from tools.structures.parsing import read_cif_bytes
    from tools.structures.validation import decode_cif_bytes

    if args.cif_text is not None:
        return ValidateCifInput(cif_text=args.cif_text, file_name=args.file_name, rules=args.rules, physical=args.physical)
    if not args.file_name:
        raise MatassistError("give the CIF text, or the name of a .cif file attached in this conversation")
    path = ctx.attached_file(args.file_name)
    text = decode_cif_bytes(read_cif_bytes(path))
    return ValidateCifInput(cif_text=text, file_name=path.name, rules=args.rules, physical=args.physical)


def _validate(ctx: ToolContext, tool_args: ValidateCifToolInput) -> ToolOutput:
    from assistant.cif_repair import repair_template
    from tools.structures.validation import validate_cif

    args = validator_input(ctx, tool_args)
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


SPEC = tool_spec("validate_cif", ValidateCifToolInput, _validate)
