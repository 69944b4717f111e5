"""The cell check: a cell that can hold a crystal, with plausible lengths, volume per atom and density."""

from __future__ import annotations

import math

import numpy as np

from tools.structures.checks.distances import OVERLAP_DISTANCE
from tools.structures.context import CheckContext


def check_cell(ctx: CheckContext) -> bool:
    """Cell volume, thickness, lengths, volume per atom and density; False when the cell cannot hold a crystal."""
    s = ctx.structure
    lat = s.lattice
    vol = float(lat.volume)
    a, b, c = (float(x) for x in lat.abc)
    al, be, ga = (float(x) for x in lat.angles)
    if not (math.isfinite(vol) and vol > 1e-6):
        ctx.add("CELL_INVALID", "error", f"the cell volume is {vol:.3g} A^3 (a={a:.4g}, b={b:.4g}, c={c:.4g} A, "
                f"alpha={al:.4g}, beta={be:.4g}, gamma={ga:.4g} deg); these angles cannot form a cell")
        return False
    m = lat.matrix
    widths = [vol / float(np.linalg.norm(np.cross(m[(i + 1) % 3], m[(i + 2) % 3]))) for i in range(3)]
    if min(widths) < OVERLAP_DISTANCE:
        axis = "abc"[int(np.argmin(widths))]
        ctx.add("CELL_INVALID", "error", f"the cell is only {min(widths):.3g} A thick across {axis}: every atom overlaps "
                "its own periodic image")
        return False
    n_atoms = float(s.composition.num_atoms)
    vpa = vol / max(n_atoms, 1e-9)
    density = float(s.density)
    ctx.add("CELL_OK", "info", f"a={a:.4f}, b={b:.4f}, c={c:.4f} A; alpha={al:.2f}, beta={be:.2f}, gamma={ga:.2f} deg; "
            f"V={vol:.2f} A^3 ({vpa:.2f} A^3 per atom); density {density:.3f} g/cm3")
    if max(a, b, c) > 100:
        ctx.add("CELL_UNUSUAL", "warning", f"a cell length of {max(a, b, c):.4g} A is unusual for a crystal (slab with vacuum?)")
    if vpa < 4:
        ctx.add("CELL_UNUSUAL", "warning", f"{vpa:.3g} A^3 per atom is very dense (solids hold about 5-60 A^3 per atom)")
    elif vpa > 120:
        ctx.add("CELL_UNUSUAL", "warning", f"{vpa:.4g} A^3 per atom is very open (solids hold about 5-60 A^3 per atom)")
    if not 0.5 <= density <= 25:
        ctx.add("DENSITY_UNUSUAL", "warning", f"density {density:.3g} g/cm3 is outside 0.5-25 g/cm3")
    return True
