"""Check a CIF for soundness: parsing, cell, formula, distances, symmetry, charge, sites, family rules.

The checker turns every finding into a `CifCheck` with a stable `code`, a `severity`
(error / warning / info) and a plain message; `valid` is false exactly when an error exists.
It never raises on a bad CIF (unparseable text, binary garbage, impossible cells all come back
as error checks); it raises `CifError` only for bad requests (unknown rule family, unreadable
reference structure). pymatgen and spglib are imported lazily, and the warnings they emit
while reading a CIF are captured and reported as checks.

With `fast=False` the structure also goes through the physical check with the CHGNet universal
potential (tools/structures/physics.py, loaded lazily); `validate_cifs` batches those checks.

Wyckoff sites are reported in the conventional standard setting that spglib standardises to
(ITA standard setting), so a primitive rhombohedral LiCoO2 still reads Li 3a/3b, Co 3b/3a, O 6c.
"""

from __future__ import annotations

import math
import re
import string
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.domain.errors import CifError
from tools.structures.rules import FamilyRules, load_family, select_family

if TYPE_CHECKING:
    from pymatgen.core import Structure

Severity = Literal["error", "warning", "info"]

_MODEL = ConfigDict(extra="forbid")

# Thresholds, all in angstrom unless said otherwise.
OVERLAP_DISTANCE = 0.5
"""Two atoms (that can both be present) closer than this are an error."""
BOND_SHORT_FACTOR = 0.75
"""A contact shorter than this fraction of the expected bond length is a warning."""
BOND_LONG_FACTOR = 1.35
"""An atom whose nearest bonding partner is farther than this multiple of the expected length is a warning."""
IONIC_ELECTRONEGATIVITY_GAP = 1.0
"""Pauling electronegativity difference above which a pair is treated as ionic (ionic radii)."""
NEIGHBOUR_RADIUS = 4.0
"""Radius of the neighbour search for bonds and coordination."""
_MAX_NEIGHBOUR_PAIRS = 3_000_000
_MAX_CONNECTIVITY_SITES = 3000
_MAX_TEXT_CHARS = 20_000_000
_CHARGE_TOL_PER_ATOM = 0.01  # e per atom: absorbs rounded occupancies
DEFAULT_RELAX_STEPS = 4
"""FIRE steps of the physical check's short relaxation: small, so that 100 small CIFs take under a minute
on two shared cores (benchmarks/bench_cif.py); raise it (relax_steps, --relax-steps) for a few CIFs."""

# Stable check codes: priority (lower = more important in a repair prompt) and meaning.
CHECK_CODES: dict[str, tuple[int, str]] = {
    "PARSE_ERROR": (0, "the text could not be read as a CIF"),
    "PARSE_NO_STRUCTURE": (1, "the CIF holds no structure that can be built"),
    "OCCUPANCY_ABOVE_ONE": (2, "a site's total occupancy exceeds 1"),
    "CELL_INVALID": (3, "the cell has zero or near-zero volume or thickness"),
    "SPACEGROUP_UNREADABLE": (4, "the declared space group could not be expanded and no symmetry operations are given"),
    "ATOMS_OVERLAP": (5, "atoms closer than 0.5 angstrom"),
    "FORMULA_MISMATCH": (6, "declared formula differs from the atoms"),
    "RULE_COMPOSITION": (7, "composition does not fit the requested structure family"),
    "CHARGE_IMBALANCE": (8, "no usual oxidation states balance the charge"),
    "RULE_SPACEGROUP": (10, "space group is not one the structure family is known in"),
    "SPACEGROUP_MISMATCH": (11, "declared space group differs from the symmetry of the atoms"),
    "RULE_WYCKOFF": (12, "an element sits on a Wyckoff site its role may not occupy"),
    "RULE_COORDINATION": (13, "a coordination polyhedron differs from the family's"),
    "RULE_CONNECTIVITY": (14, "polyhedra share corners/edges/faces differently from the family"),
    "REFERENCE_MISMATCH": (15, "the structure does not match the reference structure"),
    "BOND_TOO_SHORT": (16, "a contact is much shorter than the sum of radii"),
    "BOND_TOO_LONG": (17, "an atom is far from every bonding partner"),
    "MULTIPLICITY_MISMATCH": (18, "declared site multiplicity differs from the positions generated"),
    "FORMULA_UNITS_MISMATCH": (19, "declared Z differs from the cell contents"),
    "SPACEGROUP_LOOSE": (20, "the declared group holds only at the loose tolerance"),
    "SPACEGROUP_HIGHER": (21, "the atoms have higher symmetry than declared"),
    "SPACEGROUP_INCONSISTENT": (22, "declared space-group symbol and number disagree"),
    "SPACEGROUP_UNKNOWN": (23, "declared space-group symbol not recognised"),
    "SYMMETRY_UNDETERMINED": (24, "spglib could not determine the symmetry"),
    "CELL_UNUSUAL": (25, "cell lengths or volume per atom are unusual"),
    "DENSITY_UNUSUAL": (26, "density outside 0.5-25 g/cm3"),
    "PARSER_WARNING": (27, "pymatgen reported a problem while reading"),
    "MULTIPLE_BLOCKS": (28, "several data blocks; only the first structure was checked"),
    "ANALYSIS_SKIPPED": (29, "a check was skipped (structure too large or too dense)"),
    "CHECK_FAILED": (30, "a check could not run"),
    "FORMULA_UNREADABLE": (31, "declared formula could not be read"),
    "LIBRARY_WARNING": (40, "a library warning raised during the checks"),
    "SPLIT_SITES": (50, "partly occupied sites closer than 0.5 angstrom (mutually exclusive)"),
    "FORMULA_MISSING": (51, "no declared formula"),
    "FORMULA_OK": (52, "declared formula matches the atoms"),
    "CELL_OK": (53, "cell summary"),
    "BONDS_OK": (54, "all nearest-neighbour distances are plausible"),
    "SPACEGROUP_OK": (55, "declared space group matches the atoms"),
    "SPACEGROUP_P1": (56, "written in P1; the atoms have higher symmetry"),
    "SPACEGROUP_NOT_DECLARED": (57, "no space group declared"),
    "CHARGE_BALANCED": (58, "usual oxidation states balance the charge"),
    "CHARGE_NOT_APPLICABLE": (59, "no anions, or elements without oxidation-state data"),
    "RULES_APPLIED": (60, "which structure family the structure was checked against"),
    "RULES_NONE": (61, "no structure family fits"),
    "RULES_OK": (62, "consistent with the structure family"),
    "REFERENCE_MATCH": (63, "the structure matches the reference"),
    "PHYSICAL_NOT_RUN": (64, "physical (universal potential) check not run"),
    # Physical check with CHGNet (tools/structures/physics.py; thresholds documented there).
    "PHYSICAL_ISOLATED_ATOMS": (9, "atoms with no neighbour within 6 angstrom: the structure falls apart"),
    "PHYSICAL_FORCES_HUGE": (9, "the potential gives huge (or non-finite) forces"),
    "PHYSICAL_ATOMS_MOVE": (16, "atoms move far in a short relaxation"),
    "PHYSICAL_FORCES_LARGE": (16, "the potential gives large forces"),
    "PHYSICAL_ENERGY_HIGH": (9, "the energy is far above the potential's composition baseline: atoms barely bound"),
    "PHYSICAL_ENERGY_DROP": (17, "a short relaxation lowers the energy a lot"),
    "PHYSICAL_PRESSURE_HIGH": (17, "the cell is under a large pressure"),
    "PHYSICAL_ABOVE_HULL": (18, "estimated energy above the convex hull of the reference entries is high"),
    "PHYSICAL_FAILED": (41, "the physical check could not run (a tool problem, not a finding about the CIF)"),
    "PHYSICAL_OK": (65, "physical check: numbers, nothing flagged"),
    "PHYSICAL_SUMMARY": (65, "physical check: numbers"),
}


class CifCheck(BaseModel):
    """One finding about a CIF."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(description="stable identifier of the check, e.g. ATOMS_OVERLAP (see CHECK_CODES)")
    severity: Severity = Field(description="error (the CIF is not sound), warning (suspicious) or info")
    message: str = Field(description="plain-language finding, with numbers and units")


class SpaceGroupReport(BaseModel):
    """Declared and detected space groups."""

    model_config = _MODEL

    declared: str | None = Field(default=None, description="space-group symbol (or number) written in the CIF")
    declared_number: int | None = Field(default=None, description="ITA number of the declared group, when recognised")
    detected: str | None = Field(default=None, description="space group of the atoms at the tight tolerance")
    detected_number: int | None = Field(default=None, description="ITA number at the tight tolerance")
    detected_loose: str | None = Field(default=None, description="space group of the atoms at the loose tolerance")
    detected_loose_number: int | None = Field(default=None, description="ITA number at the loose tolerance")
    symprec: float = Field(description="tight symmetry tolerance, angstrom")
    loose_symprec: float = Field(description="loose symmetry tolerance, angstrom")


class SiteReport(BaseModel):
    """One symmetry-distinct site, in the conventional standard setting."""

    model_config = _MODEL

    label: str = Field(description="site label from the CIF (first atom of the orbit)")
    species: str = Field(description="species and occupancies, e.g. Li or Ni0.8Co0.1Mn0.1")
    wyckoff: str | None = Field(default=None, description="Wyckoff site, multiplicity and letter (e.g. 6c), standard setting")
    site_symmetry: str | None = Field(default=None, description="site-symmetry symbol from spglib")
    count_in_cell: int = Field(description="number of atoms of this orbit in the cell as written")
    coordination_number: int | None = Field(default=None, description="number of nearest anions (cations only)")
    polyhedron: str | None = Field(default=None, description="closest ideal polyhedron, or 'irregular'")
    mean_bond_length: float | None = Field(default=None, description="mean distance to the coordinating anions, angstrom")
    role: str | None = Field(default=None, description="role in the applied structure family (A, M, X ...)")


class ReferenceComparison(BaseModel):
    """Comparison with a reference structure (pymatgen StructureMatcher)."""

    model_config = _MODEL

    reference: str = Field(description="name of the reference structure")
    formula: str = Field(description="reduced formula of the reference")
    spacegroup: str | None = Field(default=None, description="space group of the reference at the tight tolerance")
    same_composition: bool = Field(description="both have the same reduced composition")
    match: bool = Field(description="StructureMatcher finds them the same structure (ltol 0.2, stol 0.3, 5 degrees)")
    rms_displacement: float | None = Field(
        default=None, description="RMS site displacement after matching, in units of (volume per atom)^(1/3)"
    )
    max_displacement: float | None = Field(
        default=None, description="largest site displacement after matching, in units of (volume per atom)^(1/3)"
    )
    volume_per_atom_change_percent: float | None = Field(
        default=None, description="volume per atom relative to the reference, percent"
    )


class ReferenceEntry(BaseModel):
    """A reference phase for the energy-above-hull estimate (e.g. a Materials Project entry)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    formula: str = Field(description="composition of the phase, e.g. Li2O or LiCoO2")
    energy_per_atom: float = Field(
        description="total energy per atom, eV/atom, on the Materials Project GGA/GGA+U (MP2020-corrected) scale that CHGNet learned"
    )
    name: str | None = Field(default=None, description="label, e.g. the Materials Project id")

    @classmethod
    def from_entry(cls, entry: Any) -> ReferenceEntry:
        """From a pymatgen ComputedEntry/PDEntry (its corrected energy per atom)."""
        name = getattr(entry, "entry_id", None) or getattr(entry, "name", None)
        return cls(formula=str(entry.composition.formula), energy_per_atom=float(entry.energy_per_atom),
                   name=None if name is None else str(name))


