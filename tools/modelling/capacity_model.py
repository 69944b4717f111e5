"""The capacity model: feature encoding, the reference study's model comparison, the production ensemble.

- `FeatureEncoder` turns a design space's columns into a float matrix (numbers as they are,
  categories one-hot in declared order).
- `compare_models` repeats the reference study's comparison (decision tree, random forest,
  gradient boosting, neural network; each tuned by random search in 5-fold CV) on the runs
  with status ok and a measured target, and reports RMSE and R2 on train and test.
- `CapacityModel` is the production model: an ensemble of LightGBM regressors (bootstrap
  members; mean = prediction, spread = uncertainty in the target's unit) and a failure
  classifier on `status`. Predictions go through trees compiled to numba
  (tools/modelling/tree_compile.py), fast enough for a particle swarm.

Failed runs are never regression targets; they train only the failure classifier.
lightgbm and scikit-learn are imported inside functions (slow imports).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from tools.domain.design_space import CategoryParameter, DesignSpace, design_space_from_dict
from tools.domain.errors import DataFileError, ModelError
from tools.domain.fileio import atomic_write_text
from tools.domain.record import ExperimentRecord
from tools.modelling.tree_compile import (
    CompiledForest,
    compile_boosters,
    predict_mean_std,
    predict_members,
)

MODEL_FORMAT = 1
MODEL_FILE = "model.json"
SPACE_FILE = "design_space.yaml"
METADATA_FILE = "metadata.json"
COMPARISON_FILE = "comparison.json"

DEFAULT_MEMBERS = 6
# The failure classifier needs at least this many runs of each status.
MIN_FAILED_RUNS = 5
MIN_TRAIN_ROWS = 10

# Used when no tuned hyper-parameters are given. Shallow trees suit the additive capacity
# surfaces seen so far (5-fold CV R2 0.91 on two simulated demo records, vs 0.89-0.90 for
# depth-4 trees) and are cheap to evaluate (6 members: 2,700 tree steps per row).
DEFAULT_GBM_PARAMS: dict[str, Any] = {
    "n_estimators": 150,
    "learning_rate": 0.08,
    "max_depth": 3,
    "num_leaves": 8,
    "subsample": 0.8,
    "subsample_freq": 1,
    "min_child_samples": 3,
}
_FAILURE_PARAMS: dict[str, Any] = {
    "n_estimators": 100,
    "learning_rate": 0.05,
    "max_depth": 4,
    "num_leaves": 8,
    "min_child_samples": 5,
    "subsample": 0.8,
    "subsample_freq": 1,
}
# Inference budget: members x trees x max depth = tree steps per evaluated row. The proposer's
# swarm evaluates 100,000 rows; at ~1.5-3 ns per step (measured CPU time, shared cores) 3,000
# steps keep that near half a second, leaving room for the swarm itself. Larger tuned settings
# are scaled down (fewer trees, proportionally larger learning rate; on the demo record 5-fold
# CV R2 0.910 -> 0.908) and the metadata says so.
MAX_STEPS_PER_ROW = 3000
MAX_LEARNING_RATE = 0.3
# LightGBM parameters a caller may pass (others are refused rather than ignored).
_GBM_KEYS = {"n_estimators", "learning_rate", "max_depth", "num_leaves", "subsample", "subsample_freq",
             "min_child_samples", "colsample_bytree", "reg_alpha", "reg_lambda", "min_split_gain"}

_STRICT = ConfigDict(extra="forbid")


# -- features ---------------------------------------------------------------------------
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


def _check_trainable(record: ExperimentRecord) -> None:
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


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return float("nan") if ss_tot == 0 else 1.0 - float(np.sum((y - pred) ** 2)) / ss_tot


def _finite_or_none(value: float) -> float | None:
    """R2 is undefined (NaN) when every target is equal; store None rather than NaN."""
    return value if math.isfinite(value) else None


def _rmse(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - pred) ** 2)))


# -- the reference study's comparison ---------------------------------------------------------
# The study's zero-shot table (RMSE in mAh/g): model -> (rmse_train, rmse_test, r2_train, r2_test).
REFERENCE_STUDY: dict[str, tuple[float, float, float, float]] = {
    "DT": (2.398, 2.398, 0.833, 0.833),
    "RF": (2.003, 2.207, 0.884, 0.85),
    "GBM": (1.219, 1.65, 0.957, 0.916),
    "NN": (1.161, 1.601, 0.961, 0.921),
}
DEFAULT_N_ITER = 6
CV_FOLDS = 5
TEST_FRACTION = 0.2
CHOSEN = "gbm_lightgbm"


class ModelScore(BaseModel):
    """One row of the comparison table."""

    model_config = _STRICT

    key: str = Field(description="model id: dt, rf, gbm_lightgbm, gbm_sklearn, nn")
    label: str = Field(description="human name of the model")
    study_row: str = Field(description="row of the reference study's table it corresponds to (DT, RF, GBM, NN)")
    rmse_train: float = Field(description="RMSE on the training split, target unit (mAh/g)")
    rmse_test: float = Field(description="RMSE on the held-out test split, target unit (mAh/g)")
    r2_train: float = Field(description="R2 on the training split")
    r2_test: float = Field(description="R2 on the held-out test split")
    cv_rmse: float = Field(description="mean 5-fold CV RMSE of the best random-search candidate, target unit")
    best_params: dict[str, Any] = Field(description="hyper-parameters chosen by the random search (estimator's own names)")
    search_space: dict[str, str] = Field(description="estimator parameter -> sampled range (and the study's name for it)")
    fit_seconds: float = Field(description="wall-clock seconds of the search and refit, s")
    fit_cpu_seconds: float = Field(description="CPU seconds of the search and refit in this process, s (robust to a shared CPU; worker processes not counted when n_jobs != 1)")


class ComparisonReport(BaseModel):
    """The study's comparison repeated on a record: RMSE and R2 per model, train and test."""

    model_config = _STRICT

    target: str = Field(description="target column")
    unit: str = Field(description="unit of the target and of RMSE")
    seed: int = Field(description="seed of the split, the CV folds and the searches")
    n_iter: int = Field(description="random-search candidates per model")
    cv_folds: int = Field(description="folds of the cross-validation inside the search")
    n_train: int = Field(description="rows in the training split (80%)")
    n_test: int = Field(description="rows in the test split (20%)")
    n_failed_excluded: int = Field(description="failed runs left out of the regression (they train the failure classifier)")
    source_counts: dict[str, int] = Field(description="regression rows per source (measured, synthetic, ...)")
    data_hash: str = Field(description="sha256 of the record the comparison ran on")
    rows: list[ModelScore] = Field(description="one row per model")
    best_by_cv: str = Field(description="key of the model with the lowest CV RMSE")
    chosen: str = Field(description="key of the model family used for the production model")
    chosen_reason: str = Field(description="why that family was chosen")
    reference: dict[str, tuple[float, float, float, float]] = Field(
        default_factory=lambda: dict(REFERENCE_STUDY),
        description="the reference study's table: model -> (RMSE train, RMSE test in mAh/g, R2 train, R2 test)",
    )
    elapsed_s: float = Field(description="wall-clock seconds of the whole comparison, s")
    notes: list[str] = Field(default_factory=list, description="things the reader should know (convergence, data)")
    parity: dict[str, dict[str, list[float]]] = Field(
        default_factory=dict,
        exclude=True,
        description="per model: y_train, pred_train, y_test, pred_test (target unit); for the parity plot",
    )

    def row(self, key: str) -> ModelScore:
        """The table row of one model."""
        for r in self.rows:
            if r.key == key:
                return r
        raise ModelError(f"no model '{key}' in the comparison")

    @property
    def chosen_params(self) -> dict[str, Any]:
        """Tuned LightGBM hyper-parameters of the chosen GBM, ready for fit_capacity_model."""
        return dict(self.row(CHOSEN).best_params)


