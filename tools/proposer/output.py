"""What a proposal run hands to people: the proposals as record rows ready to run, and its figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tools.domain.design_space import DesignSpace, NumberParameter
from tools.domain.record import ExperimentRecord, active_mask
from tools.plotting import pyplot, save_figure
from tools.proposer.models import ProposalResult


def proposals_frame(result: ProposalResult, space: DesignSpace, shot: str | None = None) -> pd.DataFrame:
    """Proposals as record rows ready to run: parameters, predicted_mah_g, source=ml-proposal."""
    rows = []
    for prop in result.proposals:
        row: dict[str, Any] = {name: prop.params[name] for name in space.names}
        row["predicted_mah_g"] = round(prop.predicted_mah_g, 2)
        row["source"] = "ml-proposal"
        if shot is not None:
            row["shot"] = shot
        rows.append(row)
    return pd.DataFrame(rows)


def plot_convergence(result: ProposalResult, path: Any) -> Any:
    """Write the swarm's convergence (best acquisition per iteration) as a PNG."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(np.arange(1, len(result.convergence) + 1), result.convergence, color="#4477aa")
    ax.set_xlabel("iteration")
    ax.set_ylabel("best acquisition (mAh/g-like)")
    ax.set_title(f"Particle swarm convergence ({result.settings.particles} particles)")
    ax.grid(alpha=0.3)
    return save_figure(fig, Path(path))


_REASON_COLORS = {"exploit": "#4477aa", "explore": "#ee6677", "boundary probe": "#ccbb44", "user": "#999999"}


def proposals_figure(proposals: list[dict[str, Any]], target_unit: str = "mAh/g") -> Any:
    """Predicted capacity with its uncertainty for each proposal, coloured by why it was chosen."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    xs = np.arange(1, len(proposals) + 1)
    for x, p in zip(xs, proposals, strict=True):
        color = _REASON_COLORS.get(str(p.get("reason")), "#999999")
        ax.errorbar([x], [p["predicted_mah_g"]], yerr=[p.get("uncertainty_mah_g") or 0.0], fmt="o", color=color, capsize=4)
    for reason, color in _REASON_COLORS.items():
        if any(p.get("reason") == reason for p in proposals):
            ax.plot([], [], "o", color=color, label=reason)
    ax.set_xticks(xs)
    ax.set_xlabel("proposal")
    ax.set_ylabel(f"predicted capacity ({target_unit})")
    ax.set_title("Proposals: predicted capacity +/- model uncertainty")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)  # beside the axes: the bars span them
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def record_vs_proposals_figure(record: ExperimentRecord, proposals: list[dict[str, Any]] | None = None) -> Any:
    """Capacity against coating and calcination temperature: the record, each shot, and proposals (predicted).

    Like the reference study's Figure 5: history in grey, expert runs and each active-learning
    shot in their own colour, proposals as open stars at their predicted capacity.
    """
    plt = pyplot()
    frame = record.frame
    target = record.target
    axes_params: list[str] = [p for p in ("coating_temp_c", "calcination_temp_c") if p in record.space.names]
    if not axes_params:
        axes_params = [p.name for p in record.space.numbers[:2]]
    fig, axes = plt.subplots(1, len(axes_params), figsize=(5.5 * len(axes_params), 4), squeeze=False)
    measured = frame[(frame["status"] == "ok") & frame[target].notna()]
    groups = [("history", measured[(measured["shot"] == "history") & (measured["source"] != "expert")], "#bbbbbb")]
    groups.append(("expert", measured[measured["source"] == "expert"], "#228833"))
    palette = ["#4477aa", "#ee6677", "#ccbb44", "#66ccee", "#aa3377"]
    shots = [s for s in measured["shot"].unique() if s != "history"]
    for k, shot in enumerate(sorted(shots)):
        groups.append((str(shot), measured[(measured["shot"] == shot) & (measured["source"] != "expert")], palette[k % len(palette)]))
    for ax, param in zip(axes[0], axes_params, strict=True):
        active = measured[active_mask(record, param)[measured.index]] if len(measured) else measured
        for label, sub, color in groups:
            sub = sub[sub.index.isin(active.index)]
            if len(sub):
                ax.scatter(sub[param], sub[target], s=14 if label == "history" else 30, color=color, alpha=0.7, label=f"{label} ({len(sub)})")
        if proposals:
            xs = [p["params"][param] for p in proposals if float(p["params"][param]) > 0 or param != "coating_temp_c"]
            ys = [p["predicted_mah_g"] for p in proposals if float(p["params"][param]) > 0 or param != "coating_temp_c"]
            ax.scatter(xs, ys, marker="*", s=140, facecolors="none", edgecolors="#aa3377", label=f"proposals, predicted ({len(xs)})")
        p = record.space.parameter(param)
        unit = f" ({p.unit})" if isinstance(p, NumberParameter) and p.unit else ""
        ax.set_xlabel(f"{param}{unit}")
        ax.set_ylabel(f"{target} ({record.space.target.unit})")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="lower left")
    fig.suptitle("Capacity against process temperatures: record, shots and proposals")
    fig.tight_layout()
    return fig
