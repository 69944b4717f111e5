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

sdv, sdmetrics and torch are imported inside functions (slow imports, see tests/test_imports.py).
Fitting runs on the CPU with one torch thread and joblib's sequential backend: the networks are
small, and on a shared 2-core machine extra threads and worker processes were measured to be
slower (TVAE 50 epochs: 8 CPU-s with one thread, 22 CPU-s with two).
"""

from __future__ import annotations

import json
import math
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version as _version
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from tools.domain.design_space import CategoryParameter, DesignSpace, NumberParameter, format_value
from tools.domain.errors import AugmentationError
from tools.domain.fileio import atomic_write_text
from tools.domain.record import ExperimentRecord, record_from_rows, write_record

Method = Literal["ctgan", "tvae", "gaussian_copula"]
METHODS: tuple[str, ...] = ("ctgan", "tvae", "gaussian_copula")
# Chosen so that one fit on the 652-run demo record (571 ok runs) stays well under a minute on
# this shared 2-core CPU: CTGAN 300 epochs (SDV's default) fitted in 30-38 s; TVAE needs more
# epochs than SDV's 300 to stop collapsing onto a few rows (at 150 epochs half the sampled rows
# were duplicates; 600 epochs raised column shapes 0.74 -> 0.80) and 500 fit in about 20 s.
# See benchmarks/bench_augment.py.
DEFAULT_EPOCHS: dict[str, int] = {"ctgan": 300, "tvae": 500}
MIN_OK_ROWS = 20
LEVELS_MAX = 10
MAX_ROUNDS = 20
MAX_BATCH = 20_000
NEAR_COPY_DISTANCE = 0.01
UTILITY_MEMBERS = 2
UTILITY_MAX_ROWS = 2000
_TABLE = "runs"

ProgressCallback = Callable[[str, int | None, int | None], None]
"""progress(phase, done, total): phase is load, fit, sample, check, utility-fit, utility-sample or
utility-models; done/total count epochs during fit phases of CTGAN/TVAE, else None. It may be
called from a helper thread while a network trains."""

_STRICT = ConfigDict(extra="forbid")


class AugmentationInput(BaseModel):
    """What to generate: method, number of rows, training length, seed, and whether to run the utility check."""

    model_config = _STRICT

    method: Method = Field(description="synthesizer: ctgan (GAN), tvae (variational autoencoder) or gaussian_copula")
    rows: int = Field(default=200, ge=1, le=100_000, description="number of valid synthetic rows wanted")
    epochs: int | None = Field(
        default=None, ge=1, le=5000,
        description="training epochs of CTGAN/TVAE; None uses DEFAULT_EPOCHS (ignored by the Gaussian copula)",
    )
    seed: int = Field(default=0, ge=0, description="random seed of fitting (torch, numpy), sampling and the utility split")
    check_utility: bool = Field(
        default=True,
        description="train the capacity model on real, real + synthetic and synthetic rows and test on held-out real runs (fits a second synthesizer)",
    )
    test_fraction: float = Field(default=0.2, ge=0.1, le=0.5, description="share of the ok runs held out for the utility test")


class ColumnPlan(BaseModel):
    """How each column is treated by the synthesizer."""

    model_config = _STRICT

    modelled_numbers: list[str] = Field(description="numbers modelled as continuous values (then snapped to their step)")
    modelled_levels: list[str] = Field(description=f"numbers with at most {LEVELS_MAX} observed values, modelled as those levels")
    modelled_categories: list[str] = Field(description="categories modelled by the synthesizer")
    held: dict[str, float | str] = Field(description="parameters held at one value (fixed by the space, or one observed value); not modelled")
    derived: dict[str, str] = Field(description="parameter -> how it is computed from the others (equality constraints)")
    target: str = Field(description="target column, modelled as a number")


class UtilityArm(BaseModel):
    """One training set of the utility check and its score on held-out real runs."""

    model_config = _STRICT

    training: str = Field(description="real, real+synthetic or synthetic")
    n_train: int = Field(description="regression rows the model was trained on (status ok)")
    origin_counts: dict[str, int] = Field(description="regression rows by origin: record (the input) and augmentation (this tool)")
    model_source_counts: dict[str, int] = Field(description="the capacity model metadata's source_counts (rows per `source` value)")
    rmse: float = Field(description="RMSE on the held-out real runs, target unit")
    r2: float | None = Field(description="R2 on the held-out real runs (None when undefined)")


class UtilityReport(BaseModel):
    """Downstream utility: does adding synthetic rows help the capacity model on real runs it never saw?"""

    model_config = _STRICT

    model: str = Field(description="the model used for the check")
    n_test: int = Field(description="held-out real ok runs")
    n_train_real: int = Field(description="real ok runs in the training split")
    synthetic_rows: int = Field(description="valid synthetic rows from the synthesizer fitted on the training split")
    synthesizer_fit_seconds: float = Field(description="wall-clock seconds of that second fit, s")
    arms: list[UtilityArm] = Field(description="one entry per training set")
    notes: list[str] = Field(default_factory=list, description="arms left out and why")


class AugmentationReport(BaseModel):
    """Everything a reader needs to judge a synthetic table: what was modelled, what was rejected, how close, how useful."""

    model_config = _STRICT

    method: str = Field(description="ctgan, tvae or gaussian_copula")
    sdv_version: str = Field(description="version of SDV used")
    seed: int = Field(description="random seed")
    epochs: int | None = Field(description="training epochs (None for the Gaussian copula)")
    design_space: str = Field(description="name of the record's design space")
    rows_requested: int = Field(description="valid synthetic rows asked for")
    rows_returned: int = Field(description="valid synthetic rows produced")
    input_rows: int = Field(description="runs in the input record (all statuses)")
    input_ok_rows: int = Field(description="runs with status ok and a measured target: what the synthesizer learned from")
    failed_runs_excluded: int = Field(description="failed runs left out of the synthesizer")
    failed_runs_policy: str = Field(description="how failed runs were handled")
    input_all_synthetic: bool = Field(description="True when every input row already has source=synthetic (a simulated record)")
    provenance: dict[str, str] = Field(description="source, shot and experiment_id pattern of the synthetic rows")
    columns: ColumnPlan = Field(description="how each column was treated")
    sampled_rows: int = Field(description="rows drawn from the synthesizer in all rounds")
    sampling_rounds: int = Field(description="sampling rounds used")
    rejected_rows: int = Field(description="sampled rows that failed the design-space checks after repair")
    rejection_share: float = Field(description="rejected_rows / sampled_rows")
    rejection_reasons: dict[str, int] = Field(description="column -> rejected rows with a problem in that column")
    record_rules: list[str] = Field(description="checks beyond the design space, learned from the record (pinned values used only under their condition)")
    exact_copies_dropped: int = Field(description="rows dropped because their conditions repeat a real run (ok or failed)")
    copies_of_failed_runs: int = Field(description="of those, rows repeating the conditions of a failed run")
    duplicates_dropped: int = Field(description="rows dropped because they repeat an earlier synthetic row")
    near_copies: int = Field(description=f"kept rows within normalised distance {NEAR_COPY_DISTANCE} of a real run")
    near_copy_distance: float = Field(description="the near-copy threshold (RMS over columns of differences scaled by the observed range)")
    nn_distance_min: float | None = Field(description="smallest normalised distance from a synthetic row to a real run")
    nn_distance_median: float | None = Field(description="median normalised distance from a synthetic row to its nearest real run")
    real_nn_distance_median: float | None = Field(description="median distance from a real run to its nearest other real run (for comparison)")
    nearest_real_failed_share: float | None = Field(description="share of synthetic rows whose nearest real run failed")
    record_failed_share: float = Field(description="share of failed runs in the input record (for comparison)")
    column_shapes: float | None = Field(description="SDMetrics QualityReport Column Shapes score, 0-1 (1 = same marginals)")
    column_pair_trends: float | None = Field(description="SDMetrics QualityReport Column Pair Trends score, 0-1")
    quality_score: float | None = Field(description="SDMetrics overall quality score, 0-1 (mean of the two)")
    import_seconds: float = Field(description="wall-clock seconds to import SDV and torch (first use in a process), s")
    fit_seconds: float = Field(description="wall-clock seconds to fit the synthesizer, s")
    fit_cpu_seconds: float = Field(description="CPU seconds of this process for the fit, s")
    sample_seconds: float = Field(description="wall-clock seconds of sampling, repair and checks, s")
    check_seconds: float = Field(description="wall-clock seconds of the quality and distance measures, s")
    utility_seconds: float | None = Field(description="wall-clock seconds of the utility check, s")
    utility: UtilityReport | None = Field(description="downstream utility, None when not requested or not possible")
    warnings: list[str] = Field(default_factory=list, description="warnings raised by SDV, torch or SDMetrics during the run")
    notes: list[str] = Field(default_factory=list, description="what the reader should know")


@dataclass(frozen=True)
class AugmentationResult:
    """The synthetic rows as a validated record (same design space) and the report."""

    record: ExperimentRecord
    report: AugmentationReport


# -- column plan --------------------------------------------------------------------------------
def plan_columns(record: ExperimentRecord) -> ColumnPlan:
    """Decide per column: held, derived, modelled as levels, number or category. AugmentationError when nothing varies."""
    space = record.space
    ok = record.ok_runs
    held: dict[str, float | str] = {}
    for p in space.parameters:
        if p.name in space.fixed:
            held[p.name] = space.fixed[p.name]
            continue
        values = ok[p.name].unique()
        if len(values) == 1:
            held[p.name] = str(values[0]) if isinstance(p, CategoryParameter) else float(values[0])
    pinned = {n for c in space.conditionals for n in c.then}
    derived: dict[str, str] = {}
    used: set[str] = set()
    for c in space.constraints:
        if c.equals is None:
            continue
        free = [t for t in c.terms if t not in held and t not in derived and t not in pinned and c.terms[t] != 0]
        if len(free) < 2:
            continue  # nothing left to model besides the derived term: the check alone decides
        dep = free[-1]
        if dep in used:
            continue
        others = [t for t in c.terms if t != dep]
        derived[dep] = f"{c.name}: ({format_value(c.equals)} - {' - '.join(others)}) / {format_value(c.terms[dep])}, snapped to its step"
        used.update(c.terms)
    numbers, levels, cats = [], [], []
    for p in space.parameters:
        if p.name in held or p.name in derived:
            continue
        if isinstance(p, CategoryParameter):
            cats.append(p.name)
        elif ok[p.name].nunique() <= LEVELS_MAX:
            levels.append(p.name)
        else:
            numbers.append(p.name)
    if not (numbers or levels or cats):
        raise AugmentationError(
            f"nothing to model: every parameter of the {len(ok)} ok runs is held at one value or derived "
            f"({', '.join(sorted(held))}); synthetic rows would all repeat the same conditions"
        )
    target = record.target
    if ok[target].nunique() < 2:
        raise AugmentationError(f"every ok run has the same {target}; a synthesizer has nothing to learn about it")
    return ColumnPlan(modelled_numbers=numbers, modelled_levels=levels, modelled_categories=cats, held=held,
                      derived=derived, target=target)


def _modelled(plan: ColumnPlan) -> list[str]:
    return [*plan.modelled_numbers, *plan.modelled_levels, *plan.modelled_categories, plan.target]


def _training_frame(ok: pd.DataFrame, plan: ColumnPlan) -> pd.DataFrame:
    frame = ok[_modelled(plan)].reset_index(drop=True).copy()
    for name in plan.modelled_levels:
        frame[name] = frame[name].map(format_value).astype(object)
    for name in plan.modelled_categories:
        frame[name] = frame[name].astype(str).astype(object)
    for name in [*plan.modelled_numbers, plan.target]:
        frame[name] = frame[name].astype(float)
    return frame


def _sdv_metadata(plan: ColumnPlan) -> Any:
    from sdv.metadata import Metadata

    # in the training frame's order (SDV warns otherwise)
    categorical = {*plan.modelled_levels, *plan.modelled_categories}
    columns = {name: {"sdtype": "categorical" if name in categorical else "numerical"} for name in _modelled(plan)}
    return Metadata.load_from_dict({"METADATA_SPEC_VERSION": "V1", "tables": {_TABLE: {"columns": columns}}})


# -- fitting ------------------------------------------------------------------------------------
@contextmanager
def _quiet_and_seeded(seed: int, caught: list[str]) -> Iterator[None]:
    """Seed numpy and torch (restored afterwards), one torch thread, no joblib workers; collect warnings."""
    import torch
    from joblib import parallel_config

    np_state = np.random.get_state()
    threads = torch.get_num_threads()
    with warnings.catch_warnings(record=True) as seen, torch.random.fork_rng(devices=[]), parallel_config(backend="sequential"):
        warnings.simplefilter("always")
        np.random.seed(seed)
        torch.manual_seed(seed)
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            np.random.set_state(np_state)
            for w in seen:
                text = f"{w.category.__name__}: {str(w.message).strip().splitlines()[0][:240]}"
                if text not in caught:
                    caught.append(text)


def _load_libraries(caught: list[str]) -> float:
    """Import SDV (and with it torch) once, outside the fit timing; returns the seconds it took."""
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        import sdmetrics.reports  # noqa: F401
        import sdv.metadata  # noqa: F401
        import sdv.single_table  # noqa: F401
    for w in seen:
        text = f"{w.category.__name__}: {str(w.message).strip().splitlines()[0][:240]}"
        if text not in caught:
            caught.append(text)
    return time.perf_counter() - t0


def _make_synthesizer(method: str, metadata: Any, epochs: int | None) -> Any:
    from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer, TVAESynthesizer

    if method == "gaussian_copula":
        return GaussianCopulaSynthesizer(metadata)
    if method == "ctgan":
        return CTGANSynthesizer(metadata, epochs=epochs, enable_gpu=False, verbose=False)
    if method == "tvae":
        return TVAESynthesizer(metadata, epochs=epochs, enable_gpu=False, verbose=False)
    raise AugmentationError(f"unknown method '{method}' (use one of {', '.join(METHODS)})")


def _library_errors() -> tuple[type[Exception], ...]:
    """What SDV and torch raise on data they cannot model: SDV's own types (not ValueErrors) and the usual ones."""
    from sdv.errors import (
        InvalidDataError,
        InvalidDataTypeError,
        SamplingError,
        SynthesizerInputError,
    )

    return (InvalidDataError, InvalidDataTypeError, SamplingError, SynthesizerInputError,
            ValueError, TypeError, KeyError, RuntimeError, ArithmeticError)