def _candidates(seed: int) -> list[tuple[str, str, str, Any, dict[str, Any], dict[str, str]]]:
    """(key, label, study row, estimator, distributions, description) for each compared model.

    The study's ranges (subsample 0.01-1, n_estimators 50-300, max_depth 3-8, learning rate
    0.001-0.2, min samples split 2-9) are mapped to each estimator's own parameter, each drawn
    uniformly (integers uniformly over the range).
    """
    import lightgbm as lgb
    from scipy.stats import loguniform, randint, uniform
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeRegressor

    subsample = uniform(0.01, 0.99)
    n_estimators = randint(50, 301)
    max_depth = randint(3, 9)
    learning_rate = uniform(0.001, 0.199)
    min_split = randint(2, 10)
    nn = TransformedTargetRegressor(
        regressor=Pipeline([("scale", StandardScaler()), ("mlp", MLPRegressor(random_state=seed))]),
        transformer=StandardScaler(),
    )
    return [
        ("dt", "Decision tree (sklearn)", "DT", DecisionTreeRegressor(random_state=seed),
         {"max_depth": max_depth, "min_samples_split": min_split},
         {"max_depth": "3-8 (max depth)", "min_samples_split": "2-9 (min samples split)"}),
        ("rf", "Random forest (sklearn)", "RF", RandomForestRegressor(random_state=seed, n_jobs=1),
         {"n_estimators": n_estimators, "max_depth": max_depth, "min_samples_split": min_split, "max_samples": subsample},
         {"n_estimators": "50-300", "max_depth": "3-8", "min_samples_split": "2-9",
          "max_samples": "0.01-1.0 (subsample: bootstrap fraction per tree)"}),
        ("gbm_lightgbm", "GBM (LightGBM)", "GBM",
         lgb.LGBMRegressor(subsample_freq=1, random_state=seed, n_jobs=1, verbose=-1),
         {"subsample": subsample, "n_estimators": n_estimators, "max_depth": max_depth,
          "learning_rate": learning_rate, "min_child_samples": min_split},
         {"subsample": "0.01-1.0 (row bagging every iteration)", "n_estimators": "50-300", "max_depth": "3-8",
          "learning_rate": "0.001-0.2",
          "min_child_samples": "2-9 (min samples split; LightGBM's nearest parameter is min rows per leaf)"}),
        ("gbm_sklearn", "GBM (sklearn)", "GBM", GradientBoostingRegressor(random_state=seed),
         {"subsample": subsample, "n_estimators": n_estimators, "max_depth": max_depth,
          "learning_rate": learning_rate, "min_samples_split": min_split},
         {"subsample": "0.01-1.0", "n_estimators": "50-300", "max_depth": "3-8",
          "learning_rate": "0.001-0.2", "min_samples_split": "2-9"}),
        ("nn", "Neural network (MLP)", "NN", nn,
         {"regressor__mlp__learning_rate_init": learning_rate, "regressor__mlp__max_iter": n_estimators,
          "regressor__mlp__hidden_layer_sizes": [(32,), (64,), (32, 16), (64, 32)],
          "regressor__mlp__alpha": loguniform(1e-5, 1e-1)},
         {"learning_rate_init": "0.001-0.2 (learning rate)",
          "max_iter": "50-300 epochs (the study's n_estimators range)",
          "hidden_layer_sizes": "one of (32), (64), (32,16), (64,32) (not in the study's list)",
          "alpha": "1e-5-0.1 log-uniform L2 penalty (not in the study's list)"}),
    ]


