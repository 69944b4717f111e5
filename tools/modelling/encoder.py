"""Features of a design space and the runs a regression may learn from.

`FeatureEncoder` turns a design space's columns into a float matrix (numbers as they are,
categories one-hot in declared order). Failed runs are never regression targets; they train
only the failure classifier (tools.modelling.capacity_model).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tools.domain.design_space import CategoryParameter, DesignSpace
from tools.domain.errors import ModelError
from tools.domain.record import ExperimentRecord

MIN_TRAIN_ROWS = 10


class FeatureEncoder:
    """Encode a design space's parameter columns as float64 features.

    Numbers are used as they are; each category becomes one 0/1 column per allowed value, in
    the order the design space declares them (`coating=none`, `coating=B`, ...), so the column
    order is stable for a given space.
    """

    def __init__(self, space: DesignSpace):
        self.space = space
        names: list[str] = []
        for p in space.parameters:
            if isinstance(p, CategoryParameter):
                names.extend(f"{p.name}={v}" for v in p.values)
            else:
                names.append(p.name)
        self.feature_names: list[str] = names

    @property
    def n_features(self) -> int:
        """Number of encoded columns."""
        return len(self.feature_names)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The (rows, n_features) float64 matrix; ModelError for missing columns or unknown values."""
        missing = [n for n in self.space.names if n not in frame.columns]
        if missing:
            raise ModelError(f"cannot encode: missing column(s) {', '.join(missing)}")
        n = len(frame)
        X = np.empty((n, self.n_features), dtype=np.float64)
        j = 0
        for p in self.space.parameters:
            col = frame[p.name]
            if isinstance(p, CategoryParameter):
                values = col.astype(str).to_numpy()
                unknown = sorted(set(values) - set(p.values))
                if unknown:
                    raise ModelError(f"cannot encode {p.name}: unknown value(s) {', '.join(unknown)} (allowed: {', '.join(p.values)})")
                for v in p.values:
                    X[:, j] = values == v
                    j += 1
            else:
                try:
                    X[:, j] = pd.to_numeric(col, errors="raise").to_numpy(dtype=np.float64)
                except (TypeError, ValueError) as err:
                    raise ModelError(f"cannot encode {p.name}: not numeric ({err})") from err
                j += 1
        if not np.all(np.isfinite(X)):
            bad = sorted({self.feature_names[k] for k in np.where(~np.isfinite(X))[1]})
            raise ModelError(f"cannot encode: empty or non-finite values in {', '.join(bad)}")
        return X


def regression_rows(record: ExperimentRecord) -> tuple[pd.DataFrame, np.ndarray]:
    """The runs that may be regression targets (status ok, measured target) and their targets."""
    ok = record.ok_runs
    return ok, ok[record.target].to_numpy(dtype=np.float64)


def check_trainable(record: ExperimentRecord) -> None:
    """ModelError unless the record has at least MIN_TRAIN_ROWS runs with status ok and a measured target."""
    if len(record) == 0:
        raise ModelError("cannot train: the record has no runs")
    n_ok = len(record.ok_runs)
    if n_ok == 0:
        raise ModelError(
            f"cannot train: none of the {len(record)} runs has status ok and a measured {record.target} "
            "(failed runs are not regression targets)"
        )
    if n_ok < MIN_TRAIN_ROWS:
        raise ModelError(f"cannot train: only {n_ok} runs with status ok and a measured {record.target}; need at least {MIN_TRAIN_ROWS}")