def _epochs_done(synth: Any) -> int | None:
    losses = getattr(getattr(synth, "_model", None), "loss_values", None)
    if not isinstance(losses, pd.DataFrame) or losses.empty or "Epoch" not in losses.columns:
        return None
    return int(losses["Epoch"].iloc[-1]) + 1


def _fit(
    method: str, plan: ColumnPlan, ok: pd.DataFrame, epochs: int | None, seed: int,
    caught: list[str], progress: ProgressCallback | None, phase: str,
) -> tuple[Any, float, float]:
    """Fit a synthesizer on the ok runs; returns (synthesizer, wall s, CPU s). Epochs are reported by polling its loss table."""
    stop = threading.Event()

    def poll(synth: Any) -> None:
        last = -1
        while not stop.wait(0.25):
            done = _epochs_done(synth)
            if done is not None and done != last and progress is not None:
                last = done
                progress(phase, done, epochs)

    t0, c0 = time.perf_counter(), time.process_time()
    with _quiet_and_seeded(seed, caught):
        metadata = _sdv_metadata(plan)
        synth = _make_synthesizer(method, metadata, epochs)
        if progress is not None:
            progress(phase, 0 if epochs else None, epochs)
        watcher = threading.Thread(target=poll, args=(synth,), daemon=True) if epochs and progress else None
        if watcher is not None:
            watcher.start()
        try:
            synth.fit({_TABLE: _training_frame(ok, plan)})
        except _library_errors() as err:
            raise AugmentationError(f"{method} could not be fitted on this record: {err}") from err
        finally:
            stop.set()
            if watcher is not None:
                watcher.join()
        if hasattr(synth, "_set_random_state"):
            # SDV otherwise samples from a fixed seed of its own; tie sampling to ours
            synth._set_random_state(seed)
    if progress is not None and epochs:
        progress(phase, epochs, epochs)
    return synth, time.perf_counter() - t0, time.process_time() - c0


