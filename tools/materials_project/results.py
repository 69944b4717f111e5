"""Answers from the Materials Project: materials, electrodes, structures, and where and when they came from."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import Field

from tools.materials_project.queries import (
    ElectrodeQuery,
    FrozenModel,
    StructureQuery,
    SummaryQuery,
)


class Provenance(FrozenModel):
    """Where and when an answer came from."""

    source: Literal["Materials Project"] = Field("Materials Project", description="database the answer comes from")
    endpoint: str = Field(description="API address that answered")
    database_version: str | None = Field(description="Materials Project database release, e.g. 2025.09.25; None if the server did not say")
    retrieved_at: datetime = Field(description="when the answer was retrieved from the server, UTC")
    from_cache: bool = Field(False, description="True when served from the local cache instead of the server")
    cache_file: str | None = Field(None, description="cache file holding this answer")

    def label(self) -> str:
        """A short human label, e.g. '(cached 2025-10-01, database version 2025.09.25)'."""
        version = self.database_version or "unknown"
        verb = "cached" if self.from_cache else "retrieved"
        return f"({verb} {self.retrieved_at:%Y-%m-%d}, database version {version})"


class MaterialSummary(FrozenModel):
    """One material from the summary endpoint (DFT values, GGA/GGA+U/r2SCAN mixing as the database reports)."""

    material_id: str = Field(description="Materials Project ID")
    formula_pretty: str | None = Field(None, description="reduced formula")
    chemsys: str | None = Field(None, description="dash-separated chemical system")
    crystal_system: str | None = Field(None, description="crystal system")
    spacegroup_symbol: str | None = Field(None, description="space-group symbol")
    spacegroup_number: int | None = Field(None, description="space-group number, 1-230")
    nsites: int | None = Field(None, description="number of sites in the stored cell")
    band_gap: float | None = Field(None, description="band gap, eV")
    is_gap_direct: bool | None = Field(None, description="whether the band gap is direct")
    is_metal: bool | None = Field(None, description="whether the material is a metal")
    energy_above_hull: float | None = Field(None, description="energy above the convex hull, eV/atom")
    formation_energy_per_atom: float | None = Field(None, description="formation energy, eV/atom")
    is_stable: bool | None = Field(None, description="whether the material is on the convex hull")
    theoretical: bool | None = Field(None, description="True when no experimental (ICSD) match is known")
    density: float | None = Field(None, description="density, g/cm³")
    volume: float | None = Field(None, description="volume of the stored cell, Å³")
    ordering: str | None = Field(None, description="magnetic ordering (NM, FM, FiM, AFM)")
    deprecated: bool | None = Field(None, description="whether the entry is deprecated")


class Electrode(FrozenModel):
    """One insertion electrode (a host framework and its working ion) from the electrodes endpoint."""

    battery_id: str = Field(description="electrode ID: lowest material ID of the host plus the working ion, e.g. mp-25411_Li")
    battery_formula: str | None = Field(None, description="formula with the working-ion range, e.g. Li0-1NiO2")
    working_ion: str | None = Field(None, description="working ion")
    framework_formula: str | None = Field(None, description="formula of the host framework without the working ion")
    formula_charge: str | None = Field(None, description="formula of the charged (ion-poor) material")
    formula_discharge: str | None = Field(None, description="formula of the discharged (ion-rich) material")
    id_charge: str | None = Field(None, description="material ID of the charged material")
    id_discharge: str | None = Field(None, description="material ID of the discharged material")
    average_voltage: float | None = Field(None, description="average voltage, V vs the working-ion metal")
    max_voltage_step: float | None = Field(None, description="largest difference between adjacent voltage steps, V")
    capacity_grav: float | None = Field(None, description="gravimetric capacity, mAh/g")
    capacity_vol: float | None = Field(None, description="volumetric capacity, mAh/cm³")
    energy_grav: float | None = Field(None, description="specific energy, Wh/kg")
    energy_vol: float | None = Field(None, description="energy density, Wh/L")
    stability_charge: float | None = Field(None, description="energy above hull of the charged material, eV/atom")
    stability_discharge: float | None = Field(None, description="energy above hull of the discharged material, eV/atom")
    max_delta_volume: float | None = Field(None, description="largest volume change over a voltage step, percent")
    num_steps: int | None = Field(None, description="number of distinct voltage steps")
    fracA_charge: float | None = Field(None, description="atomic fraction of the working ion when charged")
    fracA_discharge: float | None = Field(None, description="atomic fraction of the working ion when discharged")
    material_ids: list[str] = Field(default_factory=list, description="all material IDs matched to this host")


class SummaryResult(FrozenModel):
    """Materials matching a SummaryQuery."""

    query: SummaryQuery = Field(description="the query that was answered")
    materials: list[MaterialSummary] = Field(description="matching materials, in the server's order")
    limit_reached: bool = Field(description="True when `limit` materials came back: there may be more")
    provenance: Provenance
    warnings: list[str] = Field(default_factory=list, description="warnings raised by the client while answering")


class ElectrodeResult(FrozenModel):
    """Insertion electrodes matching an ElectrodeQuery."""

    query: ElectrodeQuery = Field(description="the query that was answered")
    electrodes: list[Electrode] = Field(description="matching electrodes, in the server's order")
    limit_reached: bool = Field(description="True when `limit` electrodes came back: there may be more")
    provenance: Provenance
    warnings: list[str] = Field(default_factory=list, description="warnings raised by the client while answering")


class StructureResult(FrozenModel):
    """The structure of one material as CIF text."""

    query: StructureQuery = Field(description="the query that was answered")
    material_id: str = Field(description="Materials Project ID")
    formula_pretty: str | None = Field(None, description="reduced formula")
    nsites: int = Field(description="number of sites in the CIF cell")
    cif: str = Field(description="CIF text written by pymatgen's CifWriter")
    provenance: Provenance
    warnings: list[str] = Field(default_factory=list, description="warnings raised by the client while answering")


SUMMARY_FIELDS = [
    "material_id", "formula_pretty", "chemsys", "symmetry", "nsites", "band_gap", "is_gap_direct", "is_metal",
    "energy_above_hull", "formation_energy_per_atom", "is_stable", "theoretical", "density", "volume",
    "ordering", "deprecated",
]
ELECTRODE_FIELDS = [
    "battery_formula", "working_ion", "framework_formula", "formula_charge", "formula_discharge", "id_charge",
    "id_discharge", "material_ids", "average_voltage", "max_voltage_step", "capacity_grav", "capacity_vol",
    "energy_grav", "energy_vol", "stability_charge", "stability_discharge", "max_delta_volume", "num_steps",
    "fracA_charge", "fracA_discharge",
]


def summary_from_doc(doc: dict[str, Any]) -> MaterialSummary:
    """A MaterialSummary from a summary document (symmetry flattened)."""
    symmetry = doc.get("symmetry") or {}
    if not isinstance(symmetry, dict):
        raise TypeError("symmetry is not an object")
    fields = {k: doc.get(k) for k in SUMMARY_FIELDS if k != "symmetry"}
    fields["material_id"] = str(doc["material_id"])
    fields.update(
        crystal_system=symmetry.get("crystal_system"),
        spacegroup_symbol=symmetry.get("symbol"),
        spacegroup_number=symmetry.get("number"),
    )
    return MaterialSummary.model_validate(fields)


def _id_sort_key(material_id: str) -> tuple[str, int, str]:
    prefix, _, number = material_id.partition("-")
    return (prefix, int(number), "") if number.isdigit() else (prefix, 1 << 62, number)


def electrode_from_doc(doc: dict[str, Any]) -> Electrode:
    """An Electrode from an insertion-electrode document (its ID derived when the document has none)."""
    fields = {k: doc.get(k) for k in ELECTRODE_FIELDS}
    ids = [str(i) for i in (doc.get("material_ids") or [])]
    fields["material_ids"] = ids
    for key in ("id_charge", "id_discharge", "working_ion"):
        if fields[key] is not None:
            fields[key] = str(fields[key])
    battery_id = doc.get("battery_id")
    if battery_id is None:
        # Newer documents no longer store it; emmet derives it the same way (lowest mp- ID + ion).
        hosts = sorted((i for i in ids if not i.startswith("mvc")), key=_id_sort_key)
        if not hosts or not fields["working_ion"]:
            raise KeyError("battery_id (and no material_ids/working_ion to derive it from)")
        battery_id = f"{hosts[0]}_{fields['working_ion']}"
    fields["battery_id"] = str(battery_id)
    return Electrode.model_validate(fields)


ResultT = TypeVar("ResultT", SummaryResult, ElectrodeResult, StructureResult)
"""Any answer of the client (what the cache stores and returns)."""
