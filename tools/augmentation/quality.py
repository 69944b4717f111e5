"""How good synthetic rows are: SDMetrics scores, distances to the nearest real run, downstream utility.

sdmetrics, sdv and the capacity model are imported inside functions (slow imports).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from tools.augmentation.models import (
    AugmentationInput,
    ColumnPlan,
    ProgressCallback,
    UtilityArm,
    UtilityReport,
)
from tools.augmentation.sampling import SDV_TABLE, fit_synthesizer, sample_valid, synthetic_record
from tools.domain.design_space import CategoryParameter, DesignSpace
from tools.domain.record import ExperimentRecord

UTILITY_MEMBERS = 2
UTILITY_MAX_ROWS = 2000


def sdmetrics_scores(real: pd.DataFrame, synthetic: pd.DataFrame, plan: ColumnPlan, caught: list[str]) -> tuple[float | None, float | None, float | None]:
    """SDMetrics QualityReport scores: column shapes, column pair trends, overall (None when not finite)."""
    numbers = [*plan.modelled_numbers, *plan.modelled_levels, *plan.derived, plan.target]
    columns = {n: {"sdtype": "numerical"} for n in numbers} | {n: {"sdtype": "categorical"} for n in plan.modelled_categories}
    names = list(columns)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        from sdmetrics.reports import QualityReport

        report = QualityReport()
        report.generate(
            {SDV_TABLE: real[names].reset_index(drop=True)},
            {SDV_TABLE: synthetic[names].reset_index(drop=True)},
            {"tables": {SDV_TABLE: {"columns": columns}}},
            verbose=False,
        )
    for w in seen:
        text = f"{w.category.__name__}: {str(w.message).strip().splitlines()[0][:240]}"
        if text not in caught:
            caught.append(text)
    props = report.get_properties()
    scores = {str(r["Property"]): float(r["Score"]) for _, r in props.iterrows()}

    def clean(v: float | None) -> float | None:
        return None if v is None or not math.isfinite(v) else v

    return clean(scores.get("Column Shapes")), clean(scores.get("Column Pair Trends")), clean(float(report.get_score()))


def encode_for_distance(frame: pd.DataFrame, real: pd.DataFrame, space: DesignSpace, plan: ColumnPlan) -> np.ndarray:
    """Numbers scaled by the record's observed range, categories one-hot scaled so a mismatch counts 1."""
    parts: list[np.ndarray] = []
    for p in space.parameters:
        if p.name in plan.held:
            continue
        if isinstance(p, CategoryParameter):
            values = frame[p.name].astype(str).to_numpy()
            for v in p.values:
                parts.append((values == v).astype(float) / math.sqrt(2.0))
        else:
            span = float(real[p.name].max() - real[p.name].min())
            parts.append(frame[p.name].to_numpy(dtype=float) / (span if span > 0 else 1.0))
    return np.column_stack(parts)


def nearest_distances(a: np.ndarray, b: np.ndarray, n_columns: int, exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Distance (RMS over columns) from each row of a to its nearest row of b, and that row's index."""
    dist = np.empty(len(a))
    idx = np.empty(len(a), dtype=int)
    b_sq = np.sum(b * b, axis=1)
    for start in range(0, len(a), 512):
        chunk = a[start:start + 512]
        d2 = np.sum(chunk * chunk, axis=1)[:, None] + b_sq[None, :] - 2.0 * chunk @ b.T
        np.maximum(d2, 0.0, out=d2)
        if exclude_self:
            rows = np.arange(len(chunk))
            d2[rows, start + rows] = np.inf
        idx[start:start + len(chunk)] = np.argmin(d2, axis=1)
        dist[start:start + len(chunk)] = np.sqrt(d2[np.arange(len(chunk)), idx[start:start + len(chunk)]] / n_columns)
    return dist, idx


# -- utility ------------------------------------------------------------------------------------
def utility_check(
    record: ExperimentRecord, plan: ColumnPlan, request: AugmentationInput, epochs: int | None,
    caught: list[str], progress: ProgressCallback | None,
) -> UtilityReport:
    """Train the capacity model on real, real + synthetic and synthetic rows; score each on held-out real runs.

    A second synthesizer is fitted on the training split only, so the held-out runs stay unseen.
    """
    from tools.modelling.capacity_model import fit_capacity_model
    from tools.modelling.encoder import MIN_TRAIN_ROWS
    from tools.modelling.metrics import finite_or_none, r2, rmse

    ok = record.ok_runs
    rng = np.random.default_rng(request.seed)
    order = rng.permutation(len(ok))
    n_test = max(4, int(round(request.test_fraction * len(ok))))
    test, train_ok = ok.iloc[order[:n_test]], ok.iloc[order[n_test:]]
    real_train = ExperimentRecord(frame=pd.concat([train_ok, record.failed_runs], ignore_index=True), space=record.space)
    synth, fit_s, _ = fit_synthesizer(request.method, plan, train_ok, epochs, request.seed, caught, progress, "utility-fit")
    if progress is not None:
        progress("utility-sample", None, None)
    n_rows = min(request.rows, UTILITY_MAX_ROWS)
    sampled = sample_valid(synth, record, plan, n_rows, real_train.frame, caught, request.seed)
    notes: list[str] = []
    arms: list[UtilityArm] = []
    y_test = test[record.target].to_numpy(dtype=float)
    n_real = len(real_train.ok_runs)
    # (arm, training record, its ok rows from the input record, its rows from the augmentation)
    sets: list[tuple[str, ExperimentRecord, int, int]] = [("real", real_train, n_real, 0)]
    if sampled.rows:
        syn = synthetic_record(sampled.rows, record, request.method)
        both = ExperimentRecord(frame=pd.concat([real_train.frame, syn.frame], ignore_index=True), space=record.space)
        sets.append(("real+synthetic", both, n_real, len(syn)))
        sets.append(("synthetic", syn, 0, len(syn)))
    else:
        notes.append("no valid synthetic rows from the training-split synthesizer: only the real arm was trained")
    if progress is not None:
        progress("utility-models", None, None)
    for name, training, from_record, from_augmentation in sets:
        n_ok = len(training.ok_runs)
        if n_ok < MIN_TRAIN_ROWS:
            notes.append(f"{name}: left out, only {n_ok} ok rows (the capacity model needs {MIN_TRAIN_ROWS})")
            continue
        model = fit_capacity_model(training, seed=request.seed, n_members=UTILITY_MEMBERS)
        pred, _ = model.predict(test)
        arms.append(UtilityArm(
            training=name, n_train=n_ok,
            origin_counts={"record": from_record, "augmentation": from_augmentation},
            model_source_counts=dict(model.metadata.source_counts),
            rmse=rmse(y_test, pred), r2=finite_or_none(r2(y_test, pred)),
        ))
    return UtilityReport(
        model=(f"capacity model (tools/modelling/capacity_model.py): {UTILITY_MEMBERS}-member LightGBM ensemble, default "
               "hyper-parameters (DEFAULT_GBM_PARAMS), prediction = ensemble mean"),
        n_test=len(test), n_train_real=len(train_ok), synthetic_rows=len(sampled.rows),
        synthesizer_fit_seconds=fit_s, arms=arms, notes=notes,
    )
