"""Materials Project look-ups: material summaries, insertion electrodes and structures as CIF.

Built on `mp_api.client.MPRester` (imported lazily: its import is slow and its constructor calls
the server). Every request has a bounded timeout and a few retries with backoff on 429/5xx; the
whole exchange also runs under a hard deadline, because mp-api's own heartbeat call has no timeout.
Answers are cached on disk (one JSON file per question, written atomically), labelled with their
retrieval date and database version, so repeated questions are instant and work offline.

The key is passed in: this module never reads environment variables (the assistant layer does).
`parse_mp_query` turns a plain-language question into a structured query without any network.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from tools.domain.errors import (
    MaterialsProjectError,
    MPAuthError,
    MPQueryError,
    MPResponseError,
    MPUnavailableError,
)

if TYPE_CHECKING:
    import requests

DEFAULT_ENDPOINT = "https://api.materialsproject.org/"
CACHE_FORMAT = 1
"""Bumped whenever the cached result layout changes; older files are then ignored."""
KEY_HELP = (
    "set the MP_API_KEY environment variable (or PMG_MAPI_KEY in ~/.config/.pmgrc.yaml) "
    "to your 32-character key from https://next-gen.materialsproject.org/api"
)

# fmt: off
ELEMENTS: frozenset[str] = frozenset("""
H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr
Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb
Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr Rf
Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og
""".split())
# fmt: on
WorkingIon = Literal["Li", "Na", "K", "Mg", "Ca", "Zn", "Al", "Y", "Cs", "Rb"]
CrystalSystemName = Literal["Triclinic", "Monoclinic", "Orthorhombic", "Tetragonal", "Trigonal", "Hexagonal", "Cubic"]
SummarySort = Literal[
    "energy_above_hull", "-energy_above_hull", "band_gap", "-band_gap",
    "formation_energy_per_atom", "-formation_energy_per_atom", "density", "-density", "nsites", "-nsites",
]
ElectrodeSort = Literal[
    "average_voltage", "-average_voltage", "capacity_grav", "-capacity_grav", "capacity_vol", "-capacity_vol",
    "energy_grav", "-energy_grav", "energy_vol", "-energy_vol", "stability_discharge", "-stability_discharge",
]

Q = TypeVar("Q", bound=BaseModel)
T = TypeVar("T")

_ID_RE = re.compile(r"^[a-z]+-[0-9a-z]+$")
_FORMULA_RE = re.compile(r"^[A-Za-z0-9().*]+$")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _split_list(value: object) -> object:
    """Accept 'Li,Ni,O' as well as ['Li', 'Ni', 'O']."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _check_elements(values: list[str] | None, what: str) -> list[str] | None:
    if values is None:
        return None
    bad = [v for v in values if v not in ELEMENTS]
    if bad:
        raise ValueError(f"{what}: not element symbols: {', '.join(bad)}")
    return values


def _check_ranges(model: BaseModel, names: tuple[str, ...]) -> None:
    for name in names:
        low, high = getattr(model, f"{name}_min"), getattr(model, f"{name}_max")
        if low is not None and high is not None and low > high:
            raise ValueError(f"{name}_min ({low}) is above {name}_max ({high})")


def _pair(low: float | None, high: float | None) -> tuple[Any, Any] | None:
    """mp-api's (min, max) argument; a None end is dropped from the request."""
    return None if low is None and high is None else (low, high)