class PhysicalCheckResult(BaseModel):
    """Physical check with a universal interatomic potential (CHGNet); numbers refer to the cell evaluated."""

    model_config = _MODEL

    status: Literal["not_run", "ok", "flagged", "failed"] = Field(
        description="not_run (skipped: --fast, no ordered structure ...), ok (nothing flagged), flagged (errors or "
        "warnings from the potential), failed (the potential could not be used)"
    )
    method: str | None = Field(default=None, description="potential used, e.g. CHGNet 0.3.0 (chgnet 0.4.2)")
    reason: str | None = Field(default=None, description="why it did not run or failed; None when it ran")
    n_atoms_evaluated: int | None = Field(default=None, description="atoms in the evaluated cell (primitive when the CIF holds a supercell)")
    energy_per_atom: float | None = Field(default=None, description="energy of the structure as written, eV/atom")
    energy_above_baseline: float | None = Field(
        default=None, description="energy minus CHGNet's composition-only baseline (fitted per-element energies), eV/atom"
    )
    max_force: float | None = Field(default=None, description="largest force on an atom as written, eV/angstrom")
    pressure_gpa: float | None = Field(default=None, description="pressure as written (positive: cell too small), GPa")
    relax_steps: int | None = Field(default=None, description="FIRE steps taken in the short fixed-cell relaxation")
    relax_converged: bool | None = Field(default=None, description="every force fell below the threshold (fmax)")
    max_displacement: float | None = Field(default=None, description="largest atom displacement in the relaxation, angstrom")
    relaxed_energy_per_atom: float | None = Field(default=None, description="energy after the relaxation, eV/atom")
    energy_change_per_atom: float | None = Field(default=None, description="energy after minus before the relaxation, eV/atom")
    relaxed_max_force: float | None = Field(default=None, description="largest force after the relaxation, eV/angstrom")
    energy_above_hull: float | None = Field(default=None, description="estimated energy above the hull of the reference entries, eV/atom")
    hull_note: str | None = Field(default=None, description="how the hull estimate was made, or why not")
    isolated_atoms: int = Field(default=0, description="atoms with no neighbour within 6 angstrom")
    seconds: float | None = Field(default=None, description="wall time spent on this structure (batch time shared), s")

    def numbers_text(self) -> str | None:
        """The check's headline numbers in one phrase, or None when it produced none (not run, failed)."""
        if self.status not in ("ok", "flagged") or self.energy_per_atom is None or self.max_force is None:
            return None
        hull = f", about {self.energy_above_hull:.3f} eV/atom above the hull" if self.energy_above_hull is not None else ""
        return (
            f"{self.energy_per_atom:.3f} eV/atom as written, largest force {self.max_force:.3g} eV/A, pressure "
            f"{self.pressure_gpa or 0:+.3g} GPa, atoms moved up to {self.max_displacement or 0:.3f} A in a "
            f"{self.relax_steps}-step relaxation{hull}"
        )


class CifValidationInput(BaseModel):
    """What to validate and how."""

    model_config = _MODEL

    cif: str = Field(description="CIF text (CIF 1.1 or 2.0)")
    source: str | None = Field(default=None, description="name of the CIF for reports, e.g. its file name")
    rules: str = Field(
        default="auto",
        description="structure-family rules: 'auto' (pick by composition and structure), 'none', "
        "a built-in family name (e.g. layered_limo2) or a YAML rule file path",
    )
    reference_cif: str | None = Field(default=None, description="CIF text of a reference structure to compare with")
    reference_name: str | None = Field(default=None, description="name of the reference for reports")
    fast: bool = Field(
        default=True,
        description="skip the physical check with a universal potential (CHGNet; about 0.1-0.5 s per small structure "
        "plus a one-off model load); the library default skips it, the validate-cif command runs it unless --fast",
    )
    relax_steps: int = Field(
        default=DEFAULT_RELAX_STEPS, ge=0, le=500, description="FIRE steps of the short relaxation in the physical check (0: none)"
    )
    reference_entries: list[ReferenceEntry] = Field(
        default_factory=list,
        description="reference phases of the chemical system (Materials Project GGA/GGA+U energies) for the "
        "energy-above-hull estimate; empty: not estimated",
    )
    symprec: float = Field(default=0.01, gt=0, le=1.0, description="tight symmetry tolerance, angstrom")
    loose_symprec: float = Field(default=0.1, gt=0, le=1.0, description="loose symmetry tolerance, angstrom")
    angle_tolerance: float = Field(default=5.0, gt=0, le=30, description="symmetry angle tolerance, degrees")


class CifValidationResult(BaseModel):
    """Everything found about one CIF."""

    model_config = _MODEL

    source: str | None = Field(default=None, description="name of the CIF")
    valid: bool = Field(description="false exactly when at least one check is an error")
    formula: str | None = Field(default=None, description="reduced formula of the atoms, None when no structure")
    declared_formula: str | None = Field(default=None, description="formula written in the CIF")
    n_sites: int = Field(default=0, description="number of sites in the cell as written")
    spacegroup: SpaceGroupReport = Field(description="declared and detected space groups")
    checks: list[CifCheck] = Field(description="all findings, errors first")
    sites: list[SiteReport] = Field(default_factory=list, description="symmetry-distinct sites")
    rules: str | None = Field(default=None, description="structure family checked against, None when none")
    rules_selected_by: Literal["explicit", "auto"] | None = Field(
        default=None, description="explicit (named) or auto (by composition and structure)"
    )
    reference: ReferenceComparison | None = Field(default=None, description="comparison with the reference, if given")
    physical: PhysicalCheckResult = Field(description="physical check with a universal potential")
    repair_prompt: str | None = Field(default=None, description="prompt asking a model to fix the problems; None when nothing to fix")

    @model_validator(mode="after")
    def _valid_iff_no_error(self) -> CifValidationResult:
        if self.valid == any(c.severity == "error" for c in self.checks):
            raise ValueError("valid must be false exactly when an error check exists")
        return self

    @property
    def errors(self) -> list[CifCheck]:
        """The error checks."""
        return [c for c in self.checks if c.severity == "error"]

    def codes(self, severity: Severity | None = None) -> set[str]:
        """Codes of the checks, optionally of one severity."""
        return {c.code for c in self.checks if severity is None or c.severity == severity}

    def summary(self) -> dict[str, Any]:
        """The CLI's JSON shape: file, valid, formula, spacegroup, checks, repair_prompt (plus details)."""
        return {
            "file": self.source,
            "valid": self.valid,
            "formula": self.formula,
            "spacegroup": {"declared": self.spacegroup.declared, "detected": self.spacegroup.detected},
            "checks": [c.model_dump() for c in self.checks],
            "repair_prompt": self.repair_prompt,
            "rules": self.rules,
            "sites": [s.model_dump() for s in self.sites],
            "reference": None if self.reference is None else self.reference.model_dump(),
            "physical": self.physical.model_dump(),
        }


# --------------------------------------------------------------------------- space groups


@dataclass(frozen=True)
class _SpaceGroupType:
    number: int
    symbol: str
    point_group_order: int


_POINT_GROUP_ORDER = {
    "1": 1, "-1": 2, "2": 2, "m": 2, "2/m": 4, "222": 4, "mm2": 4, "mmm": 8, "4": 4, "-4": 4,
    "4/m": 8, "422": 8, "4mm": 8, "-42m": 8, "4/mmm": 16, "3": 3, "-3": 6, "32": 6, "3m": 6,
    "-3m": 12, "6": 6, "-6": 6, "6/m": 12, "622": 12, "6mm": 12, "-6m2": 12, "6/mmm": 24,
    "23": 12, "m-3": 24, "432": 24, "-43m": 24, "m-3m": 48,
}  # fmt: skip


def _normalise_symbol(text: str) -> str:
    text = text.strip().strip("'\"").strip()
    text = re.sub(r"(?i)origin\s*choice\s*\d", "", text)
    text = text.split(":")[0]
    tokens = text.split()
    while len(tokens) > 1 and tokens[-1].upper() in {"H", "R", "S", "Z"}:
        tokens.pop()
    return "".join(tokens).replace("_", "").lower()


@lru_cache(maxsize=1)
def _space_group_tables() -> tuple[dict[str, int], dict[int, _SpaceGroupType]]:
    import spglib

    by_symbol: dict[str, int] = {}
    by_number: dict[int, _SpaceGroupType] = {}
    for hall in range(1, 531):
        sgt = spglib.get_spacegroup_type(hall)
        if sgt is None:
            continue
        for sym in (sgt.international_short, sgt.international, sgt.international_full):
            by_symbol.setdefault(_normalise_symbol(sym), sgt.number)
        if sgt.number not in by_number:
            by_number[sgt.number] = _SpaceGroupType(
                sgt.number, sgt.international_short, _POINT_GROUP_ORDER.get(sgt.pointgroup_international.strip(), 0)
            )
    return by_symbol, by_number


