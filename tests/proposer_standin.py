"""A tiny stand-in for tools.modelling.capacity_model.CapacityModel: closed-form mean, spread and failure risk.

It has the same methods the proposer and the CLI use, so tests run in milliseconds and can
put the optimum, the uncertainty and the failure region exactly where a test needs them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from tools.domain.design_space import DesignSpace, design_space_from_dict
from tools.domain.record import ExperimentRecord, record_from_rows
from tools.modelling.encoder import FeatureEncoder

Columns = dict[str, np.ndarray]
Fn = Callable[[Columns], np.ndarray]

TOY_SPACE: dict[str, Any] = {
    "name": "toy",
    "target": {"name": "capacity_mah_g", "unit": "mAh/g", "low": 0, "high": 300},
    "parameters": [
        {"name": "x", "kind": "number", "low": 0.0, "high": 1.0, "step": 0.01},
        {"name": "y", "kind": "number", "low": 0.0, "high": 1.0, "step": 0.01},
        {"name": "kind", "kind": "category", "values": ["u", "v"]},
    ],
}


def toy_space() -> DesignSpace:
    return design_space_from_dict(TOY_SPACE)


def toy_record(points: list[tuple[float, float]] | None = None, capacity: float = 200.0) -> ExperimentRecord:
    """Toy runs on a 10 x 10 grid (or at `points`), all ok with the same capacity."""
    if points is None:
        points = [(round(0.05 + 0.1 * i, 2), round(0.05 + 0.1 * j, 2)) for i in range(10) for j in range(10)]
    rows = [{"x": x, "y": y, "kind": "u", "capacity_mah_g": capacity, "status": "ok"} for x, y in points]
    return record_from_rows(rows, toy_space(), source="toy")


class StandInMetadata(BaseModel):
    """The metadata fields the tools read from a fitted model; small LightGBM settings for the assessment's folds."""

    n_train: int = 0
    n_failed: int = 0
    n_members: int = 2
    has_failure_model: bool = False
    failure_model_note: str = "stand-in model"
    metrics: dict[str, float] = Field(default_factory=lambda: {"cv_rmse": 0.0})
    trained_at: str = "2026-01-01T00:00:00+00:00"
    source_counts: dict[str, int] = Field(default_factory=dict)
    hyperparameters: dict[str, Any] = Field(default_factory=lambda: {"n_estimators": 20, "num_leaves": 7, "learning_rate": 0.2})


class StandInModel:
    """Mean, std and failure probability given as functions of the design-space columns."""

    def __init__(self, space: DesignSpace, mean: Fn, std: Fn | None = None, fail: Fn | None = None):
        self.space = space
        self.encoder = FeatureEncoder(space)
        self._mean, self._std, self._fail = mean, std, fail
        self.calls = 0
        self.metadata = StandInMetadata(has_failure_model=fail is not None)

    def _columns(self, X: np.ndarray) -> Columns:
        return {name: X[:, j] for j, name in enumerate(self.encoder.feature_names)}

    def predict_encoded(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        cols = self._columns(np.asarray(X, dtype=float))
        mean = self._mean(cols)
        std = self._std(cols) if self._std else np.zeros(len(X))
        return np.asarray(mean, dtype=float), np.asarray(std, dtype=float)

    def failure_probability_encoded(self, X: np.ndarray) -> np.ndarray:
        cols = self._columns(np.asarray(X, dtype=float))
        return np.asarray(self._fail(cols), dtype=float) if self._fail else np.zeros(len(X))

    def predict(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        return self.predict_encoded(self.encoder.encode(frame))

    def failure_probability(self, frame: pd.DataFrame) -> np.ndarray:
        return self.failure_probability_encoded(self.encoder.encode(frame))


def ncm_standin(space: DesignSpace) -> StandInModel:
    """A smooth NCM-like surface: best near 760 degC, Li/TM 1.04, some W, a little failure risk when hot."""

    def mean(c: Columns) -> np.ndarray:
        return (
            200.0 + 200.0 * (c["ni"] - 0.9) - 0.01 * (c["calcination_temp_c"] - 760.0) ** 2
            - 2000.0 * (c["li_ratio"] - 1.04) ** 2 + 800.0 * c["dopant_w"] - 1e5 * (c["dopant_w"] - 0.003) ** 2
        )

    def std(c: Columns) -> np.ndarray:
        return 1.0 + 5.0 * c["dopant_mg"] / 0.006

    def fail(c: Columns) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(c["calcination_temp_c"] - 800.0) / 5.0))

    return StandInModel(space, mean, std, fail)
