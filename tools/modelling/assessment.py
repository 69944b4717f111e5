"""How accurate the capacity model is: out-of-fold predictions against the measurements, and their parity plot.

Each ok run is predicted by a model that never saw it (5-fold cross-validation with the
production model's hyper-parameters, one member per fold), so the figures estimate the error
on a new run of the same record, not the fit to runs already seen.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tools.modelling.metrics import finite_or_none, r2, rmse

if TYPE_CHECKING:
    from tools.domain.record import ExperimentRecord
    from tools.modelling.capacity_model import CapacityModel


class Assessment(BaseModel):
    """Out-of-fold accuracy of the capacity model on one record."""

    model_config = ConfigDict(extra="forbid")

    folds: int = Field(description="cross-validation folds")
    runs: int = Field(description="ok runs with a measured target that were predicted")
    unit: str = Field(description="unit of the target (mAh/g)")
    rmse: float = Field(description="root-mean-squared error of the out-of-fold predictions, in `unit`")
    mae: float = Field(description="mean absolute error, in `unit`")
    r2: float | None = Field(description="coefficient of determination (None when every measurement is equal)")
    mean_pct_error: float = Field(description="mean absolute error as a percentage of the measured values")
    measured: list[float] = Field(description="measured values, in `unit`")
    predicted: list[float] = Field(description="out-of-fold predictions of the same runs, in `unit`")
    shots: list[str] = Field(description="shot of each run (history, shot-1, ...)")

    def sentence(self) -> str:
        """'5-fold cross-validation on 571 runs: RMSE 1.46 mAh/g, MAE 1.10 mAh/g (0.53% of the measured values), R² 0.931.'"""
        r2_text = "undefined (every measurement is equal)" if self.r2 is None else f"{self.r2:.3f}"
        return (f"{self.folds}-fold cross-validation on {self.runs} runs, each predicted by a model that never saw it: "
                f"RMSE {self.rmse:.2f} {self.unit}, MAE {self.mae:.2f} {self.unit} ({self.mean_pct_error:.2f}% of the "
                f"measured values), R² {r2_text}.")


def assess(record: ExperimentRecord, model: CapacityModel, folds: int = 5, seed: int = 0) -> Assessment:
    """Out-of-fold predictions of every ok run with the model's hyper-parameters; ModelError when too few runs."""
    from sklearn.model_selection import KFold

    from tools.modelling.capacity_model import lgb_regressor
    from tools.modelling.encoder import check_trainable, regression_rows

    check_trainable(record)
    frame, y = regression_rows(record)
    X = model.encoder.encode(frame)
    n_splits = max(2, min(folds, len(y)))
    pred = np.empty_like(y)
    for train, test in KFold(n_splits, shuffle=True, random_state=seed).split(X):
        reg = lgb_regressor(model.metadata.hyperparameters, seed)
        reg.fit(X[train], y[train])
        pred[test] = reg.predict(X[test])
    mae = float(np.mean(np.abs(pred - y)))
    nonzero = np.abs(y) > 0
    pct = float(np.mean(np.abs(pred - y)[nonzero] / np.abs(y[nonzero])) * 100) if nonzero.any() else math.nan
    return Assessment(
        folds=n_splits, runs=len(y), unit=record.space.target.unit, rmse=rmse(y, pred), mae=mae,
        r2=finite_or_none(r2(y, pred)), mean_pct_error=pct,
        measured=[float(v) for v in y], predicted=[float(v) for v in pred],
        shots=[str(s) for s in frame["shot"]] if "shot" in frame else ["history"] * len(y),
    )


def plot_assessment(assessment: Assessment, path: Path, title: str = "Capacity model: predicted vs measured") -> Path:
    """The parity plot of the out-of-fold predictions (one colour per shot), written atomically as PNG."""
    from tools.plotting import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 5.0))
    measured, predicted = np.array(assessment.measured), np.array(assessment.predicted)
    shots = np.array(assessment.shots)
    for shot in dict.fromkeys(assessment.shots):
        mask = shots == shot
        ax.scatter(measured[mask], predicted[mask], s=12, alpha=0.6, label=f"{shot} ({int(mask.sum())})")
    lo, hi = float(min(measured.min(), predicted.min())), float(max(measured.max(), predicted.max()))
    ax.plot([lo, hi], [lo, hi], color="#444444", lw=1, label="predicted = measured")
    ax.set_xlabel(f"measured ({assessment.unit})")
    ax.set_ylabel(f"predicted, out of fold ({assessment.unit})")
    r2_text = "-" if assessment.r2 is None else f"{assessment.r2:.3f}"
    ax.set_title(f"{title}\nRMSE {assessment.rmse:.2f} {assessment.unit}, R² {r2_text}, {assessment.runs} runs", fontsize=9)
    ax.legend(loc="upper left", fontsize=7)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
