"""Figures: predicted vs known per target (out-of-fold), and voltage against capacity for ranked candidates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tools.electrodes.schemas import TARGET_LABELS, TARGET_UNITS, TARGETS

if TYPE_CHECKING:
    import numpy as np

    from tools.electrodes.schemas import CVReport, ElectrodePrediction

ISO_ENERGIES_WH_KG = (200, 400, 600, 800, 1000, 1200)


def parity_figure(known: Mapping[str, np.ndarray], predicted: Mapping[str, np.ndarray], report: CVReport, model: str = "ours") -> object:
    """One panel per target: out-of-fold prediction against the published value, with MAE and R2.

    The axes span the middle 99% of the published values (a few DFT voltages reach 54 V); the
    points beyond are counted in the title.
    """
    import numpy as np

    from tools.plotting import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, len(TARGETS), figsize=(4.2 * len(TARGETS), 4.2))
    for ax, target in zip(axes, TARGETS, strict=True):
        y, p = np.asarray(known[target], float), np.asarray(predicted[target], float)
        lo, hi = np.percentile(y, [0.5, 99.5])
        pad = 0.05 * (hi - lo)
        lo, hi = lo - pad, hi + pad
        outside = int(np.sum((y < lo) | (y > hi) | (p < lo) | (p > hi)))
        ax.scatter(y, p, s=5, alpha=0.4, color="#4477aa", rasterized=True)
        ax.plot([lo, hi], [lo, hi], color="black", linewidth=0.8)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        unit = TARGET_UNITS[target]
        row = report.row(model, target)
        score = f"MAE {row.mae:.3g} {unit}, R2 {row.r2:.3f}" if row else ""
        beyond = f"\n{outside} points beyond the axes" if outside else ""
        exact = " (exact: Faraday's law)" if target == "gravimetric_capacity_mah_g" and model == "ours" else ""
        ax.set_title(f"{TARGET_LABELS[target]}{exact}\n{score}{beyond}", fontsize=8)
        ax.set_xlabel(f"Materials Project ({unit})", fontsize=8)
        ax.set_ylabel(f"predicted, out of fold ({unit})", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"{report.n_splits}-fold {report.scheme} CV of {model} on {report.n_rows} electrodes", fontsize=9)
    fig.tight_layout()
    return fig


def save_parity(known: Mapping[str, np.ndarray], predicted: Mapping[str, np.ndarray], report: CVReport, path: Path) -> Path:
    """Write the parity figure as a PNG."""
    from tools.plotting import save_figure

    return save_figure(parity_figure(known, predicted, report), Path(path))


def energy_figure(predictions: Sequence[ElectrodePrediction], background: Sequence[tuple[float, float]] = ()) -> object:
    """Average voltage against gravimetric capacity with iso-energy lines (Wh/kg), candidates numbered in the given order.

    `background` is (capacity mAh/g, voltage V) of known electrodes, drawn faintly for scale.
    """
    import numpy as np

    from tools.plotting import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 5.0))
    caps = [p.gravimetric_capacity_mah_g for p in predictions]
    volts = [p.average_voltage_v for p in predictions]
    x_max = max([*caps, 100.0]) * 1.25
    y_low = min([*volts, 0.0]) - 0.3
    y_high = max([*volts, 1.0]) + 0.8
    if background:
        bx, by = np.array(background, dtype=float).T
        ax.scatter(bx, by, s=4, color="#cccccc", label="known electrodes (same ions)", rasterized=True)
    grid = np.linspace(x_max / 200, x_max, 200)
    for energy in ISO_ENERGIES_WH_KG:
        v = energy / grid
        inside = (v >= y_low) & (v <= y_high)
        if inside.any():
            ax.plot(grid[inside], v[inside], color="#999999", linewidth=0.6, linestyle="--")
            ax.annotate(f"{energy} Wh/kg", (grid[inside][-1], v[inside][-1]), fontsize=7, color="#777777", ha="right", va="bottom")
    ax.errorbar(caps, volts, yerr=[p.average_voltage_v_std for p in predictions], fmt="o", color="#ee6677", ecolor="#ee667788",
                markersize=5, capsize=2, label="predicted (1-sigma voltage)")
    for rank, p in enumerate(predictions, start=1):
        ax.annotate(f"{rank}. {p.discharged_formula} ({p.working_ion})", (p.gravimetric_capacity_mah_g, p.average_voltage_v),
                    fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.set_xlim(0, x_max)
    ax.set_ylim(y_low, y_high)
    ax.set_xlabel("gravimetric capacity (mAh/g, exact)")
    ax.set_ylabel("average voltage vs the ion's metal (V, predicted)")
    ax.set_title("Candidates: voltage against capacity; dashed lines are equal specific energy", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def save_energy_plot(predictions: Sequence[ElectrodePrediction], path: Path, background: Sequence[tuple[float, float]] = ()) -> Path:
    """Write the voltage-capacity figure as a PNG."""
    from tools.plotting import save_figure

    return save_figure(energy_figure(predictions, background), Path(path))
