"""Structure-family rules for CIF checks, kept as data in ``knowledge/cif_rules/*.yaml``.

A family (layered LiMO2, spinel, olivine, NASICON, garnet, perovskite LLTO) names the roles its
elements play (A = alkali, M = transition metal, X = anion ...), the space groups it is known
in, the Wyckoff sites each role may occupy in the ITA standard setting of each group (a set of
allowed sites, not a list that must all be filled), the coordination polyhedra of the roles
and how those polyhedra share corners, edges or faces. ``tools.structures.checks.family`` checks a
structure against a family; this module only loads, validates and selects the rule data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tools.domain.errors import CifError

_FROZEN = ConfigDict(frozen=True, extra="forbid")

ShareMode = Literal["corner", "edge", "face"]
"""How two coordination polyhedra meet: one shared ligand (corner), two (edge), three or more (face)."""

POLYHEDRA = (
    "linear",
    "trigonal planar",
    "tetrahedron",
    "square planar",
    "trigonal bipyramid",
    "square pyramid",
    "octahedron",
    "trigonal prism",
    "pentagonal bipyramid",
    "cube",
    "square antiprism",
    "dodecahedron",
    "cuboctahedron",
    "anticuboctahedron",
    "icosahedron",
)

_WYCKOFF_RE = re.compile(r"^(\d+)([a-zA-Z])$")
_ELEMENT_RE = re.compile(r"^[A-Z][a-z]?$")
# Charge-balance-neutral amounts are compared with this slack (rounded occupancies).
_AMOUNT_SLACK = 0.02


class RoleRule(BaseModel):
    """One role in a family: which elements may play it and how much of it a formula unit holds."""

    model_config = _FROZEN

    elements: tuple[str, ...] = Field(description="element symbols that may play this role")
    amount: tuple[float, float] = Field(
        description="lowest and highest amount per formula unit (atoms), after scaling the anchor role to its amount"
    )
    description: str = Field(default="", description="what the role is, in words")
    oxidation_state: tuple[float, float] | None = Field(
        default=None, description="lowest and highest average oxidation state of the role in this family; None: any"
    )

    @model_validator(mode="after")
    def _check(self) -> RoleRule:
        bad = [e for e in self.elements if not _ELEMENT_RE.match(e)]
        if bad or not self.elements:
            raise ValueError(f"elements must be element symbols, got {list(self.elements)}")
        lo, hi = self.amount
        if not (0 <= lo <= hi):
            raise ValueError(f"amount must be [low, high] with 0 <= low <= high, got {list(self.amount)}")
        if self.oxidation_state is not None and self.oxidation_state[0] > self.oxidation_state[1]:
            raise ValueError(f"oxidation_state must be [low, high], got {list(self.oxidation_state)}")
        return self


class SpaceGroupRule(BaseModel):
    """A space group the family is known in."""

    model_config = _FROZEN

    number: int = Field(ge=1, le=230, description="International Tables space-group number")
    symbol: str = Field(description="Hermann-Mauguin short symbol of the standard setting")
    note: str = Field(default="", description="when the family takes this group")


class CoordinationRule(BaseModel):
    """Expected coordination of a role's cations by the anion role."""

    model_config = _FROZEN

    cn: tuple[int, ...] = Field(description="allowed coordination numbers (count of nearest anions)")
    polyhedra: tuple[str, ...] = Field(
        default=(), description="allowed polyhedron shapes; empty means any shape with an allowed cn"
    )
    note: str = Field(default="", description="why, in words")

    @model_validator(mode="after")
    def _check(self) -> CoordinationRule:
        if not self.cn or any(n < 1 or n > 16 for n in self.cn):
            raise ValueError(f"cn must list coordination numbers between 1 and 16, got {list(self.cn)}")
        unknown = [p for p in self.polyhedra if p not in POLYHEDRA]
        if unknown:
            raise ValueError(f"unknown polyhedra {unknown}; known: {', '.join(POLYHEDRA)}")
        return self


class ConnectivityRule(BaseModel):
    """How the polyhedra of two roles may share ligands."""

    model_config = _FROZEN

    roles: tuple[str, str] = Field(description="the two roles whose polyhedra are compared (may be the same role)")
    share: tuple[ShareMode, ...] = Field(
        description="allowed ways to share ligands; empty means the polyhedra must not share any ligand"
    )
    required: bool = Field(default=False, description="at least one pair of polyhedra must share ligands this way")
    note: str = Field(default="", description="the structural fact, in words")


