"""The experiment record: read, validate and write CSV per shared/spec/experiment-record.md.

Every cell is read as text and parsed column by column so that each problem can be reported
with its row, line and column. Failed runs are kept: they carry the boundary information.
Writes are atomic (tools.domain.fileio), so a crash never leaves a half-written record.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tools.domain.constraints import ConstraintSet
from tools.domain.design_space import CategoryParameter, DesignSpace, suggest
from tools.domain.errors import DesignSpaceError, RecordIssue, RecordValidationError, quoted
from tools.domain.fileio import atomic_write_text, escape_text_cells, read_csv_text
from tools.domain.record_columns import (
    DEFAULT_SHOT,
    DEFAULT_SOURCE,
    SOURCE_VALUES,
    STATUS_VALUES,
    columns_for,
)
from tools.domain.space_inference import infer_design_space


@dataclass(frozen=True)
class ExperimentRecord:
    """A validated experiment record: a frame in canonical column order and its design space."""

    frame: pd.DataFrame
    space: DesignSpace

    @property
    def target(self) -> str:
        """Name of the target column."""
        return self.space.target.name

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def ok_runs(self) -> pd.DataFrame:
        """Runs with status ok and a measured target."""
        f = self.frame
        return f[(f["status"] == "ok") & f[self.target].notna()]

    @property
    def failed_runs(self) -> pd.DataFrame:
        """Runs marked failed (with or without a measured target)."""
        return self.frame[self.frame["status"] == "failed"]

    def data_hash(self) -> str:
        """A stable hash of the record's content (used to reuse fitted models)."""
        buf = io.StringIO()
        self.frame.to_csv(buf, index=False, lineterminator="\n")
        return hashlib.sha256(buf.getvalue().encode()).hexdigest()


def active_mask(record: ExperimentRecord, name: str) -> np.ndarray:
    """Runs in which parameter `name` carries information: not pinned by a conditional (no coating -> coating_temp_c 0)."""
    frame = record.frame
    mask = np.ones(len(frame), dtype=bool)
    for cond in record.space.conditionals:
        if name in cond.then:
            hit = np.ones(len(frame), dtype=bool)
            for cat, value in cond.when.items():
                hit &= (frame[cat] == value).to_numpy()
            mask &= ~hit
    return mask


def runs_satisfying(record: ExperimentRecord, constraints: ConstraintSet) -> np.ndarray:
    """Mask of the record's runs that satisfy every constraint (fixed values, ranges, choices)."""
    if not constraints:
        return np.ones(len(record), dtype=bool)
    rows = record.frame[record.space.names].to_dict("records")
    return np.array([not constraints.violations(row, record.space) for row in rows], dtype=bool)


# -- reading ----------------------------------------------------------------------------
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def _parse_number(text: str) -> float | None:
    """Parse a cell as a float; None for empty, raises ValueError for garbage.

    Only plain decimal numbers are read (a decimal comma too): Python's float() would also take
    '7_50' as 750, 'inf', and digits of other scripts.
    """
    if text == "" or text.lower() in {"nan", "na", "n/a", "none", "null"}:
        return None
    number = text.replace(",", ".") if text.count(",") == 1 and "." not in text else text
    if not _NUMBER.fullmatch(number):
        raise ValueError(text)
    value = float(number)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _not_a_number(cell: str) -> str:
    """'... is not a number', with a hint for digit separators."""
    hint = " (write it without '_')" if "_" in cell else ""
    return f"{quoted(cell)} is not a number{hint}"


def _cell_problems(space: DesignSpace, out: dict[str, Any], i: int, bad_cells: set[tuple[int | None, str | None]]) -> list[RecordIssue]:
    """The cells of row `i` that break their own parameter, when a missing column rules out whole-row checks."""
    row = {name: out[name][i] for name in space.names if name in out}
    # a number a conditional may pin (coating none -> coating_temp_c 0) is judged with its whole row only
    undecided = {name for cond in space.conditionals if any(k not in row for k in cond.when) for name in cond.then}
    pinned = space.conditional_values(row)
    issues = []
    for name, value in row.items():
        if (i, name) in bad_cells or name in undecided or name in pinned or (isinstance(value, float) and math.isnan(value)):
            continue
        problem = space.value_problem(name, value)
        if problem:
            issues.append(RecordIssue(i, name, problem))
    return issues


