"""`query_materials_project` for the assistant: plain questions or structured queries to the Materials Project."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assistant.mp_key import resolve_mp_api_key
from assistant.rendering.numbers import cell
from assistant.settings import Settings
from assistant.tools.base import ToolContext, ToolOutput, tool_spec
from tools.domain.errors import MatassistError, MPAuthError
from tools.materials_project.client import DEFAULT_ENDPOINT, MaterialsProjectClient
from tools.materials_project.query_parser import MPQuery, parse_mp_query


def make_mp_client(settings: Settings, endpoint: str = DEFAULT_ENDPOINT, timeout_s: float | None = None,
                   max_retries: int = 2) -> MaterialsProjectClient:
    """A client with the key from argument/MP_API_KEY/pymatgen config, the data-dir cache and the silence limit.

    `timeout_s` (default: MATASSIST_MP_TIMEOUT_S) is how long the server may stay silent before
    the question is given up with a message naming the endpoint.
    """
    key = resolve_mp_api_key(settings=settings)
    silence = timeout_s if timeout_s is not None else settings.mp_timeout_s
    return MaterialsProjectClient(
        key.value if key else None,
        cache_dir=settings.data_dir / "cache" / "materials_project",
        endpoint=endpoint,
        timeout_s=silence,
        connect_timeout_s=min(5.0, silence),
        max_retries=max_retries,
    )


class QueryMaterialsProjectInput(BaseModel):
    """Look up materials (band gap, energy above hull, formation energy, symmetry) or insertion electrodes (voltage, capacity) in the Materials Project. Without an API key, insertion-electrode searches are answered from the shipped Battery Explorer snapshot (copied 2026-11-30)."""

    model_config = ConfigDict(extra="forbid")

    question: str | None = Field(
        default=None,
        description='the question in plain words, e.g. "band gap and energy above hull of mp-25411" or "Li cathodes above 4 V and 200 mAh/g"; parsed when `query` is not given',
    )
    query: MPQuery | None = Field(default=None, description="a structured query (formulas, chemical systems, ids, numeric filters with units)")
    limit: int = Field(default=10, ge=1, le=100, description="most results to return")


def _electrode_lines(electrodes: list[Any]) -> list[str]:
    lines = [
        "| electrode | avg voltage (V) | capacity (mAh/g) | energy (Wh/kg) | E_hull charged (eV/atom) | E_hull discharged |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {e.battery_formula or e.battery_id} ({e.battery_id}) | {cell(e.average_voltage)} | {cell(e.capacity_grav)} | "
        f"{cell(e.energy_grav)} | {cell(e.stability_charge)} | {cell(e.stability_discharge)} |"
        for e in electrodes
    ]
    return lines


def _snapshot_answer(query: Any) -> ToolOutput:
    """An electrode search answered from the shipped Battery Explorer table: no key, so no server to ask."""
    from tools.electrodes.snapshot import search_snapshot

    result = search_snapshot(query)
    shown, total = len(result.electrodes), result.total_matches
    more = f"; showing the first {shown} (ask with a higher limit or narrower filters)" if result.limit_reached else ""
    head = (f"From the {result.label}, no API key set: {total} {query.working_ion} electrode{'s' if total != 1 else ''} "
            f"match{'es' if total == 1 else ''}{more}. Values are DFT (GGA/GGA+U), not measurements. "
            "Set MP_API_KEY for the live database.")
    lines = _electrode_lines(result.electrodes) if shown else []
    return ToolOutput(
        summary="\n".join([head, "", *lines]).strip(),
        data=result.model_dump(mode="json"),
        sources=[f"{result.source} ({result.label}; {result.licence})"],
    )


def _query_mp(ctx: ToolContext, args: QueryMaterialsProjectInput) -> ToolOutput:
    query = args.query or (parse_mp_query(args.question) if args.question else None)
    if query is None or query.is_empty:
        raise MatassistError("name a formula (LiNiO2), a chemical system (Li-Ni-O), an mp-id (mp-25411) or filters (above 4 V)")
    client = make_mp_client(ctx.settings)
    try:
        result: Any
        if query.kind == "electrodes":
            electrode_query = query.to_electrode_query(limit=args.limit)
            try:
                result = client.electrodes(electrode_query)
            except MPAuthError:
                if resolve_mp_api_key(settings=ctx.settings) is not None:
                    raise  # a key is set but wrong: say so, do not hide it behind the snapshot
                return _snapshot_answer(electrode_query)
            lines = _electrode_lines(result.electrodes)
            count = len(result.electrodes)
        else:
            result = client.summary(query.to_summary_query(limit=args.limit))
            lines = [
                "| material | formula | space group | band gap (eV) | E above hull (eV/atom) | formation energy (eV/atom) | density (g/cm3) | stable |",
                "|---|---|---|---|---|---|---|---|",
            ]
            lines += [
                f"| {m.material_id} | {m.formula_pretty} | {m.spacegroup_symbol} | {cell(m.band_gap)} | {cell(m.energy_above_hull)} | "
                f"{cell(m.formation_energy_per_atom)} | {cell(m.density)} | {cell(m.is_stable)} |"
                for m in result.materials
            ]
            count = len(result.materials)
    finally:
        client.close()
    head = f"Materials Project: {count} result{'s' if count != 1 else ''} {result.provenance.label()}."
    if count == 0:
        lines = []
    return ToolOutput(
        summary="\n".join([head, "", *lines]).strip(),
        data=result.model_dump(mode="json"),
        sources=[f"Materials Project {result.provenance.endpoint} (database {result.provenance.database_version})"],
    )


SPEC = tool_spec("query_materials_project", QueryMaterialsProjectInput, _query_mp)