class PrototypeSite(BaseModel):
    """One asymmetric-unit site of a family's prototype structure."""

    model_config = _FROZEN

    label: str = Field(description="site label")
    role: str = Field(description="role the site belongs to")
    element: str = Field(description="element on the site in the prototype")
    wyckoff: str = Field(description="Wyckoff site (multiplicity and letter) in the standard setting")
    xyz: tuple[float, float, float] = Field(description="fractional coordinates in the prototype's setting")
    occupancy: float = Field(default=1.0, gt=0, le=1, description="site occupancy, 0 to 1")


class Prototype(BaseModel):
    """A published structure of the family, used for offline generation and as a test of the rules."""

    model_config = _FROZEN

    compound: str = Field(description="chemical formula of the prototype")
    spacegroup: str = Field(description="space-group symbol pymatgen understands (its default setting)")
    number: int = Field(ge=1, le=230, description="space-group number")
    lattice: tuple[float, float, float, float, float, float] = Field(
        description="a, b, c in angstrom and alpha, beta, gamma in degrees"
    )
    sites: tuple[PrototypeSite, ...] = Field(description="asymmetric unit")
    source: str = Field(description="where the numbers come from")


class FamilyRules(BaseModel):
    """All rules of one structure family."""

    model_config = _FROZEN

    name: str = Field(description="identifier used with rules=NAME")
    title: str = Field(description="human name of the family")
    formula: str = Field(description="generic formula with role letters, e.g. AMX2")
    description: str = Field(default="", description="what the family is")
    anchor: str = Field(description="role whose amount fixes the formula unit (usually the anion)")
    roles: dict[str, RoleRule] = Field(description="roles by name")
    space_groups: tuple[SpaceGroupRule, ...] = Field(description="space groups the family is known in")
    wyckoff: dict[int, dict[str, tuple[str, ...]]] = Field(
        default_factory=dict,
        description="per space-group number, per role: allowed Wyckoff sites (e.g. 3a) in the ITA standard setting; "
        "a role left out is not constrained",
    )
    coordination: dict[str, CoordinationRule] = Field(default_factory=dict, description="per role")
    connectivity: tuple[ConnectivityRule, ...] = Field(default=(), description="polyhedron sharing rules")
    facts: tuple[str, ...] = Field(default=(), description="the domain rules in words, for repair prompts")
    references: tuple[str, ...] = Field(default=(), description="published sources of the rules")
    prototype: Prototype | None = Field(default=None, description="a published structure of the family")

    @model_validator(mode="after")
    def _check(self) -> FamilyRules:
        if self.anchor not in self.roles:
            raise ValueError(f"anchor '{self.anchor}' is not one of the roles {sorted(self.roles)}")
        lo, hi = self.roles[self.anchor].amount
        if lo != hi or lo <= 0:
            raise ValueError(f"the anchor role '{self.anchor}' needs one positive amount, got {[lo, hi]}")
        seen: dict[str, str] = {}
        for role, rule in self.roles.items():
            for el in rule.elements:
                if el in seen:
                    raise ValueError(f"element {el} is in roles '{seen[el]}' and '{role}'; give each element one role")
                seen[el] = role
        numbers = {sg.number for sg in self.space_groups}
        if not numbers:
            raise ValueError("space_groups must list at least one group")
        for number, by_role in self.wyckoff.items():
            if number not in numbers:
                raise ValueError(f"wyckoff rules for space group {number}, which is not in space_groups")
            for role, sites in by_role.items():
                if role not in self.roles:
                    raise ValueError(f"wyckoff rules name unknown role '{role}'")
                bad = [s for s in sites if not _WYCKOFF_RE.match(s)]
                if bad:
                    raise ValueError(f"Wyckoff sites must look like 3a or 96h, got {bad}")
        for role in self.coordination:
            if role not in self.roles:
                raise ValueError(f"coordination rule for unknown role '{role}'")
        for conn in self.connectivity:
            for role in conn.roles:
                if role not in self.roles:
                    raise ValueError(f"connectivity rule names unknown role '{role}'")
            if conn.required and not conn.share:
                raise ValueError(f"connectivity {list(conn.roles)}: required needs at least one share mode")
        if self.prototype is not None:
            if self.prototype.number not in numbers:
                raise ValueError(f"prototype space group {self.prototype.number} is not in space_groups")
            for site in self.prototype.sites:
                if site.role not in self.roles or site.element not in self.roles[site.role].elements:
                    raise ValueError(f"prototype site {site.label}: {site.element} is not in role '{site.role}'")
        return self

    @property
    def space_group_numbers(self) -> tuple[int, ...]:
        """Numbers of the space groups the family is known in."""
        return tuple(sg.number for sg in self.space_groups)

    def space_group_text(self) -> str:
        """The allowed space groups as text, e.g. 'Ia-3d (230) or I4_1/acd (142)'."""
        return " or ".join(f"{sg.symbol} ({sg.number})" for sg in self.space_groups)

    def role_of(self, element: str) -> str | None:
        """The role an element plays in this family, or None when it has none."""
        for role, rule in self.roles.items():
            if element in rule.elements:
                return role
        return None

    def allowed_sites(self, number: int, role: str) -> tuple[str, ...] | None:
        """Allowed Wyckoff sites of a role in a space group, or None when not constrained."""
        return self.wyckoff.get(number, {}).get(role)

    def composition_fit(self, amounts: Mapping[str, float]) -> tuple[bool, str]:
        """Whether element amounts fit the family's roles and stoichiometry; the reason when not."""
        totals = dict.fromkeys(self.roles, 0.0)
        for el, amt in amounts.items():
            role = self.role_of(el)
            if role is None:
                return False, f"{el} plays no role in {self.title}"
            totals[role] += float(amt)
        anchor_total = totals[self.anchor]
        if anchor_total <= 0:
            return False, f"no {self.anchor} ({', '.join(self.roles[self.anchor].elements)})"
        scale = self.roles[self.anchor].amount[0] / anchor_total
        problems = []
        for role, rule in self.roles.items():
            value = totals[role] * scale
            lo, hi = rule.amount
            if value < lo - _AMOUNT_SLACK or value > hi + _AMOUNT_SLACK:
                want = f"{lo:g}" if lo == hi else f"{lo:g} to {hi:g}"
                problems.append(f"{role} ({'/'.join(rule.elements[:6])}{'...' if len(rule.elements) > 6 else ''}) "
                                f"is {value:.3g} per {self.formula}, expected {want}")
        if problems:
            return False, "; ".join(problems)
        return True, ""


