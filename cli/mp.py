"""`matassist mp ...`: Materials Project summaries, insertion electrodes and structures (CIF).

Every answer is cached under <data dir>/cache/materials_project and labelled with its retrieval
date and database version, so a repeated question is instant and works offline (--offline).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from assistant.mp_key import resolve_mp_api_key
from assistant.tools.materials_project import make_mp_client
from cli.common import JsonOpt, emit_json, err, guarded, out, settings
from cli.model_options import Flag, model_options
from tools.domain.errors import MatassistError, MPAuthError
from tools.electrodes.constants import SNAPSHOT_DATE
from tools.materials_project.client import DEFAULT_ENDPOINT, MaterialsProjectClient
from tools.materials_project.queries import (
    ElectrodeQuery,
    StructureQuery,
    SummaryQuery,
    build_query,
)
from tools.materials_project.results import Electrode, ElectrodeResult, Provenance, SummaryResult

if TYPE_CHECKING:
    from tools.electrodes.snapshot import SnapshotResult

mp_app = typer.Typer(
    help="Materials Project look-ups (key: MP_API_KEY); answers are cached for offline use.",
    no_args_is_help=True,
)

EndpointOpt = Annotated[str, typer.Option("--endpoint", help="API address (an MP-compatible server)")]
TimeoutOpt = Annotated[float | None, typer.Option(
    "--timeout", min=0.1, help="seconds the server may stay silent before the question is given up; default MATASSIST_MP_TIMEOUT_S (15)")]
RetriesOpt = Annotated[int, typer.Option("--retries", min=0, max=5, help="retries on HTTP 429/5xx, with backoff")]
RefreshOpt = Annotated[bool, typer.Option("--refresh", help="ask the server again even if the answer is cached")]
OfflineOpt = Annotated[bool, typer.Option("--offline", help="answer from the cache only; never contact the server")]

# The query options are the fields of the query models (type, default, help text with units);
# these tables only say which fields each command offers and under which option name.
SUMMARY_OPTIONS = (
    Flag("formula"),
    Flag("chemsys"),
    Flag("material_ids", "--material-id", form="repeat", help="Materials Project ID, e.g. mp-25411 (repeatable)"),
    Flag("elements", form="list", help="elements that must be present, e.g. Li,Ni"),
    Flag("exclude_elements", form="list", help="elements that must be absent, e.g. Co"),
    Flag("band_gap_min"),
    Flag("band_gap_max"),
    Flag("energy_above_hull_min", "--e-above-hull-min"),
    Flag("energy_above_hull_max", "--e-above-hull-max"),
    Flag("formation_energy_per_atom_min", "--formation-energy-min"),
    Flag("formation_energy_per_atom_max", "--formation-energy-max"),
    Flag("density_min"),
    Flag("density_max"),
    Flag("is_stable", "--stable", form="switch", on=True, off=None, help="only materials on the convex hull"),
    Flag("crystal_system"),
    Flag("spacegroup_symbol", "--spacegroup"),
    Flag("deprecated", "--include-deprecated", form="switch", on=None, off=False, help="also list deprecated entries"),
    Flag("sort_by", "--sort"),
    Flag("limit", bounded=True),
)
ELECTRODE_OPTIONS = (
    Flag("working_ion", "--ion"),
    Flag("formula"),
    Flag("elements", form="list", help="framework elements that must be present, e.g. Ni,O"),
    Flag("exclude_elements", form="list", help="framework elements that must be absent"),
    Flag("battery_ids", "--battery-id", form="repeat", help="electrode ID, e.g. mp-25411_Li (repeatable)"),
    Flag("average_voltage_min", "--voltage-min"),
    Flag("average_voltage_max", "--voltage-max"),
    Flag("capacity_grav_min", "--capacity-min"),
    Flag("capacity_grav_max", "--capacity-max"),
    Flag("capacity_vol_min", "--vol-capacity-min"),
    Flag("energy_grav_min", "--energy-min"),
    Flag("stability_charge_max"),
    Flag("stability_discharge_max"),
    Flag("max_voltage_step_max", "--voltage-step-max"),
    Flag("max_delta_volume_max", "--volume-change-max"),
    Flag("sort_by", "--sort"),
    Flag("limit", bounded=True),
)
STRUCTURE_OPTIONS = (
    Flag("material_id", form="argument"),
    Flag("conventional", form="switch", on=True, off=False, help="conventional standard cell instead of the stored cell"),
)


def register(app: typer.Typer) -> None:
    """Add the `mp` command group to the CLI."""
    app.add_typer(mp_app, name="mp")


def cache_folder() -> Path:
    """Where Materials Project answers are cached."""
    return settings().data_dir / "cache" / "materials_project"


def make_client(endpoint: str = DEFAULT_ENDPOINT, timeout_s: float | None = None, max_retries: int = 2) -> MaterialsProjectClient:
    """A client with the key from argument/MP_API_KEY/pymatgen config and the data-dir cache."""
    return make_mp_client(settings(), endpoint=endpoint, timeout_s=timeout_s, max_retries=max_retries)


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


def _electrode_table(electrodes: list[Electrode], title: str) -> None:
    """Electrodes as one table (or a line saying none matched)."""
    table = Table(title=title)
    columns = [
        ("electrode", "left"), ("formula", "left"), ("avg V", "right"), ("max step V", "right"),
        ("mAh/g", "right"), ("mAh/cm³", "right"), ("Wh/kg", "right"),
        ("E hull charged eV/atom", "right"), ("E hull discharged eV/atom", "right"), ("ΔV %", "right"),
    ]
    for name, justify in columns:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for e in electrodes:
        table.add_row(
            e.battery_id, e.battery_formula or "", _fmt(e.average_voltage), _fmt(e.max_voltage_step),
            _fmt(e.capacity_grav, 4), _fmt(e.capacity_vol, 4), _fmt(e.energy_grav, 4),
            _fmt(e.stability_charge), _fmt(e.stability_discharge), _fmt(e.max_delta_volume),
        )
    if electrodes:
        out.print(table)
    else:
        out.print("no insertion electrode matches this query")


def print_electrodes(result: ElectrodeResult) -> None:
    """Electrodes as a table, then where the answer came from."""
    _electrode_table(result.electrodes, f"Materials Project insertion electrodes ({result.query.working_ion})")
    _footer(result.provenance, len(result.electrodes), "electrode", result.limit_reached, result.warnings)


def print_snapshot(result: SnapshotResult) -> None:
    """Electrodes of the shipped snapshot, as the live table, then what they come from."""
    _electrode_table(result.electrodes, f"Battery Explorer snapshot, copied {result.copied_on}: insertion electrodes "
                                        f"({result.query.working_ion})")
    out.print(f"{result.total_matches} {result.query.working_ion} electrode{'' if result.total_matches == 1 else 's'} "
              f"match in the {result.label}; DFT (GGA/GGA+U) values, not measurements")
    if result.limit_reached:
        out.print(f"[yellow]showing the first {len(result.electrodes)} (raise --limit or narrow the query)[/]")
    out.print(f"source: {result.source} ({result.licence})")


def _answer(fetch: Callable[[Any], Any], endpoint: str, timeout: float | None, retries: int,
            show: Callable[[Any], None], as_json: bool) -> None:
    """Run one query on a client that is always closed, then print it as JSON or a table."""
    client = make_client(endpoint, timeout, retries)
    try:
        result = fetch(client)
    finally:
        client.close()
    if as_json:
        emit_json(result)
    else:
        show(result)


@mp_app.command("summary")
@guarded
@model_options(SummaryQuery, SUMMARY_OPTIONS, build=partial(build_query, SummaryQuery))
def summary(
    query: SummaryQuery,
    refresh: RefreshOpt = False,
    offline: OfflineOpt = False,
    endpoint: EndpointOpt = DEFAULT_ENDPOINT,
    timeout: TimeoutOpt = None,
    retries: RetriesOpt = 2,
    as_json: JsonOpt = False,
) -> None:
    """Materials by formula, chemical system or ID, filtered by band gap, stability, density..."""
    _answer(lambda client: client.summary(query, refresh=refresh, offline=offline), endpoint, timeout, retries,
            print_summary, as_json)


@mp_app.command("electrodes")
@guarded
@model_options(ElectrodeQuery, ELECTRODE_OPTIONS, build=partial(build_query, ElectrodeQuery))
def electrodes(
    query: ElectrodeQuery,
    refresh: RefreshOpt = False,
    offline: OfflineOpt = False,
    endpoint: EndpointOpt = DEFAULT_ENDPOINT,
    timeout: TimeoutOpt = None,
    retries: RetriesOpt = 2,
    as_json: JsonOpt = False,
    snapshot: Annotated[bool, typer.Option(
        "--snapshot", help="answer from the shipped Battery Explorer table (no key, no network; a dated copy)")] = False,
) -> None:
    """Insertion electrodes by working ion, filtered by voltage, capacity, energy, stability..."""
    if snapshot:
        from tools.electrodes.snapshot import search_snapshot

        result = search_snapshot(query)
        if as_json:
            emit_json(result)
        else:
            print_snapshot(result)
        return
    try:
        _answer(lambda client: client.electrodes(query, refresh=refresh, offline=offline), endpoint, timeout, retries,
                print_electrodes, as_json)
    except MPAuthError as error:
        if resolve_mp_api_key(settings=settings()) is not None:
            raise  # a key is set but refused: say that, not something else
        raise MatassistError(f"{error}; or add --snapshot to answer from the shipped Battery Explorer table "
                             f"(copied {SNAPSHOT_DATE})") from None


@mp_app.command("structure")
@guarded
@model_options(StructureQuery, STRUCTURE_OPTIONS, build=partial(build_query, StructureQuery))
def structure(
    *,
    out_path: Annotated[Path | None, typer.Option("--out", "-o", help="write the CIF to this file instead of printing it")] = None,
    query: StructureQuery,
    refresh: RefreshOpt = False,
    offline: OfflineOpt = False,
    endpoint: EndpointOpt = DEFAULT_ENDPOINT,
    timeout: TimeoutOpt = None,
    retries: RetriesOpt = 2,
    as_json: JsonOpt = False,
) -> None:
    """The relaxed structure of one material as CIF text."""
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
