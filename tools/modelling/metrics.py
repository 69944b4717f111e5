"""Regression scores shared by the model comparison and the capacity model (RMSE, R2).

scikit-learn computes them; R2 is reported as undefined (NaN) when every target is equal,
where sklearn's r2_score would say 1.0 or 0.0 (or warn, for a single row). sklearn is
imported inside the functions (a slow import).
"""

from __future__ import annotations

import math

import numpy as np


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    """R2 of `pred` against `y`; NaN when every `y` is equal (nothing to explain)."""
    from sklearn.metrics import r2_score

    if float(np.sum((y - y.mean()) ** 2)) == 0:
        return float("nan")
    return float(r2_score(y, pred))


def rmse(y: np.ndarray, pred: np.ndarray) -> float:
    """Root-mean-squared error of `pred` against `y`, in the target's unit."""
    from sklearn.metrics import root_mean_squared_error

    return float(root_mean_squared_error(y, pred))


def finite_or_none(value: float) -> float | None:
    """R2 is undefined (NaN) when every target is equal; store None rather than NaN."""
    return value if math.isfinite(value) else None
