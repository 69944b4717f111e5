"""A structure family's published prototype as a pymatgen Structure, with elements substituted by role."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from tools.domain.errors import CifError

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from tools.structures.rules import FamilyRules


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
