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

    oxidation_state_fixtures()


# Garnet and NASICON written the way ICSD exports them (operations listed, _atom_type loop, labels
# Ca1 with types Ca2+); tetragonal LLZO and Li9Co7O16 the way the Materials Project and pymatgen
# write them (P1, every atom listed, species with oxidation states).
GROSSULAR = {
    "name": "Ca3Al2Si3O12", "formula": "Ca3 Al2 Si3 O12", "symbol": "I a -3 d", "group": "Ia-3d", "number": 230, "z": 8,
    "cell": (11.864, 11.864, 11.864, 90, 90, 90),
    "types": {"Ca2+": 2, "Al3+": 3, "Si4+": 4, "O2-": -2},
    "sites": [("Ca1", "Ca2+", "24 c", (0.125, 0, 0.25), 1), ("Al1", "Al3+", "16 a", (0, 0, 0), 1),
              ("Si1", "Si4+", "24 d", (0.375, 0, 0.25), 1), ("O1", "O2-", "96 h", (0.0380, 0.0450, 0.6518), 1)],
    "note": "Grossular garnet Ca3Al2Si3O12, Ia-3d, a = 11.864 A, O (0.0380, 0.0450, 0.6518): Hazen & Finger,\n"
            "Am. Mineral. 63 (1978) 297 (1 bar). Written as ICSD exports CIFs: operations listed, _atom_type\n"
            "loop with oxidation numbers, labels Ca1 with types Ca2+.",
}
NASICON = {
    "name": "Na3Zr2Si2PO12", "formula": "Na3 Zr2 Si2 P1 O12", "symbol": "R -3 c H", "group": "R-3c", "number": 167, "z": 6,
    "cell": (9.07, 9.07, 22.8, 90, 90, 120),
    "types": {"Na1+": 1, "Zr4+": 4, "Si4+": 4, "P5+": 5, "O2-": -2},
    "sites": [("Na1", "Na1+", "6 b", (0, 0, 0), 1), ("Na2", "Na1+", "18 e", (0.64, 0, 0.25), 0.66667),
              ("Zr1", "Zr4+", "12 c", (0, 0, 0.1456), 1), ("Si1", "Si4+", "18 e", (0.2888, 0, 0.25), 0.66667),
              ("P1", "P5+", "18 e", (0.2888, 0, 0.25), 0.33333), ("O1", "O2-", "36 f", (0.1772, -0.0277, 0.1934), 1),
              ("O2", "O2-", "36 f", (0.1908, 0.1688, 0.0891), 1)],
    "note": "NASICON Na3Zr2Si2PO12 in its rhombohedral form (R-3c, stable above about 150 C): Na1 6b, Na2 18e\n"
            "(occupancy 2/3), Si/P 18e (2/3, 1/3). Framework coordinates of NaZr2(PO4)3 (Hagman & Kierkegaard,\n"
            "Acta Chem. Scand. 22 (1968) 1822); cell and Na2 x approximate for x = 2 of Na(1+x)Zr2Si(x)P(3-x)O12\n"
            "(Hong, Mater. Res. Bull. 11 (1976) 173). Written as ICSD exports CIFs, with _atom_type oxidation numbers.",
}
LLZO_TETRAGONAL = [  # I4_1/acd origin choice 2 (Hall -I 4bd 2c): element, Wyckoff, x, y, z
    ("La", "16e", (0.125, 0, 0.25)), ("La", "8b", (0.5, 0.25, 0.875)), ("Zr", "16c", (0, 0, 0)),
    ("O", "32g", (0.1001, 0.1952, 0.2819)), ("O", "32g", (0.2819, 0.1001, 0.1952)), ("O", "32g", (0.5319, 0.0548, 0.8501)),
    ("Li", "8a", (0.5, 0.25, 0.125)), ("Li", "32g", (0.1618, 0.673, 0.5568)), ("Li", "16f", (0.8187, 0.5687, 0.875)),
]


def icsd_style(spec: dict) -> str:
    """A CIF as ICSD writes one: symbol, number, listed operations, _atom_type loop, labelled sites."""
    from pymatgen.symmetry.groups import SpaceGroup

    ops = [op.as_xyz_str() for op in SpaceGroup(spec["group"]).symmetry_ops]
    a, b, c, al, be, ga = spec["cell"]
    lines = [f"data_{spec['name']}", f"_chemical_formula_sum '{spec['formula']}'",
             f"_symmetry_space_group_name_H-M '{spec['symbol']}'", f"_symmetry_Int_Tables_number {spec['number']}",
             f"_cell_length_a {a}", f"_cell_length_b {b}", f"_cell_length_c {c}", f"_cell_angle_alpha {al}",
             f"_cell_angle_beta {be}", f"_cell_angle_gamma {ga}", f"_cell_formula_units_Z {spec['z']}",
             "loop_", "_symmetry_equiv_pos_site_id", "_symmetry_equiv_pos_as_xyz"]
    lines += [f"{i} '{op}'" for i, op in enumerate(ops, start=1)]
    lines += ["loop_", "_atom_type_symbol", "_atom_type_oxidation_number"]
    lines += [f"{sym} {ox:+d}" for sym, ox in spec["types"].items()]
    lines += ["loop_", "_atom_site_label", "_atom_site_type_symbol", "_atom_site_symmetry_multiplicity",
              "_atom_site_Wyckoff_symbol", "_atom_site_fract_x", "_atom_site_fract_y", "_atom_site_fract_z",
              "_atom_site_occupancy"]
    lines += [f"{lab} {typ} {wy} {x:g} {y:g} {z:g} {occ:g}" for lab, typ, wy, (x, y, z), occ in spec["sites"]]
    return "\n".join(lines) + "\n"


