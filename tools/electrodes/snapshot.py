"""Electrode searches answered from the shipped Battery Explorer table, for when no Materials Project key is set.

The filters are those of a Materials Project insertion-electrode query (working ion, formula,
framework elements, battery ids, voltage, capacity and energy ranges, stability, voltage step,
volume change), applied to the copy in knowledge/electrodes; the answer says it is a snapshot
and when it was copied.
"""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from tools.electrodes.constants import LICENCE_NOTE, SNAPSHOT_DATE, SNAPSHOT_LABEL, shipped_table
from tools.materials_project.queries import ElectrodeQuery
from tools.materials_project.results import Electrode

if TYPE_CHECKING:
    import pandas as pd

# query field -> (table column, lower bound?)
_RANGES: dict[str, tuple[str, bool]] = {
    "average_voltage_min": ("Average Voltage", True), "average_voltage_max": ("Average Voltage", False),
    "capacity_grav_min": ("Gravimetric Capacity", True), "capacity_grav_max": ("Gravimetric Capacity", False),
    "capacity_vol_min": ("Volumetric Capacity", True), "capacity_vol_max": ("Volumetric Capacity", False),
    "energy_grav_min": ("Gravimetric Energy", True), "energy_grav_max": ("Gravimetric Energy", False),
    "energy_vol_min": ("Volumetric Energy", True), "energy_vol_max": ("Volumetric Energy", False),
    "stability_charge_max": ("Stability Charge", False), "stability_discharge_max": ("Stability Discharge", False),
    "max_voltage_step_max": ("Max Voltage Step", False), "max_delta_volume_max": ("Max Delta Volume", False),
}
_SORT_COLUMNS = {"average_voltage": "Average Voltage", "capacity_grav": "Gravimetric Capacity", "capacity_vol": "Volumetric Capacity",
                 "energy_grav": "Gravimetric Energy", "energy_vol": "Volumetric Energy", "stability_discharge": "Stability Discharge"}
_ELEMENT_RE = re.compile(r"[A-Z][a-z]?")


class SnapshotResult(BaseModel):
    """Electrodes of the shipped snapshot matching a Materials Project electrode query."""

    model_config = ConfigDict(extra="forbid")

    query: ElectrodeQuery = Field(description="the query that was answered")
    electrodes: list[Electrode] = Field(description="matching electrodes, in the table's order unless the query sorts")
    total_matches: int = Field(ge=0, description="electrodes of the snapshot that match, before the limit")
    limit_reached: bool = Field(description="True when more electrodes match than the limit lets through")
    label: str = Field(description="what the answer comes from, with the date of the copy")
    copied_on: str = Field(description="date the snapshot was copied, YYYY-MM-DD")
    source: str = Field(description="path of the snapshot file")
    licence: str = Field(description="provenance and licence of the data")


def _framework(formula: str, ion: str) -> set[str]:
    return set(_ELEMENT_RE.findall(formula)) - {ion}


def _formula_filter(wanted: str, charged: list[str], discharged: list[str]) -> list[bool]:
    """Rows whose charged or discharged material has the formula `wanted` (reduced; * is a wildcard)."""
    if "*" in wanted:
        return [fnmatch.fnmatchcase(c, wanted) or fnmatch.fnmatchcase(d, wanted) for c, d in zip(charged, discharged, strict=True)]
    from tools.electrodes.parsing import parse_formula, reduced_formula

    target = reduced_formula(parse_formula(wanted, "formula"))
    return [target in {reduced_formula(parse_formula(c)), reduced_formula(parse_formula(d))} for c, d in zip(charged, discharged, strict=True)]


def _electrode(row: pd.Series) -> Electrode:
    def number(column: str) -> Any:
        return float(row[column])

    ion = str(row["Working Ion"])
    framework = sorted(_framework(str(row["Formula Discharge"]), ion))
    return Electrode(
        battery_id=str(row["Battery ID"]), battery_formula=str(row["Battery Formula"]), working_ion=ion,
        framework_formula="".join(framework) or None, id_charge=None, id_discharge=None, formula_charge=str(row["Formula Charge"]),
        formula_discharge=str(row["Formula Discharge"]), average_voltage=number("Average Voltage"),
        max_voltage_step=number("Max Voltage Step"), capacity_grav=number("Gravimetric Capacity"),
        capacity_vol=number("Volumetric Capacity"), energy_grav=number("Gravimetric Energy"),
        energy_vol=number("Volumetric Energy"), stability_charge=number("Stability Charge"),
        stability_discharge=number("Stability Discharge"), max_delta_volume=number("Max Delta Volume"),
        num_steps=int(float(row["Steps"])), fracA_charge=number("Atomic Fraction Charge"),
        fracA_discharge=number("Atomic Fraction Discharge"),
    )


def search_snapshot(query: ElectrodeQuery) -> SnapshotResult:
    """The electrodes of the shipped snapshot that satisfy `query` (the same filters the Materials Project applies)."""
    import pandas as pd

    path = shipped_table()
    table = pd.read_csv(path)
    keep = table["Working Ion"] == query.working_ion
    for name, (column, lower) in _RANGES.items():
        bound = getattr(query, name)
        if bound is not None:
            keep &= table[column] >= bound if lower else table[column] <= bound
    if query.battery_ids:
        keep &= table["Battery ID"].isin(query.battery_ids)
    ion = query.working_ion
    if query.elements or query.exclude_elements:
        frameworks = table["Formula Discharge"].map(lambda f: _framework(str(f), ion))
        if query.elements:
            keep &= frameworks.map(lambda found: set(query.elements or []) <= found)
        if query.exclude_elements:
            keep &= frameworks.map(lambda found: not set(query.exclude_elements or []) & found)
    matches = table[keep]
    if query.formula:
        matches = matches[_formula_filter(query.formula, [str(c) for c in matches["Formula Charge"]],
                                          [str(d) for d in matches["Formula Discharge"]])]
    if query.sort_by:
        column = _SORT_COLUMNS[query.sort_by.lstrip("-")]
        matches = matches.sort_values(column, ascending=not query.sort_by.startswith("-"), kind="stable")
    shown = matches.head(query.limit)
    return SnapshotResult(
        query=query, electrodes=[_electrode(row) for _, row in shown.iterrows()], total_matches=len(matches),
        limit_reached=len(matches) > query.limit, label=SNAPSHOT_LABEL, copied_on=SNAPSHOT_DATE, source=str(path),
        licence=LICENCE_NOTE,
    )
