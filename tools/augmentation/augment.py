"""Synthetic rows for an experiment record (CTGAN, TVAE, Gaussian copula on SDV 2), made safe and measured.

Generative models of tables can help a small, biased record, but their rows can contradict
domain knowledge and copy or amplify the record's defects. This module therefore never hands
back a raw sample:

1. **What is modelled.** Only runs with status ``ok`` and a measured target are fitted.
   Failed runs are *excluded* from the synthesizer on purpose: a failed run has no target,
   and sampling "failed" labels would fabricate failure evidence that the failure classifier
   would then learn as fact. They are still used: a synthetic row repeating a failed run's
   conditions is dropped, the report gives the share of synthetic rows whose nearest real run
   failed, and the utility check trains its "real" model with them. Every synthetic row has
   status ``ok``. Parameters held fixed by the design space or with one observed value are
   held at that value and left out of the synthesizer (the report lists them); a number with
   at most ``LEVELS_MAX`` observed values is modelled as a set of levels (the synthesizer can
   only emit values the record used); one term of each equality constraint (``mn`` in
   ``ni + co + mn = 1``) is not modelled but derived from the others.
2. **Repair, then reject.** Each sampled row gets its held values, its conditionals applied
   (``coating = none`` -> coating amount, temperature and time 0), its numbers snapped to the
   step grid (values outside the bounds are *not* clipped: the row is rejected), its derived
   term computed and snapped; then ``space.row_problems`` decides. Rows that repeat the
   conditions of a real run (ok or failed) or of an earlier synthetic row are dropped, never
   passed off as new. Sampling repeats until the requested number of valid rows or
   ``MAX_ROUNDS`` rounds; the rejection share and its reasons are reported.
3. **Quality, every time** (`AugmentationReport`): SDMetrics column-shape and pair-trend
   scores, rejection share, normalised nearest-neighbour distances to real runs (near copies
   counted), and downstream utility: the capacity model (tools/modelling/capacity_model.py, 2-member
   LightGBM ensemble with its default hyper-parameters) trained on real, real + synthetic and
   synthetic rows and tested on held-out real runs. To keep that test honest a *second*
   synthesizer is fitted on the training split only (the held-out runs are never seen by it).
4. **Provenance.** Synthetic rows carry ``source=synthetic``, shot ``synthetic-<method>``,
   ids ``syn-<method>-0001``... and no prediction. They are written to their own file and
   never merged into a record or a training set here.

The pieces: inputs and reports (tools/augmentation/models.py), the column plan, row repair and
pin rules (columns.py), fitting and sampling (sampling.py), quality and utility (quality.py).
sdv, sdmetrics and torch are imported inside functions (slow imports, see tests/test_imports.py).
Fitting runs on the CPU with one torch thread and joblib's sequential backend: the networks are
small, and on a shared 2-core machine extra threads and worker processes were measured to be
slower (TVAE 50 epochs: 8 CPU-s with one thread, 22 CPU-s with two).
"""

from __future__ import annotations

import json
import time
from importlib.metadata import version as _version
from pathlib import Path

import numpy as np

from tools.augmentation.columns import describe_pin_rule, pin_rules, plan_columns
from tools.augmentation.models import (
    DEFAULT_EPOCHS,
    NEAR_COPY_DISTANCE,
    AugmentationInput,
    AugmentationReport,
    AugmentationResult,
    ProgressCallback,
    UtilityReport,
)
from tools.augmentation.quality import (
    encode_for_distance,
    nearest_distances,
    sdmetrics_scores,
    utility_check,
)
from tools.augmentation.sampling import (
    fit_synthesizer,
    load_libraries,
    sample_valid,
    synthetic_record,
)
from tools.domain.design_space import format_value
from tools.domain.errors import AugmentationError
from tools.domain.fileio import atomic_write_text
from tools.domain.record import ExperimentRecord, write_record

MIN_OK_ROWS = 20


def check_augmentable(record: ExperimentRecord) -> None:
    """Raise AugmentationError with a clear message when the record is too small or too uniform to model."""
    n_ok = len(record.ok_runs)
    if n_ok < MIN_OK_ROWS:
        raise AugmentationError(
            f"too few runs to learn from: {n_ok} runs with status ok and a measured {record.target} "
            f"(of {len(record)}); a synthesizer needs at least {MIN_OK_ROWS}, and on a handful of runs it "
            "would mostly copy or blur them. Measure more runs first."
        )
    plan_columns(record)