def rules_dir() -> Path:
    """Folder of the built-in rule files (``knowledge/cif_rules``)."""
    return Path(str(resources.files("knowledge") / "cif_rules"))


def list_families() -> list[str]:
    """Names of the built-in structure families."""
    return sorted(p.stem for p in rules_dir().glob("*.yaml"))


def _read_family(path: Path) -> FamilyRules:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise CifError(f"{path}: not a readable YAML rule file ({err})") from err
    if not isinstance(data, dict):
        raise CifError(f"{path}: expected a mapping with name, roles, space_groups ...")
    try:
        return FamilyRules.model_validate(data)
    except ValidationError as err:
        lines = [f"  - {'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in err.errors()]
        raise CifError(f"{path}: invalid rule file\n" + "\n".join(lines)) from err


@lru_cache(maxsize=32)
def _load_builtin(name: str) -> FamilyRules:
    return _read_family(rules_dir() / f"{name}.yaml")


def load_family(source: str | Path) -> FamilyRules:
    """Load a family by built-in name ("layered_limo2") or from a YAML file path."""
    from tools.domain.design_space import suggest

    text = str(source)
    names = list_families()
    if text in names:
        return _load_builtin(text)
    path = Path(text)
    if path.suffix in {".yaml", ".yml"} and path.is_file():
        return _read_family(path)
    raise CifError(f"unknown rule family '{text}': use one of {', '.join(names)} or a YAML file{suggest(text, names)}")


def resolve_family(rules: str) -> FamilyRules | None:
    """The family named by a `rules` value: None for 'auto' or 'none', else the loaded family (CifError if unknown)."""
    key = rules.strip()
    if key.lower() in {"auto", "none", ""}:
        return None
    return load_family(key)


def load_all_families() -> list[FamilyRules]:
    """Every built-in family."""
    return [_load_builtin(name) for name in list_families()]


def select_family(amounts: Mapping[str, float], space_group_number: int | None) -> tuple[FamilyRules, bool] | None:
    """The built-in family that fits a composition, preferring one known in the given space group.

    Returns the family and whether the space group is one of the family's, or None when no
    family fits the composition.
    """
    fitting = [f for f in load_all_families() if f.composition_fit(amounts)[0]]
    if not fitting:
        return None
    for family in fitting:
        if space_group_number in family.space_group_numbers:
            return family, True
    return fitting[0], False