def llzo_tetragonal():
    """Tetragonal Li7La3Zr2O12 (192 atoms) with Li+, La3+, Zr4+, O2- and unique labels Li1, Li2 ..."""
    import numpy as np
    import spglib
    from pymatgen.core import Lattice, Species, Structure

    sym = spglib.get_symmetry_from_database(429)  # I4_1/acd, origin choice 2
    species, coords = [], []
    for el, _wyckoff, xyz in LLZO_TETRAGONAL:
        images = (np.einsum("kij,j->ki", sym["rotations"], xyz) + sym["translations"]) % 1.0
        for p in np.unique(np.round(images, 6) % 1.0, axis=0):
            species.append(el)
            coords.append(p)
    charge = {"Li": 1, "La": 3, "Zr": 4, "O": -2}
    counts: dict[str, int] = {}
    labels = []
    for el in species:
        counts[el] = counts.get(el, 0) + 1
        labels.append(f"{el}{counts[el]}")
    return Structure(Lattice.tetragonal(13.134, 12.663), [Species(el, charge[el]) for el in species], coords,
                     labels=labels)


def li9co7o16(lco):
    """Li-excess layered Li9Co7O16: a C2/m supercell of LiCoO2 with one Co replaced by Li; Co3+ x5, Co4+ x2."""
    from pymatgen.core import Species

    s = lco.get_primitive_structure()
    s.make_supercell([[2, 0, 0], [0, 2, 0], [1, 1, 2]])
    cobalt = [i for i, site in enumerate(s) if site.specie.symbol == "Co"]
    s.replace(cobalt[0], "Li")
    state = {i: 4 if i in cobalt[1:3] else 3 for i in cobalt[1:]}
    counts: dict[str, int] = {}
    for i, site in enumerate(s):
        el = site.specie.symbol
        counts[el] = counts.get(el, 0) + 1
        ox = {"Li": 1, "O": -2}.get(el, state.get(i, 3))
        s.replace(i, Species(el, ox), label=f"{el}{counts[el]}")
    return s


def oxidation_state_fixtures() -> None:
    """The CIFs with oxidation-state species labels (written here from published parameters)."""
    warnings.simplefilter("ignore")
    from pymatgen.io.cif import CifParser, CifWriter

    def write(name: str, text: str, note: str) -> None:
        (HERE / name).write_text(header(note) + text, encoding="utf-8")

    write("garnet_grossular_ia3d_oxi.cif", icsd_style(GROSSULAR), GROSSULAR["note"])
    write("nasicon_na3zr2si2po12_r3c_oxi.cif", icsd_style(NASICON), NASICON["note"])
    write("llzo_tetragonal_p1_oxi.cif", str(CifWriter(llzo_tetragonal())),
          "Tetragonal Li7La3Zr2O12 (I4_1/acd) written in P1 (192 atoms) as the Materials Project writes it: species\n"
          "Li+, La3+, Zr4+, O2- with an _atom_type loop. Cell a = 13.134, c = 12.663 A and the Li order (8a, 16f,\n"
          "32g) after Awaka, Kijima, Hayakawa, Akimoto, J. Solid State Chem. 182 (2009) 2046; La, Zr and O at the\n"
          "cubic positions of llzo_cubic_ia3d.cif; Li 16f and 32g positions relaxed with CHGNet with the rest\n"
          "fixed (approximate). Origin choice 2; asymmetric unit in generate_fixtures.py.")
    lco = CifParser(HERE / "licoo2_r3m.cif").parse_structures(primitive=False)[0]
    write("li9co7o16_p1_oxi.cif", str(CifWriter(li9co7o16(lco))),
          "Li-excess layered Li9Co7O16 = Li[Li1/8Co7/8]O2: a 2x2x2 (C2/m) supercell of the primitive cell of\n"
          "licoo2_r3m.cif (Akimoto et al. 1998) with one Co replaced by Li, written in P1 as the Materials\n"
          "Project writes it, with Li+, Co3+ (5 sites), Co4+ (2 sites) and O2- (mixed valence, Co +3.29 on average).")


if __name__ == "__main__":
    main()