def space_group_number(symbol: str) -> int | None:
    """ITA number of a Hermann-Mauguin symbol in any common spelling ('R -3 m H', 'P21/c', 'Fd-3m:2'), or None."""
    by_symbol, _ = _space_group_tables()
    return by_symbol.get(_normalise_symbol(symbol))


def space_group_symbol(number: int) -> str | None:
    """Short Hermann-Mauguin symbol of the standard setting of a space-group number."""
    _, by_number = _space_group_tables()
    sgt = by_number.get(number)
    return None if sgt is None else sgt.symbol


def _sg_text(symbol: str | None, number: int | None) -> str:
    if symbol is None and number is None:
        return "unknown"
    if number is None:
        return str(symbol)
    return f"{symbol or space_group_symbol(number)} ({number})"


# --------------------------------------------------------------------------- element data


@lru_cache(maxsize=256)
def _element_data(symbol: str) -> tuple[float, float, float, float, tuple[int, ...], tuple[int, ...]]:
    """Electronegativity, atomic, cationic and anionic radius (angstrom), usual and common oxidation states."""
    from pymatgen.core import Element

    with warnings.catch_warnings():
        # pymatgen warns when it has no data (noble gases); missing data is handled as NaN here.
        warnings.simplefilter("ignore")
        el = Element(symbol)
        x = float(el.X) if el.X is not None else math.nan
        atomic = float(el.atomic_radius) if el.atomic_radius is not None else math.nan
        cat = float(el.average_cationic_radius or 0.0)
        an = float(el.average_anionic_radius or 0.0)
        states = tuple(sorted(set(el.icsd_oxidation_states or ()) | set(el.common_oxidation_states or ())))
        common = tuple(el.common_oxidation_states or ())
    return x, atomic, cat, an, states, common


def _anions(elements: Iterable[str]) -> set[str]:
    """Elements acting as anions: electronegative, with an anionic radius, near the most electronegative one."""
    data = {e: _element_data(e) for e in elements}
    xs = [d[0] for d in data.values() if not math.isnan(d[0])]
    if not xs:
        return set()
    top = max(xs)
    return {e for e, d in data.items() if d[3] > 0 and d[0] >= 2.5 and d[0] >= top - 0.6}


def expected_bond_length(a: str, b: str, anions: set[str]) -> float | None:
    """Expected a-b distance (angstrom): ionic radii when electronegativities differ a lot, atomic otherwise."""
    xa, ra, ca, aa, _, _ = _element_data(a)
    xb, rb, cb, ab, _, _ = _element_data(b)
    a_an, b_an = a in anions, b in anions
    if a_an and b_an:
        return aa + ab
    gap = abs(xa - xb) if not (math.isnan(xa) or math.isnan(xb)) else 0.0
    if gap >= IONIC_ELECTRONEGATIVITY_GAP and a_an != b_an:
        cation_r, anion_r = (cb, aa) if a_an else (ca, ab)
        if cation_r > 0 and anion_r > 0:
            return cation_r + anion_r
    if math.isnan(ra) or math.isnan(rb):
        return None
    return ra + rb


# --------------------------------------------------------------------------- polyhedra


def _unit(v: Any) -> np.ndarray:
    arr = np.asarray(v, dtype=float)
    return arr / np.linalg.norm(arr, axis=1)[:, None]


def _ring(n: int, z: float = 0.0, phase: float = 0.0) -> list[list[float]]:
    return [[math.cos(phase + 2 * math.pi * k / n), math.sin(phase + 2 * math.pi * k / n), z] for k in range(n)]


def _dodecahedron() -> list[list[float]]:
    ta, tb = math.radians(35.2), math.radians(73.5)
    sa, ca, sb, cb = math.sin(ta), math.cos(ta), math.sin(tb), math.cos(tb)
    return [[sa, 0, ca], [-sa, 0, ca], [0, sa, -ca], [0, -sa, -ca], [0, sb, cb], [0, -sb, cb], [sb, 0, -cb], [-sb, 0, -cb]]


def _ideal_shapes() -> dict[int, list[tuple[str, np.ndarray]]]:
    phi = (1 + 5**0.5) / 2
    prism_h = math.sqrt(3) / 2
    antiprism_h = 2**0.25 / 2
    shapes: dict[int, list[tuple[str, Any]]] = {
        2: [("linear", [[1, 0, 0], [-1, 0, 0]])],
        3: [("trigonal planar", _ring(3))],
        4: [
            ("tetrahedron", [[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]),
            ("square planar", [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]]),
        ],
        5: [
            ("trigonal bipyramid", _ring(3) + [[0, 0, 1], [0, 0, -1]]),
            ("square pyramid", [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1]]),
        ],
        6: [
            ("octahedron", [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]]),
            ("trigonal prism", _ring(3, prism_h) + _ring(3, -prism_h)),
        ],
        7: [("pentagonal bipyramid", _ring(5) + [[0, 0, 1], [0, 0, -1]])],
        8: [
            ("cube", [[x, y, z] for x in (1, -1) for y in (1, -1) for z in (1, -1)]),
            ("square antiprism", _ring(4, antiprism_h) + _ring(4, -antiprism_h, math.pi / 4)),
            ("dodecahedron", _dodecahedron()),
        ],
        12: [
            ("cuboctahedron", [[a, b, 0] for a in (1, -1) for b in (1, -1)]
             + [[a, 0, b] for a in (1, -1) for b in (1, -1)]
             + [[0, a, b] for a in (1, -1) for b in (1, -1)]),
            ("icosahedron", [[0, a, b * phi] for a in (1, -1) for b in (1, -1)]
             + [[a, b * phi, 0] for a in (1, -1) for b in (1, -1)]
             + [[b * phi, 0, a] for a in (1, -1) for b in (1, -1)]),
        ],
    }  # fmt: skip
    return {n: [(name, _sorted_angles(_unit(v))) for name, v in items] for n, items in shapes.items()}


def _sorted_angles(unit_vectors: np.ndarray) -> np.ndarray:
    cos = np.clip(unit_vectors @ unit_vectors.T, -1.0, 1.0)
    iu = np.triu_indices(len(unit_vectors), k=1)
    return np.sort(np.degrees(np.arccos(cos[iu])))


_SHAPES: dict[int, list[tuple[str, np.ndarray]]] | None = None
POLYHEDRON_ANGLE_TOLERANCE = 15.0
"""Mean absolute deviation of the ligand-centre-ligand angles (degrees) up to which a shape is named."""


def classify_polyhedron(vectors: np.ndarray) -> tuple[str, float]:
    """Closest ideal polyhedron to centre-to-ligand vectors and the mean angle deviation in degrees."""
    global _SHAPES
    if _SHAPES is None:
        _SHAPES = _ideal_shapes()
    n = len(vectors)
    if n < 2 or n not in _SHAPES:
        return ("single ligand" if n == 1 else f"{n}-coordinate"), math.nan
    angles = _sorted_angles(_unit(vectors))
    best_name, best_dev = "", math.inf
    for name, ideal in _SHAPES[n]:
        dev = float(np.mean(np.abs(angles - ideal)))
        if dev < best_dev:
            best_name, best_dev = name, dev
    if best_dev > POLYHEDRON_ANGLE_TOLERANCE:
        return "irregular", best_dev
    return best_name, best_dev


# --------------------------------------------------------------------------- the run


@dataclass
class _Analysis:
    """Intermediate results shared between checks."""

    structure: Structure
    block: dict[str, Any]
    anions: set[str] = field(default_factory=set)
    occupancy: list[float] = field(default_factory=list)
    majority: list[str] = field(default_factory=list)
    ligands: dict[int, set[tuple[int, tuple[int, int, int]]]] = field(default_factory=dict)
    coordination: dict[int, tuple[int, str, float | None]] = field(default_factory=dict)
    sharing: list[tuple[int, int, int]] = field(default_factory=list)  # (site i, site j, shared ligand count)
    dataset: Any = None
    dataset_symprec: float | None = None


def _block_value(block: dict[str, Any], *keys: str) -> Any:
    lower = {k.lower(): v for k, v in block.items()}
    for key in keys:
        if key in lower:
            value = lower[key]
            if isinstance(value, list):
                value = value[0] if value else None
            if value not in (None, "?", "."):
                return value
    return None


def _block_list(block: dict[str, Any], key: str) -> list[str] | None:
    lower = {k.lower(): v for k, v in block.items()}
    value = lower.get(key)
    if value is None:
        return None
    return value if isinstance(value, list) else [value]


def _integral(comp: Any) -> bool:
    return all(abs(a - round(a)) < 1e-6 for a in comp.values())


def formula_per_unit(comp: Any) -> str:
    """A readable formula: integer compositions reduced; partly occupied ones divided by the gcd of their whole amounts."""
    from pymatgen.core import Composition

    if _integral(comp):
        return str(comp.reduced_formula)
    whole = [round(a) for a in comp.values() if abs(a - round(a)) < 1e-6 and round(a) > 0]
    g = math.gcd(*whole) if whole else 1
    scaled = Composition({el: round(a / g, 4) for el, a in comp.items()})
    return str(scaled.reduced_formula)


def _fmt_num(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:.4g}"


def _species_text(species: Any) -> str:
    parts = []
    for sp, occ in species.items():
        sym = getattr(sp, "symbol", str(sp))
        parts.append(sym if abs(occ - 1) < 1e-6 else f"{sym}{occ:.3g}")
    return "".join(parts)


_SPACE_GROUP_KEEPALIVE: dict[str, Any] = {}


def _keep_space_group_alive(symbol: str | None) -> None:
    """Hold pymatgen's SpaceGroup for a symbol so its weak cache keeps it between CIFs.

    pymatgen expands a symbol into operations through a weakly cached SpaceGroup whose set of
    operations costs about a second for cubic groups; without a strong reference that cost
    is paid again for every CIF that gives a symbol instead of operations.
    """
    if not symbol:
        return
    from pymatgen.symmetry.groups import SYMM_DATA, SpaceGroup

    key = re.sub(r"[\s_]", "", symbol.strip().strip("'\""))
    if key in _SPACE_GROUP_KEEPALIVE:
        return
    encoding = {re.sub(r"[\s_]", "", k): k for k in SYMM_DATA["space_group_encoding"]}
    name = encoding.get(key)
    if name is None:
        return  # pymatgen takes its slower fallbacks (or P1); parse() reports what happens
    try:
        _SPACE_GROUP_KEEPALIVE[key] = SpaceGroup(name)
    except ValueError:
        _SPACE_GROUP_KEEPALIVE[key] = None  # pymatgen will fail the same way and say so while parsing


