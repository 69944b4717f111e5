"""Record new results: the one read-modify-write of a record file and its copy in the store.

`matassist record` and the assistant's `record_results` both call `record_new_results`. Under a
lock on the record file (a second recorder waits its turn), it reads the record, validates the
results against the record's design space, appends to the store what the store lacks, and then
writes the file atomically. The store is written first: if the process dies between the two,
the retry finds the results already in the store with the same values, adds nothing there,
and writes the file, so the two agree again. Results whose experiment_id the store holds with
other values are refused, and nothing is written.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.domain.design_space import DesignSpace
from tools.domain.errors import DataFileError, StoreError
from tools.domain.record import (
    ExperimentRecord,
    append_records,
    read_record,
    validate_frame,
    write_record,
)

LOCK_TIMEOUT_S = 120.0
"""How long a recorder waits for another one to finish with the same record, seconds."""


@dataclass(frozen=True)
class RecordingOutcome:
    """What recording new results did to the record file and the store."""

    record: ExperimentRecord
    """The record with the new results appended: what the file now holds."""
    added: ExperimentRecord
    """The new results, validated against the record's design space."""
    store_record: str | None
    """Name of the record in the store (the file's stem), or None when the store was left alone."""
    stored: int | None
    """Runs appended to the store by this call (the whole record the first time), None without a store."""
    reconciled: int
    """New runs the store already held from an earlier attempt that died before writing the file."""
    shot_note: str
    """Set when the results had no shot column and were labelled with the next shot."""


def lock_path(record_path: str | Path) -> Path:
    """The lock file guarding a record: beside the file a symbolic link points to, hidden."""
    real = Path(os.path.realpath(record_path))
    return real.with_name(f".{real.name}.lock")


def record_new_results(
    record_path: str | Path,
    results_path: str | Path,
    *,
    space: DesignSpace | None = None,
    target: str | None = None,
    store_url: str | None = None,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
) -> RecordingOutcome:
    """Append the results in `results_path` to the record at `record_path` and to the store at `store_url`.

    The record is read with `space` (or a space inferred with `target`, or the built-in one).
    Results without a shot column are labelled with the record's next shot. Invalid results,
    experiment_ids already in the record, or a disagreement with the store raise and write nothing.
    """
    from filelock import FileLock, Timeout

    path = Path(record_path)
    if not path.exists():
        read_record(path, space=space, target=target)  # the reader's own "no such file" message
    lock = FileLock(str(lock_path(path)), timeout=lock_timeout_s)
    try:
        lock.acquire()
    except Timeout as err:
        raise DataFileError(
            f"{path}: another recorder has held its lock ({lock_path(path).name}) for {lock_timeout_s:g} s; "
            "try again when it has finished"
        ) from err
    except OSError as err:  # e.g. a folder the user may read but not write
        raise DataFileError(f"{path}: cannot take the record's lock {lock_path(path)} ({err.strerror or err})") from err
    try:
        return _record_locked(path, Path(results_path), space, target, store_url)
    finally:
        lock.release()


def _record_locked(
    path: Path, results_path: Path, space: DesignSpace | None, target: str | None, store_url: str | None
) -> RecordingOutcome:
    from tools.campaign.shots import next_shot_label
    from tools.domain.fileio import read_csv_text

    base = read_record(path, space=space, target=target)
    raw = read_csv_text(results_path)
    shot_note = ""
    label = next_shot_label(base)
    if "shot" not in raw.columns:
        shot_note = f"the results have no shot column: recorded as {label}"
    new = validate_frame(raw, base.space, source=str(results_path), default_shot=label)
    combined = append_records(base, new)
    stored: int | None = None
    reconciled = 0
    name = path.stem
    if store_url is not None:
        stored, reconciled = _sync_store(store_url, name, combined, new)
    _before_file_write()
    write_record(combined, path)
    return RecordingOutcome(record=combined, added=new, store_record=None if store_url is None else name,
                            stored=stored, reconciled=reconciled, shot_note=shot_note)


def _sync_store(url: str, name: str, combined: ExperimentRecord, new: ExperimentRecord) -> tuple[int, int]:
    """Append to store record `name` the runs of `combined` it lacks; (appended, new runs it already held)."""
    from tools.data.store import RecordStore

    store = RecordStore(url)
    try:
        held = store.payloads(name)
        new_rows = new.frame.to_dict("records")
        for row in new_rows:
            eid = str(row["experiment_id"])
            if eid in held and _comparable(held[eid]) != _comparable(row):
                raise StoreError(
                    f"nothing recorded: experiment_id '{eid}' is already in store record '{name}' with other "
                    "values; give these results new experiment_ids, or export the stored record to see it "
                    f"(matassist dataset export {name} --out FILE)"
                )
        reconciled = sum(str(row["experiment_id"]) in held for row in new_rows)
        missing = ~combined.frame["experiment_id"].astype(str).isin(list(held))
        # the store mirrors the file: the first time, the whole record goes in (one transaction)
        lacking = ExperimentRecord(frame=combined.frame[missing].reset_index(drop=True), space=combined.space)
        stored = store.append(name, lacking) if len(lacking) else 0
    finally:
        store.dispose()
    return stored, reconciled


def _comparable(row: Mapping[str, Any]) -> dict[str, str]:
    """A run as the CSV file would show it, so a stored run and a re-read one compare equal."""
    out: dict[str, str] = {}
    for key, value in row.items():
        if hasattr(value, "item"):
            value = value.item()
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out[key] = ""
        elif isinstance(value, float | int) and not isinstance(value, bool):
            out[key] = f"{float(value):.10g}"
        else:
            out[key] = str(value)
    return out


def _before_file_write() -> None:
    """Called between the store's commit and the file write; tests replace it to kill the process there."""
