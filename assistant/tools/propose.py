"""`propose_conditions`: the next experiments from the particle swarm on the capacity model, under the conversation's constraints."""

from __future__ import annotations

from pydantic import Field

from assistant.rendering import proposals
from assistant.tools.base import ToolContext, ToolOutput, model_for, record_note, tool_spec
from tools.domain.constraints import ConstraintFields


class ProposeConditionsInput(ConstraintFields):
    """Propose the next experiments with the particle swarm on the capacity model. The constraints given here are added to those already in force in the conversation (a new one on the same parameter replaces or narrows the old one); every proposal satisfies all of them."""

    n: int = Field(default=10, ge=1, le=200, description="number of distinct proposals to return")
    seed: int = Field(default=0, ge=0, description="random seed of the swarm (same seed, same proposals)")
    local_scan: bool = Field(
        default=False,
        description="allow proposals that differ from each other by a single grid step in one parameter (a local scan); "
        "by default a batch never holds such near-duplicates",
    )


def _run(ctx: ToolContext, args: ProposeConditionsInput) -> ToolOutput:
    from tools.campaign.variants import OURS_DEFAULT, corrected
    from tools.proposer.swarm import propose

    record = ctx.record()
    # every constraint is checked before the (slow) model fit: unknown names, grid, conflicts
    constraints = ctx.constraints.extend(args.constraints()).validated(record.space)
    model = model_for(ctx, record, seed=args.seed)
    # learning from the last shot: a GP on the trees' residuals over the runs that satisfy the constraints
    loop_model = corrected(model, record, constraints, OURS_DEFAULT, seed=args.seed)
    ctx.note(f"searching the design space with a particle swarm for {args.n} proposals")
    result = propose(loop_model, record, constraints=constraints, n=args.n, seed=args.seed, local_scan=args.local_scan,
                     settings=OURS_DEFAULT.proposer, **ctx.proposer_overrides)
    ctx.constraints = constraints
    ctx.last_proposals = result
    ctx.last_fixed = dict(result.fixed)
    data = result.model_dump(mode="json", exclude={"convergence"})
    holding = constraints.holding_line(record.space)
    notes = [proposals.spread_line(data), *result.warnings]  # extrapolation beyond the record, a constant target
    return ToolOutput(
        summary="\n\n".join(part for part in (holding, proposals.markdown(data), " ".join(n for n in notes if n), record_note(ctx)) if part),
        data=data | {"convergence_last": result.convergence[-1:] if result.convergence else [],
                     "constraints": [c.model_dump(mode="json") for c in constraints.items],
                     "local_correction": getattr(loop_model, "kernel_text", "off")},
        sources=[str(ctx.active_record_path)],
    )


SPEC = tool_spec("propose_conditions", ProposeConditionsInput, _run)
