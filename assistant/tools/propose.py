"""`propose_conditions`: the next experiments from the particle swarm on the capacity model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from assistant.tools.base import ToolContext, ToolOutput, model_for, record_note, tool_spec
from tools.domain.design_space import format_value


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
    model = model_for(ctx, record)
    ctx.note(f"searching the design space with a particle swarm for {args.n} proposals")
    result = propose(model, record, fixed=args.fixed, n=args.n, seed=args.seed)
    ctx.last_proposals = result
    ctx.last_fixed = dict(result.fixed)
    space = record.space
    varied = [n for n in space.names if n not in result.fixed and len({str(p.params[n]) for p in result.proposals}) > 1]
    lines = [
        f"{len(result.proposals)} proposals with {', '.join(f'{k} = {format_value(v)}' for k, v in result.fixed.items()) or 'nothing fixed'}"
        + (f"; best measured run under these values: {result.incumbent_mah_g:.1f} mAh/g." if result.incumbent_mah_g is not None else "."),
        "",
        "| # | reason | predicted (mAh/g) | +/- | P(fail) | " + " | ".join(varied) + " |",
        "|---|---|---|---|---|" + "---|" * len(varied),
    ]
    for i, p in enumerate(result.proposals, start=1):
        cells = " | ".join(format_value(p.params[n]) for n in varied)
        lines.append(
            f"| {i} | {p.reason} | {p.predicted_mah_g:.1f} | {p.uncertainty_mah_g:.1f} | {p.failure_probability:.2f} | {cells} |"
        )
    same = {n: result.proposals[0].params[n] for n in space.names if n not in varied} if result.proposals else {}
    if same:
        lines += ["", "Same in every proposal: " + ", ".join(f"{k} = {format_value(v)}" for k, v in same.items()) + "."]
    lines += ["", record_note(ctx)]
    return ToolOutput(
        summary="\n".join(lines),
        data=result.model_dump(mode="json", exclude={"convergence"}) | {"convergence_last": result.convergence[-1:] if result.convergence else []},
        sources=[str(ctx.active_record_path)],
    )


SPEC = tool_spec("propose_conditions", ProposeConditionsInput, _run)