class SummaryQuery(_Frozen):
    """Search of the Materials Project summary endpoint (materials/summary); fields mirror the API's."""

    formula: str | None = Field(None, description="reduced formula, anonymous formula or wildcard, e.g. LiNiO2, ABO2, LiNi*O2; comma-separated for several")
    chemsys: str | None = Field(None, description="dash-separated chemical system, e.g. Li-Ni-O (exactly these elements); comma-separated for several")
    elements: list[str] | None = Field(None, description="element symbols every material must contain, e.g. ['Li', 'Ni']")
    exclude_elements: list[str] | None = Field(None, description="element symbols no material may contain")
    material_ids: list[str] | None = Field(None, description="Materials Project IDs, e.g. ['mp-25411']")
    band_gap_min: float | None = Field(None, ge=0, description="minimum band gap, eV")
    band_gap_max: float | None = Field(None, ge=0, description="maximum band gap, eV")
    energy_above_hull_min: float | None = Field(None, ge=0, description="minimum energy above the convex hull, eV/atom")
    energy_above_hull_max: float | None = Field(None, ge=0, description="maximum energy above the convex hull, eV/atom (0 = on the hull)")
    formation_energy_per_atom_min: float | None = Field(None, description="minimum formation energy, eV/atom")
    formation_energy_per_atom_max: float | None = Field(None, description="maximum formation energy, eV/atom")
    density_min: float | None = Field(None, ge=0, description="minimum density, g/cm³")
    density_max: float | None = Field(None, ge=0, description="maximum density, g/cm³")
    nelements_min: int | None = Field(None, ge=1, description="minimum number of distinct elements")
    nelements_max: int | None = Field(None, ge=1, description="maximum number of distinct elements")
    is_stable: bool | None = Field(None, description="True: only materials on the convex hull; False: only materials above it")
    is_metal: bool | None = Field(None, description="True: only metals (zero band gap); False: only non-metals")
    theoretical: bool | None = Field(None, description="True: only materials without a matching ICSD entry; False: only experimentally known ones")
    crystal_system: CrystalSystemName | None = Field(None, description="crystal system of the relaxed structure")
    spacegroup_symbol: str | None = Field(None, description="space-group symbol, international short notation, e.g. R-3m")
    deprecated: bool | None = Field(False, description="False (default) hides deprecated entries; None includes them")
    sort_by: SummarySort | None = Field(None, description="field to sort on; a leading '-' sorts descending")
    limit: int = Field(20, ge=1, le=500, description="maximum number of materials to return")

    @field_validator("elements", "exclude_elements", "material_ids", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("elements", "exclude_elements")
    @classmethod
    def _elements(cls, value: list[str] | None) -> list[str] | None:
        return _check_elements(value, "elements")

    @field_validator("material_ids")
    @classmethod
    def _ids(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [_material_id(v) for v in value]

    @field_validator("formula")
    @classmethod
    def _formula(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = [p.strip() for p in value.split(",") if p.strip()]
        bad = [p for p in parts if not _FORMULA_RE.match(p)]
        if not parts or bad:
            raise ValueError(f"not a formula: {value!r}")
        return ",".join(parts)

    @field_validator("chemsys")
    @classmethod
    def _chemsys(cls, value: str | None) -> str | None:
        if value is None:
            return None
        systems = [s.strip() for s in value.split(",") if s.strip()]
        for system in systems:
            _check_elements([e for e in system.split("-") if e != "*"], f"chemical system {system!r}")
        if not systems:
            raise ValueError("empty chemical system")
        return ",".join(systems)

    @model_validator(mode="after")
    def _consistent(self) -> SummaryQuery:
        _check_ranges(self, ("band_gap", "energy_above_hull", "formation_energy_per_atom", "density", "nelements"))
        criteria = self.model_dump(exclude={"deprecated", "sort_by", "limit"}, exclude_none=True)
        if not criteria:
            raise ValueError("give at least one criterion (formula, chemical system, elements, material ID or a property range)")
        return self

    def to_search_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of mp-api's `SummaryRester.search` for this query."""
        kwargs: dict[str, Any] = {
            "formula": self.formula,
            "chemsys": self.chemsys,
            "elements": self.elements,
            "exclude_elements": self.exclude_elements,
            "material_ids": self.material_ids,
            "band_gap": _pair(self.band_gap_min, self.band_gap_max),
            "energy_above_hull": _pair(self.energy_above_hull_min, self.energy_above_hull_max),
            "formation_energy": _pair(self.formation_energy_per_atom_min, self.formation_energy_per_atom_max),
            "density": _pair(self.density_min, self.density_max),
            "num_elements": _pair(self.nelements_min, self.nelements_max),
            "is_stable": self.is_stable,
            "is_metal": self.is_metal,
            "theoretical": self.theoretical,
            "crystal_system": self.crystal_system,
            "spacegroup_symbol": self.spacegroup_symbol,
            "deprecated": self.deprecated,
            "_sort_fields": self.sort_by,
        }
        return {k: v for k, v in kwargs.items() if v is not None}


class ElectrodeQuery(_Frozen):
    """Search of the insertion-electrode endpoint (materials/insertion_electrodes); fields mirror the API's."""

    working_ion: WorkingIon = Field("Li", description="the ion that moves in and out of the host, e.g. Li")
    formula: str | None = Field(None, description="formula of any material along the charge-discharge path, e.g. LiNiO2")
    elements: list[str] | None = Field(None, description="framework elements every electrode must contain (working ion excluded)")
    exclude_elements: list[str] | None = Field(None, description="framework elements no electrode may contain")
    battery_ids: list[str] | None = Field(None, description="electrode IDs, e.g. ['mp-25411_Li']")
    average_voltage_min: float | None = Field(None, description="minimum average voltage of the electrode, V vs the working-ion metal")
    average_voltage_max: float | None = Field(None, description="maximum average voltage of the electrode, V vs the working-ion metal")
    capacity_grav_min: float | None = Field(None, ge=0, description="minimum gravimetric capacity, mAh/g")
    capacity_grav_max: float | None = Field(None, ge=0, description="maximum gravimetric capacity, mAh/g")
    capacity_vol_min: float | None = Field(None, ge=0, description="minimum volumetric capacity, mAh/cm³")
    capacity_vol_max: float | None = Field(None, ge=0, description="maximum volumetric capacity, mAh/cm³")
    energy_grav_min: float | None = Field(None, description="minimum specific energy, Wh/kg")
    energy_grav_max: float | None = Field(None, description="maximum specific energy, Wh/kg")
    energy_vol_min: float | None = Field(None, description="minimum energy density, Wh/L")
    energy_vol_max: float | None = Field(None, description="maximum energy density, Wh/L")
    stability_charge_max: float | None = Field(None, ge=0, description="maximum energy above hull of the charged (ion-poor) material, eV/atom")
    stability_discharge_max: float | None = Field(None, ge=0, description="maximum energy above hull of the discharged (ion-rich) material, eV/atom")
    max_voltage_step_max: float | None = Field(None, ge=0, description="maximum size of the largest voltage step, V")
    max_delta_volume_max: float | None = Field(None, ge=0, description="maximum volume change over a voltage step, percent")
    sort_by: ElectrodeSort | None = Field(None, description="field to sort on; a leading '-' sorts descending")
    limit: int = Field(20, ge=1, le=500, description="maximum number of electrodes to return")

    @field_validator("elements", "exclude_elements", "battery_ids", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("elements", "exclude_elements")
    @classmethod
    def _elements(cls, value: list[str] | None) -> list[str] | None:
        return _check_elements(value, "elements")

    @field_validator("formula")
    @classmethod
    def _formula(cls, value: str | None) -> str | None:
        if value is not None and not _FORMULA_RE.match(value):
            raise ValueError(f"not a formula: {value!r}")
        return value

    @field_validator("battery_ids")
    @classmethod
    def _battery_ids(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        out = []
        for raw in value:
            material, _, ion = raw.strip().partition("_")
            if not ion or ion not in ELEMENTS:
                raise ValueError(f"not an electrode ID (like mp-25411_Li): {raw!r}")
            out.append(f"{_material_id(material)}_{ion}")
        return out

    @model_validator(mode="after")
    def _consistent(self) -> ElectrodeQuery:
        _check_ranges(self, ("average_voltage", "capacity_grav", "capacity_vol", "energy_grav", "energy_vol"))
        return self

    def to_search_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of mp-api's `ElectrodeRester.search` for this query."""
        kwargs: dict[str, Any] = {
            "working_ion": self.working_ion,
            "formula": self.formula,
            "elements": self.elements,
            "exclude_elements": self.exclude_elements,
            "battery_ids": self.battery_ids,
            "average_voltage": _pair(self.average_voltage_min, self.average_voltage_max),
            "capacity_grav": _pair(self.capacity_grav_min, self.capacity_grav_max),
            "capacity_vol": _pair(self.capacity_vol_min, self.capacity_vol_max),
            "energy_grav": _pair(self.energy_grav_min, self.energy_grav_max),
            "energy_vol": _pair(self.energy_vol_min, self.energy_vol_max),
            "stability_charge": _pair(None, self.stability_charge_max),
            "stability_discharge": _pair(None, self.stability_discharge_max),
            "max_voltage_step": _pair(None, self.max_voltage_step_max),
            "max_delta_volume": _pair(None, self.max_delta_volume_max),
            "_sort_fields": self.sort_by,
        }
        return {k: v for k, v in kwargs.items() if v is not None}


class StructureQuery(_Frozen):
    """The relaxed structure of one material, as CIF text."""

    material_id: str = Field(description="Materials Project ID, e.g. mp-25411")
    conventional: bool = Field(False, description="True: conventional standard cell; False: the cell as stored (usually primitive)")

    @field_validator("material_id")
    @classmethod
    def _id(cls, value: str) -> str:
        return _material_id(value)


def _material_id(value: str) -> str:
    text = value.strip().lower()
    if not _ID_RE.match(text):
        raise ValueError(f"not a Materials Project ID (like mp-25411): {value!r}")
    return text


def build_query(model: type[Q], **fields: Any) -> Q:
    """Validate a query, turning pydantic's error into one readable MPQueryError."""
    try:
        return model(**fields)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'query'}: {e['msg'].removeprefix('Value error, ')}"
            for e in err.errors()
        )
        raise MPQueryError(f"invalid Materials Project query: {problems}") from err


# --------------------------------------------------------------------------- results


class Provenance(_Frozen):
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


class MaterialSummary(_Frozen):
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


class Electrode(_Frozen):
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


class SummaryResult(_Frozen):
    """Materials matching a SummaryQuery."""

    query: SummaryQuery = Field(description="the query that was answered")
    materials: list[MaterialSummary] = Field(description="matching materials, in the server's order")
    limit_reached: bool = Field(description="True when `limit` materials came back: there may be more")
    provenance: Provenance
    warnings: list[str] = Field(default_factory=list, description="warnings raised by the client while answering")


class ElectrodeResult(_Frozen):
    """Insertion electrodes matching an ElectrodeQuery."""

    query: ElectrodeQuery = Field(description="the query that was answered")
    electrodes: list[Electrode] = Field(description="matching electrodes, in the server's order")
    limit_reached: bool = Field(description="True when `limit` electrodes came back: there may be more")
    provenance: Provenance
    warnings: list[str] = Field(default_factory=list, description="warnings raised by the client while answering")


class StructureResult(_Frozen):
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


def _summary_from_doc(doc: dict[str, Any]) -> MaterialSummary:
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


def _electrode_from_doc(doc: dict[str, Any]) -> Electrode:
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


# --------------------------------------------------------------------------- cache

R = TypeVar("R", SummaryResult, ElectrodeResult, StructureResult)


class ResponseCache:
    """Answers on disk, one JSON file per (kind, endpoint, query); written atomically."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def path_for(self, kind: str, endpoint: str, query: BaseModel) -> Path:
        """The cache file of one question."""
        digest = hashlib.sha256(self._request_text(kind, endpoint, query).encode()).hexdigest()[:20]
        return self.folder / f"{kind}-{digest}.json"

    @staticmethod
    def _request_text(kind: str, endpoint: str, query: BaseModel) -> str:
        return json.dumps({"kind": kind, "endpoint": endpoint, "query": query.model_dump(mode="json")}, sort_keys=True)

    def load(self, kind: str, endpoint: str, query: BaseModel, result_type: type[R]) -> tuple[R | None, str | None]:
        """The cached answer (or None) and a warning when an unreadable cache file was found."""
        path = self.path_for(kind, endpoint, query)
        if not path.exists():
            return None, None
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            if stored.get("format") != CACHE_FORMAT or stored.get("request") != json.loads(
                self._request_text(kind, endpoint, query)
            ):
                return None, None
            result = result_type.model_validate(stored["result"])
        except (OSError, ValueError, KeyError, AttributeError) as err:
            return None, f"ignored unreadable cache file {path} ({type(err).__name__})"
        provenance = result.provenance.model_copy(update={"from_cache": True, "cache_file": str(path)})
        return result.model_copy(update={"provenance": provenance}), None

    def save(self, kind: str, endpoint: str, query: BaseModel, result: BaseModel) -> Path:
        """Store an answer; returns its file."""
        from tools.domain.fileio import atomic_write_text

        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path_for(kind, endpoint, query)
        payload = {
            "format": CACHE_FORMAT,
            "request": json.loads(self._request_text(kind, endpoint, query)),
            "result": result.model_dump(mode="json"),
        }
        atomic_write_text(path, json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
        return path


# --------------------------------------------------------------------------- client


def _run_with_deadline(fn: Callable[[], T], seconds: float, what: str) -> T:
    """Run `fn` in a daemon thread; give up after `seconds` (the thread is left to die with the process)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller below, never swallowed
            box["error"] = exc

    worker = threading.Thread(target=target, name=f"mp-{what}", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise MPUnavailableError(f"the Materials Project gave no complete answer to the {what} within {seconds:.0f} s; try again later")
    if "error" in box:
        raise box["error"]
    return box["value"]


class MaterialsProjectClient:
    """Cached, time-bounded access to the Materials Project through mp-api's MPRester.

    Nothing touches the network until a question misses the cache; the MPRester is built then.
    """

    def __init__(
        self,
        api_key: str | None,
        *,
        cache_dir: Path | None = None,
        endpoint: str = DEFAULT_ENDPOINT,
        timeout_s: float = 20.0,
        connect_timeout_s: float = 5.0,
        max_retries: int = 2,
        backoff_s: float = 0.5,
        max_retry_after_s: float = 10.0,
    ):
        if timeout_s <= 0 or connect_timeout_s <= 0:
            raise MPQueryError("timeouts must be positive")
        if max_retries < 0:
            raise MPQueryError("max_retries must be 0 or more")
        self._api_key = SecretStr(api_key.strip()) if api_key and api_key.strip() else None
        self.endpoint = endpoint if endpoint.endswith("/") else endpoint + "/"
        self.cache = ResponseCache(cache_dir) if cache_dir is not None else None
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_retry_after_s = max_retry_after_s
        self._session: requests.Session | None = None
        self._rester: Any = None
        self._db_version: str | None = None
        self._last_status: int | None = None

    # ----------------------------------------------------------------- public questions

    def summary(self, query: SummaryQuery, *, refresh: bool = False, offline: bool = False) -> SummaryResult:
        """Materials matching `query` (summary endpoint)."""

        def fetch(rester: Any) -> list[dict[str, Any]]:
            return list(
                rester.materials.summary.search(
                    **query.to_search_kwargs(), fields=SUMMARY_FIELDS, num_chunks=1, chunk_size=query.limit
                )
            )

        def build(docs: list[dict[str, Any]], provenance: Provenance, notes: list[str]) -> SummaryResult:
            materials = [_summary_from_doc(d) for d in docs]
            return SummaryResult(
                query=query, materials=materials, limit_reached=len(materials) >= query.limit,
                provenance=provenance, warnings=notes,
            )

        return self._answer("summary", query, SummaryResult, fetch, build, refresh=refresh, offline=offline)

    def electrodes(self, query: ElectrodeQuery, *, refresh: bool = False, offline: bool = False) -> ElectrodeResult:
        """Insertion electrodes matching `query`."""

        def fetch(rester: Any) -> list[dict[str, Any]]:
            return list(
                rester.materials.insertion_electrodes.search(
                    **query.to_search_kwargs(), fields=ELECTRODE_FIELDS, num_chunks=1, chunk_size=query.limit
                )
            )

        def build(docs: list[dict[str, Any]], provenance: Provenance, notes: list[str]) -> ElectrodeResult:
            electrodes = [_electrode_from_doc(d) for d in docs]
            return ElectrodeResult(
                query=query, electrodes=electrodes, limit_reached=len(electrodes) >= query.limit,
                provenance=provenance, warnings=notes,
            )

        return self._answer("electrodes", query, ElectrodeResult, fetch, build, refresh=refresh, offline=offline)

    def structure(self, query: StructureQuery, *, refresh: bool = False, offline: bool = False) -> StructureResult:
        """The relaxed structure of one material as CIF text (pymatgen's CifWriter)."""

        def fetch(rester: Any) -> list[dict[str, Any]]:
            return list(
                rester.materials.summary.search(
                    material_ids=[query.material_id], fields=["material_id", "formula_pretty", "structure"],
                    num_chunks=1, chunk_size=1, deprecated=None,
                )
            )

        def build(docs: list[dict[str, Any]], provenance: Provenance, notes: list[str]) -> StructureResult:
            if not docs:
                raise MPQueryError(f"{query.material_id}: no such material in the Materials Project")
            from pymatgen.core import Structure
            from pymatgen.io.cif import CifWriter

            structure = Structure.from_dict(docs[0]["structure"])
            if query.conventional:
                from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

                structure = SpacegroupAnalyzer(structure).get_conventional_standard_structure()
            return StructureResult(
                query=query, material_id=str(docs[0].get("material_id", query.material_id)),
                formula_pretty=docs[0].get("formula_pretty"), nsites=len(structure),
                cif=str(CifWriter(structure)), provenance=provenance, warnings=notes,
            )

        return self._answer("structure", query, StructureResult, fetch, build, refresh=refresh, offline=offline)

    def close(self) -> None:
        """Close the HTTP session (a later question opens a new one)."""
        if self._session is not None:
            self._session.close()
        self._session = None
        self._rester = None

    # ----------------------------------------------------------------- machinery

    def _answer(
        self,
        kind: str,
        query: BaseModel,
        result_type: type[R],
        fetch: Callable[[Any], list[dict[str, Any]]],
        build: Callable[[list[dict[str, Any]], Provenance, list[str]], R],
        *,
        refresh: bool,
        offline: bool,
    ) -> R:
        notes: list[str] = []
        if self.cache is not None and not refresh:
            cached, note = self.cache.load(kind, self.endpoint, query, result_type)
            if cached is not None:
                return cached
            if note:
                notes.append(note)
        if offline:
            where = f"in {self.cache.folder}" if self.cache is not None else "(no cache folder configured)"
            raise MPUnavailableError(f"offline mode: no cached Materials Project answer to this {kind} question {where}")
        if self._api_key is None:
            raise MPAuthError(f"no Materials Project API key: {KEY_HELP}")
        key = self._api_key.get_secret_value()
        if len(key) != 32:
            raise MPAuthError(f"the Materials Project API key has {len(key)} characters, not 32: {KEY_HELP}")

        with warnings.catch_warnings(record=True) as caught:
            # Warnings are information for the user: collect them into the result, except
            # library noise that says nothing about the answer.
            warnings.simplefilter("always")
            for pattern in _IGNORED_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            rester = self._get_rester()
            docs = self._call(lambda: fetch(rester), kind)
            provenance = Provenance(
                source="Materials Project", endpoint=self.endpoint, database_version=self._db_version,
                retrieved_at=datetime.now(UTC), from_cache=False, cache_file=None,
            )
            try:
                result = build([dict(d) for d in docs], provenance, [])
            except (KeyError, TypeError, ValueError) as err:  # ValidationError is a ValueError
                raise MPResponseError(
                    f"the Materials Project answer to the {kind} question has an unexpected shape: {_short(err)}"
                ) from err
        notes.extend(dict.fromkeys(_warning_text(w.message) for w in caught))
        if notes:
            result = result.model_copy(update={"warnings": notes})
        if self.cache is not None:
            self.cache.save(kind, self.endpoint, query, result)
        return result

    def _deadline(self, requests_made: int) -> float:
        """Upper bound for `requests_made` requests including retries, backoff and Retry-After waits."""
        attempts = self.max_retries + 1
        per_request = attempts * (self.connect_timeout_s + self.timeout_s) + self.max_retries * max(
            self.max_retry_after_s, self.backoff_s * 2**self.max_retries
        )
        return requests_made * per_request + 5.0

    def _new_session(self) -> requests.Session:
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        cap = self.max_retry_after_s

        class _CappedRetry(Retry):
            """Retry that never waits longer than `cap` seconds for a Retry-After header."""

            def get_retry_after(self, response: Any) -> float | None:
                wait = super().get_retry_after(response)
                return None if wait is None else min(wait, cap)

        retry = _CappedRetry(
            total=self.max_retries,
            connect=self.max_retries,
            read=False,  # a server that is slow once is slow again; a read timeout ends the question
            status=self.max_retries,
            other=0,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"GET"}),
            backoff_factor=self.backoff_s,
            backoff_max=max(self.backoff_s, 8.0),
            respect_retry_after_header=True,
            raise_on_status=False,  # hand the last 429/5xx to the caller, which reports its status
        )
        session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["user-agent"] = "matassist (materials-assistant) via mp-api"

        def remember(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            self._last_status = response.status_code

        session.hooks["response"].append(remember)
        return session

    def _get_rester(self) -> Any:
        if self._rester is not None:
            return self._rester
        assert self._api_key is not None
        key = self._api_key.get_secret_value()
        session = self._session or self._new_session()
        self._session = session
        self._db_version = self._call(lambda: self._heartbeat(session), "heartbeat")

        # Imported here, outside the deadline: a cold import takes 5-15 s and is not a network wait.
        from mp_api.client import MPRester

        def construct() -> Any:
            rester = MPRester(
                api_key=key, endpoint=self.endpoint, session=session, use_document_model=False,
                mute_progress_bars=True, include_user_agent=False,
            )
            # MPRester does not pass a timeout on to its sub-resters (they default to 20 s), and
            # `rester.materials.<name>` is a LazyImport proxy that refuses new attributes: set it on
            # the instance the proxy holds.
            for name in ("summary", "insertion_electrodes"):
                proxy = getattr(rester.materials, name)
                getattr(proxy, "_obj", proxy).timeout = (self.connect_timeout_s, self.timeout_s)
            return rester

        # The constructor calls GET /heartbeat twice with no timeout of its own: bound it here.
        self._rester = self._call(construct, "connection", requests_made=2)
        return self._rester

    def _heartbeat(self, session: requests.Session) -> str | None:
        """GET /heartbeat with our timeouts and retries; returns the database version."""
        response = session.get(self.endpoint + "heartbeat", timeout=(self.connect_timeout_s, self.timeout_s))
        status = response.status_code
        if status == 429 or status >= 500:
            raise _StatusError(status, response.text[:200])  # reported like any rate limit / server failure
        if status != 200:
            # mp-api reads a refused heartbeat as a service problem, not as a bad key; so do we.
            raise MPUnavailableError(
                f"the Materials Project status check ({self.endpoint}heartbeat) answered HTTP {status}; "
                "see https://status.materialsproject.org/ or try again later"
            )
        try:
            body = response.json()
            version = body.get("db_version")
        except (ValueError, AttributeError) as err:
            raise MPResponseError(f"{self.endpoint}heartbeat did not answer with a JSON object") from err
        return str(version) if version else None

    def _call(self, fn: Callable[[], T], what: str, requests_made: int = 1) -> T:
        """Run one exchange under the hard deadline and translate every failure into a typed error."""
        self._last_status = None
        try:
            return _run_with_deadline(fn, self._deadline(requests_made), what)
        except MaterialsProjectError:
            raise
        except Exception as err:
            raise self._translate(err, what) from err

    def _translate(self, err: Exception, what: str) -> MaterialsProjectError:
        import requests
        from urllib3.exceptions import (
            ConnectTimeoutError,
            NameResolutionError,
            NewConnectionError,
            ReadTimeoutError,
        )

        host = self.endpoint
        chain = _exception_chain(err)
        status = next((e.status for e in chain if isinstance(e, _StatusError)), None)
        if status is None:
            status = _status_from_message(err) or self._last_status
        # urllib3's NewConnectionError subclasses ConnectTimeoutError: test refusals before timeouts.
        if any(isinstance(e, NameResolutionError | NewConnectionError) for e in chain):
            return MPUnavailableError(
                f"cannot reach the Materials Project at {host}: no network connection? ({_short(_root(chain))})"
            )
        if any(isinstance(e, requests.Timeout | ReadTimeoutError | ConnectTimeoutError) for e in chain) or (
            "timed out" in str(err).lower()
        ):
            return MPUnavailableError(
                f"the Materials Project ({host}) did not answer within {self.timeout_s:g} s (timeout); "
                "check the network connection or try again later"
            )
        if any(isinstance(e, requests.ConnectionError) for e in chain):
            return MPUnavailableError(
                f"cannot reach the Materials Project at {host}: connection failed ({_short(_root(chain))})"
            )
        if status in (401, 403):
            return MPAuthError(
                f"the Materials Project rejected the API key (HTTP {status}); check the key: {KEY_HELP}"
            )
        if status == 429:
            return MPUnavailableError(
                f"the Materials Project is rate-limiting requests (HTTP 429, still after {self.max_retries} retries); "
                "wait a minute and try again"
            )
        if status is not None and status >= 500:
            return MPUnavailableError(
                f"the Materials Project server failed (HTTP {status}, still after {self.max_retries} retries); try again later"
            )
        if status is not None and status in (400, 404, 414, 422):
            return MPQueryError(f"the Materials Project rejected the {what} query (HTTP {status}): {_short(err)}")
        if any(isinstance(e, ValueError) for e in chain):
            return MPResponseError(f"the Materials Project answer to the {what} was not valid JSON: {_short(err)}")
        if any(isinstance(e, KeyError | TypeError) for e in chain):
            return MPResponseError(f"the Materials Project answer to the {what} has an unexpected shape: {_short(err)}")
        return MaterialsProjectError(f"the Materials Project {what} failed: {type(err).__name__}: {_short(err)}")


class _StatusError(Exception):
    """A non-200 answer to our own heartbeat request."""

    def __init__(self, status: int, body: str):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status


def _exception_chain(err: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [err]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo.extend([current.__cause__, current.__context__])
        todo.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
    return seen


_IGNORED_WARNINGS = (
    # spglib (called by pymatgen's SpacegroupAnalyzer) warns about its own error-handling API on every call.
    r"Set OLD_ERROR_HANDLING to false",
)
def _root(chain: list[BaseException]) -> BaseException:
    """The innermost cause: its message is the most specific (e.g. 'Connection refused')."""
    return chain[-1] if chain else Exception("unknown error")


_STATUS_RE = re.compile(r"status code (\d{3})")


def _status_from_message(err: BaseException) -> int | None:
    match = _STATUS_RE.search(str(err))
    return int(match.group(1)) if match else None


def _short(err: BaseException, limit: int = 240) -> str:
    text = " ".join(str(err).split())
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _warning_text(message: Warning | str) -> str:
    return _short(message if isinstance(message, Warning) else Warning(message), 300)


# --------------------------------------------------------------------------- plain-language queries


class MPQuery(_Frozen):
    """What a plain-language Materials Project question asks for (output of parse_mp_query)."""

    kind: Literal["summary", "electrodes"] = Field(description="which endpoint answers the question")
    formulas: list[str] = Field(default_factory=list, description="formulas mentioned, e.g. LiNiO2, LiNi0.8Co0.1Mn0.1O2")
    chemsys: list[str] = Field(default_factory=list, description="chemical systems mentioned, e.g. Li-Fe-P-O (elements sorted)")
    material_ids: list[str] = Field(default_factory=list, description="Materials Project IDs mentioned, e.g. mp-25411")
    working_ion: WorkingIon | None = Field(None, description="working ion named in the question, e.g. Li")
    is_stable: bool | None = Field(None, description="True when the question asks for stable materials only")
    band_gap_min: float | None = Field(None, description="minimum band gap, eV")
    band_gap_max: float | None = Field(None, description="maximum band gap, eV")
    energy_above_hull_min: float | None = Field(None, description="minimum energy above hull, eV/atom")
    energy_above_hull_max: float | None = Field(None, description="maximum energy above hull, eV/atom")
    formation_energy_per_atom_min: float | None = Field(None, description="minimum formation energy, eV/atom")
    formation_energy_per_atom_max: float | None = Field(None, description="maximum formation energy, eV/atom")
    density_min: float | None = Field(None, description="minimum density, g/cm³")
    density_max: float | None = Field(None, description="maximum density, g/cm³")
    average_voltage_min: float | None = Field(None, description="minimum average voltage, V")
    average_voltage_max: float | None = Field(None, description="maximum average voltage, V")
    max_voltage_step_max: float | None = Field(None, description="maximum voltage step, V")
    capacity_grav_min: float | None = Field(None, description="minimum gravimetric capacity, mAh/g")
    capacity_grav_max: float | None = Field(None, description="maximum gravimetric capacity, mAh/g")
    capacity_vol_min: float | None = Field(None, description="minimum volumetric capacity, mAh/cm³")
    capacity_vol_max: float | None = Field(None, description="maximum volumetric capacity, mAh/cm³")
    energy_grav_min: float | None = Field(None, description="minimum specific energy, Wh/kg")
    energy_grav_max: float | None = Field(None, description="maximum specific energy, Wh/kg")
    energy_vol_min: float | None = Field(None, description="minimum energy density, Wh/L")
    energy_vol_max: float | None = Field(None, description="maximum energy density, Wh/L")

    @property
    def is_empty(self) -> bool:
        """True when nothing searchable was recognised."""
        return not self.model_dump(exclude={"kind"}, exclude_none=True, exclude_defaults=True)

    def to_summary_query(self, limit: int = 20) -> SummaryQuery:
        """The SummaryQuery for this question (MPQueryError when nothing searchable was recognised)."""
        names = [n for n in SummaryQuery.model_fields if n in MPQuery.model_fields and n.endswith(("_min", "_max"))]
        ranges = {n: getattr(self, n) for n in names if getattr(self, n) is not None}
        return build_query(
            SummaryQuery,
            formula=",".join(self.formulas) or None,
            chemsys=",".join(self.chemsys) or None,
            material_ids=self.material_ids or None,
            is_stable=self.is_stable,
            limit=limit,
            **ranges,
        )

    def to_electrode_query(self, limit: int = 20) -> ElectrodeQuery:
        """The ElectrodeQuery for this question; the working ion defaults to Li."""
        names = [n for n in ElectrodeQuery.model_fields if n in MPQuery.model_fields and n.endswith(("_min", "_max"))]
        ranges = {n: getattr(self, n) for n in names if getattr(self, n) is not None}
        formula = self.formulas[0] if len(self.formulas) == 1 else None
        elements = sorted({e for s in self.chemsys for e in s.split("-")} - {self.working_ion or "Li"}) or None
        return build_query(
            ElectrodeQuery,
            working_ion=self.working_ion or "Li",
            formula=formula,
            elements=elements,
            battery_ids=[f"{m}_{self.working_ion or 'Li'}" for m in self.material_ids] or None,
            limit=limit,
            **ranges,
        )


_ION_WORDS = {
    "lithium": "Li", "sodium": "Na", "potassium": "K", "magnesium": "Mg", "calcium": "Ca", "zinc": "Zn",
    "aluminium": "Al", "aluminum": "Al",
}
_ION_CONTEXT = r"(?=[\s-]*(?:ion\b|ions\b|cathode|anode|batter|electrode|insertion|intercalat|host))"
_ION_RE = re.compile(r"\b(Li|Na|K|Mg|Ca|Zn|Al)\b" + _ION_CONTEXT)
_ION_WORD_RE = re.compile(r"\b(" + "|".join(_ION_WORDS) + r")\b" + _ION_CONTEXT, re.IGNORECASE)
_ELECTRODE_WORDS = re.compile(
    r"\b(cathodes?|anodes?|electrodes?|voltage|capacity|capacities|mah|wh/kg|working ion|insertion|intercalation)\b",
    re.IGNORECASE,
)
_MPID_RE = re.compile(r"\b(?:mp|mvc)-\d+\b", re.IGNORECASE)
_CHEMSYS_RE = re.compile(r"(?<![\w-])[A-Z][a-z]?(?:-[A-Z][a-z]?)+(?![\w-])")
_FORMULA_TOKEN_RE = re.compile(r"(?<![\w.-])(?:[A-Z][a-z]?(?:\d+(?:\.\d+)?)?|\((?:[A-Z][a-z]?\d*(?:\.\d+)?)+\)\d*(?:\.\d+)?)+(?![\w-])")
_ELEMENT_PART_RE = re.compile(r"([A-Z][a-z]?)(\d+(?:\.\d+)?)?")
_STABLE_RE = re.compile(
    r"\b(?:only\s+stable|(?:that|which)\s+are\s+stable|on\s+the\s+(?:convex\s+)?hull|"
    r"stable\s+(?:[A-Z][A-Za-z0-9.()-]*\s+)?(?:materials?|phases?|compounds?|structures?|polymorphs?|ones|oxides?|cathodes?|entries)\b)",
    re.IGNORECASE,
)

_NUM = r"([-−]?\d+(?:\.\d+)?)"
_UNIT = (
    r"(mAh\s*/\s*g|mAh\s*/\s*(?:cc|cm3|cm\^3|cm³)|Wh\s*/\s*kg|Wh\s*/\s*L|m?eV\s*/\s*atom|eV|"
    r"g\s*/\s*(?:cc|cm3|cm\^3|cm³)|V)(?![A-Za-z])"
)
_GT = r"(?:above|over|greater than|more than|higher than|larger than|exceeding|at least|no less than|min(?:imum)?(?: of)?|>=|≥|>)"
_LT = r"(?:below|under|less than|lower than|smaller than|at most|up to|no more than|within|max(?:imum)?(?: of)?|<=|≤|<)"
_CMP_RE = re.compile(rf"(?P<cmp>{_GT}|{_LT})\s*(?:of\s+)?~?\s*{_NUM}\s*(?:{_UNIT})?", re.IGNORECASE)
_BETWEEN_RE = re.compile(rf"\bbetween\s+{_NUM}\s*(?:{_UNIT})?\s*(?:and|to|-(?=\s*\d))\s*{_NUM}\s*(?:{_UNIT})?", re.IGNORECASE)
_TRAILING_RE = re.compile(rf"{_NUM}\s*{_UNIT}\s+or\s+(?P<dir>more|higher|above|greater|less|lower|below|fewer)\b", re.IGNORECASE)

# Keyword (searched in the words just before a number) -> property, used to pick the property when
# a unit is shared (eV/atom: hull or formation energy; V: average voltage or step) or missing.
_KEYWORDS: list[tuple[str, str]] = [
    (r"formation", "formation_energy_per_atom"),
    (r"hull|e_above_hull|ehull|stability", "energy_above_hull"),
    (r"band\s*gap|gap", "band_gap"),
    (r"voltage\s+step|step", "max_voltage_step"),
    (r"voltage|potential", "average_voltage"),
    (r"volumetric\s+capacity", "capacity_vol"),
    (r"capacity|capacities", "capacity_grav"),
    (r"energy\s+density", "energy_vol"),
    (r"specific\s+energy|gravimetric\s+energy", "energy_grav"),
    (r"density", "density"),
]
_UNIT_PROPERTIES: dict[str, tuple[str, ...]] = {
    "mah/g": ("capacity_grav",),
    "mah/cc": ("capacity_vol",),
    "wh/kg": ("energy_grav",),
    "wh/l": ("energy_vol",),
    "ev/atom": ("energy_above_hull", "formation_energy_per_atom"),
    "ev": ("band_gap",),
    "g/cc": ("density",),
    "v": ("average_voltage", "max_voltage_step"),
}


def _unit_key(unit: str) -> tuple[str, float]:
    """Canonical unit and the factor to the API's unit."""
    text = re.sub(r"\s+", "", unit).lower().replace("cm^3", "cc").replace("cm3", "cc").replace("cm³", "cc")
    if text == "mev/atom":
        return "ev/atom", 1e-3
    return text, 1.0


def _property_for(text: str, start: int, unit: str | None) -> tuple[str | None, float]:
    """Which property a number at `start` refers to, from its unit and the words just before it."""
    window = text[max(0, start - 48) : start].lower()
    candidates: tuple[str, ...]
    factor = 1.0
    if unit:
        key, factor = _unit_key(unit)
        candidates = _UNIT_PROPERTIES.get(key, ())
    else:
        candidates = tuple(name for _, name in _KEYWORDS)
    best: tuple[int, str] | None = None
    for pattern, name in _KEYWORDS:
        if name not in candidates:
            continue
        for match in re.finditer(pattern, window):
            if best is None or match.end() > best[0]:
                best = (match.end(), name)
    if best is not None:
        return best[1], factor
    if unit and candidates:
        return candidates[0], factor
    return None, factor


def _number(text: str) -> float:
    return float(text.replace("−", "-"))


def _plausible_formula(token: str) -> bool:
    parts = _ELEMENT_PART_RE.findall(token)
    symbols = [p[0] for p in parts]
    if len(symbols) < 2 or any(s not in ELEMENTS for s in symbols):
        return False
    # All-capital letters without digits (CV, ICP, SOC, OCV) are far more often acronyms.
    return any(ch.isdigit() for ch in token) or any(ch.islower() for ch in token)


def parse_mp_query(text: str) -> MPQuery:
    """Recognise formulas, chemical systems, mp-IDs, a working ion and numeric filters in a question.

    Pure and offline. Examples: "band gap and energy above hull of mp-25411",
    "Li cathodes with average voltage above 4 V and capacity above 200 mAh/g",
    "stable Li-Fe-P-O phases within 25 meV/atom of the hull".
    """
    material_ids = list(dict.fromkeys(m.group(0).lower() for m in _MPID_RE.finditer(text)))
    scrubbed = _MPID_RE.sub(" ", text)

    chemsys: list[str] = []
    for match in _CHEMSYS_RE.finditer(scrubbed):
        elements = match.group(0).split("-")
        if all(e in ELEMENTS for e in elements) and len(set(elements)) == len(elements):
            chemsys.append("-".join(sorted(elements)))
            scrubbed = scrubbed[: match.start()] + " " * len(match.group(0)) + scrubbed[match.end() :]
    formulas = [m.group(0) for m in _FORMULA_TOKEN_RE.finditer(scrubbed) if _plausible_formula(m.group(0))]

    ion_match = _ION_RE.search(text)
    word_match = _ION_WORD_RE.search(text)
    ion = ion_match.group(1) if ion_match else (_ION_WORDS[word_match.group(1).lower()] if word_match else None)

    bounds: dict[str, float] = {}

    def put(name: str | None, side: str, value: float) -> None:
        if name is not None:
            bounds[f"{name}_{side}"] = value

    taken: list[tuple[int, int]] = []
    for match in _BETWEEN_RE.finditer(text):
        unit = match.group(4) or match.group(2)
        name, factor = _property_for(text, match.start(), unit)
        low, high = sorted((_number(match.group(1)) * factor, _number(match.group(3)) * factor))
        put(name, "min", low)
        put(name, "max", high)
        taken.append(match.span())
    for match in _CMP_RE.finditer(text):
        if any(a <= match.start() < b for a, b in taken):
            continue
        unit = match.group(3)
        name, factor = _property_for(text, match.start(), unit)
        if name is None:
            continue
        if name == "max_voltage_step" or re.fullmatch(_LT, match.group("cmp"), re.IGNORECASE):
            side = "max"
        else:
            side = "min"
        put(name, side, _number(match.group(2)) * factor)
        taken.append(match.span())
    for match in _TRAILING_RE.finditer(text):
        if any(a <= match.start() < b for a, b in taken):
            continue
        name, factor = _property_for(text, match.start(), match.group(2))
        side = "min" if match.group("dir").lower() in {"more", "higher", "above", "greater"} else "max"
        put(name, side, _number(match.group(1)) * factor)

    electrode_props = {"average_voltage", "max_voltage_step", "capacity_grav", "capacity_vol", "energy_grav", "energy_vol"}
    wants_electrodes = bool(_ELECTRODE_WORDS.search(text)) or any(k.rsplit("_", 1)[0] in electrode_props for k in bounds)
    # "stable ... within 50 meV/atom of the hull" asks for near-stable ones: the threshold wins.
    loose = bounds.get("energy_above_hull_max", 0.0) > 0
    stable = True if _STABLE_RE.search(text) and not loose else None
    return MPQuery(
        kind="electrodes" if wants_electrodes else "summary",
        formulas=list(dict.fromkeys(formulas)),
        chemsys=list(dict.fromkeys(chemsys)),
        material_ids=material_ids,
        working_ion=ion,  # type: ignore[arg-type]
        is_stable=stable,
        **bounds,
    )