def validate_frame(raw: pd.DataFrame, space: DesignSpace, source: str | None = None,
                   default_shot: str = DEFAULT_SHOT) -> ExperimentRecord:
    """Validate a text frame against the space and return the typed, canonical record.

    Raises RecordValidationError listing every problem (row, line, column, reason).
    """
    issues: list[RecordIssue] = []
    target = space.target.name
    expected = set(columns_for(space))
    required = [*space.names]
    present = list(raw.columns)

    missing = [c for c in [*required, target] if c not in present]
    if present and not expected & set(present):
        # not a record at all (another CSV, a config file): say so without quoting its first line
        example = ", ".join([*required[:3], "...", target])
        semicolons = len(present) == 1 and ";" in present[0] and expected & set(present[0].split(";"))
        hint = "it separates columns with ';': save it as comma-separated CSV" if semicolons else "is this an experiment record CSV?"
        raise RecordValidationError([RecordIssue(None, None, f"the header names none of the record's columns ({example}): {hint}")],
                                    source)
    for col in present:
        if col not in expected:
            # a typo most likely stands for one of the columns that are missing
            hint = suggest(col, missing) or suggest(col, expected)
            issues.append(RecordIssue(None, col, f"unknown column{hint}"))
    for col in required:
        if col not in present:
            issues.append(RecordIssue(None, col, "missing column"))
    if target not in present:
        issues.append(RecordIssue(None, target, "missing target column"))
    if raw.empty:
        raise RecordValidationError([*issues, RecordIssue(None, None, "the record has no rows")], source)
    # header and cell problems are reported together: cells of the columns present are still checked
    complete = not missing

    n = len(raw)
    out: dict[str, Any] = {}
    for p in space.parameters:
        if p.name not in present:
            continue
        cells = raw[p.name].tolist()
        if isinstance(p, CategoryParameter):
            out[p.name] = cells
            for i, cell in enumerate(cells):
                if cell == "":
                    issues.append(RecordIssue(i, p.name, "empty value"))
        else:
            values: list[float] = []
            for i, cell in enumerate(cells):
                try:
                    v = _parse_number(cell)
                except ValueError:
                    issues.append(RecordIssue(i, p.name, _not_a_number(cell)))
                    v = math.nan
                if v is None:
                    issues.append(RecordIssue(i, p.name, "empty value"))
                    v = math.nan
                values.append(v)
            out[p.name] = values

    # target and bookkeeping columns
    targets: list[float] = []
    for i, cell in enumerate(raw[target].tolist() if target in present else [""] * n):
        try:
            v = _parse_number(cell)
        except ValueError:
            issues.append(RecordIssue(i, target, _not_a_number(cell)))
            v = None
        targets.append(math.nan if v is None else v)
    out[target] = targets

    status = raw["status"].str.lower().tolist() if "status" in raw else [""] * n
    for i, s in enumerate(status):
        if s == "":
            status[i] = "ok" if not math.isnan(targets[i]) else "failed"
        elif s not in STATUS_VALUES:
            issues.append(RecordIssue(i, "status", f"{quoted(s)} is not one of {', '.join(STATUS_VALUES)}"))
    out["status"] = status

    ids = raw["experiment_id"].tolist() if "experiment_id" in raw else [""] * n
    out["experiment_id"] = ids
    out["shot"] = [s or default_shot for s in raw["shot"].tolist()] if "shot" in raw else [default_shot] * n
    sources = raw["source"].str.lower().tolist() if "source" in raw else [""] * n
    for i, s in enumerate(sources):
        if s == "":
            sources[i] = DEFAULT_SOURCE
        elif s not in SOURCE_VALUES:
            issues.append(RecordIssue(i, "source", f"{quoted(s)} is not one of {', '.join(SOURCE_VALUES)}"))
    out["source"] = sources
    preds: list[float] = []
    for i, cell in enumerate(raw["predicted_mah_g"].tolist() if "predicted_mah_g" in raw else [""] * n):
        try:
            v = _parse_number(cell)
        except ValueError:
            issues.append(RecordIssue(i, "predicted_mah_g", _not_a_number(cell)))
            v = None
        preds.append(math.nan if v is None else v)
    out["predicted_mah_g"] = preds

    # per-row checks that need whole rows
    bad_cells = {(iss.row, iss.column) for iss in issues}
    lo, hi = space.target.low, space.target.high
    for i in range(n):
        if not complete:
            issues += _cell_problems(space, out, i, bad_cells)
            continue
        row = {name: out[name][i] for name in space.names}
        if any((i, name) in bad_cells for name in space.names):
            continue
        for column, message in space.row_problems(row):
            issues.append(RecordIssue(i, column, message))
        t = targets[i]
        if not math.isnan(t):
            if (lo is not None and t < lo) or (hi is not None and t > hi):
                unit = f" {space.target.unit}" if space.target.unit else ""
                issues.append(RecordIssue(i, target, f"{t:g} is outside the plausible range {lo:g} to {hi:g}{unit} (a unit mistake?)"))
        elif status[i] == "ok":
            issues.append(RecordIssue(i, target, "empty, but the run is marked ok (mark it failed, or give the measurement)"))

    # experiment ids: generate the missing ones, refuse duplicates
    seen: dict[str, int] = {}
    for i, eid in enumerate(ids):
        if eid == "":
            continue
        if eid in seen:
            issues.append(RecordIssue(i, "experiment_id", f"duplicated experiment_id {quoted(eid)} (first at row {seen[eid] + 1})"))
        else:
            seen[eid] = i
    if issues:
        issues.sort(key=lambda x: (-1 if x.row is None else x.row, x.column or ""))
        raise RecordValidationError(issues, source)

    frame = pd.DataFrame(out)
    frame["experiment_id"] = _fill_ids(frame, space)
    for p in space.numbers:
        frame[p.name] = frame[p.name].astype(float)
    frame[target] = frame[target].astype(float)
    frame["predicted_mah_g"] = frame["predicted_mah_g"].astype(float)
    return ExperimentRecord(frame=frame[columns_for(space)].reset_index(drop=True), space=space)


