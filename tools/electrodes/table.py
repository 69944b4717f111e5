"""Tables of electrodes to predict: read a user's CSV, add the predictions, write it atomically.

The input needs the columns Working Ion, Formula Charge and Formula Discharge (the Battery
Explorer's names); every other column is kept. A bad cell stops everything with one line
naming its row and column, before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tools.domain.errors import ElectrodeError, quoted
from tools.electrodes.data import COL_CHARGE, COL_DISCHARGE, COL_ION, INPUT_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

    from tools.electrodes.parsing import ParsedElectrode
    from tools.electrodes.schemas import ElectrodeCandidate, ElectrodePrediction

OUTPUT_COLUMNS: tuple[str, ...] = (
    "average_voltage_v", "average_voltage_v_std",
    "gravimetric_capacity_mah_g", "gravimetric_capacity_mah_g_std",
    "volumetric_capacity_mah_cm3", "volumetric_capacity_mah_cm3_std",
    "gravimetric_energy_wh_kg", "nearest_known", "in_domain",
)


def read_candidates_table(path: str | Path) -> tuple[pd.DataFrame, list[ElectrodeCandidate], list[ParsedElectrode]]:
    """The table, its candidates and their parsed electrodes; DataFileError or ElectrodeError (row and column) otherwise."""
    from tools.domain.fileio import read_csv_text
    from tools.electrodes.data import parse_rows, require_columns
    from tools.electrodes.schemas import ElectrodeCandidate

    p = Path(path)
    frame = read_csv_text(p)
    require_columns(frame, INPUT_COLUMNS, p)
    clash = [c for c in OUTPUT_COLUMNS if c in frame.columns]
    if clash:
        raise ElectrodeError(f"{p}: column {quoted(clash[0])} is already in the table; rename or remove it (the predictions are written there)")
    if frame.empty:
        raise ElectrodeError(f"{p}: the table has no rows")
    parsed = parse_rows(frame, p)
    candidates = [ElectrodeCandidate(working_ion=str(i).strip(), charged_formula=str(c).strip(), discharged_formula=str(d).strip())
                  for i, c, d in zip(frame[COL_ION], frame[COL_CHARGE], frame[COL_DISCHARGE], strict=True)]
    return frame, candidates, parsed


def with_predictions(frame: pd.DataFrame, predictions: Sequence[ElectrodePrediction]) -> pd.DataFrame:
    """The input table with the prediction columns added (numbers rounded to what they mean)."""
    out = frame.copy()
    for name, digits in (("average_voltage_v", 4), ("average_voltage_v_std", 4), ("gravimetric_capacity_mah_g", 4),
                         ("gravimetric_capacity_mah_g_std", 4), ("volumetric_capacity_mah_cm3", 2),
                         ("volumetric_capacity_mah_cm3_std", 2), ("gravimetric_energy_wh_kg", 2)):
        out[name] = [round(getattr(p, name), digits) for p in predictions]
    out["nearest_known"] = [p.nearest_known.describe() for p in predictions]
    out["in_domain"] = [p.in_domain for p in predictions]
    return out


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write the table as CSV, atomically, text cells escaped for spreadsheets."""
    from tools.domain.fileio import atomic_write_text, escape_text_cells

    atomic_write_text(path, str(escape_text_cells(frame, _text_columns(frame)).to_csv(index=False)))
    return Path(path)


def _text_columns(frame: pd.DataFrame) -> list[str]:
    """Columns holding text: a column read as text whose every cell is a number (say -1.5) stays a number."""

    def number(value: object) -> bool:
        try:
            float(str(value))
        except ValueError:
            return str(value) == ""
        return True

    return [c for c in frame.columns if frame[c].dtype == object and not all(number(v) for v in frame[c])]
