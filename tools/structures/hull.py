"""Energy above the convex hull of reference phases (e.g. Materials Project entries), for the physical check.

pymatgen's phase-diagram code is imported lazily, when an estimate is asked for.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from tools.structures.models import ReferenceEntry


def energy_above_hull(formula: str, energy_per_atom: float, references: Sequence[ReferenceEntry]) -> tuple[float | None, str]:
    """Energy above the convex hull of the reference entries (eV/atom) and a note; None when not estimated.

    The references must be on CHGNet's energy scale: CHGNet learned Materials Project GGA/GGA+U
    energies (MPtrj), so MP's entries for the chemical system are the intended references. The
    value is an estimate: the potential's energy error is about 0.03 eV/atom, and the structure is
    only briefly relaxed (fixed cell), so it is an upper bound of the relaxed structure's.
    """
    if not references:
        return None, "no reference entries: energy above hull not estimated"
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition

    comp = Composition(formula)
    system = {str(e) for e in comp.elements}
    entries = []
    for ref in references:
        try:
            rc = Composition(ref.formula)
        except ValueError as err:
            return None, f"reference {ref.name or ref.formula}: unreadable formula ({err})"
        if {str(e) for e in rc.elements} <= system:
            entries.append(PDEntry(rc, ref.energy_per_atom * rc.num_atoms, name=ref.name or ref.formula))
    have = {str(e) for entry in entries if entry.composition.is_element for e in entry.composition.elements}
    missing = sorted(system - have)
    if missing:
        return None, f"the reference entries lack the element(s) {', '.join(missing)}: energy above hull not estimated"
    target = PDEntry(comp, energy_per_atom * comp.num_atoms, name="checked structure")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns about unused entries; they do not change the hull
        # The hull of the references alone: a structure below it gets a negative value (a new ground state).
        diagram = PhaseDiagram(entries)
        decomp, e_hull = diagram.get_decomp_and_e_above_hull(target, allow_negative=True)
    if e_hull is None:
        return None, "the hull could not be computed at this composition"
    phases = " + ".join(sorted(str(getattr(entry, "name", entry.composition.reduced_formula)) for entry in decomp)) if decomp else "itself"
    note = (f"against {len(entries)} reference entries of the {'-'.join(sorted(system))} system; "
            f"the hull at this composition is {phases}")
    return float(e_hull), note
