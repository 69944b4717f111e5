"""`validate_cif` for the assistant: check a pasted or attached CIF and hand back a repair prompt."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from assistant.tools.base import ToolContext, ToolOutput, tool_spec

if TYPE_CHECKING:
    from tools.structures.validation import PhysicalCheckResult


class ValidateCifInput(BaseModel):
    """Check a CIF (crystal structure) for soundness: parsing, cell, formula, distances, space group, charge balance, Wyckoff sites and structure-family rules."""

    model_config = ConfigDict(extra="forbid")

    cif_text: str = Field(description="the complete CIF text")
    file_name: str | None = Field(default=None, description="name of the CIF file, for the report")
    rules: str = Field(
        default="auto",
        description="structure-family rules: 'auto' (pick by composition and structure), 'none', or a family such as layered_limo2, spinel_limn2o4, olivine_lifepo4, nasicon_nazr2p3o12, garnet_llzo, perovskite_llto",
    )
    physical: bool = Field(
        default=True,
        description="also run the physical check with the CHGNet universal potential (energy, forces, pressure, a short "
        "relaxation; seconds, plus a one-off model load); false for the geometric checks only",
    )


def _validate(ctx: ToolContext, args: ValidateCifInput) -> ToolOutput:
    from tools.structures.validation import CifValidationInput, validate_cif

    result = validate_cif(CifValidationInput(cif=args.cif_text, source=args.file_name, rules=args.rules, fast=not args.physical))
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