# -- repair and check ---------------------------------------------------------------------------
def _in_bounds(p: NumberParameter, value: float) -> bool:
    tol = 1e-9 * max(1.0, abs(p.low), abs(p.high))
    return math.isfinite(value) and p.low - tol <= value <= p.high + tol


def _conditions_key(row: Mapping[str, Any], space: DesignSpace) -> tuple[str, ...]:
    out = []
    for p in space.parameters:
        v = row[p.name]
        out.append(str(v) if isinstance(p, CategoryParameter) else format_value(round(float(v), 10)))
    return tuple(out)


def _repair(raw: Mapping[str, Any], space: DesignSpace, plan: ColumnPlan) -> dict[str, Any]:
    """Held values, conditionals, grid snapping (no clipping), derived terms."""
    row: dict[str, Any] = {}
    for p in space.parameters:
        if p.name in plan.held:
            row[p.name] = plan.held[p.name]
        elif p.name in plan.derived:
            row[p.name] = math.nan
        elif isinstance(p, CategoryParameter):
            row[p.name] = str(raw[p.name])
        else:
            try:
                row[p.name] = float(raw[p.name])
            except (TypeError, ValueError):
                row[p.name] = math.nan
    row.update(space.conditional_values(row))
    for p in space.numbers:
        if p.name not in plan.derived and _in_bounds(p, row[p.name]):
            row[p.name] = p.snap(row[p.name])
    for c in space.constraints:
        dep = next((t for t in c.terms if t in plan.derived), None)
        if dep is None or c.equals is None:
            continue
        rest = sum(coef * float(row[t]) for t, coef in c.terms.items() if t != dep)
        value = (c.equals - rest) / c.terms[dep]
        param = space.parameter(dep)
        assert isinstance(param, NumberParameter)
        row[dep] = param.snap(value) if _in_bounds(param, value) else value
    row.update(space.conditional_values(row))
    try:
        row[plan.target] = float(raw[plan.target])
    except (TypeError, ValueError):
        row[plan.target] = math.nan
    return row


