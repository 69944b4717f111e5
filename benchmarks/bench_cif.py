"""Benchmark: 100 small CIFs (--fast and physical), a 448-atom supercell, and a CIF refused for its size; JSON.

The 100 CIFs are made here from the prototypes in knowledge/cif_rules (element substitutions,
strained cells, rattled atoms, P1 and symmetrised writes, primitive cells), so the set mixes
valid and invalid structures. For each mode it reports the time of one warm-up pass (imports,
symmetry tables and, for the full mode, loading CHGNet) and the median of 5 timed passes over all
100 files (read + decode + validate, the physical checks batched as `validate-cif` does).
Targets: median under 10 s with --fast, under 60 s with the physical check.

Two single files follow, each timed after one warm-up pass (median of the same number of runs):
a 2x2x2 supercell of the spinel LiMn2O4 prototype (448 atoms, P1, species Li+, Mn3.5+, O2- as the
Materials Project writes them) on the fast path, target about a second; and an 8 KB Fd-3m CIF
with 250 sites in its asymmetric unit (48,000 atoms after its 192 operations, minutes in
pymatgen's expansion), which must be refused (EXPANSION_TOO_LARGE) within a few seconds.

    python benchmarks/bench_cif.py [--runs 5] [--relax-steps N] [--fast-only]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SUBSTITUTIONS = {
    "layered_limo2": [{}, {"Co": "Ni"}, {"Co": "Mn"}, {"Co": "Al"}, {"Li": "Na"}],
    "spinel_limn2o4": [{}, {"Mn": "Co"}, {"Mn": "Ti"}, {"Mn": "Fe"}],
    "olivine_lifepo4": [{}, {"Fe": "Mn"}, {"Fe": "Co"}, {"Fe": "Ni"}],
    "nasicon_nazr2p3o12": [{}, {"Zr": "Ti"}, {"Na": "Li", "Zr": "Ti"}, {"Zr": "Hf"}],
    "perovskite_llto": [{}, {"Ti": "Nb"}],
}


def make_cifs(folder: Path, count: int = 100, seed: int = 11) -> list[Path]:
    """Write `count` small CIFs to `folder`; returns their paths."""
    from pymatgen.io.cif import CifWriter

    from tools.structures.prototype import prototype_structure
    from tools.structures.rules import load_family

    rng = random.Random(seed)
    bases = []
    for name, subs_list in SUBSTITUTIONS.items():
        family = load_family(name)
        for subs in subs_list:
            s = prototype_structure(family, subs)
            if len(s) >= 50:
                s = s.get_primitive_structure()
            bases.append((f"{name}-{'-'.join(f'{a}{b}' for a, b in subs.items()) or 'proto'}", s))
    paths: list[Path] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CifWriter warns about repeated labels in P1 output
        for k in range(count):
            tag, base = bases[k % len(bases)]
            s = base.copy()
            variant = k // len(bases) % 5
            if variant == 1:
                s.apply_strain(rng.uniform(-0.04, 0.04))
            elif variant == 2:
                s.perturb(rng.uniform(0.02, 0.12))
            elif variant == 3 and len(s) > 2:
                s.replace(0, s[1].species, coords=s[1].frac_coords + 0.01)  # overlap: invalid
            # Symmetrised writes give the conventional cell: only where it stays under 50 atoms.
            symprec = 0.01 if variant in (0, 1) and not tag.startswith(("spinel", "nasicon")) else None
            assert len(s) < 50, (tag, len(s))
            path = folder / f"{k:03d}-{tag}-v{variant}.cif"
            path.write_text(str(CifWriter(s, symprec=symprec)), encoding="utf-8")
            paths.append(path)
    return paths


def supercell_cif(folder: Path) -> Path:
    """A 448-atom P1 CIF: the spinel prototype's conventional cell doubled along a, b and c, with oxidation states."""
    from pymatgen.io.cif import CifWriter

    from tools.structures.prototype import prototype_structure
    from tools.structures.rules import load_family

    structure = prototype_structure(load_family("spinel_limn2o4"))
    structure.make_supercell([2, 2, 2])
    structure.add_oxidation_state_by_element({"Li": 1, "Mn": 3.5, "O": -2})
    path = folder / "limn2o4_2x2x2_p1.cif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CifWriter warns about repeated labels in P1 output
        path.write_text(str(CifWriter(structure)), encoding="utf-8")
    return path


def expanding_cif(folder: Path, n_sites: int = 250, seed: int = 1) -> Path:
    """An Fd-3m CIF (symbol only) with n_sites general positions: 192 atoms each after the expansion."""
    rng = random.Random(seed)
    rows = "\n".join(f"O{i} O {rng.random():.4f} {rng.random():.4f} {rng.random():.4f} 1" for i in range(n_sites))
    path = folder / f"fd3m_{n_sites}_sites.cif"
    path.write_text("data_big\n_symmetry_space_group_name_H-M 'F d -3 m'\n_symmetry_Int_Tables_number 227\n"
                    "_cell_length_a 40\n_cell_length_b 40\n_cell_length_c 40\n_cell_angle_alpha 90\n"
                    "_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n_atom_site_label\n_atom_site_type_symbol\n"
                    "_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n_atom_site_occupancy\n" + rows + "\n",
                    encoding="utf-8")
    return path


