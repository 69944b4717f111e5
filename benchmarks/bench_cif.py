"""Benchmark: validate 100 small CIFs (< 50 atoms) with --fast semantics; print JSON.

The CIFs are made here from the prototypes in knowledge/cif_rules (element substitutions,
strained cells, rattled atoms, P1 and symmetrised writes, primitive cells), so the set mixes
valid and invalid structures. Reported: the time of one warm-up pass (imports, symmetry
tables) and the median of 5 timed passes over all 100 files (read + decode + validate).
Target: median under 10 s.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

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

    from tools.cif_rules import load_family
    from tools.cif_validation import prototype_structure

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


def validate_all(paths: list[Path]) -> list[bool]:
    from tools.cif_validation import CifValidationInput, decode_cif_bytes, validate_cif

    return [validate_cif(CifValidationInput(cif=decode_cif_bytes(p.read_bytes()), source=p.name, fast=True)).valid
            for p in paths]


def main() -> None:
    t0 = time.perf_counter()
    import tools.cif_validation  # noqa: F401 - import cost is part of the warm-up figure

    with tempfile.TemporaryDirectory() as tmp:
        paths = make_cifs(Path(tmp))
        sizes = []
        from tools.cif_validation import read_structure

        for p in paths:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sizes.append(len(read_structure(p.read_text())))
        t1 = time.perf_counter()
        validity = validate_all(paths)
        warmup = time.perf_counter() - t1
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            validate_all(paths)
            runs.append(time.perf_counter() - start)
    median = statistics.median(runs)
    print(json.dumps({
        "benchmark": "cif_validation_fast",
        "files": len(paths),
        "atoms_min": min(sizes),
        "atoms_max": max(sizes),
        "valid": sum(validity),
        "invalid": len(validity) - sum(validity),
        "setup_s": round(t1 - t0, 3),
        "warmup_pass_s": round(warmup, 3),
        "runs_s": [round(r, 3) for r in runs],
        "median_s": round(median, 3),
        "per_file_ms": round(1000 * median / len(paths), 2),
        "target_s": 10.0,
        "meets_target": median < 10.0,
        "note": "CPU shared with other jobs; timings are noisy",
    }, indent=2))


if __name__ == "__main__":
    main()