PinRule = tuple[Mapping[str, str], str, float]


def pin_rules(record: ExperimentRecord) -> list[PinRule]:
    """Pinned values the record never uses outside their condition (no coated run has coating_amount 0).

    The design space allows them, but a synthetic row combining them (a B coating of amount 0)
    contradicts every run of the record, so such rows are rejected too.
    """
    ok = record.ok_runs.to_dict("records")
    rules: list[PinRule] = []
    for cond in record.space.conditionals:
        for name, value in cond.then.items():
            if not any(not cond.applies(r) and abs(float(r[name]) - value) <= 1e-9 for r in ok):
                rules.append((dict(cond.when), name, float(value)))
    return rules


def _pin_problems(row: Mapping[str, Any], rules: list[PinRule]) -> set[str]:
    bad = set()
    for when, name, value in rules:
        applies = all(str(row.get(k)) == v for k, v in when.items())
        if not applies and abs(float(row[name]) - value) <= 1e-9:
            bad.add(name)
    return bad


def describe_pin_rule(rule: PinRule) -> str:
    """A pin rule in words."""
    when, name, value = rule
    cond = " and ".join(f"{k} is {v}" for k, v in when.items())
    return f"{name} = {format_value(value)} only when {cond} (as in every run of the record)"


def _target_problem(value: float, space: DesignSpace) -> bool:
    lo, hi = space.target.low, space.target.high
    return not math.isfinite(value) or (lo is not None and value < lo) or (hi is not None and value > hi)


