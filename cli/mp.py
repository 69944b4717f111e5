"""`matassist mp ...`: Materials Project summaries, insertion electrodes and structures (CIF).

Every answer is cached under <data dir>/cache/materials_project and labelled with its retrieval
date and database version, so a repeated question is instant and works offline (--offline).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from assistant.tools.materials_project import make_mp_client
from cli.common import JsonOpt, emit_json, err, guarded, out, settings
from tools.materials_project.client import (
    DEFAULT_ENDPOINT,
    ElectrodeQuery,
    ElectrodeResult,
    MaterialsProjectClient,
    Provenance,
    StructureQuery,
    SummaryQuery,
    SummaryResult,
    build_query,
)

mp_app = typer.Typer(
    help="Materials Project look-ups (key: MP_API_KEY); answers are cached for offline use.",
    no_args_is_help=True,
)

EndpointOpt = Annotated[str, typer.Option("--endpoint", help="API address (an MP-compatible server)")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", min=0.1, help="seconds to wait for each answer")]
RetriesOpt = Annotated[int, typer.Option("--retries", min=0, max=5, help="retries on HTTP 429/5xx, with backoff")]
RefreshOpt = Annotated[bool, typer.Option("--refresh", help="ask the server again even if the answer is cached")]
OfflineOpt = Annotated[bool, typer.Option("--offline", help="answer from the cache only; never contact the server")]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, max=500, help="maximum number of rows")]


def register(app: typer.Typer) -> None:
    """Add the `mp` command group to the CLI."""
    app.add_typer(mp_app, name="mp")


def cache_folder() -> Path:
    """Where Materials Project answers are cached."""
    return settings().data_dir / "cache" / "materials_project"


def make_client(endpoint: str = DEFAULT_ENDPOINT, timeout_s: float = 20.0, max_retries: int = 2) -> MaterialsProjectClient:
    """A client with the key from argument/MP_API_KEY/pymatgen config and the data-dir cache."""
    return make_mp_client(settings(), endpoint=endpoint, timeout_s=timeout_s, max_retries=max_retries)


def _elements(text: str | None) -> list[str] | None:
    return [e.strip() for e in text.split(",") if e.strip()] if text else None


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def _footer(provenance: Provenance, count: int, noun: str, limit_reached: bool, notes: list[str]) -> None:
    out.print(f"{count} {noun}{'' if count == 1 else 's'} from the Materials Project {provenance.label()}")
    if limit_reached:
        out.print("[yellow]showing the first --limit rows; there may be more (raise --limit or narrow the query)[/]")
    for note in notes:
        err.print(f"[yellow]note:[/] {note}")


def print_summary(result: SummaryResult) -> None:
    """Materials as a table, then where the answer came from."""
    table = Table(title="Materials Project summary (DFT)")
    columns = [
        ("material", "left"), ("formula", "left"), ("crystal system", "left"), ("space group", "left"),
        ("band gap eV", "right"), ("E above hull eV/atom", "right"), ("formation E eV/atom", "right"),
        ("density g/cm³", "right"), ("stable", "left"), ("theoretical", "left"),
    ]
    for name, justify in columns:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for m in result.materials:
        table.add_row(
            m.material_id, m.formula_pretty or "", m.crystal_system or "", m.spacegroup_symbol or "",
            _fmt(m.band_gap), _fmt(m.energy_above_hull), _fmt(m.formation_energy_per_atom), _fmt(m.density),
            _fmt(m.is_stable), _fmt(m.theoretical),
        )
    if result.materials:
        out.print(table)
    else:
        out.print("no material matches this query")
    _footer(result.provenance, len(result.materials), "material", result.limit_reached, result.warnings)


def print_electrodes(result: ElectrodeResult) -> None:
    """Electrodes as a table, then where the answer came from."""
    table = Table(title=f"Materials Project insertion electrodes ({result.query.working_ion})")
    columns = [
        ("electrode", "left"), ("formula", "left"), ("avg V", "right"), ("max step V", "right"),
        ("mAh/g", "right"), ("mAh/cm³", "right"), ("Wh/kg", "right"),
        ("E hull charged eV/atom", "right"), ("E hull discharged eV/atom", "right"), ("ΔV %", "right"),
    ]
    for name, justify in columns:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for e in result.electrodes:
        table.add_row(
            e.battery_id, e.battery_formula or "", _fmt(e.average_voltage), _fmt(e.max_voltage_step),
            _fmt(e.capacity_grav, 4), _fmt(e.capacity_vol, 4), _fmt(e.energy_grav, 4),
            _fmt(e.stability_charge), _fmt(e.stability_discharge), _fmt(e.max_delta_volume),
        )
    if result.electrodes:
        out.print(table)
    else:
        out.print("no insertion electrode matches this query")
    _footer(result.provenance, len(result.electrodes), "electrode", result.limit_reached, result.warnings)


@mp_app.command("summary")
@guarded
def summary(
    formula: Annotated[str | None, typer.Option("--formula", help="formula, e.g. LiNiO2 (also ABO2, LiNi*O2)")] = None,
    chemsys: Annotated[str | None, typer.Option("--chemsys", help="chemical system, e.g. Li-Ni-O")] = None,
    material_id: Annotated[list[str] | None, typer.Option("--material-id", help="Materials Project ID, e.g. mp-25411 (repeatable)")] = None,
    elements: Annotated[str | None, typer.Option("--elements", help="elements that must be present, e.g. Li,Ni")] = None,
    exclude_elements: Annotated[str | None, typer.Option("--exclude-elements", help="elements that must be absent, e.g. Co")] = None,
    band_gap_min: Annotated[float | None, typer.Option("--band-gap-min", help="eV")] = None,
    band_gap_max: Annotated[float | None, typer.Option("--band-gap-max", help="eV")] = None,
    e_above_hull_min: Annotated[float | None, typer.Option("--e-above-hull-min", help="eV/atom")] = None,
    e_above_hull_max: Annotated[float | None, typer.Option("--e-above-hull-max", help="eV/atom")] = None,
    formation_energy_min: Annotated[float | None, typer.Option("--formation-energy-min", help="eV/atom")] = None,
    formation_energy_max: Annotated[float | None, typer.Option("--formation-energy-max", help="eV/atom")] = None,
    density_min: Annotated[float | None, typer.Option("--density-min", help="g/cm³")] = None,
    density_max: Annotated[float | None, typer.Option("--density-max", help="g/cm³")] = None,
    stable: Annotated[bool, typer.Option("--stable", help="only materials on the convex hull")] = False,
    crystal_system: Annotated[str | None, typer.Option("--crystal-system", help="e.g. Trigonal")] = None,
    spacegroup: Annotated[str | None, typer.Option("--spacegroup", help="space-group symbol, e.g. R-3m")] = None,
    include_deprecated: Annotated[bool, typer.Option("--include-deprecated", help="also list deprecated entries")] = False,
    sort: Annotated[str | None, typer.Option("--sort", help="e.g. energy_above_hull or -band_gap")] = None,
    limit: LimitOpt = 20,
    refresh: RefreshOpt = False,
    offline: OfflineOpt = False,
    endpoint: EndpointOpt = DEFAULT_ENDPOINT,
    timeout: TimeoutOpt = 20.0,
    retries: RetriesOpt = 2,
    as_json: JsonOpt = False,
) -> None:
    """Materials by formula, chemical system or ID, filtered by band gap, stability, density..."""
    query = build_query(
        SummaryQuery,
        formula=formula, chemsys=chemsys, material_ids=material_id or None, elements=_elements(elements),
        exclude_elements=_elements(exclude_elements), band_gap_min=band_gap_min, band_gap_max=band_gap_max,
        energy_above_hull_min=e_above_hull_min, energy_above_hull_max=e_above_hull_max,
        formation_energy_per_atom_min=formation_energy_min, formation_energy_per_atom_max=formation_energy_max,
        density_min=density_min, density_max=density_max, is_stable=True if stable else None,
        crystal_system=crystal_system, spacegroup_symbol=spacegroup,
        deprecated=None if include_deprecated else False, sort_by=sort, limit=limit,
    )
    client = make_client(endpoint, timeout, retries)
    try:
        result = client.summary(query, refresh=refresh, offline=offline)
    finally:
        client.close()
    if as_json:
        emit_json(result)
    else:
        print_summary(result)


@mp_app.command("electrodes")
@guarded
def electrodes(
    ion: Annotated[str, typer.Option("--ion", help="working ion: Li, Na, K, Mg, Ca, Zn, Al, ...")] = "Li",
    formula: Annotated[str | None, typer.Option("--formula", help="a material on the charge-discharge path, e.g. LiNiO2")] = None,
    elements: Annotated[str | None, typer.Option("--elements", help="framework elements that must be present, e.g. Ni,O")] = None,
    exclude_elements: Annotated[str | None, typer.Option("--exclude-elements", help="framework elements that must be absent")] = None,
    battery_id: Annotated[list[str] | None, typer.Option("--battery-id", help="electrode ID, e.g. mp-25411_Li (repeatable)")] = None,
    voltage_min: Annotated[float | None, typer.Option("--voltage-min", help="average voltage, V")] = None,
    voltage_max: Annotated[float | None, typer.Option("--voltage-max", help="average voltage, V")] = None,
    capacity_min: Annotated[float | None, typer.Option("--capacity-min", help="gravimetric capacity, mAh/g")] = None,
    capacity_max: Annotated[float | None, typer.Option("--capacity-max", help="gravimetric capacity, mAh/g")] = None,
    vol_capacity_min: Annotated[float | None, typer.Option("--vol-capacity-min", help="volumetric capacity, mAh/cm³")] = None,
    energy_min: Annotated[float | None, typer.Option("--energy-min", help="specific energy, Wh/kg")] = None,
    stability_charge_max: Annotated[float | None, typer.Option("--stability-charge-max", help="E above hull of the charged material, eV/atom")] = None,
    stability_discharge_max: Annotated[float | None, typer.Option("--stability-discharge-max", help="E above hull of the discharged material, eV/atom")] = None,
    voltage_step_max: Annotated[float | None, typer.Option("--voltage-step-max", help="largest voltage step, V")] = None,
    volume_change_max: Annotated[float | None, typer.Option("--volume-change-max", help="largest volume change, %")] = None,
    sort: Annotated[str | None, typer.Option("--sort", help="e.g. -capacity_grav or -average_voltage")] = None,
    limit: LimitOpt = 20,
    refresh: RefreshOpt = False,
    offline: OfflineOpt = False,
    endpoint: EndpointOpt = DEFAULT_ENDPOINT,
    timeout: TimeoutOpt = 20.0,
    retries: RetriesOpt = 2,
    as_json: JsonOpt = False,
) -> None:
    """Insertion electrodes by working ion, filtered by voltage, capacity, energy, stability..."""
    query = build_query(
        ElectrodeQuery,
        working_ion=ion, formula=formula, elements=_elements(elements), exclude_elements=_elements(exclude_elements),
        battery_ids=battery_id or None, average_voltage_min=voltage_min, average_voltage_max=voltage_max,
        capacity_grav_min=capacity_min, capacity_grav_max=capacity_max, capacity_vol_min=vol_capacity_min,
        energy_grav_min=energy_min, stability_charge_max=stability_charge_max,
        stability_discharge_max=stability_discharge_max, max_voltage_step_max=voltage_step_max,
        max_delta_volume_max=volume_change_max, sort_by=sort, limit=limit,
    )
    client = make_client(endpoint, timeout, retries)
    try:
        result = client.electrodes(query, refresh=refresh, offline=offline)
    finally:
        client.close()
    if as_json:
        emit_json(result)
    else:
        print_electrodes(result)


@mp_app.command("structure")
@guarded
def structure(
    material_id: Annotated[str, typer.Argument(help="Materials Project ID, e.g. mp-25411")],
    out_path: Annotated[Path | None, typer.Option("--out", help="write the CIF to this file instead of printing it")] = None,
    conventional: Annotated[bool, typer.Option("--conventional", help="conventional standard cell instead of the stored cell")] = False,
    refresh: RefreshOpt = False,
    offline: OfflineOpt = False,
    endpoint: EndpointOpt = DEFAULT_ENDPOINT,
    timeout: TimeoutOpt = 20.0,
    retries: RetriesOpt = 2,
    as_json: JsonOpt = False,
) -> None:
    """The relaxed structure of one material as CIF text."""
    query = build_query(StructureQuery, material_id=material_id, conventional=conventional)
    client = make_client(endpoint, timeout, retries)
    try:
        result = client.structure(query, refresh=refresh, offline=offline)
    finally:
        client.close()
    if out_path is not None:
        from tools.domain.fileio import atomic_write_text

        atomic_write_text(out_path, result.cif)
    if as_json:
        payload = result.model_dump(mode="json")
        if out_path is not None:
            payload["file"] = str(out_path)
        emit_json(payload)
        return
    if out_path is None:
        typer.echo(result.cif, nl=False)
        err.print(f"{result.material_id} {result.formula_pretty or ''}, {result.nsites} sites {result.provenance.label()}")
    else:
        out.print(
            f"wrote {result.material_id} ({result.formula_pretty or ''}, {result.nsites} sites) to {out_path} "
            f"{result.provenance.label()}"
        )
    for note in result.warnings:
        err.print(f"[yellow]note:[/] {note}")
