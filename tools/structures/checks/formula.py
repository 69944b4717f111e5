"""The formula checks: declared formula against the atoms, declared Z, declared site multiplicities."""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from typing import Any

import numpy as np

from tools.structures.chemistry import is_integral
from tools.structures.cifblock import block_list, block_value
from tools.structures.context import CheckContext


def check_formula(ctx: CheckContext) -> None:
    """Declared formula against the atoms, then the declared Z and the declared site multiplicities."""
    from pymatgen.core import Composition

    s = ctx.structure
    comp = s.composition.remove_charges() if hasattr(s.composition, "remove_charges") else s.composition
    if ctx.findings.declared_formula is None:
        ctx.add("FORMULA_MISSING", "info", f"no _chemical_formula_sum; the atoms give {comp.reduced_formula}")
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                declared = Composition(str(ctx.findings.declared_formula))
                declared = declared.remove_charges()
            if declared.num_atoms <= 0 or not math.isfinite(declared.num_atoms):
                raise ValueError("no atoms")
        except Exception as exc:  # Composition raises ValueError/KeyError/custom errors on odd strings
            ctx.add("FORMULA_UNREADABLE", "warning", f"the declared formula '{ctx.findings.declared_formula}' could not be read ({exc})")
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
                ctx.add("FORMULA_MISMATCH", "error", f"declared formula {declared.reduced_formula} but the atoms give "
                        f"{comp.reduced_formula} ({'; '.join(bits)})")
            else:
                worst = max(abs(declared.get_atomic_fraction(e) - comp.get_atomic_fraction(e)) for e in declared.elements)
                if worst > 0.01:
                    ctx.add("FORMULA_MISMATCH", "error", f"declared formula {declared.formula} but the atoms give "
                            f"{comp.reduced_formula} (atomic fractions differ by up to {worst:.3f})")
                else:
                    ctx.add("FORMULA_OK", "info", f"declared formula {declared.formula} matches the atoms ({comp.reduced_formula})")
                    _z_check(ctx, declared)
    _multiplicity_check(ctx)


def _z_check(ctx: CheckContext, declared: Any) -> None:
    z_text = block_value(ctx.block, "_cell_formula_units_z")
    if z_text is None:
        return
    try:
        z = float(str(z_text).split("(")[0])
    except ValueError:
        return
    comp = ctx.structure.composition
    ratios = [comp[e] / declared[e] for e in declared.elements if declared[e] > 0]
    if not ratios or z <= 0:
        return
    units = float(np.mean(ratios))
    # pymatgen's writer gives the cell formula with Z counted in reduced formula units; accept both.
    reduced_units = float(comp.get_reduced_composition_and_factor()[1]) if is_integral(comp) else units
    if abs(units - z) > 0.05 * max(z, 1) and abs(reduced_units - z) > 0.05 * max(z, 1):
        ctx.add("FORMULA_UNITS_MISMATCH", "warning", f"Z = {z:g} is declared but the cell holds {units:.3g} formula units "
                f"of {declared.formula}")


def _multiplicity_check(ctx: CheckContext) -> None:
    labels = block_list(ctx.block, "_atom_site_label")
    mults = block_list(ctx.block, "_atom_site_symmetry_multiplicity")
    if not labels or not mults or len(labels) != len(mults):
        return
    if len(set(labels)) != len(labels):
        return  # repeated labels (as pymatgen's P1 writer produces) cannot be matched to orbits
    counts: dict[str, int] = defaultdict(int)
    for lab in ctx.structure.labels:
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
        ctx.add("MULTIPLICITY_MISMATCH", "warning", "declared site multiplicities differ from the positions the symmetry "
                "operations generate (a special position written as a general one, or the wrong coordinates): " + "; ".join(bad[:6]))

