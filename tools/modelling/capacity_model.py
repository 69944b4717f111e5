"""The production capacity model: an ensemble of LightGBM regressors and a failure classifier.

`CapacityModel` holds bootstrap LightGBM members (mean = prediction, spread = uncertainty in
the target's unit) and a failure classifier on `status`. Predictions go through trees
compiled to numba (tools/modelling/tree_compile.py), fast enough for a particle swarm.
Features come from tools/modelling/encoder.py; the reference study's model comparison, whose
tuned GBM parameters can be passed to `fit_capacity_model`, is tools/modelling/comparison.py.

Failed runs are never regression targets; they train only the failure classifier.
lightgbm and scikit-learn are imported inside functions (slow imports).
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from tools.domain.design_space import DesignSpace, design_space_from_dict
from tools.domain.errors import DataFileError, ModelError
from tools.domain.fileio import atomic_write_text
from tools.domain.record import ExperimentRecord
from tools.modelling.encoder import FeatureEncoder, check_trainable, regression_rows
from tools.modelling.metrics import finite_or_none, r2, rmse
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

DEFAULT_MEMBERS = 6
# The failure classifier needs at least this many runs of each status.
MIN_FAILED_RUNS = 5

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

    @property
    def bootstrap_counts(self) -> np.ndarray:
        """How often each training run (ok runs in record order) is in each member's bootstrap sample: (members, runs).

        Recomputed from the seed, so a loaded model has them too: a run's out-of-bag prediction
        uses only the members that never saw it (tools.modelling.local_model).
        """
        meta = self.metadata
        return np.vstack([np.bincount(idx, minlength=meta.n_train) for idx in bootstrap_samples(meta.seed, meta.n_train, meta.n_members)])

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


def bootstrap_samples(seed: int, n_rows: int, n_members: int) -> list[np.ndarray]:
    """The row indices each member is trained on: one bootstrap resample per member, drawn in order from `seed`."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, n_rows, n_rows) for _ in range(n_members)]


def lgb_regressor(params: Mapping[str, Any], seed: int) -> Any:
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
    check_trainable(record)
    if n_members < 2:
        raise ModelError("an ensemble needs at least 2 members (the spread is the uncertainty)")
    params, param_source = _clean_params(hyperparameters)
    params, budget_note = _fit_budget(params, n_members)
    encoder = FeatureEncoder(record.space)
    ok, y = regression_rows(record)
    X = encoder.encode(ok)
    members: list[str] = []
    with warnings.catch_warnings():
        # lightgbm's own notes (e.g. on parameter aliases) are not the user's business here
        warnings.filterwarnings("ignore", category=UserWarning, module="lightgbm")
        for m, idx in enumerate(bootstrap_samples(seed, len(y), n_members)):
            reg = lgb_regressor(params, seed * 1000 + m)
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
            "metrics": {"train_rmse": rmse(y, mean), "train_r2": finite_or_none(r2(y, mean)), **cv, **failure_metrics},
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
        reg = lgb_regressor(params, seed)
        reg.fit(X[train], y[train])
        pred[test] = reg.predict(X[test])
    score = r2(y, pred)
    return {"cv_rmse": rmse(y, pred), "cv_r2": None if math.isnan(score) else score}


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
    "ModelMetadata",
    "bootstrap_samples",
    "fit_capacity_model",
    "load_or_fit",
    "space_hash",
]