@dataclass
class _Sampling:
    rows: list[dict[str, Any]]
    sampled: int
    rounds: int
    rejected: int
    reasons: Counter[str]
    copies: int
    copies_failed: int
    duplicates: int


def _sample_valid(
    synth: Any, record: ExperimentRecord, plan: ColumnPlan, n: int, real: pd.DataFrame,
    caught: list[str], seed: int,
) -> _Sampling:
    """Sample, repair, reject and de-duplicate until n valid new rows or MAX_ROUNDS rounds."""
    space = record.space
    rules = pin_rules(record)
    real_keys = {_conditions_key(r, space): s for r, s in zip(real[space.names].to_dict("records"), real["status"], strict=True)}
    seen: set[tuple[str, ...]] = set()
    st = _Sampling(rows=[], sampled=0, rounds=0, rejected=0, reasons=Counter(), copies=0, copies_failed=0, duplicates=0)
    budget = max(50 * n, 5000)
    while len(st.rows) < n and st.rounds < MAX_ROUNDS and st.sampled < budget:
        need = n - len(st.rows)
        accept = (len(st.rows) + 1) / (st.sampled + 1) if st.sampled else 0.5
        batch = int(min(MAX_BATCH, budget - st.sampled, max(50, math.ceil(1.2 * need / max(accept, 0.02)))))
        with _quiet_and_seeded(seed + 1 + st.rounds, caught):
            try:
                raw = synth.sample(batch)
            except _library_errors() as err:
                raise AugmentationError(f"sampling failed: {err}") from err
        frame = raw[_TABLE] if isinstance(raw, dict) else raw
        st.rounds += 1
        st.sampled += len(frame)
        for raw_row in frame.to_dict("records"):
            row = _repair(raw_row, space, plan)
            problems = space.row_problems(row)
            bad_target = _target_problem(row[plan.target], space)
            pins = set() if problems else _pin_problems(row, rules)
            if problems or bad_target or pins:
                st.rejected += 1
                for column in {c or "row" for c, _ in problems} | ({plan.target} if bad_target else set()) | pins:
                    st.reasons[column] += 1
                continue
            key = _conditions_key(row, space)
            if key in real_keys:
                st.copies += 1
                st.copies_failed += real_keys[key] == "failed"
                continue
            if key in seen:
                st.duplicates += 1
                continue
            seen.add(key)
            st.rows.append(row)
            if len(st.rows) >= n:
                break
    return st