_NOT_FOR_REPAIR = frozenset({"LIBRARY_WARNING", "PHYSICAL_FAILED"})
"""Findings about the tools, not the CIF: left out of repair prompts."""


class _Run:
    def __init__(self, inp: CifValidationInput, family: FamilyRules | None, reference: Structure | None):
        self.inp = inp
        self.explicit_family = family
        self.reference_structure = reference
        self.checks: list[CifCheck] = []
        self.sg = SpaceGroupReport(symprec=inp.symprec, loose_symprec=inp.loose_symprec)
        self.formula: str | None = None
        self.declared_formula: str | None = None
        self.n_sites = 0
        self.sites: list[SiteReport] = []
        self.family: FamilyRules | None = None
        self.family_by: Literal["explicit", "auto"] | None = None
        self.reference: ReferenceComparison | None = None
        self.analysis: _Analysis | None = None
        self._site_members: dict[int, list[int]] = {}

    def add(self, code: str, severity: Severity, message: str) -> None:
        self.checks.append(CifCheck(code=code, severity=severity, message=message))

    def guarded(self, name: str, fn: Any, *args: Any) -> None:
        """Run one check; an unexpected failure becomes an error check, never a crash."""
        try:
            fn(*args)
        except Exception as exc:  # every failure is reported as a CHECK_FAILED error, not swallowed
            self.add("CHECK_FAILED", "error", f"the {name} check could not run: {type(exc).__name__}: {exc}")

    # ---------------------------------------------------------------- parsing

    def parse(self) -> _Analysis | None:
        text = self.inp.cif
        if len(text) > _MAX_TEXT_CHARS:
            self.add("PARSE_ERROR", "error", f"the file is {len(text):,} characters long; CIFs above {_MAX_TEXT_CHARS:,} are not read")
            return None
        if not text.strip():
            self.add("PARSE_ERROR", "error", "the file is empty")
            return None
        sample = text[:20000]
        odd = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\n\r\f\v") or ch == "\ufffd" or 127 <= ord(ch) < 160)
        if "\x00" in sample or odd > 0.05 * len(sample):
            self.add("PARSE_ERROR", "error", "the file is not text (binary data); a CIF is a plain-text file")
            return None
        if "data_" not in text.lower():
            self.add("PARSE_ERROR", "error", "no 'data_' block: this is not a CIF")
            return None
        from pymatgen.io.cif import CifParser

        messages: list[str] = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                parser = CifParser.from_str(text, occupancy_tolerance=1.001, check_cif=False)
            except Exception as exc:  # pymatgen's tokenizer raises bare ValueError/IndexError/KeyError on bad text
                self.add("PARSE_ERROR", "error", f"the CIF syntax could not be read: {type(exc).__name__}: {exc}")
                return None
            blocks = parser.as_dict()
            block = next(iter(blocks.values())) if blocks else {}
            self.declared_formula = _block_value(block, "_chemical_formula_sum", "_chemical_formula_structural")
            self._space_group_declared(block)
            structures: list[Structure] = []
            failure: str | None = None
            try:
                _keep_space_group_alive(_block_value(block, "_symmetry_space_group_name_h-m", "_space_group_name_h-m_alt"))
                structures = parser.parse_structures(primitive=False, on_error="ignore", check_occu=True)
            except Exception as exc:  # "Invalid CIF file with no structures!" and lower-level errors
                failure = f"{type(exc).__name__}: {exc}"
            messages.extend(getattr(parser, "warnings", []))
        messages.extend(str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning | FutureWarning))
        self._parser_messages(messages, block, bool(structures))
        if not structures:
            if not any(c.severity == "error" for c in self.checks):
                reason = failure or "no structure"
                if not blocks:
                    reason = "no data block with cell and atom sites"
                self.add("PARSE_NO_STRUCTURE", "error", f"no crystal structure could be built from the CIF ({reason}); "
                         "it needs cell lengths and angles and an _atom_site_ loop with fractional coordinates")
            return None
        if len(blocks) > 1:
            self.add("MULTIPLE_BLOCKS", "warning", f"the file has {len(blocks)} data blocks; only the first structure was checked")
        structure = structures[0]
        if len(structure) == 0:
            self.add("PARSE_NO_STRUCTURE", "error", "the CIF defines no atoms")
            return None
        self.n_sites = len(structure)
        self.formula = formula_per_unit(structure.composition)
        return _Analysis(structure=structure, block=block)

    def _space_group_declared(self, block: dict[str, Any]) -> None:
        symbol = _block_value(block, "_space_group_name_h-m_alt", "_symmetry_space_group_name_h-m",
                              "_space_group_name_h-m", "_symmetry_space_group_name_h-m_alt")
        number_text = _block_value(block, "_space_group_it_number", "_symmetry_int_tables_number")
        number: int | None = None
        if number_text is not None:
            try:
                number = int(float(str(number_text)))
            except ValueError:
                number = None
            if number is not None and not 1 <= number <= 230:
                number = None
        from_symbol = space_group_number(str(symbol)) if symbol else None
        if symbol and from_symbol is None:
            self.add("SPACEGROUP_UNKNOWN", "warning", f"the declared space group '{symbol}' is not a Hermann-Mauguin symbol we recognise")
        if from_symbol is not None and number is not None and from_symbol != number:
            self.add("SPACEGROUP_INCONSISTENT", "warning",
                     f"the declared symbol '{symbol}' is group {from_symbol} but the declared number is {number}")
        self.sg.declared = str(symbol).strip() if symbol else (str(number) if number is not None else None)
        self.sg.declared_number = from_symbol if from_symbol is not None else number

    def _parser_messages(self, messages: list[str], block: dict[str, Any], built: bool) -> None:
        seen: set[str] = set()
        for raw in messages:
            msg = raw.strip()
            if not msg or msg in seen:
                continue
            seen.add(msg)
            low = msg.lower()
            if "spacegroup from" in low and "used" in low:
                continue  # the normal path when a CIF gives a symbol instead of operations
            if "skipping relative stoichiometry" in low or low.startswith("issues encountered while parsing"):
                continue  # our own formula check covers this; the aggregate repeats the others
            reason = msg.split("\n", 1)[1].strip() if "\n" in msg else msg
            if ("occupancy" in low and "exceeded" in low) or ("occupancies" in low and "sum to > 1" in low):
                if not any(c.code == "OCCUPANCY_ABOVE_ONE" for c in self.checks):
                    self.add("OCCUPANCY_ABOVE_ONE", "error" if not built else "warning",
                             f"a site's total occupancy is above 1 ({reason})")
            elif "rounded to ideal values" in low:
                self.add("PARSER_WARNING", "info", msg)
            elif "below threshold" in low:
                self.add("CELL_INVALID", "error", f"the cell has (near) zero thickness or volume ({reason})")
            elif "defaulting to p1" in low:
                if self.sg.declared is not None:
                    self.add("SPACEGROUP_UNREADABLE", "error",
                             f"the CIF gives no symmetry operations and pymatgen cannot expand the declared space group "
                             f"'{self.sg.declared}', so only the listed atoms were placed (as P1): add the "
                             "_space_group_symop_operation_xyz loop or use the standard symbol")
                else:
                    self.add("SPACEGROUP_NOT_DECLARED", "info", "no space group or symmetry operations: the atoms were read as P1")
            elif low.startswith("no structure parsed"):
                self.add("PARSE_NO_STRUCTURE", "error", f"no structure could be built: {reason}")
            elif built and "possible issue in cif" in low:
                self.add("PARSER_WARNING", "warning", msg)
            else:
                self.add("PARSER_WARNING", "warning" if built else "error", msg)

    # ---------------------------------------------------------------- cell and formula

    def cell(self, an: _Analysis) -> bool:
        s = an.structure
        lat = s.lattice
        vol = float(lat.volume)
        a, b, c = (float(x) for x in lat.abc)
        al, be, ga = (float(x) for x in lat.angles)
        if not (math.isfinite(vol) and vol > 1e-6):
            self.add("CELL_INVALID", "error", f"the cell volume is {vol:.3g} A^3 (a={a:.4g}, b={b:.4g}, c={c:.4g} A, "
                     f"alpha={al:.4g}, beta={be:.4g}, gamma={ga:.4g} deg); these angles cannot form a cell")
            return False
        m = lat.matrix
        widths = [vol / float(np.linalg.norm(np.cross(m[(i + 1) % 3], m[(i + 2) % 3]))) for i in range(3)]
        if min(widths) < OVERLAP_DISTANCE:
            axis = "abc"[int(np.argmin(widths))]
            self.add("CELL_INVALID", "error", f"the cell is only {min(widths):.3g} A thick across {axis}: every atom overlaps "
                     "its own periodic image")
            return False
        n_atoms = float(s.composition.num_atoms)
        vpa = vol / max(n_atoms, 1e-9)
        density = float(s.density)
        self.add("CELL_OK", "info", f"a={a:.4f}, b={b:.4f}, c={c:.4f} A; alpha={al:.2f}, beta={be:.2f}, gamma={ga:.2f} deg; "
                 f"V={vol:.2f} A^3 ({vpa:.2f} A^3 per atom); density {density:.3f} g/cm3")
        if max(a, b, c) > 100:
            self.add("CELL_UNUSUAL", "warning", f"a cell length of {max(a, b, c):.4g} A is unusual for a crystal (slab with vacuum?)")
        if vpa < 4:
            self.add("CELL_UNUSUAL", "warning", f"{vpa:.3g} A^3 per atom is very dense (solids hold about 5-60 A^3 per atom)")
        elif vpa > 120:
            self.add("CELL_UNUSUAL", "warning", f"{vpa:.4g} A^3 per atom is very open (solids hold about 5-60 A^3 per atom)")
        if not 0.5 <= density <= 25:
            self.add("DENSITY_UNUSUAL", "warning", f"density {density:.3g} g/cm3 is outside 0.5-25 g/cm3")
        return True

    def formula_checks(self, an: _Analysis) -> None:
        from pymatgen.core import Composition

        s = an.structure
        comp = s.composition.remove_charges() if hasattr(s.composition, "remove_charges") else s.composition
        if self.declared_formula is None:
            self.add("FORMULA_MISSING", "info", f"no _chemical_formula_sum; the atoms give {comp.reduced_formula}")
        else:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    declared = Composition(str(self.declared_formula))
                    declared = declared.remove_charges()
                if declared.num_atoms <= 0 or not math.isfinite(declared.num_atoms):
                    raise ValueError("no atoms")
            except Exception as exc:  # Composition raises ValueError/KeyError/custom errors on odd strings
                self.add("FORMULA_UNREADABLE", "warning", f"the declared formula '{self.declared_formula}' could not be read ({exc})")
                declared = None
            if declared is not None:
                d_el = {str(e) for e in declared.elements}
                s_el = {str(e) for e in comp.elements}
                if d_el != s_el:
                    missing = sorted(d_el - s_el)
                    extra = sorted(s_el - d_el)
                    bits = []
                    if missing:
                        bits.append(f"{', '.join(missing)} declared but absent")
                    if extra:
                        bits.append(f"{', '.join(extra)} present but not declared")
                    self.add("FORMULA_MISMATCH", "error", f"declared formula {declared.reduced_formula} but the atoms give "
                             f"{comp.reduced_formula} ({'; '.join(bits)})")
                else:
                    worst = max(abs(declared.get_atomic_fraction(e) - comp.get_atomic_fraction(e)) for e in declared.elements)
                    if worst > 0.01:
                        self.add("FORMULA_MISMATCH", "error", f"declared formula {declared.formula} but the atoms give "
                                 f"{comp.reduced_formula} (atomic fractions differ by up to {worst:.3f})")
                    else:
                        self.add("FORMULA_OK", "info", f"declared formula {declared.formula} matches the atoms ({comp.reduced_formula})")
                        self._z_check(an, declared)
        self._multiplicity_check(an)

    def _z_check(self, an: _Analysis, declared: Any) -> None:
        z_text = _block_value(an.block, "_cell_formula_units_z")
        if z_text is None:
            return
        try:
            z = float(str(z_text).split("(")[0])
        except ValueError:
            return
        comp = an.structure.composition
        ratios = [comp[e] / declared[e] for e in declared.elements if declared[e] > 0]
        if not ratios or z <= 0:
            return
        units = float(np.mean(ratios))
        # pymatgen's writer gives the cell formula with Z counted in reduced formula units; accept both.
        reduced_units = float(comp.get_reduced_composition_and_factor()[1]) if _integral(comp) else units
        if abs(units - z) > 0.05 * max(z, 1) and abs(reduced_units - z) > 0.05 * max(z, 1):
            self.add("FORMULA_UNITS_MISMATCH", "warning", f"Z = {z:g} is declared but the cell holds {units:.3g} formula units "
                     f"of {declared.formula}")

    def _multiplicity_check(self, an: _Analysis) -> None:
        labels = _block_list(an.block, "_atom_site_label")
        mults = _block_list(an.block, "_atom_site_symmetry_multiplicity")
        if not labels or not mults or len(labels) != len(mults):
            return
        if len(set(labels)) != len(labels):
            return  # repeated labels (as pymatgen's P1 writer produces) cannot be matched to orbits
        counts: dict[str, int] = defaultdict(int)
        for lab in an.structure.labels:
            counts[str(lab)] += 1
        bad = []
        for lab, mult in zip(labels, mults, strict=True):
            try:
                declared = int(float(mult))
            except ValueError:
                continue
            got = counts.get(lab)
            if got is not None and got != declared:
                bad.append(f"{lab}: declared {declared}, generated {got}")
        if bad:
            self.add("MULTIPLICITY_MISMATCH", "warning", "declared site multiplicities differ from the positions the symmetry "
                     "operations generate (a special position written as a general one, or the wrong coordinates): " + "; ".join(bad[:6]))

    # ---------------------------------------------------------------- distances and coordination

    def distances(self, an: _Analysis) -> None:
        s = an.structure
        n = len(s)
        an.occupancy = [float(sum(site.species.values())) for site in s]
        an.majority = [max(site.species.items(), key=lambda kv: kv[1])[0].symbol for site in s]
        elements = {str(e) for e in s.composition.elements}
        an.anions = _anions(elements)
        vol = float(s.lattice.volume)
        est_pairs = n * n * (4 / 3 * math.pi * NEIGHBOUR_RADIUS**3) / vol
        radius = NEIGHBOUR_RADIUS
        full = True
        if est_pairs > _MAX_NEIGHBOUR_PAIRS:
            radius = OVERLAP_DISTANCE + 1e-6
            full = False
            if n * n * (4 / 3 * math.pi * radius**3) / vol > _MAX_NEIGHBOUR_PAIRS:
                self.add("ANALYSIS_SKIPPED", "warning", f"{n} sites in {vol:.4g} A^3 are too many for a neighbour search; "
                         "distances were not checked")
                return
        centres, points, images, dists = s.get_neighbor_list(radius)
        overlaps: list[str] = []
        split: list[str] = []
        short: dict[tuple[str, str], list[float]] = defaultdict(list)
        expected_cache: dict[tuple[str, str], float | None] = {}

        def expected(a: str, b: str) -> float | None:
            key = (a, b) if a <= b else (b, a)
            if key not in expected_cache:
                expected_cache[key] = expected_bond_length(key[0], key[1], an.anions)
            return expected_cache[key]

        labels = [str(x) for x in s.labels]
        for i, j, d in zip(centres, points, dists, strict=True):
            i, j, d = int(i), int(j), float(d)
            if j < i:
                continue
            if d < OVERLAP_DISTANCE:
                exclusive = i != j and an.occupancy[i] + an.occupancy[j] <= 1.001
                text = f"{labels[i]}-{labels[j]} {d:.2f} A"
                (split if exclusive else overlaps).append(text)
                continue
            if an.occupancy[i] + an.occupancy[j] <= 1.001:
                continue  # mutually exclusive partial sites are never both present
            ex = expected(an.majority[i], an.majority[j])
            if ex is not None and d < BOND_SHORT_FACTOR * ex:
                pair = (an.majority[i], an.majority[j])
                short[(min(pair), max(pair))].append(d)
        if overlaps:
            self.add("ATOMS_OVERLAP", "error", f"{len(overlaps)} pair(s) of atoms closer than {OVERLAP_DISTANCE} A: "
                     + ", ".join(sorted(set(overlaps))[:6]))
        if split:
            self.add("SPLIT_SITES", "info", f"{len(split)} pair(s) of partly occupied sites closer than {OVERLAP_DISTANCE} A "
                     "(their occupancies add to at most 1, so they are alternatives): " + ", ".join(sorted(set(split))[:4]))
        if not full:
            self.add("ANALYSIS_SKIPPED", "warning", f"{n} sites are too many for a full neighbour search; only overlaps were checked")
            return
        for (a, b), ds in sorted(short.items()):
            ex = expected(a, b)
            assert ex is not None
            self.add("BOND_TOO_SHORT", "warning", f"{len(ds)} {a}-{b} contact(s) as short as {min(ds):.2f} A; "
                     f"expected about {ex:.2f} A (below {BOND_SHORT_FACTOR:g} x the sum of radii)")
        # Nearest bonding partner of each atom, and the cation coordination shells.
        per_site: dict[int, list[tuple[float, int, tuple[int, int, int]]]] = defaultdict(list)
        for i, j, img, d in zip(centres, points, images, dists, strict=True):
            per_site[int(i)].append((float(d), int(j), (int(img[0]), int(img[1]), int(img[2]))))
        far: list[str] = []
        for i in range(n):
            el = an.majority[i]
            if an.anions:
                partners = (lambda e: e not in an.anions) if el in an.anions else (lambda e: e in an.anions)
            else:
                partners = (lambda e: True)  # noqa: E731 - intermetallic: any neighbour bonds
            cands = [(d, j, img) for d, j, img in per_site.get(i, []) if partners(an.majority[j]) and d >= OVERLAP_DISTANCE]
            if not cands:
                far.append(f"{labels[i]} ({el}): no bonding partner within {radius:g} A")
                continue
            d_min, j_min, _ = min(cands)
            ex = expected(el, an.majority[j_min])
            if ex is not None and d_min > BOND_LONG_FACTOR * ex:
                far.append(f"{labels[i]} ({el}): nearest {an.majority[j_min]} at {d_min:.2f} A, expected about {ex:.2f} A")
            if an.anions and el not in an.anions:
                cutoff = max(d_min * 1.25, (ex or d_min) * 1.15)
                shell = [(d, j, img) for d, j, img in cands if d <= cutoff]
                an.ligands[i] = {(j, img) for _, j, img in shell}
                centre = s[i].coords
                vecs = np.array([s.lattice.get_cartesian_coords(s[j].frac_coords + np.array(img)) - centre for _, j, img in shell])
                name, _dev = classify_polyhedron(vecs)
                an.coordination[i] = (len(shell), name, float(np.mean([d for d, _, _ in shell])))
        if far:
            unique = sorted(set(far))
            self.add("BOND_TOO_LONG", "warning", f"{len(far)} atom(s) far from every bonding partner (beyond "
                     f"{BOND_LONG_FACTOR:g} x the sum of radii): " + "; ".join(unique[:6]))
        if not overlaps and not short and not far:
            self.add("BONDS_OK", "info", f"all nearest-neighbour distances are within {BOND_SHORT_FACTOR:g}-{BOND_LONG_FACTOR:g} x "
                     "the expected bond lengths (ionic radii for ionic pairs, atomic radii otherwise)")
        self._sharing(an)

    def _sharing(self, an: _Analysis) -> None:
        s = an.structure
        if not an.ligands or len(s) > _MAX_CONNECTIVITY_SITES:
            return
        cation_idx = sorted(an.ligands)
        max_reach = 0.0
        for i in cation_idx:
            cn, _, mean_d = an.coordination[i]
            if mean_d is not None:
                max_reach = max(max_reach, mean_d * 1.3)
        reach = min(2 * max_reach, 7.0)
        if reach <= 0:
            return
        cat_sites = [s[i] for i in cation_idx]
        centres, points, images, _ = s.get_neighbor_list(reach, sites=cat_sites)
        for ci, j, img in zip(centres, points, images, strict=True):
            i = cation_idx[int(ci)]
            j = int(j)
            if j not in an.ligands or j < i:
                continue
            t = (int(img[0]), int(img[1]), int(img[2]))
            shifted = {(k, (im[0] + t[0], im[1] + t[1], im[2] + t[2])) for k, im in an.ligands[j]}
            shared = len(an.ligands[i] & shifted)
            if shared:
                an.sharing.append((i, j, shared))

    # ---------------------------------------------------------------- symmetry and sites

    def symmetry(self, an: _Analysis) -> None:
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        results: dict[float, Any] = {}
        for prec in (self.inp.symprec, self.inp.loose_symprec):
            try:
                sga = SpacegroupAnalyzer(an.structure, symprec=prec, angle_tolerance=self.inp.angle_tolerance)
                results[prec] = sga.get_symmetry_dataset()
            except Exception as exc:  # spglib gives up on some cells (SymmetryUndeterminedError and friends)
                results[prec] = None
                self.add("SYMMETRY_UNDETERMINED", "warning", f"spglib could not determine the symmetry at {prec:g} A ({exc})")
        tight, loose = results[self.inp.symprec], results[self.inp.loose_symprec]
        if tight is not None:
            self.sg.detected, self.sg.detected_number = str(tight.international), int(tight.number)
        if loose is not None:
            self.sg.detected_loose, self.sg.detected_loose_number = str(loose.international), int(loose.number)
        # Sites and rules use the loose (idealised) symmetry when the two differ: approximate
        # coordinates from a model should still be recognised as their family.
        if loose is not None:
            an.dataset, an.dataset_symprec = loose, self.inp.loose_symprec
        elif tight is not None:
            an.dataset, an.dataset_symprec = tight, self.inp.symprec
        self._compare_space_groups()

    def _compare_space_groups(self) -> None:
        decl, tight_n, loose_n = self.sg.declared_number, self.sg.detected_number, self.sg.detected_loose_number
        det_text = _sg_text(self.sg.detected, tight_n)
        if tight_n is None and loose_n is None:
            return
        if decl is None:
            if self.sg.declared is None:
                self.add("SPACEGROUP_NOT_DECLARED", "info", f"no space group declared; the atoms have {det_text} symmetry")
            return
        decl_text = _sg_text(self.sg.declared, decl)
        if decl == tight_n:
            self.add("SPACEGROUP_OK", "info", f"declared {decl_text} matches the symmetry of the atoms "
                     f"(tolerance {self.inp.symprec:g} A)")
        elif decl == 1:
            self.add("SPACEGROUP_P1", "info", f"written in P1; the atoms have {det_text} symmetry "
                     f"(tolerance {self.inp.symprec:g} A) - fine, but the symmetric description is easier to check")
        elif decl == loose_n:
            self.add("SPACEGROUP_LOOSE", "warning", f"declared {decl_text} holds only at {self.inp.loose_symprec:g} A; at "
                     f"{self.inp.symprec:g} A the atoms have {det_text}: coordinates are off their ideal positions")
        else:
            _, by_number = _space_group_tables()
            ref_n = loose_n if loose_n is not None else tight_n
            assert ref_n is not None
            order_det = by_number[ref_n].point_group_order if ref_n in by_number else 0
            order_decl = by_number[decl].point_group_order if decl in by_number else 0
            loose_text = _sg_text(self.sg.detected_loose, loose_n)
            if order_det > order_decl:
                self.add("SPACEGROUP_HIGHER", "warning", f"declared {decl_text}, but the atoms have the higher symmetry "
                         f"{loose_text}: the declared group is at best a subgroup; describe the structure in {loose_text}")
            else:
                self.add("SPACEGROUP_MISMATCH", "error", f"declared {decl_text}, but the atoms have {det_text} symmetry "
                         f"({loose_text} at {self.inp.loose_symprec:g} A): the symbol does not describe these atoms")

    def site_reports(self, an: _Analysis) -> None:
        s = an.structure
        ds = an.dataset
        groups: dict[int, list[int]] = defaultdict(list)
        if ds is not None and len(ds.equivalent_atoms) == len(s):
            for i, rep in enumerate(ds.equivalent_atoms):
                groups[int(rep)].append(i)
            ratio = len(ds.std_types) / len(s)
        else:
            for i in range(len(s)):
                groups[i].append(i)
            ratio = 1.0
        labels = [str(x) for x in s.labels]
        for rep, members in sorted(groups.items(), key=lambda kv: kv[0]):
            wyckoff = site_sym = None
            if ds is not None:
                mult = len(members) * ratio
                letter = str(ds.wyckoffs[rep])
                wyckoff = f"{round(mult)}{letter}" if abs(mult - round(mult)) < 1e-6 else f"?{letter}"
                site_sym = str(ds.site_symmetry_symbols[rep]).strip()
            coord = an.coordination.get(rep)
            self.sites.append(SiteReport(
                label=labels[rep],
                species=_species_text(s[rep].species),
                wyckoff=wyckoff,
                site_symmetry=site_sym,
                count_in_cell=len(members),
                coordination_number=None if coord is None else coord[0],
                polyhedron=None if coord is None else coord[1],
                mean_bond_length=None if coord is None or coord[2] is None else round(coord[2], 4),
            ))
        self._site_members = groups

    # ---------------------------------------------------------------- charge

    def charge(self, an: _Analysis) -> None:
        s = an.structure
        comp = s.composition
        oxi = [getattr(sp, "oxi_state", None) for sp in comp]
        if oxi and all(o is not None for o in oxi):
            total = sum(float(o or 0.0) * float(comp[sp]) for sp, o in zip(comp, oxi, strict=True))
            tol = _CHARGE_TOL_PER_ATOM * comp.num_atoms
            if abs(total) > tol:
                self.add("CHARGE_IMBALANCE", "error", f"the oxidation states declared in the CIF sum to {total:+.3g} per cell, not 0")
            else:
                self.add("CHARGE_BALANCED", "info", "the oxidation states declared in the CIF sum to zero")
            return
        amounts: dict[str, float] = defaultdict(float)
        for sp, amt in comp.items():
            amounts[sp.symbol] += float(amt)
        whole = [round(a) for a in amounts.values() if abs(a - round(a)) < 1e-6 and round(a) > 0]
        units = math.gcd(*whole) if whole else 1
        verdict = charge_balance({el: a / units for el, a in amounts.items()})
        if verdict.applicable is False:
            self.add("CHARGE_NOT_APPLICABLE", "info", verdict.message)
        elif verdict.balanced:
            self.add("CHARGE_BALANCED", "info", verdict.message)
        else:
            self.add("CHARGE_IMBALANCE", "error", verdict.message)

    # ---------------------------------------------------------------- family rules

    def rules(self, an: _Analysis) -> None:
        s = an.structure
        amounts: dict[str, float] = defaultdict(float)
        for sp, amt in s.composition.items():
            amounts[sp.symbol] += float(amt)
        sg_number = None if an.dataset is None else int(an.dataset.number)
        if self.explicit_family is not None:
            family, strict = self.explicit_family, True
            self.family_by = "explicit"
            ok, reason = family.composition_fit(amounts)
            if not ok:
                self.add("RULE_COMPOSITION", "error", f"the composition {s.composition.reduced_formula} does not fit "
                         f"{family.title}: {reason}")
        else:
            if self.inp.rules.strip().lower() == "none":
                return
            picked = select_family(amounts, sg_number)
            if picked is None:
                self.add("RULES_NONE", "info", "no built-in structure family fits this composition; family rules were not checked")
                return
            family, strict = picked
            self.family_by = "auto"
        self.family = family
        sev: Severity = "error" if strict else "warning"
        how = "named explicitly" if self.family_by == "explicit" else (
            "picked by composition and space group" if strict else "picked by composition only (space group differs)")
        self.add("RULES_APPLIED", "info", f"checked against {family.title} ({family.name}; {how})")
        violations = 0
        sg_text = _sg_text(self.sg.detected_loose or self.sg.detected, sg_number)
        if sg_number is not None and sg_number not in family.space_group_numbers:
            violations += 1
            self.add("RULE_SPACEGROUP", sev, f"{family.title} is known in {family.space_group_text()}; these atoms have "
                     f"{sg_text} symmetry")
        roles_by_site = self._site_roles(an, family)
        violations += self._wyckoff_rules(an, family, sg_number, roles_by_site, sev)
        violations += self._coordination_rules(an, family, roles_by_site, sev)
        violations += self._connectivity_rules(an, family, roles_by_site)
        if violations == 0 and not any(c.code == "RULE_COMPOSITION" for c in self.checks):
            self.add("RULES_OK", "info", f"consistent with {family.title}: space group, Wyckoff sites, coordination and "
                     "polyhedron sharing")

    def _site_roles(self, an: _Analysis, family: FamilyRules) -> dict[int, set[str]]:
        roles: dict[int, set[str]] = {}
        for i, site in enumerate(an.structure):
            roles[i] = {r for sp in site.species if (r := family.role_of(sp.symbol)) is not None}
        for report, (rep, _members) in zip(self.sites, sorted(self._site_members.items()), strict=True):
            found = sorted(roles.get(rep, set()))
            report.role = "/".join(found) if found else None
        return roles

    def _wyckoff_rules(self, an: _Analysis, family: FamilyRules, sg_number: int | None,
                       roles_by_site: dict[int, set[str]], sev: Severity) -> int:
        if sg_number is None or sg_number not in family.wyckoff:
            return 0
        bad = []
        for report, (rep, _m) in zip(self.sites, sorted(self._site_members.items()), strict=True):
            if report.wyckoff is None:
                continue
            for sp in an.structure[rep].species:
                role = family.role_of(sp.symbol)
                if role is None:
                    continue
                allowed = family.allowed_sites(sg_number, role)
                if allowed is not None and report.wyckoff not in allowed:
                    bad.append(f"{sp.symbol} ({report.label}) is on {report.wyckoff}, but role {role} may occupy only "
                               f"{', '.join(allowed)} in {space_group_symbol(sg_number)}")
        for text in bad:
            self.add("RULE_WYCKOFF", sev, text)
        return len(bad)

    def _coordination_rules(self, an: _Analysis, family: FamilyRules, roles_by_site: dict[int, set[str]],
                            sev: Severity) -> int:
        count = 0
        for report, (rep, _m) in zip(self.sites, sorted(self._site_members.items()), strict=True):
            coord = an.coordination.get(rep)
            if coord is None or an.occupancy[rep] < 0.5:
                continue  # partly occupied (split) sites have no well-defined polyhedron
            cn, shape, _ = coord
            for role in sorted(roles_by_site.get(rep, set())):
                rule = family.coordination.get(role)
                if rule is None:
                    continue
                if cn not in rule.cn:
                    count += 1
                    self.add("RULE_COORDINATION", sev, f"{report.label} ({report.species}) has {cn} nearest anions ({shape}); "
                             f"role {role} should have {' or '.join(str(n) for n in rule.cn)} ({rule.note or family.title})")
                elif rule.polyhedra and shape not in rule.polyhedra:
                    count += 1
                    self.add("RULE_COORDINATION", "warning", f"{report.label} ({report.species}) sits in a {shape}; role {role} "
                             f"should be in a {' or '.join(rule.polyhedra)}")
        return count

    def _connectivity_rules(self, an: _Analysis, family: FamilyRules, roles_by_site: dict[int, set[str]]) -> int:
        if not family.connectivity or not an.ligands:
            return 0
        modes: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for i, j, shared in an.sharing:
            if an.occupancy[i] < 0.5 or an.occupancy[j] < 0.5:
                continue
            mode = "corner" if shared == 1 else "edge" if shared == 2 else "face"
            for ri in roles_by_site.get(i, set()):
                for rj in roles_by_site.get(j, set()):
                    key = (ri, rj) if ri <= rj else (rj, ri)
                    modes[key][mode] += 1
        present_roles = {r for rs in roles_by_site.values() for r in rs}
        count = 0
        for rule in family.connectivity:
            a, b = rule.roles
            if a not in present_roles or b not in present_roles:
                continue
            key = (a, b) if a <= b else (b, a)
            seen = modes.get(key, {})
            wrong = {m: n for m, n in seen.items() if m not in rule.share}
            pair = f"{a}-{b}" if a != b else f"{a}-{a}"
            if wrong:
                count += 1
                found = ", ".join(f"{n} {m}-sharing" for m, n in sorted(wrong.items()))
                allowed = " or ".join(rule.share) + " sharing" if rule.share else "no shared ligands"
                self.add("RULE_CONNECTIVITY", "warning", f"{pair} polyhedra: found {found} contact(s), expected {allowed} "
                         f"({rule.note})")
            if rule.required and not any(seen.get(m, 0) for m in rule.share):
                count += 1
                self.add("RULE_CONNECTIVITY", "warning", f"{pair} polyhedra never share {' or '.join(rule.share)}s "
                         f"({rule.note})")
        return count

    # ---------------------------------------------------------------- reference

    def compare_reference(self, an: _Analysis) -> None:
        ref = self.reference_structure
        if ref is None:
            return
        from pymatgen.analysis.structure_matcher import StructureMatcher
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        s = an.structure
        name = self.inp.reference_name or "reference"
        same_comp = s.composition.reduced_composition.almost_equals(ref.composition.reduced_composition)
        matcher = StructureMatcher(ltol=0.2, stol=0.3, angle_tol=5)
        match = bool(matcher.fit(s, ref)) if same_comp else False
        rms = mx = None
        if match:
            dist = matcher.get_rms_dist(s, ref)
            if dist is not None:
                rms, mx = float(dist[0]), float(dist[1])
        vpa_s = s.lattice.volume / s.composition.num_atoms
        vpa_r = ref.lattice.volume / ref.composition.num_atoms
        try:
            ref_sg = SpacegroupAnalyzer(ref, symprec=self.inp.symprec).get_space_group_symbol()
        except Exception:  # symmetry of the reference is informative only
            ref_sg = None
        self.reference = ReferenceComparison(
            reference=name, formula=ref.composition.reduced_formula, spacegroup=ref_sg, same_composition=same_comp,
            match=match, rms_displacement=rms, max_displacement=mx,
            volume_per_atom_change_percent=round(100 * (vpa_s / vpa_r - 1), 3),
        )
        if match:
            self.add("REFERENCE_MATCH", "info", f"matches {name} ({ref.composition.reduced_formula}, {ref_sg}): RMS displacement "
                     f"{rms:.3f}, max {mx:.3f} (in (V/atom)^(1/3)); volume per atom {vpa_s / vpa_r - 1:+.1%}")
        elif not same_comp:
            self.add("REFERENCE_MISMATCH", "error", f"composition {s.composition.reduced_formula} differs from {name} "
                     f"({ref.composition.reduced_formula})")
        else:
            self.add("REFERENCE_MISMATCH", "error", f"not the same structure as {name} ({ref.composition.reduced_formula}, "
                     f"{ref_sg}) within 20% lattice, 0.3 site and 5 degree tolerances; volume per atom {vpa_s / vpa_r - 1:+.1%}")

    # ---------------------------------------------------------------- driver

    def run(self) -> None:
        an = self.parse()
        if an is None:
            return
        self.analysis = an
        if not self.cell(an):
            return
        self.guarded("formula", self.formula_checks, an)
        self.guarded("distance", self.distances, an)
        self.guarded("symmetry", self.symmetry, an)
        self.guarded("site", self.site_reports, an)
        self.guarded("charge", self.charge, an)
        if self.sites or self.explicit_family is not None:
            self.guarded("structure-family", self.rules, an)
        self.guarded("reference", self.compare_reference, an)

    def absorb_library_warnings(self, caught: list[warnings.WarningMessage]) -> None:
        seen: set[str] = set()
        for w in caught:
            # Deprecation notices are for developers, not for the person checking a CIF.
            if issubclass(w.category, DeprecationWarning | FutureWarning | PendingDeprecationWarning):
                continue
            msg = str(w.message).strip()
            if msg and msg not in seen:
                seen.add(msg)
                self.add("LIBRARY_WARNING", "info", f"{w.category.__name__}: {msg[:300]}")

    def physical_structure(self) -> Structure | str:
        """The structure the physical check may evaluate, or why there is none to evaluate."""
        errors = {c.code for c in self.checks if c.severity == "error"}
        if self.analysis is None or errors & {"PARSE_ERROR", "PARSE_NO_STRUCTURE"}:
            return "no structure could be built from the CIF"
        if "CELL_INVALID" in errors:
            return "the cell is invalid"
        if "ATOMS_OVERLAP" in errors:
            # A potential only reports enormous forces for atoms 0.5 A apart: fix the overlap first.
            return "atoms overlap (closer than 0.5 A); fix them first"
        return self.analysis.structure

    def result(self, physical: PhysicalCheckResult | None = None, physical_checks: Sequence[CifCheck] = ()) -> CifValidationResult:
        order = {"error": 0, "warning": 1, "info": 2}
        if physical is None:
            physical = PhysicalCheckResult(status="not_run", method="CHGNet", reason="skipped (fast mode, --fast)")
            physical_checks = [CifCheck(code="PHYSICAL_NOT_RUN", severity="info",
                                        message=f"physical check with a universal potential: {physical.reason}")]
        checks = sorted([*self.checks, *physical_checks],
                        key=lambda c: (order[c.severity], CHECK_CODES.get(c.code, (99, ""))[0]))
        valid = not any(c.severity == "error" for c in checks)
        prompt = None
        if any(c.severity in ("error", "warning") for c in checks):
            prompt = render_repair_prompt(
                checks, source=self.inp.source, formula=self.formula, spacegroup=self.sg, family=self.family
            )
        return CifValidationResult(
            source=self.inp.source, valid=valid, formula=self.formula, declared_formula=self.declared_formula,
            n_sites=self.n_sites, spacegroup=self.sg, checks=checks, sites=self.sites,
            rules=None if self.family is None else self.family.name, rules_selected_by=self.family_by if self.family else None,
            reference=self.reference, physical=physical, repair_prompt=prompt,
        )