def _fill_ids(frame: pd.DataFrame, space: DesignSpace) -> list[str]:
    """Keep given ids; give the others a stable id from the row's content and position."""
    taken = set(frame["experiment_id"]) - {""}
    result = []
    for i, row in enumerate(frame[space.names + ["shot"]].astype(str).itertuples(index=False)):
        eid = frame["experiment_id"].iat[i]
        if eid == "":
            digest = hashlib.sha1(("|".join(row) + f"#{i}").encode()).hexdigest()[:10]
            eid = f"run-{digest}"
            while eid in taken:
                digest = hashlib.sha1(digest.encode()).hexdigest()[:10]
                eid = f"run-{digest}"
        taken.add(eid)
        result.append(eid)
    return result


def read_record(
    path: str | Path,
    space: DesignSpace | None = None,
    target: str | None = None,
) -> ExperimentRecord:
    """Read and validate a record CSV against `space`, or a space inferred with `target`.

    With neither, the built-in NCM space is used.
    """
    raw = read_csv_text(path)
    if space is None:
        if target is not None:
            space = infer_design_space(raw, target, name=Path(path).stem)
        else:
            from tools.domain.design_space import load_design_space

            space = load_design_space("ncm")
    return validate_frame(raw, space, source=str(path))


def record_from_rows(rows: Iterable[Mapping[str, Any]], space: DesignSpace, source: str = "rows") -> ExperimentRecord:
    """Validate in-memory rows (dicts) exactly as a CSV file would be validated."""
    frame = pd.DataFrame(list(rows))
    text = frame.astype(object).where(frame.notna(), "").map(_cell_text)
    return validate_frame(text, space, source=source)


def _cell_text(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.10g}"
    return str(value)


# -- writing ----------------------------------------------------------------------------
def record_to_csv(record: ExperimentRecord) -> str:
    """The record as CSV text in canonical column order, numbers without float noise.

    Text cells that a spreadsheet would run as a formula (=, +, -, @ first) get a leading quote;
    reading the file back removes it (tools.domain.fileio.read_csv_text).
    """
    frame = escape_text_cells(record.frame[columns_for(record.space)])
    for col in frame.columns:
        if frame[col].dtype.kind == "f":
            frame[col] = frame[col].map(lambda v: "" if pd.isna(v) else f"{v:.10g}")
    return frame.to_csv(index=False, lineterminator="\n")


def write_record(record: ExperimentRecord, path: str | Path) -> None:
    """Write the record atomically as CSV."""
    atomic_write_text(path, record_to_csv(record))


def append_records(base: ExperimentRecord, new: ExperimentRecord) -> ExperimentRecord:
    """Concatenate two validated records of the same space; duplicated ids are refused."""
    if base.space.names != new.space.names or base.target != new.target:
        raise DesignSpaceError("cannot append: the two records have different design spaces")
    clash = sorted(set(base.frame["experiment_id"]) & set(new.frame["experiment_id"]))
    if clash:
        issues = [
            RecordIssue(int(i), "experiment_id", f"experiment_id {quoted(eid)} is already in the record")
            for i, eid in enumerate(new.frame["experiment_id"])
            if eid in clash
        ]
        raise RecordValidationError(issues, "results")
    frame = pd.concat([base.frame, new.frame], ignore_index=True)
    return ExperimentRecord(frame=frame, space=base.space)
