"""The reference study's model comparison repeated on a record, and its parity plot.

`compare_models` tunes a decision tree, a random forest, two gradient-boosting
implementations and a neural network by random search in 5-fold CV on the runs with status ok
and a measured target, and reports RMSE and R2 on train and test. scikit-learn, scipy and
lightgbm are imported inside functions (slow imports).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tools.domain.errors import ModelError
from tools.domain.record import ExperimentRecord
from tools.modelling.encoder import FeatureEncoder, check_trainable, regression_rows
from tools.modelling.metrics import r2, rmse

COMPARISON_FILE = "comparison.json"

_STRICT = ConfigDict(extra="forbid")

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
    progress: Callable[[str, int, int], None] | None = None,
) -> ComparisonReport:
    """Repeat the study's comparison: each model tuned by random search (5-fold CV), scored on an 80/20 split.

    Regression rows are the runs with status ok and a measured target; failed runs are not
    targets. `models` limits the comparison to some keys (dt, rf, gbm_lightgbm, gbm_sklearn,
    nn). The production family is always LightGBM GBM (the study's choice, and the one whose
    trees compile to the fast evaluator); `best_by_cv` says which model scored best here.
    The search is scikit-learn's RandomizedSearchCV done step by step (the same candidates, folds,
    scores and refit), so `progress(message, done, total)` hears of every model, candidate and
    fold as it finishes. `n_jobs` runs fits in parallel (-1: every core; results do not depend on it).
    Convergence warnings of the MLP candidates are silenced during the search (they are part
    of searching over max_iter); `notes` says when the chosen MLP stopped at max_iter.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_limits

    check_trainable(record)
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
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module="lightgbm")
            search = _random_search(estimator, dists, X_tr, y_tr, n_iter, seed, n_jobs, label, progress)
        best = search.best_estimator
        mlp = getattr(getattr(best, "regressor_", None), "named_steps", {}).get("mlp")
        if mlp is not None and mlp.n_iter_ >= mlp.max_iter:
            notes.append(f"{key}: the chosen network stopped at max_iter={mlp.max_iter} epochs before converging")
        p_tr, p_te = best.predict(X_tr), best.predict(X_te)
        params = {k.rsplit("__", 1)[-1]: _plain(v) for k, v in search.best_params.items()}
        rows.append(ModelScore(
            key=key, label=label, study_row=study_row,
            rmse_train=rmse(y_tr, p_tr), rmse_test=rmse(y_te, p_te),
            r2_train=r2(y_tr, p_tr), r2_test=r2(y_te, p_te),
            cv_rmse=float(-search.best_score), best_params=params, search_space=described,
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


@dataclass
class _SearchResult:
    best_params: dict[str, Any]
    best_score: float
    best_estimator: Any


def _random_search(estimator: Any, dists: dict[str, Any], X: np.ndarray, y: np.ndarray, n_iter: int, seed: int, n_jobs: int,
                   label: str, progress: Callable[[str, int, int], None] | None) -> _SearchResult:
    """RandomizedSearchCV(scoring=neg RMSE, refit=True) step by step: same candidates, folds and choice, with progress."""
    from sklearn.base import clone
    from sklearn.metrics import root_mean_squared_error
    from sklearn.model_selection import KFold, ParameterSampler
    from sklearn.utils.parallel import Parallel, delayed

    candidates = list(ParameterSampler(dists, n_iter=n_iter, random_state=seed))
    folds = list(KFold(CV_FOLDS, shuffle=True, random_state=seed).split(X))

    def score(ci: int, fi: int) -> tuple[int, int, float]:
        train, test = folds[fi]
        model = clone(estimator).set_params(**candidates[ci])
        model.fit(X[train], y[train])
        return ci, fi, -float(root_mean_squared_error(y[test], model.predict(X[test])))

    scores = np.zeros((len(candidates), len(folds)))
    total = len(candidates) * len(folds)
    tasks = (delayed(score)(ci, fi) for ci in range(len(candidates)) for fi in range(len(folds)))
    for done, (ci, fi, value) in enumerate(Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks), start=1):
        scores[ci, fi] = value
        if progress is not None:
            progress(f"{label}: candidate {ci + 1}/{len(candidates)}, fold {fi + 1}/{len(folds)}", done, total)
    means = scores.mean(axis=1)
    best = int(np.flatnonzero(means == means.max())[0])  # the first of equal candidates, as sklearn ranks them
    fitted = clone(estimator).set_params(**candidates[best]).fit(X, y)
    return _SearchResult(best_params=candidates[best], best_score=float(means[best]), best_estimator=fitted)


def _plain(value: Any) -> Any:
    """numpy scalars and tuples to JSON-friendly Python values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return value


def plot_parity(report: ComparisonReport, path: Path, keys: tuple[str, ...] | None = None) -> Path:
    """Predicted vs measured (train and test) for each compared model, one panel each, as a PNG."""
    from tools.plotting import pyplot, save_figure

    plt = pyplot()
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


__all__ = [
    "COMPARISON_FILE",
    "ComparisonReport",
    "ModelScore",
    "REFERENCE_STUDY",
    "compare_models",
    "plot_parity",
]