# --------------------------------------------------------------------------- charge balance


@dataclass(frozen=True)
class ChargeVerdict:
    """Outcome of the charge-balance check."""

    applicable: bool
    balanced: bool
    message: str
    oxidation_states: dict[str, float] = field(default_factory=dict)


def charge_balance(amounts: dict[str, float]) -> ChargeVerdict:
    """Whether usual oxidation states can balance a composition, allowing mixed valence.

    Each element may take any average oxidation state between its lowest and highest usual
    state (ICSD and common states from pymatgen; positive for cations, negative for anions), so
    LiMn2O4 (Mn +3.5), Fe3O4 (Fe +2.67) and LiNi0.8Co0.1Mn0.1O2 are balanced. The example
    assignment fixes s/p-block ions at their group state and shares the rest among the others.
    """
    elements = [e for e, a in amounts.items() if a > 0]
    anions = _anions(elements)
    if not anions:
        return ChargeVerdict(False, True, "no anions (intermetallic or elemental): charge balance does not apply")
    ranges: dict[str, tuple[float, float]] = {}
    missing = []
    for el in elements:
        states = _element_data(el)[4]
        usable = [s for s in states if (s < 0 if el in anions else s > 0)] or list(states)
        if not usable:
            missing.append(el)
            continue
        ranges[el] = (float(min(usable)), float(max(usable)))
    if missing:
        return ChargeVerdict(False, True, f"no oxidation-state data for {', '.join(missing)}: charge balance not assessed")
    total_atoms = sum(amounts[e] for e in elements)
    lo = sum(amounts[e] * ranges[e][0] for e in elements)
    hi = sum(amounts[e] * ranges[e][1] for e in elements)
    tol = _CHARGE_TOL_PER_ATOM * total_atoms
    formula = "".join(f"{e}{_fmt_num(amounts[e])}" for e in elements)
    if not (lo - tol <= 0 <= hi + tol):
        side = "negative" if hi < 0 else "positive"
        extreme = ", ".join(f"{e} {ranges[e][1 if hi < 0 else 0]:+g}" for e in elements)
        return ChargeVerdict(True, False, f"{formula} cannot be charge balanced with usual oxidation states: the charge stays "
                             f"{side} (from {lo:+.3g} to {hi:+.3g} per formula; closest: {extreme})")
    example = _example_assignment(amounts, elements, anions, ranges)
    text = ", ".join(f"{e} {example[e]:+.3g}" for e in elements)
    return ChargeVerdict(True, True, f"charge balanced with usual oxidation states (e.g. {text}; averages, mixed valence allowed)", example)


