"""PNG plots of experiment records (matplotlib, headless). Files are written atomically."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from tools.data.profile import _active_mask
from tools.domain.design_space import NumberParameter
from tools.domain.fileio import atomic_write_bytes
from tools.domain.record import ExperimentRecord


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> Path:
    """Render a figure to PNG bytes and write them atomically."""
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _hist(ax: Any, values: np.ndarray, param: NumberParameter, color: str = "#4477aa", label: str | None = None) -> None:
    bins: np.ndarray | int = 30
    if param.step:
        lo = values.min() - param.step / 2
        hi = values.max() + param.step / 2
        n_bins = max(1, min(60, int(round((hi - lo) / param.step))))
        bins = np.linspace(lo, hi, n_bins + 1)
    ax.hist(values, bins=bins, color=color, alpha=0.8, label=label, edgecolor="white", linewidth=0.3)


def plot_profile(record: ExperimentRecord, out_dir: str | Path) -> list[Path]:
    """Write the profile figures: the key pair (calcination vs coating temperature) and all parameters."""
    plt = _pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = record.frame
    space = record.space
    written: list[Path] = []

    if {"calcination_temp_c", "coating_temp_c", "coating"} <= set(space.names):
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        p_calc = space.parameter("calcination_temp_c")
        assert isinstance(p_calc, NumberParameter)
        _hist(axes[0], frame["calcination_temp_c"].to_numpy(float), p_calc)
        axes[0].set_title("Calcination temperature (all runs)")
        axes[0].set_xlabel("calcination_temp_c (degC)")
        axes[0].set_ylabel("runs")
        p_coat = space.parameter("coating_temp_c")
        assert isinstance(p_coat, NumberParameter)
        active = frame[_active_mask(record, "coating_temp_c")]
        colors = ["#ee6677", "#228833", "#4477aa", "#ccbb44", "#66ccee", "#aa3377"]
        for color, (kind, sub) in zip(colors, active.groupby("coating"), strict=False):
            axes[1].hist(sub["coating_temp_c"], bins=np.arange(197.5, 757.5, 5), color=color, alpha=0.75, label=f"{kind} ({len(sub)})")
        axes[1].set_title("Coating temperature by coating (coated runs)")
        axes[1].set_xlabel("coating_temp_c (degC)")
        axes[1].legend(title="coating")
        fig.suptitle(f"{len(frame)} runs: habit piles coating temperature on one value per material")
        written.append(save_figure(fig, out / "profile_temperatures.png"))

    numbers = [p for p in space.numbers]
    cols = 4
    rows = math.ceil((len(numbers) + 1) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows))
    flat = np.atleast_1d(axes).ravel()
    for ax, p in zip(flat, numbers, strict=False):
        values = frame.loc[_active_mask(record, p.name), p.name].to_numpy(float)
        if len(values):
            _hist(ax, values, p)
        unit = f" ({p.unit})" if p.unit else ""
        ax.set_title(f"{p.name}{unit}", fontsize=9)
        ax.tick_params(labelsize=7)
    target_ax = flat[len(numbers)]
    measured = frame[record.target].dropna().to_numpy(float)
    if len(measured):
        target_ax.hist(measured, bins=30, color="#aa3377", alpha=0.8)
    target_ax.set_title(f"{record.target} (measured)", fontsize=9)
    for ax in flat[len(numbers) + 1 :]:
        ax.axis("off")
    fig.tight_layout()
    written.append(save_figure(fig, out / "profile_parameters.png"))
    return written


_REASON_COLORS = {"exploit": "#4477aa", "explore": "#ee6677", "boundary probe": "#ccbb44", "user": "#999999"}


def proposals_figure(proposals: list[dict[str, Any]], target_unit: str = "mAh/g") -> Any:
    """Predicted capacity with its uncertainty for each proposal, coloured by why it was chosen."""
    plt = _pyplot()
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
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def record_vs_proposals_figure(record: ExperimentRecord, proposals: list[dict[str, Any]] | None = None) -> Any:
    """Capacity against coating and calcination temperature: the record, each shot, and proposals (predicted).

    Like the reference study's Figure 5: history in grey, expert runs and each active-learning
    shot in their own colour, proposals as open stars at their predicted capacity.
    """
    plt = _pyplot()
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
        active = measured[_active_mask(record, param)[measured.index]] if len(measured) else measured
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
