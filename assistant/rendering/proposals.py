"""Proposals of the particle swarm as Markdown (chat), a rich table (terminal) and a frame (UI, CSV)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tools.domain.design_space import format_value

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table


def _proposals(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(data.get("proposals", []))


def varied_parameters(proposals: Sequence[Mapping[str, Any]], fixed: Mapping[str, Any] | None = None) -> list[str]:
    """Parameters that take more than one value across the batch, in design-space order."""
    if not proposals:
        return []
    held = set(fixed or {})
    names = list(proposals[0]["params"])
    return [n for n in names if n not in held and len({str(p["params"][n]) for p in proposals}) > 1]


def same_everywhere(proposals: Sequence[Mapping[str, Any]], varied: Sequence[str]) -> dict[str, Any]:
    """Parameters with one value in every proposal (held fixed or not varied by the swarm)."""
    if not proposals:
        return {}
    return {n: v for n, v in proposals[0]["params"].items() if n not in varied}


def headline(data: Mapping[str, Any]) -> str:
    """'N proposals with ni = 0.94; best measured run under these values: 218.3 mAh/g.'"""
    fixed = data.get("fixed") or {}
    held = ", ".join(f"{k} = {format_value(v)}" for k, v in fixed.items()) or "nothing fixed"
    incumbent = data.get("incumbent_mah_g")
    tail = f"; best measured run under these values: {incumbent:.1f} mAh/g." if incumbent is not None else "."
    return f"{len(_proposals(data))} proposals with {held}{tail}"


def spread_line(data: Mapping[str, Any]) -> str:
    """How different the proposals are: the closest pair, normalised and in grid steps."""
    diversity = data.get("batch_diversity")
    if diversity is None:
        return ""
    steps = data.get("min_steps_apart")
    tail = (f"; proposals with the same categories differ by at least {steps} grid steps" if steps is not None
            else "; every two proposals differ in a category")
    scan = " (a local scan: neighbours one step apart allowed)" if data.get("local_scan") else ""
    return f"Batch spread: the closest two proposals are {diversity:.2f} apart (each parameter's range = 1){tail}{scan}."


def chance(p: Mapping[str, Any]) -> str:
    """'64%': the probability that a proposal beats the best measured run (empty when there is none to beat)."""
    value = p.get("p_improve")
    return "" if value is None else f"{value:.0%}"


def gain(p: Mapping[str, Any]) -> str:
    """'1.25': the expected improvement over the best measured run, mAh/g (empty when there is none)."""
    value = p.get("expected_improvement_mah_g")
    return "" if value is None else f"{value:.2f}"


def beats_something(proposals: Sequence[Mapping[str, Any]]) -> bool:
    """True when the batch has a best measured run to beat (no run satisfying the constraints: P(beat best) and EI are left out)."""
    return any(p.get("p_improve") is not None for p in proposals)


def _short_list(names: Sequence[str], keep: int = 2) -> str:
    """'co, mn +3' for a narrow terminal column: the first names and how many more."""
    if len(names) <= keep + 1:
        return ", ".join(names) or "-"
    return f"{', '.join(names[:keep])} +{len(names) - keep}"


def untried(p: Mapping[str, Any]) -> str:
    """'dopant_ti, calcination_time_h': parameters set to a value the record never used ('' for none)."""
    return ", ".join(p.get("untried") or [])


def purpose_line(data: Mapping[str, Any]) -> str:
    """'This batch: 10 runs: climb around ...' (empty when the result has no purpose)."""
    purpose = data.get("purpose")
    return f"This batch: {purpose}." if purpose else ""


def markdown(data: Mapping[str, Any]) -> str:
    """The batch as a Markdown table of the varied parameters, with what it is for above and the shared values below it."""
    proposals = _proposals(data)
    varied = varied_parameters(proposals, data.get("fixed"))
    lines = [headline(data)]
    if purpose_line(data):
        lines.append(purpose_line(data))
    odds = beats_something(proposals)
    lines += [
        "",
        "| # | reason | predicted (mAh/g) | +/- | P(fail) | " + ("P(beat best) | EI (mAh/g) | " if odds else "") + " | ".join(varied) + " |",
        "|---|---|---|---|---|" + ("---|---|" if odds else "") + "---|" * len(varied),
    ]
    for i, p in enumerate(proposals, start=1):
        cells = " | ".join(format_value(p["params"][n]) for n in varied)
        lines.append(
            f"| {i} | {p['reason']} | {p['predicted_mah_g']:.1f} | {p['uncertainty_mah_g']:.1f} | {p['failure_probability']:.2f} | "
            + (f"{chance(p)} | {gain(p)} | " if odds else "") + f"{cells} |"
        )
    same = same_everywhere(proposals, varied)
    if same:
        lines += ["", "Same in every proposal: " + ", ".join(f"{k} = {format_value(v)}" for k, v in same.items()) + "."]
    new_values = [f"#{i} {untried(p)}" for i, p in enumerate(proposals, start=1) if untried(p)]
    if new_values:  # a column would make the table too wide to read
        lines += ["", "Values the record never tried: " + "; ".join(new_values) + "."]
    return "\n".join(lines)


def changes(params: Mapping[str, Any], base: Mapping[str, Any]) -> str:
    """'calcination_temp_c 770->760, dopant_nb 0->0.002': what a proposal changes against a record run."""
    parts = []
    for name, value in params.items():
        old = base.get(name)
        if isinstance(value, float) and isinstance(old, float | int):
            same = math.isclose(value, float(old), rel_tol=0, abs_tol=1e-9)
        else:
            same = value == old
        if not same:
            parts.append(f"{name} {format_value(old)}->{format_value(value)}")
    return ", ".join(parts) or "(none)"


def rich_table(data: Mapping[str, Any], record_runs: Mapping[str, Mapping[str, Any]] | None = None) -> Table:
    """The batch for a terminal: one column per proposal, one row per quantity or varied parameter.

    With `record_runs` (experiment_id -> row) a last row says what each proposal changes
    against its nearest record run. The caption says what the batch is for and what every
    proposal shares.
    """
    from rich.table import Table

    proposals = _proposals(data)
    varied = varied_parameters(proposals, data.get("fixed"))
    table = Table(title=f"{len(proposals)} proposals", show_lines=False)
    table.add_column("", style="bold", no_wrap=True)
    for i in range(len(proposals)):
        table.add_column(f"#{i + 1}", justify="right")
    table.add_row("reason", *[str(p["reason"]) for p in proposals])
    table.add_row("predicted mAh/g", *[f"{p['predicted_mah_g']:.1f}" for p in proposals])
    table.add_row("+/- mAh/g", *[f"{p['uncertainty_mah_g']:.1f}" for p in proposals])
    table.add_row("P(fail)", *[f"{p['failure_probability']:.2f}" for p in proposals])
    if beats_something(proposals):
        table.add_row("P(beat best)", *[chance(p) for p in proposals])
        table.add_row("EI mAh/g", *[gain(p) for p in proposals])
    table.add_row("untried values", *[_short_list(p.get("untried") or []) for p in proposals])
    table.add_row("distance to record", *[f"{p['distance_to_record']:.2f}" for p in proposals])
    table.add_row("nearest run", *[str(p["nearest_run"]) for p in proposals])
    for name in varied:
        table.add_row(name, *[format_value(p["params"][name]) for p in proposals])
    if record_runs is not None:
        table.add_row("changes vs nearest record run",
                      *[changes(p["params"], record_runs.get(str(p["nearest_run"]), {})) for p in proposals])
    same = same_everywhere(proposals, varied)
    caption = []
    if data.get("purpose"):
        caption.append(f"this batch: {data['purpose']}")
    if same:
        caption.append("same in every proposal: " + ", ".join(f"{k} = {format_value(v)}" for k, v in same.items()))
    if caption:
        table.caption = "\n".join(caption)
    return table


def frame(data: Mapping[str, Any]) -> pd.DataFrame:
    """The batch as a table for the UI and its CSV download: predictions rounded, the chance to beat the best run, then every parameter."""
    import pandas as pd

    def rounded(value: Any, digits: int) -> Any:
        return None if value is None else round(float(value), digits)

    proposals = _proposals(data)
    # with no measured run to beat both columns would be empty ('None' in the UI's grid): left out
    odds = beats_something(proposals)
    return pd.DataFrame(
        [
            {"#": k + 1, "reason": p["reason"], "predicted_mah_g": round(p["predicted_mah_g"], 1),
             "uncertainty_mah_g": round(p["uncertainty_mah_g"], 1), "p_fail": round(p["failure_probability"], 2),
             **({"p_beat_best": rounded(p.get("p_improve"), 2),
                 "expected_improvement_mah_g": rounded(p.get("expected_improvement_mah_g"), 2)} if odds else {}),
             "untried": untried(p), **p["params"]}
            for k, p in enumerate(proposals)
        ]
    )
