"""The training table: the Battery Explorer export (shipped) or a user's CSV in the same columns, parsed and checked.

A user's file is read through tools.domain.fileio (a regular file under the size limit, any
newline convention); every problem is one line naming the row and the column.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tools.domain.errors import ElectrodeError, quoted
from tools.electrodes.constants import shipped_table
from tools.electrodes.parsing import CHARGED, DISCHARGED, ION

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from tools.electrodes.parsing import ParsedElectrode

COL_ID = "Battery ID"
COL_ION = "Working Ion"
COL_CHARGE = "Formula Charge"
COL_DISCHARGE = "Formula Discharge"
COL_VOLTAGE = "Average Voltage"
COL_GRAV = "Gravimetric Capacity"
COL_VOL = "Volumetric Capacity"
INPUT_COLUMNS: tuple[str, ...] = (COL_ION, COL_CHARGE, COL_DISCHARGE)
"""The columns that name an electrode (a table to predict needs these)."""
TARGET_COLUMNS: tuple[str, ...] = (COL_VOLTAGE, COL_GRAV, COL_VOL)
"""The published values a training table needs besides INPUT_COLUMNS."""
COLUMN_OF_FIELD = {ION: COL_ION, CHARGED: COL_CHARGE, DISCHARGED: COL_DISCHARGE}


def where(row: int, columns: tuple[str, ...] | list[str]) -> str:
    """'row 3 (line 4), column 'Formula Discharge'' for zero-based data row `row`."""
    names = " and ".join(quoted(c) for c in columns)
    return f"row {row + 1} (line {row + 2}), column{'s' if len(columns) > 1 else ''} {names}"


@dataclass(frozen=True)
class ElectrodeDataset:
    """The parsed training table; arrays in the order of `frame`."""

    frame: pd.DataFrame
    electrodes: list[ParsedElectrode]
    voltage_v: np.ndarray
    """Average voltage vs the working-ion metal, V."""
    gravimetric_mah_g: np.ndarray
    """Published gravimetric capacity, mAh/g."""
    volumetric_mah_cm3: np.ndarray
    """Published volumetric capacity, mAh/cm3."""
    hosts: np.ndarray
    """Reduced host formula of every row: the CV groups."""
    battery_ids: list[str]
    sha256: str
    """SHA-256 of the CSV's bytes (a subset's is derived from it): the cache key."""
    source: str
    """'the shipped Battery Explorer snapshot' or the path of the CSV."""

    def __len__(self) -> int:
        return len(self.electrodes)

    @property
    def density_g_cm3(self) -> np.ndarray:
        """Density of the discharged structure, g/cm3: volumetric over gravimetric capacity."""
        return self.volumetric_mah_cm3 / self.gravimetric_mah_g

    @property
    def ions(self) -> np.ndarray:
        """Working ion of every row."""
        import numpy as np

        return np.array([e.working_ion for e in self.electrodes])

    def subset(self, idx: np.ndarray) -> ElectrodeDataset:
        """Rows `idx` as a dataset of their own (its hash derived from this one's and the rows)."""
        import numpy as np

        idx = np.asarray(idx)
        digest = hashlib.sha256(self.sha256.encode())
        digest.update(np.asarray(idx, dtype=np.int64).tobytes())
        return ElectrodeDataset(
            frame=self.frame.iloc[idx].reset_index(drop=True),
            electrodes=[self.electrodes[i] for i in idx],
            voltage_v=self.voltage_v[idx],
            gravimetric_mah_g=self.gravimetric_mah_g[idx],
            volumetric_mah_cm3=self.volumetric_mah_cm3[idx],
            hosts=self.hosts[idx],
            battery_ids=[self.battery_ids[i] for i in idx],
            sha256=digest.hexdigest(),
            source=f"{self.source} ({len(idx)} rows)",
        )


def table_bytes(path: str | Path | None) -> tuple[bytes, Path, str]:
    """The bytes of the training CSV (the shipped table when `path` is None), its path and a label for it."""
    from tools.domain.fileio import read_user_bytes

    if path is None:
        shipped = shipped_table()
        return shipped.read_bytes(), shipped, "the shipped Battery Explorer snapshot"
    return read_user_bytes(path, what="a CSV file"), Path(path), str(path)


def sha256_of(data: bytes) -> str:
    """SHA-256 hex digest of bytes."""
    return hashlib.sha256(data).hexdigest()


def require_columns(frame: pd.DataFrame, columns: tuple[str, ...], path: Path) -> None:
    """ElectrodeError naming the first missing column (and the columns found)."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found = ", ".join(quoted(c) for c in frame.columns[:12])
        raise ElectrodeError(f"{path}: column {quoted(missing[0])} is missing (the table needs {', '.join(columns)}; found {found})")


def parse_rows(frame: pd.DataFrame, path: Path) -> list[ParsedElectrode]:
    """Every row's electrode; ElectrodeError naming the first bad row and its column."""
    from tools.electrodes.parsing import parse_electrode

    electrodes = []
    for i, (ion, charged, discharged) in enumerate(zip(frame[COL_ION], frame[COL_CHARGE], frame[COL_DISCHARGE], strict=True)):
        try:
            electrodes.append(parse_electrode(str(charged), str(discharged), str(ion)))
        except ElectrodeError as err:
            columns = tuple(COLUMN_OF_FIELD[f] for f in err.fields) or INPUT_COLUMNS
            raise ElectrodeError(f"{path}: {where(i, columns)}: {err}", err.fields) from err
    return electrodes


def _numbers(frame: pd.DataFrame, column: str, path: Path, positive: bool) -> np.ndarray:
    import numpy as np

    values = np.empty(len(frame))
    for i, text in enumerate(frame[column]):
        try:
            value = float(text)
        except ValueError as err:
            raise ElectrodeError(f"{path}: {where(i, [column])}: {quoted(str(text))} is not a number") from err
        if not np.isfinite(value) or (positive and value <= 0):
            need = "a positive number" if positive else "a finite number"
            raise ElectrodeError(f"{path}: {where(i, [column])}: {quoted(str(text))} is not {need}")
        values[i] = value
    return values


def load_dataset(path: str | Path | None = None) -> ElectrodeDataset:
    """The training table (default: the shipped Battery Explorer snapshot), parsed and checked.

    Needs the columns Working Ion, Formula Charge, Formula Discharge, Average Voltage (V),
    Gravimetric Capacity (mAh/g) and Volumetric Capacity (mAh/cm3); Battery ID is optional.
    DataFileError for a file that is not a CSV, ElectrodeError naming row and column otherwise.
    """
    import numpy as np

    from tools.domain.fileio import read_csv_bytes

    raw, where_from, label = table_bytes(path)
    frame = read_csv_bytes(raw, where_from)  # the bytes that are hashed below, read once
    require_columns(frame, INPUT_COLUMNS + TARGET_COLUMNS, where_from)
    if frame.empty:
        raise ElectrodeError(f"{where_from}: the table has no rows")
    electrodes = parse_rows(frame, where_from)
    ids = [str(v) for v in frame[COL_ID]] if COL_ID in frame.columns else [f"row {i + 1}" for i in range(len(frame))]
    return ElectrodeDataset(
        frame=frame,
        electrodes=electrodes,
        voltage_v=_numbers(frame, COL_VOLTAGE, where_from, positive=False),
        gravimetric_mah_g=_numbers(frame, COL_GRAV, where_from, positive=True),
        volumetric_mah_cm3=_numbers(frame, COL_VOL, where_from, positive=True),
        hosts=np.array([e.host_formula for e in electrodes]),
        battery_ids=ids,
        sha256=sha256_of(raw),
        source=label,
    )
