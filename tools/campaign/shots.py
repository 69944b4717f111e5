"""Shots of a real campaign: per-shot prediction error, the next shot's label, the parity plot across shots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from tools.domain.record import ExperimentRecord


class ShotError(BaseModel):
    """Prediction error of one shot: measured vs predicted_mah_g over its ok runs that have a prediction."""

    model_config = ConfigDict(extra="forbid")

    shot: str = Field(description="shot label (history, shot-1, ...)")
    runs: int = Field(description="runs in the shot")
    failed_runs: int = Field(description="runs of the shot marked failed")
    compared: int = Field(description="ok runs with both a measurement and a prediction")
    mae_mah_g: float | None = Field(description="mean absolute error, mAh/g")
    mean_pct_error: float | None = Field(description="mean absolute percentage error, %")
    best_mah_g: float | None = Field(description="best measured ok capacity of the shot, mAh/g")


def shot_errors(record: ExperimentRecord) -> list[ShotError]:
    """Per-shot prediction error (MAE and mean % error of measured vs predicted_mah_g), in first-seen order."""
    f = record.frame
    out: list[ShotError] = []
    for shot in pd.unique(f["shot"]):
        sub = f[f["shot"] == shot]
        ok = (sub["status"] == "ok") & sub[record.target].notna()
        both = ok & sub["predicted_mah_g"].notna()
        meas = sub.loc[both, record.target].to_numpy(float)
        pred = sub.loc[both, "predicted_mah_g"].to_numpy(float)
        mae = float(np.mean(np.abs(meas - pred))) if len(meas) else None
        pct = float(np.mean(np.abs(meas - pred) / np.abs(meas)) * 100) if len(meas) else None
        best = float(sub.loc[ok, record.target].max()) if ok.any() else None
        out.append(
            ShotError(
                shot=str(shot), runs=len(sub), failed_runs=int((sub["status"] == "failed").sum()),
                compared=int(len(meas)), mae_mah_g=mae, mean_pct_error=pct, best_mah_g=best,
            )
        )
    return out


def plot_parity(record: ExperimentRecord, path: Any) -> Any:
    """Parity plot (measured vs predicted) with one colour per shot, like the reference study's Figure 4."""
    from tools.plotting import pyplot, save_figure

    plt = pyplot()
    f = record.frame
    both = (f["status"] == "ok") & f[record.target].notna() & f["predicted_mah_g"].notna()
    fig, ax = plt.subplots(figsize=(5.2, 5))
    colors = ["#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb"]
    sub_all = f[both]
    for k, shot in enumerate(pd.unique(sub_all["shot"])):
        sub = sub_all[sub_all["shot"] == shot]
        ax.scatter(sub["predicted_mah_g"], sub[record.target], s=28, color=colors[k % len(colors)], label=f"{shot} ({len(sub)})", alpha=0.85)
    if len(sub_all):
        lo = float(min(sub_all["predicted_mah_g"].min(), sub_all[record.target].min())) - 2
        hi = float(max(sub_all["predicted_mah_g"].max(), sub_all[record.target].max())) + 2
        ax.plot([lo, hi], [lo, hi], color="black", lw=0.8, ls="--")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.legend(title="shot", loc="upper left", bbox_to_anchor=(1.02, 1.0))  # beside the axes: shots can fill any corner
    else:
        ax.text(0.5, 0.5, "no ok run with a prediction yet", ha="center", va="center", transform=ax.transAxes)
    unit = record.space.target.unit
    ax.set_xlabel(f"predicted {record.target} ({unit})")
    ax.set_ylabel(f"measured {record.target} ({unit})")
    ax.set_title("Measured vs predicted, per shot")
    return save_figure(fig, Path(path))


def next_shot_label(record: ExperimentRecord) -> str:
    """'shot-<k+1>' after the highest 'shot-<k>' in the record."""
    highest = 0
    for shot in pd.unique(record.frame["shot"]):
        text = str(shot)
        if text.startswith("shot-") and text[5:].isdigit():
            highest = max(highest, int(text[5:]))
    return f"shot-{highest + 1}"