def compare_models(
    record: ExperimentRecord,
    seed: int = 0,
    n_iter: int = DEFAULT_N_ITER,
    models: tuple[str, ...] | None = None,
    n_jobs: int = 1,
) -> ComparisonReport:
    """Repeat the study's comparison: each model tuned by RandomizedSearchCV (5-fold CV), scored on an 80/20 split.

    Regression rows are the runs with status ok and a measured target; failed runs are not
    targets. `models` limits the comparison to some keys (dt, rf, gbm_lightgbm, gbm_sklearn,
    nn). The production family is always LightGBM GBM (the study's choice, and the one whose
    trees compile to the fast evaluator); `best_by_cv` says which model scored best here.
    `n_jobs` is passed to RandomizedSearchCV (-1: every core; results do not depend on it).
    Convergence warnings of the MLP candidates are silenced during the search (they are part
    of searching over max_iter); `notes` says when the chosen MLP stopped at max_iter.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import KFold, RandomizedSearchCV, train_test_split
    from threadpoolctl import threadpool_limits

    _check_trainable(record)
    if n_iter < 1:
        raise ModelError("n_iter must be at least 1")
    ok, y = regression_rows(record)
    if len(y) < 2 * CV_FOLDS:
        raise ModelError(f"cannot compare models: {len(y)} usable runs, need at least {2 * CV_FOLDS}")
    started = time.perf_counter()
    encoder = FeatureEncoder(record.space)
    X = encoder.encode(ok)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=TEST_FRACTION, random_state=seed)
    cands = _candidates(seed)
    known = {c[0] for c in cands}
    wanted = set(models or known)
    if wanted - known:
        raise ModelError(f"unknown model(s): {', '.join(sorted(wanted - known))} (known: {', '.join(sorted(known))})")
    rows: list[ModelScore] = []
    parity: dict[str, dict[str, list[float]]] = {}
    notes: list[str] = []
    for key, label, study_row, estimator, dists, described in cands:
        if key not in wanted:
            continue
        t0, c0 = time.perf_counter(), time.process_time()
        search = RandomizedSearchCV(
            estimator, dists, n_iter=n_iter, cv=KFold(CV_FOLDS, shuffle=True, random_state=seed),
            scoring="neg_root_mean_squared_error", random_state=seed, n_jobs=n_jobs, refit=True,
            error_score="raise",
        )
        # scikit-learn hands these filters to its worker processes too. One BLAS thread: the
        # MLP's small matrices gain nothing from more, and spinning threads stall a shared CPU.
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module="lightgbm")
            search.fit(X_tr, y_tr)
        best = search.best_estimator_
        mlp = getattr(getattr(best, "regressor_", None), "named_steps", {}).get("mlp")
        if mlp is not None and mlp.n_iter_ >= mlp.max_iter:
            notes.append(f"{key}: the chosen network stopped at max_iter={mlp.max_iter} epochs before converging")
        p_tr, p_te = best.predict(X_tr), best.predict(X_te)
        params = {k.rsplit("__", 1)[-1]: _plain(v) for k, v in search.best_params_.items()}
        rows.append(ModelScore(
            key=key, label=label, study_row=study_row,
            rmse_train=_rmse(y_tr, p_tr), rmse_test=_rmse(y_te, p_te),
            r2_train=_r2(y_tr, p_tr), r2_test=_r2(y_te, p_te),
            cv_rmse=float(-search.best_score_), best_params=params, search_space=described,
            fit_seconds=time.perf_counter() - t0, fit_cpu_seconds=time.process_time() - c0,
        ))
        parity[key] = {"y_train": y_tr.tolist(), "pred_train": p_tr.tolist(), "y_test": y_te.tolist(), "pred_test": p_te.tolist()}
    best_by_cv = min(rows, key=lambda r: r.cv_rmse).key
    if CHOSEN in wanted:
        chosen = CHOSEN
        reason = ("LightGBM GBM: the reference study's choice; its trees compile to the fast ensemble "
                  "evaluator the proposer needs")
        if best_by_cv != CHOSEN:
            reason += f"; note: {best_by_cv} had the lowest CV RMSE on this record"
    else:
        chosen = best_by_cv
        reason = "lowest CV RMSE among the compared models (LightGBM was not compared)"
    n_failed = int(len(record.failed_runs))
    counts = {str(k): int(v) for k, v in ok["source"].value_counts().sort_index().items()}
    return ComparisonReport(
        target=record.target, unit=record.space.target.unit, seed=seed, n_iter=n_iter, cv_folds=CV_FOLDS,
        n_train=len(y_tr), n_test=len(y_te), n_failed_excluded=n_failed, source_counts=counts,
        data_hash=record.data_hash(), rows=rows, best_by_cv=best_by_cv, chosen=chosen, chosen_reason=reason,
        elapsed_s=time.perf_counter() - started, notes=notes, parity=parity,
    )


def _plain(value: Any) -> Any:
    """numpy scalars and tuples to JSON-friendly Python values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return value