def _example_assignment(amounts: dict[str, float], elements: list[str], anions: set[str],
                        ranges: dict[str, tuple[float, float]]) -> dict[str, float]:
    from pymatgen.core import Element

    x: dict[str, float] = {}
    flexible: list[str] = []
    for el in elements:
        lo, hi = ranges[el]
        if el in anions:
            x[el] = lo
        elif Element(el).block in ("s", "p"):
            x[el] = hi
        else:
            common = [s for s in _element_data(el)[5] if s > 0]
            x[el] = float(min(common)) if common else lo
            flexible.append(el)
    for group in (flexible, [e for e in elements if e not in flexible]):
        for _ in range(len(group) + 1):
            residual = -sum(amounts[e] * x[e] for e in elements)
            if abs(residual) < 1e-9:
                break
            movable = [e for e in group if (ranges[e][1] - x[e] > 1e-9 if residual > 0 else x[e] - ranges[e][0] > 1e-9)]
            if not movable:
                break
            shift = residual / sum(amounts[e] for e in movable)
            for e in movable:
                x[e] = min(max(x[e] + shift, ranges[e][0]), ranges[e][1])
    return x


# --------------------------------------------------------------------------- repair prompt

REPAIR_TEMPLATE_VARIABLES = frozenset({"source", "formula", "declared_spacegroup", "detected_spacegroup", "violations", "family", "facts"})