def _synthetic_record(rows: list[dict[str, Any]], record: ExperimentRecord, method: str) -> ExperimentRecord:
    """Validate the rows exactly as the record loader would, with synthetic provenance."""
    label = method.replace("_", "-")
    width = max(4, len(str(len(rows))))
    full = []
    for i, row in enumerate(rows, start=1):
        full.append({
            **{n: row[n] for n in record.space.names},
            record.target: round(float(row[record.target]), 6),
            "status": "ok",
            "experiment_id": f"syn-{label}-{i:0{width}d}",
            "shot": f"synthetic-{label}",
            "source": "synthetic",
            "predicted_mah_g": "",
        })
    return record_from_rows(full, record.space, source=f"synthetic rows ({method})")


# -- quality ------------------------------------------------------------------------------------
def _quality(real: pd.DataFrame, synthetic: pd.DataFrame, plan: ColumnPlan, caught: list[str]) -> tuple[float | None, float | None, float | None]:
    numbers = [*plan.modelled_numbers, *plan.modelled_levels, *plan.derived, plan.target]
    columns = {n: {"sdtype": "numerical"} for n in numbers} | {n: {"sdtype": "categorical"} for n in plan.modelled_categories}
    names = list(columns)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        from sdmetrics.reports import QualityReport

        report = QualityReport()
        report.generate(
            {_TABLE: real[names].reset_index(drop=True)},
            {_TABLE: synthetic[names].reset_index(drop=True)},
            {"tables": {_TABLE: {"columns": columns}}},
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


def _encode_for_distance(frame: pd.DataFrame, real: pd.DataFrame, space: DesignSpace, plan: ColumnPlan) -> np.ndarray:
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


def _nearest(a: np.ndarray, b: np.ndarray, n_columns: int, exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
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
def _utility(
    record: ExperimentRecord, plan: ColumnPlan, request: AugmentationInput, epochs: int | None,
    caught: list[str], progress: ProgressCallback | None,
) -> UtilityReport:
    from tools.modelling.capacity_model import fit_capacity_model
    from tools.modelling.encoder import MIN_TRAIN_ROWS

    ok = record.ok_runs
    rng = np.random.default_rng(request.seed)
    order = rng.permutation(len(ok))
    n_test = max(4, int(round(request.test_fraction * len(ok))))
    test, train_ok = ok.iloc[order[:n_test]], ok.iloc[order[n_test:]]
    real_train = ExperimentRecord(frame=pd.concat([train_ok, record.failed_runs], ignore_index=True), space=record.space)
    synth, fit_s, _ = _fit(request.method, plan, train_ok, epochs, request.seed, caught, progress, "utility-fit")
    if progress is not None:
        progress("utility-sample", None, None)
    n_rows = min(request.rows, UTILITY_MAX_ROWS)
    sampled = _sample_valid(synth, record, plan, n_rows, real_train.frame, caught, request.seed)
    notes: list[str] = []
    arms: list[UtilityArm] = []
    y_test = test[record.target].to_numpy(dtype=float)
    n_real = len(real_train.ok_runs)
    # (arm, training record, its ok rows from the input record, its rows from the augmentation)
    sets: list[tuple[str, ExperimentRecord, int, int]] = [("real", real_train, n_real, 0)]
    if sampled.rows:
        syn = _synthetic_record(sampled.rows, record, request.method)
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
        ss_tot = float(np.sum((y_test - y_test.mean()) ** 2))
        r2 = None if ss_tot == 0 else 1.0 - float(np.sum((y_test - pred) ** 2)) / ss_tot
        arms.append(UtilityArm(
            training=name, n_train=n_ok,
            origin_counts={"record": from_record, "augmentation": from_augmentation},
            model_source_counts=dict(model.metadata.source_counts),
            rmse=float(np.sqrt(np.mean((y_test - pred) ** 2))), r2=r2,
        ))
    return UtilityReport(
        model=(f"capacity model (tools/modelling/capacity_model.py): {UTILITY_MEMBERS}-member LightGBM ensemble, default "
               "hyper-parameters (DEFAULT_GBM_PARAMS), prediction = ensemble mean"),
        n_test=len(test), n_train_real=len(train_ok), synthetic_rows=len(sampled.rows),
        synthesizer_fit_seconds=fit_s, arms=arms, notes=notes,
    )


# -- the entry point -----------------------------------------------------------------------------
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
    import_s = _load_libraries(caught)
    synth, fit_s, fit_cpu = _fit(method, plan, ok, epochs, request.seed, caught, progress, "fit")

    if progress is not None:
        progress("sample", None, None)
    t0 = time.perf_counter()
    sampled = _sample_valid(synth, record, plan, request.rows, record.frame, caught, request.seed)
    if not sampled.rows:
        top = ", ".join(f"{k}: {v}" for k, v in sampled.reasons.most_common(5))
        raise AugmentationError(
            f"{method}: none of {sampled.sampled} sampled rows was valid and new "
            f"(rejected by the design-space checks: {sampled.rejected}{f' - {top}' if top else ''}; "
            f"copies of real runs: {sampled.copies}); try more epochs or another method"
        )
    synthetic = _synthetic_record(sampled.rows, record, method)
    sample_s = time.perf_counter() - t0
    if len(sampled.rows) < request.rows:
        notes.append(
            f"only {len(sampled.rows)} of {request.rows} rows: sampling stopped after {sampled.rounds} rounds "
            f"({sampled.sampled} rows drawn); the rest were rejected or copies"
        )

    if progress is not None:
        progress("check", None, None)
    t0 = time.perf_counter()
    shapes, pairs, score = _quality(ok, synthetic.frame, plan, caught)
    real_all = record.frame
    n_cols = len([p for p in space.parameters if p.name not in plan.held])
    real_x = _encode_for_distance(real_all, real_all, space, plan)
    syn_x = _encode_for_distance(synthetic.frame, real_all, space, plan)
    dist, nearest = _nearest(syn_x, real_x, n_cols)
    real_dist, _ = _nearest(real_x, real_x, n_cols, exclude_self=True) if len(real_x) > 1 else (np.array([]), None)
    failed = (real_all["status"] == "failed").to_numpy()
    check_s = time.perf_counter() - t0

    utility: UtilityReport | None = None
    utility_s: float | None = None
    if request.check_utility:
        t0 = time.perf_counter()
        utility = _utility(record, plan, request, epochs, caught, progress)
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


__all__ = [
    "DEFAULT_EPOCHS",
    "METHODS",
    "MIN_OK_ROWS",
    "AugmentationInput",
    "AugmentationReport",
    "AugmentationResult",
    "ColumnPlan",
    "UtilityArm",
    "UtilityReport",
    "augment_record",
    "check_augmentable",
    "plan_columns",
    "report_path_for",
    "write_augmentation",
]
