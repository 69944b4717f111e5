"""`update_constraints`: add, replace or drop the limits, ranges and choices in force for the conversation."""

from __future__ import annotations

from pydantic import Field

from assistant.tools.base import ToolContext, ToolOutput, tool_spec
from tools.domain.constraints import ConstraintFields, ConstraintSet


class UpdateConstraintsInput(ConstraintFields):
    """Add, replace or drop the constraints in force for this conversation (fixed values, limits, allowed or excluded categories); every later proposal, prediction and plan obeys them until they are dropped."""

    remove: list[str] = Field(default_factory=list, description="parameter names whose constraint to drop, e.g. [\"calcination_temp_c\"]")
    clear: bool = Field(default=False, description="drop every constraint (start over)")


def _run(ctx: ToolContext, args: UpdateConstraintsInput) -> ToolOutput:
    space = ctx.space()
    before = ctx.constraints
    updated = ConstraintSet() if args.clear else before
    for name in args.remove:
        space.parameter(name)  # an unknown name is an error, not a silent no-op
    dropped = [name for name in args.remove if updated.get(name) is not None]
    updated = updated.without(*args.remove).extend(args.constraints()).validated(space)
    ctx.constraints = updated
    lines = []
    if args.clear:
        lines.append(f"Dropped every constraint ({len(before)} were in force)." if before else "No constraints were in force.")
    if dropped:
        lines.append("Dropped the constraint on " + ", ".join(dropped) + ".")
    missing = [n for n in args.remove if n not in dropped]
    if missing:
        lines.append("No constraint was in force on " + ", ".join(missing) + ".")
    lines.append(updated.holding_line(space) or "No constraints are in force.")
    return ToolOutput(summary=" ".join(lines), data={"constraints": [c.model_dump(mode="json") for c in updated.items]})


SPEC = tool_spec("update_constraints", UpdateConstraintsInput, _run)
