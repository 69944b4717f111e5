"""Typed Materials Project queries: material summaries, insertion electrodes and structures.

The fields mirror the API's search arguments (with units in every description) and are the one
definition of a Materials Project query: the CLI derives its options from them and the
plain-language parser (query_parser.py) fills them.
"""

from __future__ import annotations

import re
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tools.domain.errors import MPQueryError

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

_ID_RE = re.compile(r"^[a-z]+-[0-9a-z]+$")
_FORMULA_RE = re.compile(r"^[A-Za-z0-9().*]+$")


class FrozenModel(BaseModel):
    """Base of the Materials Project models: unknown fields refused, values immutable."""

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


class SummaryQuery(FrozenModel):
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


class ElectrodeQuery(FrozenModel):
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


class StructureQuery(FrozenModel):
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

