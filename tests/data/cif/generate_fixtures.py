"""Regenerate the pymatgen-written and corrupted CIF fixtures from the hand-written ones.

Run from the repository root: `.venv/bin/python tests/data/cif/generate_fixtures.py`.
The hand-written CIFs (licoo2_r3m.cif, lifepo4_pnma.cif, ...) are the sources; every file
written here says in its header how it was made.
"""

from __future__ import annotations

import random
import warnings
from pathlib import Path

HERE = Path(__file__).parent


def header(text: str) -> str:
    return "".join(f"# {line}\n" for line in text.splitlines())


def main() -> None:
    warnings.simplefilter("ignore")
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.cif import CifParser, CifWriter

    def read(name: str) -> Structure:
        return CifParser(HERE / name).parse_structures(primitive=False)[0]

    def write(name: str, text: str, note: str) -> None:
        (HERE / name).write_text(header(note) + text, encoding="utf-8")

    lco = read("licoo2_r3m.cif")
    # Primitive rhombohedral cell (4 atoms) written with its symmetry, and the conventional cell in P1.
    prim = lco.get_primitive_structure()
    write("licoo2_rhombohedral_primitive.cif", str(CifWriter(prim)),
          "LiCoO2, primitive rhombohedral cell (a = 4.96 A, alpha = 33 deg) of licoo2_r3m.cif,\n"
          "written by pymatgen CifWriter in P1 (4 atoms).")
    write("licoo2_p1.cif", str(CifWriter(lco)),
          "LiCoO2, conventional hexagonal cell of licoo2_r3m.cif written by pymatgen CifWriter in P1.")
    write("licoo2_symmetrized.cif", str(CifWriter(lco, symprec=0.01)),
          "LiCoO2 written by pymatgen CifWriter(symprec=0.01): explicit symmetry operations.")

    # LLTO built by pymatgen from the perovskite prototype numbers (Pm-3m, a = 3.87 A).
    llto = Structure.from_spacegroup("Pm-3m", Lattice.cubic(3.87), [{"La": 0.557, "Li": 0.33}, "Ti", "O"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]])
    write("llto_cubic_pm3m.cif", str(CifWriter(llto, symprec=0.01)),
          "Cubic Li0.33La0.557TiO3 (idealised LLTO, a = 3.87 A) built with pymatgen Structure.from_spacegroup.")

    # --- corruptions -------------------------------------------------------------------
    text = (HERE / "licoo2_r3m.cif").read_text(encoding="utf-8")
    cut = text.index("Co1 Co")
    write("corrupt_truncated.cif", text[: cut + 9],
          "CORRUPTED: licoo2_r3m.cif cut off in the middle of the atom-site loop.")

    rng = random.Random(20240607)
    (HERE / "corrupt_binary.cif").write_bytes(bytes(rng.randrange(256) for _ in range(2048)))

    overlap = lco.copy()
    overlap.append("O", overlap[0].coords + [0.2, 0.0, 0.0], coords_are_cartesian=True)
    write("corrupt_overlap.cif", str(CifWriter(overlap)),
          "CORRUPTED: licoo2_p1.cif with an extra O atom 0.2 A from a Li atom.")

    sym = str(CifWriter(lco, symprec=0.01))
    sym = sym.replace("_symmetry_space_group_name_H-M   R-3m", "_symmetry_space_group_name_H-M   P-3m1")
    sym = sym.replace("_symmetry_Int_Tables_number   166", "_symmetry_Int_Tables_number   164")
    write("corrupt_wrong_spacegroup.cif", sym,
          "CORRUPTED: licoo2_symmetrized.cif (explicit R-3m operations) declaring P-3m1 (164).")

    lfp_text = (HERE / "lifepo4_pnma.cif").read_text(encoding="utf-8")
    charge = text.replace("'Li Co O2'", "'Li Mg O2'").replace("Co1 Co 3 b", "Mg1 Mg 3 b")
    write("corrupt_charge_limgo2.cif", charge.split("\n", 2)[2],
          "CORRUPTED: licoo2_r3m.cif with Co replaced by Mg: LiMgO2 is one positive charge short.")
    antisite = (lfp_text.replace("Li1 Li 0 0 0 1", "Fe9 Fe 0 0 0 1")
                .replace("Fe1 Fe 0.28222 0.25 0.97472 1", "Li9 Li 0.28222 0.25 0.97472 1"))
    write("corrupt_forbidden_site.cif", antisite.split("\n", 2)[2],
          "CORRUPTED: lifepo4_pnma.cif with Li and Fe exchanged (Fe on 4a, Li on 4c).")
    occ = text.replace("Co1 Co 3 b 0 0 0.5 1", "Co1 Co 3 b 0 0 0.5 1.5")
    write("corrupt_occupancy.cif", occ.split("\n", 2)[2], "CORRUPTED: licoo2_r3m.cif with Co occupancy 1.5.")
    formula = text.replace("'Li Co O2'", "'Li Co O3'")
    write("corrupt_formula.cif", formula.split("\n", 2)[2],
          "CORRUPTED: licoo2_r3m.cif declaring the formula LiCoO3.")
    flat = text.replace("_cell_angle_alpha 90", "_cell_angle_alpha 120").replace(
        "_cell_angle_beta 90", "_cell_angle_beta 120")
    write("corrupt_zero_volume.cif", flat.split("\n", 2)[2],
          "CORRUPTED: licoo2_r3m.cif with alpha = beta = gamma = 120 deg (a flat, zero-volume cell).")


if __name__ == "__main__":
    main()
