"""Fitting an SDV synthesizer on the ok runs and sampling valid, new rows from it.

sdv and torch are imported inside functions (slow imports, see tests/test_imports.py). Fitting
runs on the CPU with one torch thread and joblib's sequential backend (see augment.py).
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tools.augmentation.columns import (
    conditions_key,
    modelled_columns,
    pin_problems,
    pin_rules,
    repair_row,
    target_problem,
)
from tools.augmentation.models import METHODS, ColumnPlan, ProgressCallback
from tools.domain.design_space import format_value
from tools.domain.errors import AugmentationError
from tools.domain.record import ExperimentRecord, record_from_rows

SDV_TABLE = "runs"
MAX_ROUNDS = 20
MAX_BATCH = 20_000


def _training_frame(ok: pd.DataFrame, plan: ColumnPlan) -> pd.DataFrame:
    """The ok runs' modelled columns as the synthesizer is given them (levels and categories as text)."""
    frame = ok[modelled_columns(plan)].reset_index(drop=True).copy()
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
    columns = {name: {"sdtype": "categorical" if name in categorical else "numerical"} for name in modelled_columns(plan)}
    return Metadata.load_from_dict({"METADATA_SPEC_VERSION": "V1", "tables": {SDV_TABLE: {"columns": columns}}})


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


def load_libraries(caught: list[str]) -> float:
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


def fit_synthesizer(
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
            synth.fit({SDV_TABLE: _training_frame(ok, plan)})
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


@dataclass
class Sampling:
    """The valid new rows of a sampling run and what was drawn, rejected and dropped on the way."""

    rows: list[dict[str, Any]]
    sampled: int
    rounds: int
    rejected: int
    reasons: Counter[str]
    copies: int
    copies_failed: int
    duplicates: int


def sample_valid(
    synth: Any, record: ExperimentRecord, plan: ColumnPlan, n: int, real: pd.DataFrame,
    caught: list[str], seed: int,
) -> Sampling:
    """Sample, repair, reject and de-duplicate until n valid new rows or MAX_ROUNDS rounds."""
    space = record.space
    rules = pin_rules(record)
    real_keys = {conditions_key(r, space): s for r, s in zip(real[space.names].to_dict("records"), real["status"], strict=True)}
    seen: set[tuple[str, ...]] = set()
    st = Sampling(rows=[], sampled=0, rounds=0, rejected=0, reasons=Counter(), copies=0, copies_failed=0, duplicates=0)
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
        frame = raw[SDV_TABLE] if isinstance(raw, dict) else raw
        st.rounds += 1
        st.sampled += len(frame)
        for raw_row in frame.to_dict("records"):
            row = repair_row(raw_row, space, plan)
            problems = space.row_problems(row)
            bad_target = target_problem(row[plan.target], space)
            pins = set() if problems else pin_problems(row, rules)
            if problems or bad_target or pins:
                st.rejected += 1
                for column in {c or "row" for c, _ in problems} | ({plan.target} if bad_target else set()) | pins:
                    st.reasons[column] += 1
                continue
            key = conditions_key(row, space)
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


def synthetic_record(rows: list[dict[str, Any]], record: ExperimentRecord, method: str) -> ExperimentRecord:
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