def plot_parity(report: ComparisonReport, path: Path, keys: tuple[str, ...] | None = None) -> Path:
    """Predicted vs measured (train and test) for each compared model, one panel each, as a PNG."""
    from tools.plotting import _pyplot, save_figure

    plt = _pyplot()
    shown = [r for r in report.rows if (keys is None or r.key in keys) and r.key in report.parity]
    if not shown:
        raise ModelError("nothing to plot: the comparison holds no predictions (was it loaded from JSON?)")
    fig, axes = plt.subplots(1, len(shown), figsize=(3.6 * len(shown), 3.8), squeeze=False)
    unit = f" ({report.unit})" if report.unit else ""
    for ax, row in zip(axes[0], shown, strict=True):
        d = report.parity[row.key]
        ax.scatter(d["y_train"], d["pred_train"], s=8, color="#bbbbbb", label="train")
        ax.scatter(d["y_test"], d["pred_test"], s=12, color="#ee6677" if row.key == report.chosen else "#4477aa", label="test")
        values = d["y_train"] + d["y_test"] + d["pred_train"] + d["pred_test"]
        lo, hi = min(values), max(values)
        ax.plot([lo, hi], [lo, hi], color="black", linewidth=0.8)
        star = " (chosen)" if row.key == report.chosen else ""
        ax.set_title(f"{row.label}{star}\ntest RMSE {row.rmse_test:.2f}, R2 {row.r2_test:.3f}", fontsize=8)
        ax.set_xlabel(f"measured {report.target}{unit}", fontsize=8)
        ax.set_ylabel(f"predicted{unit}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return save_figure(fig, Path(path))


# -- the production model ------------------------------------------------------------------
class ModelMetadata(BaseModel):
    """What a fitted capacity model was trained on and how well it does."""

    model_config = _STRICT

    format: int = Field(default=MODEL_FORMAT, description="saved-model format version")
    design_space: str = Field(description="name of the design space")
    target: str = Field(description="target column; predictions are in its unit")
    target_unit: str = Field(default="", description="unit of the target and of predictions/std (e.g. mAh/g)")
    data_hash: str = Field(description="sha256 of the training record's CSV content")
    space_hash: str = Field(description="sha256 of the design space's YAML")
    trained_at: str = Field(description="UTC time of training, ISO 8601")
    seed: int = Field(description="random seed of the bootstrap and the members")
    n_records: int = Field(description="runs in the record (all statuses)")
    n_train: int = Field(description="runs used as regression targets (status ok, measured target)")
    n_failed: int = Field(description="runs with status failed (failure-classifier positives)")
    source_counts: dict[str, int] = Field(description="regression training rows per source (measured, synthetic, ...)")
    n_members: int = Field(description="LightGBM regressors in the ensemble")
    hyperparameters: dict[str, Any] = Field(description="LightGBM hyper-parameters of every member")
    hyperparameter_source: str = Field(description="'tuned' (from compare_models) or 'default'")
    metrics: dict[str, float | None] = Field(description="RMSE (target unit) and R2: train fit of the ensemble mean and 5-fold CV of one member")
    feature_names: list[str] = Field(description="encoded feature columns in order")
    has_failure_model: bool = Field(description="False when the record has too few failed (or ok) runs to learn failure")
    failure_model_note: str = Field(description="how failure probability is obtained, or why it is not")
    n_trees: int = Field(description="trees over all members (inference cost)")
    steps_per_row: int = Field(description="tree steps per evaluated row over all members (inference cost)")
    inference_note: str = Field(description="whether the hyper-parameters were scaled to the inference budget")


class CapacityModel:
    """Ensemble of LightGBM regressors (mean, std) plus a failure classifier, with compiled inference.

    `std` is the spread of the bootstrap members: model (epistemic) uncertainty, large away
    from the record's data. It leaves out measurement noise (see metadata.metrics["cv_rmse"]).
    """

    def __init__(
        self,
        space: DesignSpace,
        metadata: ModelMetadata,
        member_models: list[str],
        failure_model: str | None,
        forest: CompiledForest | None = None,
        failure_forest: CompiledForest | None = None,
    ):
        """Build from LightGBM model strings; compiled forests are passed when loading (no lightgbm import then)."""
        self.space = space
        self.encoder = FeatureEncoder(space)
        self.metadata = metadata
        if metadata.feature_names != self.encoder.feature_names:
            raise ModelError("the model's features do not match its design space")
        self._member_models = list(member_models)
        self._failure_model = failure_model
        self._boosters: list[Any] | None = None
        if forest is None or (failure_model is not None and failure_forest is None):
            forest = compile_boosters(self.boosters)
            failure_forest = compile_boosters([self.failure_booster]) if failure_model else None
        if forest.n_members != len(member_models) or forest.n_features != self.encoder.n_features:
            raise ModelError("compiled trees do not match the model (members or features differ)")
        self.forest: CompiledForest = forest
        self.failure_forest: CompiledForest | None = failure_forest if failure_model else None

    @property
    def boosters(self) -> list[Any]:
        """The members as lightgbm.Booster objects (built on first use; prediction does not need them)."""
        if self._boosters is None:
            import lightgbm as lgb

            self._boosters = [lgb.Booster(model_str=s) for s in self._member_models]
        return self._boosters

    @property
    def failure_booster(self) -> Any | None:
        """The failure classifier as a lightgbm.Booster, or None without a failure model."""
        if self._failure_model is None:
            return None
        import lightgbm as lgb

        return lgb.Booster(model_str=self._failure_model)

    @property
    def has_failure_model(self) -> bool:
        """True when failure probabilities come from a trained classifier (else they are all zero)."""
        return self.failure_forest is not None

    # -- prediction ----------------------------------------------------------------------
    def predict_encoded(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std (target unit, e.g. mAh/g) of the ensemble for encoded rows (compiled path)."""
        return predict_mean_std(self.forest, X)

    def predict(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std (target unit) for a frame with the design space's columns."""
        return self.predict_encoded(self.encoder.encode(frame))

    def predict_members_encoded(self, X: np.ndarray) -> np.ndarray:
        """Every member's prediction, shape (rows, n_members)."""
        return predict_members(self.forest, X)

    def failure_probability_encoded(self, X: np.ndarray) -> np.ndarray:
        """Probability that a run fails, for encoded rows; zeros when `has_failure_model` is False."""
        if self.failure_forest is None:
            arr = np.asarray(X)
            if arr.ndim != 2 or arr.shape[1] != self.encoder.n_features:
                raise ModelError(f"expected an array of shape (rows, {self.encoder.n_features}), got {arr.shape}")
            return np.zeros(arr.shape[0])
        raw = predict_members(self.failure_forest, X)[:, 0]
        return 1.0 / (1.0 + np.exp(-raw))

    def failure_probability(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability that each run fails; zeros when `has_failure_model` is False (see metadata)."""
        return self.failure_probability_encoded(self.encoder.encode(frame))

    # -- persistence ------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Write the model to `folder`: model.json (everything, written last and atomically), design_space.yaml, metadata.json."""
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise DataFileError(f"{folder}: cannot create the model folder ({err})") from err
        payload = {
            "metadata": self.metadata.model_dump(mode="json"),
            "design_space": self.space.model_dump(mode="json"),
            "members": self._member_models,
            "failure_model": self._failure_model,
            "compiled": self.forest.to_dict(),
            "failure_compiled": None if self.failure_forest is None else self.failure_forest.to_dict(),
        }
        atomic_write_text(folder / SPACE_FILE, self.space.to_yaml())
        atomic_write_text(folder / METADATA_FILE, self.metadata.model_dump_json(indent=2) + "\n")
        atomic_write_text(folder / MODEL_FILE, json.dumps(payload) + "\n")

    @classmethod
    def load(cls, folder: Path) -> CapacityModel:
        """Read a model written by `save`; ModelError when missing, corrupt or of another format."""
        path = Path(folder) / MODEL_FILE
        if not path.exists():
            raise ModelError(f"{folder}: no saved capacity model ({MODEL_FILE} missing)")
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            metadata = ModelMetadata.model_validate(payload["metadata"])
            space = design_space_from_dict(payload["design_space"], origin=str(path))
            members = list(payload["members"])
            failure = payload.get("failure_model")
            compiled = payload["compiled"]
            failure_compiled = payload.get("failure_compiled")
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ModelError(f"{path}: not a readable capacity model ({err})") from err
        if metadata.format != MODEL_FORMAT:
            raise ModelError(f"{path}: model format {metadata.format}, this version reads {MODEL_FORMAT}; retrain")
        forest = CompiledForest.from_dict(compiled)
        failure_forest = CompiledForest.from_dict(failure_compiled) if failure_compiled else None
        return cls(space, metadata, members, failure, forest, failure_forest)


def space_hash(space: DesignSpace) -> str:
    """sha256 of the design space's YAML (models are reused only for the same space)."""
    return hashlib.sha256(space.to_yaml().encode()).hexdigest()


def _lgb_regressor(params: Mapping[str, Any], seed: int) -> Any:
    import lightgbm as lgb

    return lgb.LGBMRegressor(**params, random_state=seed, n_jobs=1, verbose=-1)


def _clean_params(hyperparameters: Mapping[str, Any] | None) -> tuple[dict[str, Any], str]:
    if hyperparameters is None:
        return dict(DEFAULT_GBM_PARAMS), "default"
    unknown = sorted(set(hyperparameters) - _GBM_KEYS)
    if unknown:
        raise ModelError(f"unknown LightGBM hyper-parameter(s): {', '.join(unknown)} (allowed: {', '.join(sorted(_GBM_KEYS))})")
    params = dict(hyperparameters)
    if "subsample" in params and float(params["subsample"]) < 1.0:
        params.setdefault("subsample_freq", 1)  # without it LightGBM ignores subsample
    for key in ("n_estimators", "max_depth", "num_leaves", "subsample_freq", "min_child_samples"):
        if key in params:
            params[key] = int(params[key])
    return params, "tuned"


def _fit_budget(params: dict[str, Any], n_members: int) -> tuple[dict[str, Any], str]:
    """Scale n_estimators (and raise learning_rate in proportion) so the ensemble fits MAX_STEPS_PER_ROW."""
    depth = int(params.get("max_depth", -1))
    if depth <= 0:  # unlimited depth: a tree with L leaves can be L - 1 deep
        depth = int(params.get("num_leaves", 31)) - 1
    n_est = int(params.get("n_estimators", 100))
    steps = n_members * n_est * depth
    if steps <= MAX_STEPS_PER_ROW:
        return params, f"within the inference budget ({steps} <= {MAX_STEPS_PER_ROW} tree steps per row at most)"
    new_n = max(10, MAX_STEPS_PER_ROW // (n_members * depth))
    lr = float(params.get("learning_rate", 0.1))
    new_lr = min(MAX_LEARNING_RATE, lr * n_est / new_n)
    scaled = {**params, "n_estimators": new_n, "learning_rate": new_lr}
    note = (
        f"scaled to the inference budget: n_estimators {n_est} -> {new_n}, learning_rate {lr:.4g} -> {new_lr:.4g} "
        f"({n_members} members x max depth {depth}; budget {MAX_STEPS_PER_ROW} tree steps per row)"
    )
    return scaled, note


def fit_capacity_model(
    record: ExperimentRecord,
    seed: int = 0,
    hyperparameters: dict[str, Any] | None = None,
    n_members: int = DEFAULT_MEMBERS,
) -> CapacityModel:
    """Fit the production model: `n_members` bootstrap LightGBM regressors and a failure classifier.

    Regression uses only runs with status ok and a measured target. Each member is trained on
    a bootstrap resample with its own seed, so the members' spread (population std) is the
    model's uncertainty in the target's unit. `hyperparameters` are LightGBM parameters
    (e.g. the tuned GBM of `compare_models`); None uses DEFAULT_GBM_PARAMS.
    """
    _check_trainable(record)
    if n_members < 2:
        raise ModelError("an ensemble needs at least 2 members (the spread is the uncertainty)")
    params, param_source = _clean_params(hyperparameters)
    params, budget_note = _fit_budget(params, n_members)
    encoder = FeatureEncoder(record.space)
    ok, y = regression_rows(record)
    X = encoder.encode(ok)
    rng = np.random.default_rng(seed)
    members: list[str] = []
    with warnings.catch_warnings():
        # lightgbm's own notes (e.g. on parameter aliases) are not the user's business here
        warnings.filterwarnings("ignore", category=UserWarning, module="lightgbm")
        for m in range(n_members):
            idx = rng.integers(0, len(y), len(y))
            reg = _lgb_regressor(params, seed * 1000 + m)
            reg.fit(X[idx], y[idx])
            members.append(reg.booster_.model_to_string())
        cv = _cv_single_member(X, y, params, seed)
        failure_str, has_failure, note, failure_metrics = _fit_failure(record, encoder, seed)

    counts = {str(k): int(v) for k, v in ok["source"].value_counts().sort_index().items()}
    metadata = ModelMetadata(
        design_space=record.space.name,
        target=record.target,
        target_unit=record.space.target.unit,
        data_hash=record.data_hash(),
        space_hash=space_hash(record.space),
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        seed=seed,
        n_records=len(record),
        n_train=len(y),
        n_failed=int(len(record.failed_runs)),
        source_counts=counts,
        n_members=n_members,
        hyperparameters=params,
        hyperparameter_source=param_source,
        metrics={},
        feature_names=encoder.feature_names,
        has_failure_model=has_failure,
        failure_model_note=note,
        n_trees=0,
        steps_per_row=0,
        inference_note=budget_note,
    )
    model = CapacityModel(record.space, metadata, members, failure_str)
    mean, _ = model.predict_encoded(X)
    model.metadata = metadata.model_copy(
        update={
            "metrics": {"train_rmse": _rmse(y, mean), "train_r2": _finite_or_none(_r2(y, mean)), **cv, **failure_metrics},
            "n_trees": model.forest.n_trees,
            "steps_per_row": int(model.forest.depth.sum()),
        }
    )
    return model


def _cv_single_member(X: np.ndarray, y: np.ndarray, params: Mapping[str, Any], seed: int) -> dict[str, float | None]:
    """5-fold CV RMSE and R2 of one member with these hyper-parameters (an honest error estimate)."""
    from sklearn.model_selection import KFold

    n_splits = min(5, len(y))
    if n_splits < 2:
        return {"cv_rmse": None, "cv_r2": None}
    pred = np.empty_like(y)
    for train, test in KFold(n_splits, shuffle=True, random_state=seed).split(X):
        reg = _lgb_regressor(params, seed)
        reg.fit(X[train], y[train])
        pred[test] = reg.predict(X[test])
    r2 = _r2(y, pred)
    return {"cv_rmse": _rmse(y, pred), "cv_r2": None if math.isnan(r2) else r2}


def _fit_failure(record: ExperimentRecord, encoder: FeatureEncoder, seed: int) -> tuple[str | None, bool, str, dict[str, float | None]]:
    """LightGBM classifier on status (failed = 1) over every run; None when too few of either status."""
    import lightgbm as lgb

    frame = record.frame
    failed = (frame["status"] == "failed").to_numpy()
    n_failed, n_ok = int(failed.sum()), int((~failed).sum())
    if n_failed < MIN_FAILED_RUNS or n_ok < MIN_FAILED_RUNS:
        note = (
            f"no failure model: the record has {n_failed} failed and {n_ok} ok runs (need at least "
            f"{MIN_FAILED_RUNS} of each); failure probability is reported as 0 for every run"
        )
        return None, False, note, {}
    X = encoder.encode(frame)
    clf = lgb.LGBMClassifier(**_FAILURE_PARAMS, random_state=seed, n_jobs=1, verbose=-1)
    clf.fit(X, failed.astype(int))
    note = f"LightGBM classifier on status over all {len(frame)} runs ({n_failed} failed)"
    return clf.booster_.model_to_string(), True, note, {"failure_rate": n_failed / len(frame)}


def load_or_fit(
    record: ExperimentRecord,
    folder: Path,
    seed: int = 0,
    hyperparameters: dict[str, Any] | None = None,
    n_members: int = DEFAULT_MEMBERS,
) -> tuple[CapacityModel, bool]:
    """The model saved in `folder` when it was trained on this record and space (same seed), else a new fit saved there.

    Returns (model, reused). When `hyperparameters` are given they must match too.
    """
    folder = Path(folder)
    if (folder / MODEL_FILE).exists():
        saved: CapacityModel | None
        try:
            saved = CapacityModel.load(folder)
        except ModelError:
            saved = None  # unreadable or of an old format: refit and overwrite below
        if saved is not None and _matches(saved, record, seed, hyperparameters, n_members):
            return saved, True
    model = fit_capacity_model(record, seed=seed, hyperparameters=hyperparameters, n_members=n_members)
    model.save(folder)
    return model, False


def _matches(model: CapacityModel, record: ExperimentRecord, seed: int, hyperparameters: dict[str, Any] | None, n_members: int) -> bool:
    meta = model.metadata
    if meta.data_hash != record.data_hash() or meta.space_hash != space_hash(record.space):
        return False
    if meta.seed != seed or meta.n_members != n_members:
        return False
    if hyperparameters is not None:
        wanted = _fit_budget(_clean_params(hyperparameters)[0], n_members)[0]
        return bool(meta.hyperparameters == wanted)
    return True


__all__ = [
    "CapacityModel",
    "FeatureEncoder",
    "ModelMetadata",
    "fit_capacity_model",
    "load_or_fit",
    "regression_rows",
    "space_hash",
    "ComparisonReport",
    "ModelScore",
    "compare_models",
    "plot_parity",
    "REFERENCE_STUDY",
]