def time_file(path: Path, runs: int, target_s: float) -> dict[str, Any]:
    """One file on the fast path: one warm-up pass, then `runs` timed passes (read + decode + validate)."""
    validate_all([path], True, 0)
    walls, cpus = [], []
    for _ in range(runs):
        start, cstart = time.perf_counter(), time.process_time()
        result = validate_all([path], True, 0)[0]
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cstart)
    median = statistics.median(walls)
    return {
        "file": path.name,
        "bytes": path.stat().st_size,
        "atoms_validated": result.n_sites,
        "valid": result.valid,
        "errors": sorted(result.codes("error")),
        "runs_s": [round(w, 3) for w in walls],
        "median_s": round(median, 3),
        "median_cpu_s": round(statistics.median(cpus), 3),
        "target_s": target_s,
        "meets_target": median < target_s,
    }


def validate_all(paths: list[Path], fast: bool, relax_steps: int) -> list[Any]:
    from assistant.cif_repair import repair_template
    from tools.structures.models import ValidateCifInput
    from tools.structures.parsing import read_cif_bytes
    from tools.structures.validation import decode_cif_bytes, validate_cifs

    return validate_cifs([ValidateCifInput(cif_text=decode_cif_bytes(read_cif_bytes(p)), file_name=p.name,
                                           physical=not fast) for p in paths],
                         relax_steps=relax_steps, repair_template=repair_template())


def time_mode(paths: list[Path], fast: bool, relax_steps: int, runs: int) -> dict[str, Any]:
    """One warm-up pass, then `runs` timed passes; wall and CPU seconds."""
    t0, c0 = time.perf_counter(), time.process_time()
    results = validate_all(paths, fast, relax_steps)
    warmup = time.perf_counter() - t0
    warmup_cpu = time.process_time() - c0
    walls, cpus = [], []
    for _ in range(runs):
        start, cstart = time.perf_counter(), time.process_time()
        validate_all(paths, fast, relax_steps)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cstart)
    median = statistics.median(walls)
    target = 10.0 if fast else 60.0
    report: dict[str, Any] = {
        "mode": "fast" if fast else "physical",
        "valid": sum(r.valid for r in results),
        "invalid": sum(not r.valid for r in results),
        "warmup_pass_s": round(warmup, 3),
        "warmup_pass_cpu_s": round(warmup_cpu, 3),
        "runs_s": [round(r, 3) for r in walls],
        "runs_cpu_s": [round(r, 3) for r in cpus],
        "median_s": round(median, 3),
        "median_cpu_s": round(statistics.median(cpus), 3),
        "per_file_ms": round(1000 * median / len(paths), 2),
        "target_s": target,
        "meets_target": median < target,
    }
    if not fast:
        phys = [r.physical for r in results]
        evaluated = [p for p in phys if p.status in ("ok", "flagged")]
        report.update({
            "relax_steps": relax_steps,
            "physical_status": {k: sum(p.status == k for p in phys) for k in ("ok", "flagged", "not_run", "failed")},
            "physical_evaluated": len(evaluated),
            "atoms_evaluated": sum(p.n_atoms_evaluated or 0 for p in evaluated),
            "relax_steps_taken": sum(p.relax_steps or 0 for p in evaluated),
            "per_evaluated_structure_ms": round(1000 * median / max(len(evaluated), 1), 1),
            "flag_codes": sorted({c.code for r in results for c in r.checks
                                  if c.code.startswith("PHYSICAL_") and c.severity != "info"}),
        })
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--relax-steps", type=int, default=None, help="FIRE steps (default: the validator's)")
    parser.add_argument("--fast-only", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    import tools.structures.validation  # noqa: F401 - import cost is part of the setup figure
    from tools.structures.models import DEFAULT_RELAX_STEPS

    relax_steps = args.relax_steps if args.relax_steps is not None else DEFAULT_RELAX_STEPS
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_cifs(Path(tmp))
        sizes = []
        from tools.structures.parsing import read_structure

        for p in paths:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sizes.append(len(read_structure(p.read_text())))
        setup = time.perf_counter() - t0
        modes = [time_mode(paths, True, relax_steps, args.runs)]
        if not args.fast_only:
            modes.append(time_mode(paths, False, relax_steps, args.runs))
        supercell = time_file(supercell_cif(Path(tmp)), args.runs, target_s=1.5)
        refused = time_file(expanding_cif(Path(tmp)), args.runs, target_s=5.0)
        refused["meets_target"] = refused["meets_target"] and refused["errors"] == ["EXPANSION_TOO_LARGE"]
    print(json.dumps({
        "benchmark": "cif_validation",
        "files": len(paths),
        "atoms_min": min(sizes),
        "atoms_max": max(sizes),
        "setup_s": round(setup, 3),
        "cpu_count": os.cpu_count(),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "modes": modes,
        "supercell_fast": supercell,
        "refused_expansion": refused,
        "note": "CPU shared with other jobs; timings are noisy (compare wall with CPU seconds)",
    }, indent=2))


if __name__ == "__main__":
    main()
