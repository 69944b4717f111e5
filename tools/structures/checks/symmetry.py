"""The symmetry checks: declared against detected space group, and the Wyckoff sites in the standard setting.

spglib (through pymatgen's SpacegroupAnalyzer) standardises to the ITA standard setting, so a
primitive rhombohedral LiCoO2 still reads Li 3a/3b, Co 3b/3a, O 6c.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tools.structures.chemistry import species_text
from tools.structures.context import CheckContext
from tools.structures.models import SiteReport
from tools.structures.spacegroups import point_group_order, sg_text


def check_symmetry(ctx: CheckContext) -> None:
    """Space group of the atoms at the tight and loose tolerances, compared with the declared one."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    tol = ctx.settings.tolerances
    sg = ctx.spacegroup
    results: dict[float, Any] = {}
    for prec in (tol.symprec, tol.loose_symprec):
        try:
            sga = SpacegroupAnalyzer(ctx.structure, symprec=prec, angle_tolerance=tol.angle_tolerance)
            results[prec] = sga.get_symmetry_dataset()
        except Exception as exc:  # spglib gives up on some cells (SymmetryUndeterminedError and friends)
            results[prec] = None
            ctx.add("SYMMETRY_UNDETERMINED", "warning", f"spglib could not determine the symmetry at {prec:g} A ({exc})")
    tight, loose = results[tol.symprec], results[tol.loose_symprec]
    if tight is not None:
        sg.detected, sg.detected_number = str(tight.international), int(tight.number)
    if loose is not None:
        sg.detected_loose, sg.detected_loose_number = str(loose.international), int(loose.number)
    # Sites and rules use the loose (idealised) symmetry when the two differ: approximate
    # coordinates from a model should still be recognised as their family.
    if loose is not None:
        ctx.analysis.dataset, ctx.analysis.dataset_symprec = loose, tol.loose_symprec
    elif tight is not None:
        ctx.analysis.dataset, ctx.analysis.dataset_symprec = tight, tol.symprec
    _compare_space_groups(ctx)


def _compare_space_groups(ctx: CheckContext) -> None:
    tol = ctx.settings.tolerances
    sg = ctx.spacegroup
    decl, tight_n, loose_n = sg.declared_number, sg.detected_number, sg.detected_loose_number
    det_text = sg_text(sg.detected, tight_n)
    if tight_n is None and loose_n is None:
        return
    if decl is None:
        if sg.declared is None:
            ctx.add("SPACEGROUP_NOT_DECLARED", "info", f"no space group declared; the atoms have {det_text} symmetry")
        return
    decl_text = sg_text(sg.declared, decl)
    if decl == tight_n:
        ctx.add("SPACEGROUP_OK", "info", f"declared {decl_text} matches the symmetry of the atoms "
                f"(tolerance {tol.symprec:g} A)")
    elif decl == 1:
        ctx.add("SPACEGROUP_P1", "info", f"written in P1; the atoms have {det_text} symmetry "
                f"(tolerance {tol.symprec:g} A) - fine, but the symmetric description is easier to check")
    elif decl == loose_n:
        ctx.add("SPACEGROUP_LOOSE", "warning", f"declared {decl_text} holds only at {tol.loose_symprec:g} A; at "
                f"{tol.symprec:g} A the atoms have {det_text}: coordinates are off their ideal positions")
    else:
        ref_n = loose_n if loose_n is not None else tight_n
        assert ref_n is not None
        order_det = point_group_order(ref_n)
        order_decl = point_group_order(decl)
        loose_text = sg_text(sg.detected_loose, loose_n)
        if order_det > order_decl:
            ctx.add("SPACEGROUP_HIGHER", "warning", f"declared {decl_text}, but the atoms have the higher symmetry "
                    f"{loose_text}: the declared group is at best a subgroup; describe the structure in {loose_text}")
        else:
            ctx.add("SPACEGROUP_MISMATCH", "error", f"declared {decl_text}, but the atoms have {det_text} symmetry "
                    f"({loose_text} at {tol.loose_symprec:g} A): the symbol does not describe these atoms")


def report_sites(ctx: CheckContext) -> None:
    """One SiteReport per symmetry-distinct site: Wyckoff site in the standard setting, coordination."""
    s = ctx.structure
    ds = ctx.analysis.dataset
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
        coord = ctx.analysis.coordination.get(rep)
        ctx.findings.sites.append(SiteReport(
            label=labels[rep],
            species=species_text(ctx.site_species(rep)),
            wyckoff=wyckoff,
            site_symmetry=site_sym,
            count_in_cell=len(members),
            coordination_number=None if coord is None else coord[0],
            polyhedron=None if coord is None else coord[1],
            mean_bond_length=None if coord is None or coord[2] is None else round(coord[2], 4),
        ))
    ctx.analysis.site_members = groups
