"""The CIF checker's models: the check codes, the tool input, the findings and the result.

Both the checks (tools/structures/validation.py and its check modules) and the physical check
(tools/structures/physics.py) build these; neither imports the other for them. The input model
is also the `validate_cif` tool's schema the LLM sees (pinned by tests/data/tool_schemas.json),
so its field names and descriptions are the LLM's; library-only knobs (relax steps, reference
structure, tolerances, the repair template) are arguments of `validate_cif`/`validate_cifs`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Severity = Literal["error", "warning", "info"]

_MODEL = ConfigDict(extra="forbid")

DEFAULT_RELAX_STEPS = 4
"""FIRE steps of the physical check's short relaxation: small, so that 100 small CIFs take under a minute
on two shared cores (benchmarks/bench_cif.py); raise it (relax_steps, --relax-steps) for a few CIFs."""

# Stable check codes: priority (lower = more important in a repair prompt) and meaning.
CHECK_CODES: dict[str, tuple[int, str]] = {
    "PARSE_ERROR": (0, "the text could not be read as a CIF"),
    "EXPANSION_TOO_LARGE": (0, "the symmetry operations would expand the CIF beyond the atom limit; it was not expanded"),
    "TIME_LIMIT": (0, "the checks stopped at the per-file time limit; the later ones did not run"),
    "SYMMETRY_OPERATION_INVALID": (0, "a symmetry operation cannot be read, is not a symmetry, or the set is not a group"),
    "UNKNOWN_ELEMENT": (0, "an atom type is not a chemical element"),
    "SPACEGROUP_NUMBER_INVALID": (1, "the declared space-group number is not a number from 1 to 230"),
    "LABEL_DUPLICATE": (1, "atom-site labels repeat (an error where they must name one site each)"),
    "PARSE_NO_STRUCTURE": (1, "the CIF holds no structure that can be built"),
    "OCCUPANCY_ABOVE_ONE": (2, "a site's total occupancy exceeds 1"),
    "CELL_INVALID": (3, "the cell has zero or near-zero volume or thickness"),
    "SPACEGROUP_UNREADABLE": (4, "the declared space group could not be expanded and no symmetry operations are given"),
    "ATOMS_OVERLAP": (5, "atoms closer than 0.5 angstrom"),
    "FORMULA_MISMATCH": (6, "declared formula differs from the atoms"),
    "RULE_COMPOSITION": (7, "composition does not fit the requested structure family"),
    "CHARGE_IMBALANCE": (8, "no usual oxidation states balance the charge (or the declared ones do not sum to zero)"),
    "CHARGE_UNUSUAL_STATE": (9, "the charge balances only with an oxidation state unusual for its element, or one is declared"),
    "RULE_OXIDATION_STATE": (10, "a role's oxidation state is outside the structure family's range"),
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
    "CHARGE_BALANCED": (58, "usual oxidation states (or the declared ones) balance the charge"),
    "OXIDATION_STATES_PARTIAL": (58, "the CIF declares oxidation states for some atom types only; they were not used"),
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


class ValidateCifInput(BaseModel):
    """Check a CIF (crystal structure) for soundness: parsing, cell, formula, distances, space group, charge balance, Wyckoff sites and structure-family rules."""

    model_config = _MODEL

    cif_text: str = Field(description="the complete CIF text")
    file_name: str | None = Field(default=None, description="name of the CIF file, for the report")
    rules: str = Field(
        default="auto",
        description="structure-family rules: 'auto' (pick by composition and structure), 'none', or a family such as layered_limo2, spinel_limn2o4, olivine_lifepo4, nasicon_nazr2p3o12, garnet_llzo, perovskite_llto",
    )
    physical: bool = Field(
        default=True,
        description="also run the physical check with the CHGNet universal potential (energy, forces, pressure, a short "
        "relaxation; seconds, plus a one-off model load); false for the geometric checks only",
    )


DEFAULT_EXPANDED_ATOMS_LIMIT = 5000
"""Most atoms a CIF may expand to under its symmetry operations: pymatgen's expansion grows with the square of
the atom count (about 12 s for 5,000 atoms on one shared core), and a few kilobytes of CIF can ask for 48,000."""

DEFAULT_TIME_LIMIT_S = 60.0
"""Per-file time limit of the geometric checks, seconds."""


class ValidationLimits(BaseModel):
    """How much work one CIF may cause: atoms after the symmetry expansion, and seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    expanded_atoms_limit: int = Field(
        default=DEFAULT_EXPANDED_ATOMS_LIMIT, ge=1, le=1_000_000,
        description="most atoms the asymmetric unit may expand to (counted before expanding); larger CIFs are refused",
    )
    time_limit_s: float = Field(
        default=DEFAULT_TIME_LIMIT_S, gt=0, le=86_400,
        description="per-file time limit of the checks, seconds; checked before each check (a check that started "
        "finishes first), the remaining ones are reported as not run",
    )


class SymmetryTolerances(BaseModel):
    """Tolerances of the symmetry analysis (spglib through pymatgen)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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