@lru_cache(maxsize=1)
def load_repair_template() -> string.Template:
    """The repair prompt template (prompts/cif_repair.md), with its variables checked."""
    try:
        text = (resources.files("prompts") / "cif_repair.md").read_text(encoding="utf-8")
    except (OSError, ModuleNotFoundError) as err:
        raise CifError(f"the repair prompt template prompts/cif_repair.md cannot be read ({err})") from err
    template = string.Template(text)
    if not template.is_valid():
        raise CifError("prompts/cif_repair.md has an invalid $placeholder")
    found = set(template.get_identifiers())
    if found != REPAIR_TEMPLATE_VARIABLES:
        raise CifError(f"prompts/cif_repair.md must use exactly {sorted(REPAIR_TEMPLATE_VARIABLES)}; it uses {sorted(found)}")
    return template


def render_repair_prompt(
    checks: Sequence[CifCheck],
    *,
    source: str | None,
    formula: str | None,
    spacegroup: SpaceGroupReport,
    family: FamilyRules | None,
) -> str | None:
    """A prompt listing every error and warning, most important first, with the family's rules; None when clean."""
    problems = [c for c in checks if c.severity in ("error", "warning") and c.code not in _NOT_FOR_REPAIR]
    if not problems:
        return None
    problems.sort(key=lambda c: (CHECK_CODES.get(c.code, (99, ""))[0], 0 if c.severity == "error" else 1))
    lines = [f"{n}. [{c.severity}] {c.message}" for n, c in enumerate(problems, 1)]
    if family is not None:
        family_text = f"{family.title} ({family.formula})"
        facts = "Rules of this family:\n" + "\n".join(f"- {f}" for f in family.facts)
    else:
        family_text = "not identified"
        facts = "No structure-family rules apply."
    return load_repair_template().substitute(
        source=source or "pasted CIF",
        formula=formula or "no structure could be built",
        declared_spacegroup=_sg_text(spacegroup.declared, spacegroup.declared_number) if spacegroup.declared else "none",
        detected_spacegroup=_sg_text(spacegroup.detected, spacegroup.detected_number) if spacegroup.detected else "unknown",
        violations="\n".join(lines),
        family=family_text,
        facts=facts,
    ).strip() + "\n"


