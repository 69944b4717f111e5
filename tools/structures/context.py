"""What the CIF checks share: the parsed CIF, the request, the findings so far and the analyses computed once.

A run reads the CIF into a `ParsedCif` (tools/structures/parsing.py); then every check is a
function of one `CheckContext`. A check reads the structure, the CIF block and what earlier
checks computed (`Analysis`: neighbours and coordination, the symmetry dataset, the
symmetry-distinct sites) and appends its `CifCheck`s to the `Findings`, whose order the report
keeps. Species and elements are read from the structure through the context's helpers only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from tools.structures.models import (
    CifCheck,
    ReferenceComparison,
    Severity,
    SiteReport,
    SpaceGroupReport,
    SymmetryTolerances,
    ValidationLimits,
)

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from tools.structures.oxidation import DeclaredOxidation
    from tools.structures.rules import FamilyRules

Image = tuple[int, int, int]
"""Periodic image of a site: lattice translation in cell vectors."""


@dataclass
class Findings:
    """What a run reports, filled as it goes: the checks in the order found, space groups, sites, family, reference."""

    spacegroup: SpaceGroupReport
    checks: list[CifCheck] = field(default_factory=list)
    declared_formula: str | None = None
    sites: list[SiteReport] = field(default_factory=list)
    family: FamilyRules | None = None
    family_by: Literal["explicit", "auto"] | None = None
    reference: ReferenceComparison | None = None

    def add(self, code: str, severity: Severity, message: str) -> None:
        """Append one finding."""
        self.checks.append(CifCheck(code=code, severity=severity, message=message))

    def has(self, code: str) -> bool:
        """Whether a finding with this code was added."""
        return any(c.code == code for c in self.checks)

    def error_codes(self) -> set[str]:
        """Codes of the error findings so far."""
        return {c.code for c in self.checks if c.severity == "error"}


@dataclass(frozen=True)
class ParsedCif:
    """A CIF read into a structure: its first data block and the first structure built from it."""

    structure: Structure
    """The atoms as elements: declared oxidation states are taken off and kept in `oxidation`."""
    block: dict[str, Any]
    formula: str
    """Readable formula of the atoms (tools.structures.chemistry.formula_per_unit)."""
    oxidation: DeclaredOxidation | None = None
    """Oxidation states the CIF declares for every atom type, or None (none, or only some, declared)."""


@dataclass(frozen=True)
class CheckSettings:
    """What was asked: the rules value and the family it names, the reference structure, the tolerances."""

    rules: str
    explicit_family: FamilyRules | None = None
    reference: Structure | None = None
    reference_name: str | None = None
    tolerances: SymmetryTolerances = field(default_factory=SymmetryTolerances)
    limits: ValidationLimits = field(default_factory=ValidationLimits)


@dataclass
class Analysis:
    """Intermediate results one check computes once and later checks read."""

    anions: set[str] = field(default_factory=set)
    occupancy: list[float] = field(default_factory=list)
    """Total occupancy of each site."""
    majority: list[str] = field(default_factory=list)
    """Element with the largest occupancy on each site."""
    ligands: dict[int, set[tuple[int, Image]]] = field(default_factory=dict)
    """Per cation site: its coordinating anions (site index and periodic image)."""
    coordination: dict[int, tuple[int, str, float | None]] = field(default_factory=dict)
    """Per cation site: coordination number, polyhedron name, mean bond length (angstrom)."""
    sharing: list[tuple[int, int, int]] = field(default_factory=list)
    """(site i, site j, number of shared ligands) for cation polyhedra that share ligands."""
    dataset: Any = None
    """spglib symmetry dataset the sites and rules use (the loose one when both tolerances gave one)."""
    dataset_symprec: float | None = None
    site_members: dict[int, list[int]] = field(default_factory=dict)
    """Symmetry-distinct sites: representative site index -> indices of its orbit, in the order of the site reports."""
    oxidation_states: dict[str, float] = field(default_factory=dict)
    """Average oxidation state of each element as the charge check found it (declared, or a balancing assignment)."""
    oxidation_source: Literal["declared", "inferred"] | None = None


@dataclass(frozen=True)
class CheckContext:
    """Everything a check reads, and the findings it appends to."""

    parsed: ParsedCif
    settings: CheckSettings
    findings: Findings
    analysis: Analysis = field(default_factory=Analysis)

    @property
    def structure(self) -> Structure:
        """The structure as written (pymatgen, conventional cell of the CIF)."""
        return self.parsed.structure

    @property
    def block(self) -> dict[str, Any]:
        """The CIF's first data block (lower- and mixed-case tags as pymatgen read them)."""
        return self.parsed.block

    @property
    def spacegroup(self) -> SpaceGroupReport:
        """Declared and detected space groups, filled by parsing and the symmetry check."""
        return self.findings.spacegroup

    def add(self, code: str, severity: Severity, message: str) -> None:
        """Append one finding."""
        self.findings.add(code, severity, message)

    def site_species(self, index: int) -> list[tuple[str, float]]:
        """Element symbol and occupancy of each species on a site, as pymatgen read them."""
        return [(sp.symbol, occ) for sp, occ in self.structure[index].species.items()]

    def elements(self) -> set[str]:
        """The element symbols present."""
        return {sp.symbol for sp in self.structure.composition.elements}

    def element_amounts(self) -> dict[str, float]:
        """Amount of each element in the cell (species of one element summed)."""
        amounts: dict[str, float] = defaultdict(float)
        for sp, amt in self.structure.composition.items():
            amounts[sp.symbol] += float(amt)
        return dict(amounts)

    def site_orbits(self) -> Iterator[tuple[SiteReport, int]]:
        """Each site report with the index of its representative site (ValueError when the two lists disagree)."""
        for report, (rep, _members) in zip(self.findings.sites, sorted(self.analysis.site_members.items()), strict=True):
            yield report, rep
