"""Figures of the bias profile: the key temperature pair and every parameter's histogram, as PNG files."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from tools.domain.design_space import NumberParameter
from tools.domain.record import ExperimentRecord, active_mask
from tools.plotting import pyplot, save_figure


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
    plt = pyplot()
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
        active = frame[active_mask(record, "coating_temp_c")]
        colors = ["#ee6677", "#228833", "#4477aa", "#ccbb44", "#66ccee", "#aa3377"]
        for color, (kind, sub) in zip(colors, active.groupby("coating"), strict=False):
            axes[1].hist(sub["coating_temp_c"], bins=np.arange(197.5, 757.5, 5), color=color, alpha=0.75, label=f"{kind} ({len(sub)})")
        axes[1].set_title("Coating temperature by coating (coated runs)")
        axes[1].set_xlabel("coating_temp_c (degC)")
        axes[1].legend(title="coating", loc="upper right")
        fig.suptitle(f"{len(frame)} runs: habit piles coating temperature on one value per material")
        written.append(save_figure(fig, out / "profile_temperatures.png"))

    numbers = [p for p in space.numbers]
    cols = 4
    rows = math.ceil((len(numbers) + 1) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows))
    flat = np.atleast_1d(axes).ravel()
    for ax, p in zip(flat, numbers, strict=False):
        values = frame.loc[active_mask(record, p.name), p.name].to_numpy(float)
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
