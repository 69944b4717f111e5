"""The reference check: the structure against a reference structure (same composition, StructureMatcher match)."""

from __future__ import annotations

from tools.structures.context import CheckContext
from tools.structures.models import ReferenceComparison


def compare_reference(ctx: CheckContext) -> None:
    """Whether the structure matches the reference structure, when one was given (pymatgen StructureMatcher)."""
    ref = ctx.settings.reference
    if ref is None:
        return
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    s = ctx.structure
    name = ctx.settings.reference_name or "reference"
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
        ref_sg = SpacegroupAnalyzer(ref, symprec=ctx.settings.tolerances.symprec).get_space_group_symbol()
    except Exception:  # symmetry of the reference is informative only
        ref_sg = None
    ctx.findings.reference = ReferenceComparison(
        reference=name, formula=ref.composition.reduced_formula, spacegroup=ref_sg, same_composition=same_comp,
        match=match, rms_displacement=rms, max_displacement=mx,
        volume_per_atom_change_percent=round(100 * (vpa_s / vpa_r - 1), 3),
    )
    if match:
        ctx.add("REFERENCE_MATCH", "info", f"matches {name} ({ref.composition.reduced_formula}, {ref_sg}): RMS displacement "
                f"{rms:.3f}, max {mx:.3f} (in (V/atom)^(1/3)); volume per atom {vpa_s / vpa_r - 1:+.1%}")
    elif not same_comp:
        ctx.add("REFERENCE_MISMATCH", "error", f"composition {s.composition.reduced_formula} differs from {name} "
                f"({ref.composition.reduced_formula})")
    else:
        ctx.add("REFERENCE_MISMATCH", "error", f"not the same structure as {name} ({ref.composition.reduced_formula}, "
                f"{ref_sg}) within 20% lattice, 0.3 site and 5 degree tolerances; volume per atom {vpa_s / vpa_r - 1:+.1%}")