# --------------------------------------------------------------------------- public API


def read_structure(cif: str, name: str = "structure") -> Structure:
    """Parse a CIF into a pymatgen Structure or raise CifError with the reason (used for reference structures)."""
    from pymatgen.io.cif import CifParser

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            parser = CifParser.from_str(cif, occupancy_tolerance=1.001, check_cif=False)
            structures = parser.parse_structures(primitive=False, on_error="ignore")
        except Exception as exc:  # pymatgen raises assorted ValueError/KeyError on broken text
            raise CifError(f"{name}: not a readable CIF ({type(exc).__name__}: {exc})") from exc
    if not structures or len(structures[0]) == 0:
        raise CifError(f"{name}: the CIF holds no structure")
    return structures[0]


def resolve_family(rules: str) -> FamilyRules | None:
    """The family named by a `rules` value: None for 'auto' or 'none', else the loaded family (CifError if unknown)."""
    key = rules.strip()
    if key.lower() in {"auto", "none", ""}:
        return None
    return load_family(key)


def _geometric_run(inp: CifValidationInput) -> _Run:
    family = resolve_family(inp.rules)
    reference = read_structure(inp.reference_cif, inp.reference_name or "reference") if inp.reference_cif is not None else None
    run = _Run(inp, family, reference)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            run.run()
        except Exception as exc:  # the last line of defence: the validator reports, it does not crash
            run.add("CHECK_FAILED", "error", f"the validator stopped: {type(exc).__name__}: {exc}")
    run.absorb_library_warnings(list(caught))
    return run


def validate_cif(inp: CifValidationInput) -> CifValidationResult:
    """Run every check on one CIF; bad CIFs come back as error checks, never as exceptions.

    With `fast=False` the structure also goes through the physical check with CHGNet
    (tools.structures.physics). Raises CifError only for a bad request: an unknown rule family or an
    unreadable reference.
    """
    return validate_cifs([inp])[0]


def validate_cifs(inputs: Sequence[CifValidationInput]) -> list[CifValidationResult]:
    """Validate several CIFs; the physical checks of those with `fast=False` run together in batches.

    Raises CifError for a bad request (unknown rule family, unreadable reference) before any work.
    """
    for inp in inputs:
        resolve_family(inp.rules)
    runs = [_geometric_run(inp) for inp in inputs]
    physical: dict[int, tuple[PhysicalCheckResult, list[CifCheck]]] = {}
    wanted = [i for i, inp in enumerate(inputs) if not inp.fast]
    by_steps: dict[int, list[int]] = defaultdict(list)
    for i in wanted:
        by_steps[inputs[i].relax_steps].append(i)
    for steps, indices in by_steps.items():
        physical.update(_physical_group(runs, inputs, indices, steps))
    return [run.result(*physical[i]) if i in physical else run.result() for i, run in enumerate(runs)]


def _physical_group(runs: Sequence[_Run], inputs: Sequence[CifValidationInput], indices: list[int],
                    steps: int) -> dict[int, tuple[PhysicalCheckResult, list[CifCheck]]]:
    from tools.domain.errors import ModelError
    from tools.structures.physics import check_structures, method_label, not_run

    result: dict[int, tuple[PhysicalCheckResult, list[CifCheck]]] = {}
    todo: list[int] = []
    structures: list[Structure] = []
    for i in indices:
        target = runs[i].physical_structure()
        if isinstance(target, str):
            skipped = not_run(target)
            result[i] = (skipped.result, skipped.checks)
        else:
            todo.append(i)
            structures.append(target)
    if not todo:
        return result
    try:
        outcomes = check_structures(structures, relax_steps=steps,
                                    per_structure_references=[inputs[i].reference_entries for i in todo])
    except ModelError as err:
        reason = str(err)
    except Exception as exc:  # the physical check must not sink the geometric report; it says why it failed
        reason = f"{type(exc).__name__}: {exc}"
    else:
        result.update({i: (o.result, o.checks) for i, o in zip(todo, outcomes, strict=True)})
        return result
    failed = PhysicalCheckResult(status="failed", method=method_label(), reason=reason)
    check = CifCheck(code="PHYSICAL_FAILED", severity="warning", message=f"the physical check could not run: {reason}")
    result.update({i: (failed, [check]) for i in todo})
    return result


def validate_cif_text(
    cif: str,
    *,
    source: str | None = None,
    rules: str = "auto",
    reference_cif: str | None = None,
    reference_name: str | None = None,
    fast: bool = True,
    relax_steps: int = DEFAULT_RELAX_STEPS,
    reference_entries: Sequence[ReferenceEntry] = (),
) -> CifValidationResult:
    """Convenience wrapper around `validate_cif` for CIF text."""
    return validate_cif(CifValidationInput(cif=cif, source=source, rules=rules, reference_cif=reference_cif,
                                           reference_name=reference_name, fast=fast, relax_steps=relax_steps,
                                           reference_entries=list(reference_entries)))


def decode_cif_bytes(data: bytes) -> str:
    """Bytes of a CIF file as text (UTF-8; undecodable bytes become U+FFFD, which the validator reports as binary)."""
    return data.decode("utf-8", errors="replace")


def prototype_structure(family: FamilyRules, substitutions: dict[str, str] | None = None) -> Structure:
    """The family's published prototype, with elements substituted (e.g. {"Co": "Ni"}); CifError if it has none."""
    from pymatgen.core import Lattice, Structure

    proto = family.prototype
    if proto is None:
        raise CifError(f"{family.name} has no prototype structure")
    subs = substitutions or {}
    for old, new in subs.items():
        role = family.role_of(old)
        if role is None or family.role_of(new) != role:
            raise CifError(f"cannot substitute {old} by {new} in {family.title}: both must play the same role")
    species: list[Any] = []
    coords: list[tuple[float, float, float]] = []
    merged: dict[tuple[float, float, float], dict[str, float]] = {}
    for site in proto.sites:
        el = subs.get(site.element, site.element)
        merged.setdefault(site.xyz, {})
        merged[site.xyz][el] = merged[site.xyz].get(el, 0.0) + site.occupancy
    for xyz, sp in merged.items():
        coords.append(xyz)
        species.append(sp)
    lattice = Lattice.from_parameters(*proto.lattice)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Structure.from_spacegroup(proto.spacegroup, lattice, species, coords)
