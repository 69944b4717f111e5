"""`propose_conditions`: the next experiments from the particle swarm on the capacity model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from assistant.rendering import proposals
from assistant.tools.base import ToolContext, ToolOutput, model_for, record_note, tool_spec


class ProposeConditionsInput(BaseModel):
    """Propose the next experiments with the particle swarm on the capacity model."""

    model_config = ConfigDict(extra="forbid")

    fixed: dict[str, float | str] = Field(
        default_factory=dict,
        description='parameters held fixed, name -> value in the design space units; compositions are mole fractions (0.94, not 94), temperatures degC, times h, dopants weight fractions. Example: {"ni": 0.94, "atmosphere": "air"}',
    )
    n: int = Field(default=10, ge=1, le=50, description="number of distinct proposals to return")
    seed: int = Field(default=0, ge=0, description="random seed of the swarm (same seed, same proposals)")


def _run(ctx: ToolContext, args: ProposeConditionsInput) -> ToolOutput:
    from tools.proposer.swarm import propose

    record = ctx.record()
    record.space.with_fixed(args.fixed)  # a bad request fails here, before any model is fitted
    model = model_for(ctx, record, seed=args.seed)
    ctx.note(f"searching the design space with a particle swarm for {args.n} proposals")
    result = propose(model, record, fixed=args.fixed, n=args.n, seed=args.seed, **ctx.proposer_overrides)
    ctx.last_proposals = result
    ctx.last_fixed = dict(result.fixed)
    data = result.model_dump(mode="json", exclude={"convergence"})
    return ToolOutput(
        summary=proposals.markdown(data) + "\n\n" + record_note(ctx),
        data=data | {"convergence_last": result.convergence[-1:] if result.convergence else []},
        sources=[str(ctx.active_record_path)],
    )


SPEC = tool_spec("propose_conditions", ProposeConditionsInput, _run)