def augment_record(
    record: ExperimentRecord,
    request: AugmentationInput,
    progress: ProgressCallback | None = None,
) -> AugmentationResult:
    """Fit the requested synthesizer on the record's ok runs and return valid, new, labelled synthetic rows with a quality report.

    Raises AugmentationError for records with fewer than MIN_OK_ROWS ok runs, with nothing that
    varies, or when no sampled row survives the design-space checks.
    """
    check_augmentable(record)
    plan = plan_columns(record)
    space = record.space
    method = request.method
    epochs = None if method == "gaussian_copula" else (request.epochs or DEFAULT_EPOCHS[method])
    ok = record.ok_runs
    caught: list[str] = []
    notes: list[str] = []

    if progress is not None:
        progress("load", None, None)
    import_s = load_libraries(caught)
    synth, fit_s, fit_cpu = fit_synthesizer(method, plan, ok, epochs, request.seed, caught, progress, "fit")

    if progress is not None:
        progress("sample", None, None)
    t0 = time.perf_counter()
    sampled = sample_valid(synth, record, plan, request.rows, record.frame, caught, request.seed)
    if not sampled.rows:
        top = ", ".join(f"{k}: {v}" for k, v in sampled.reasons.most_common(5))
        raise AugmentationError(
            f"{method}: none of {sampled.sampled} sampled rows was valid and new "
            f"(rejected by the design-space checks: {sampled.rejected}{f' - {top}' if top else ''}; "
            f"copies of real runs: {sampled.copies}); try more epochs or another method"
        )
    synthetic = synthetic_record(sampled.rows, record, method)
    sample_s = time.perf_counter() - t0
    if len(sampled.rows) < request.rows:
        notes.append(
            f"only {len(sampled.rows)} of {request.rows} rows: sampling stopped after {sampled.rounds} rounds "
            f"({sampled.sampled} rows drawn); the rest were rejected or copies"
        )

    if progress is not None:
        progress("check", None, None)
    t0 = time.perf_counter()
    shapes, pairs, score = sdmetrics_scores(ok, synthetic.frame, plan, caught)
    real_all = record.frame
    n_cols = len([p for p in space.parameters if p.name not in plan.held])
    real_x = encode_for_distance(real_all, real_all, space, plan)
    syn_x = encode_for_distance(synthetic.frame, real_all, space, plan)
    dist, nearest = nearest_distances(syn_x, real_x, n_cols)
    real_dist, _ = nearest_distances(real_x, real_x, n_cols, exclude_self=True) if len(real_x) > 1 else (np.array([]), None)
    failed = (real_all["status"] == "failed").to_numpy()
    check_s = time.perf_counter() - t0

    utility: UtilityReport | None = None
    utility_s: float | None = None
    if request.check_utility:
        t0 = time.perf_counter()
        utility = utility_check(record, plan, request, epochs, caught, progress)
        utility_s = time.perf_counter() - t0

    all_synthetic = bool((record.frame["source"] == "synthetic").all())
    label = method.replace("_", "-")
    if all_synthetic:
        notes.append(
            "the input record is itself simulated (every row has source=synthetic); the augmentation output is "
            f"told apart by its own file, shot 'synthetic-{label}' and ids 'syn-{label}-NNNN'"
        )
    if plan.held:
        notes.append("held at one value and not modelled: " + ", ".join(f"{k} = {v if isinstance(v, str) else format_value(v)}" for k, v in plan.held.items()))
    notes.append("synthetic rows are not measurements: keep them out of a training set unless you decide otherwise, and say so when you do")

    report = AugmentationReport(
        method=method, sdv_version=_version("sdv"), seed=request.seed, epochs=epochs, design_space=space.name,
        rows_requested=request.rows, rows_returned=len(synthetic), input_rows=len(record), input_ok_rows=len(ok),
        failed_runs_excluded=int(len(record.failed_runs)),
        failed_runs_policy=(
            "excluded from the synthesizer (a failed run has no target; sampling failure labels would fabricate "
            "failure evidence); every synthetic row has status ok; rows repeating a failed run's conditions are "
            "dropped; see nearest_real_failed_share"
        ),
        input_all_synthetic=all_synthetic,
        provenance={"source": "synthetic", "shot": f"synthetic-{label}", "experiment_id": f"syn-{label}-0001 ..."},
        columns=plan, sampled_rows=sampled.sampled, sampling_rounds=sampled.rounds, rejected_rows=sampled.rejected,
        rejection_share=sampled.rejected / sampled.sampled if sampled.sampled else 0.0,
        rejection_reasons=dict(sampled.reasons.most_common()),
        record_rules=[describe_pin_rule(r) for r in pin_rules(record)],
        exact_copies_dropped=sampled.copies, copies_of_failed_runs=sampled.copies_failed,
        duplicates_dropped=sampled.duplicates,
        near_copies=int(np.sum(dist < NEAR_COPY_DISTANCE)), near_copy_distance=NEAR_COPY_DISTANCE,
        nn_distance_min=float(dist.min()) if len(dist) else None,
        nn_distance_median=float(np.median(dist)) if len(dist) else None,
        real_nn_distance_median=float(np.median(real_dist)) if len(real_dist) else None,
        nearest_real_failed_share=float(failed[nearest].mean()) if len(nearest) else None,
        record_failed_share=float(failed.mean()),
        column_shapes=shapes, column_pair_trends=pairs, quality_score=score,
        import_seconds=import_s, fit_seconds=fit_s, fit_cpu_seconds=fit_cpu, sample_seconds=sample_s, check_seconds=check_s,
        utility_seconds=utility_s, utility=utility, warnings=caught, notes=notes,
    )
    return AugmentationResult(record=synthetic, report=report)


def report_path_for(csv_path: Path) -> Path:
    """Where the JSON report of a synthetic CSV goes: next to it, <stem>.report.json."""
    return csv_path.with_name(f"{csv_path.stem}.report.json")


def write_augmentation(result: AugmentationResult, csv_path: Path) -> tuple[Path, Path]:
    """Write the synthetic rows (CSV) and the report (JSON next to it), each atomically; returns both paths."""
    csv_path = Path(csv_path)
    if not csv_path.parent.exists():
        raise AugmentationError(f"{csv_path}: folder {csv_path.parent} does not exist")
    report_path = report_path_for(csv_path)
    try:
        write_record(result.record, csv_path)
        payload = {"synthetic_file": str(csv_path), **result.report.model_dump(mode="json")}
        atomic_write_text(report_path, json.dumps(payload, indent=2, allow_nan=False) + "\n")
    except OSError as err:
        raise AugmentationError(f"{csv_path}: cannot write ({err})") from err
    return csv_path, report_path
