"""Plain-language Materials Project questions turned into structured queries, offline and without a model."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from tools.materials_project.queries import (
    ELEMENTS,
    ElectrodeQuery,
    FrozenModel,
    SummaryQuery,
    WorkingIon,
    build_query,
)


class MPQuery(FrozenModel):
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
