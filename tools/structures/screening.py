"""What a CIF block is checked for before pymatgen builds its structure: symmetry operations, labels, size.

pymatgen builds the structure by applying every symmetry operation to every listed site; its
cost grows with the square of the atoms generated (a 9 KB Fd-3m file with 250 sites asks for
48,000 atoms and takes minutes). So the operations are read strictly first
(SYMMETRY_OPERATION_INVALID), the atoms they would generate are counted without building
anything, and a CIF over the limit is refused (EXPANSION_TOO_LARGE) in well under a second.
Repeated atom-site labels are reported too (LABEL_DUPLICATE): an error where a label must name
one site, information in a P1 listing where pymatgen's writer repeats them by design.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from tools.structures.cifblock import (
    block_list,
    block_value,
    cif_number,
    pymatgen_space_group,
    pymatgen_space_group_number,
    space_group_symbol,
)
from tools.structures.context import Findings
from tools.structures.models import ValidationLimits
from tools.structures.symops import (
    SymmetryOperations,
    closure_problem,
    from_pymatgen,
    identity,
    orbit_sizes,
    parse_operations,
)

OPERATION_TAGS = ("_symmetry_equiv_pos_as_xyz", "_space_group_symop_operation_xyz")
"""Tags (lower case) of the symmetry-operation loop, in the order pymatgen reads them."""
_POSITION_DIGITS = 4


def screen_block(block: dict[str, Any], findings: Findings, limits: ValidationLimits) -> bool:
    """Operations, labels and expansion size of a block; False (with an error finding) when it must not be built."""
    ops = symmetry_operations(block, findings)
    if ops is None:
        return False
    _check_labels(block, ops, findings)
    return _expansion_fits(block, ops, findings, limits)


def symmetry_operations(block: dict[str, Any], findings: Findings) -> SymmetryOperations | None:
    """The operations pymatgen will apply: those listed (read strictly), else the declared group's; None if broken."""
    for tag in OPERATION_TAGS:
        texts = block_list(block, tag)
        if texts is None:
            continue
        try:
            ops = parse_operations([str(t) for t in texts])
        except ValueError as err:
            findings.add("SYMMETRY_OPERATION_INVALID", "error", f"symmetry {err}; write each operation as three "
                         "components such as '-y, x-y, z+1/3', or remove the loop and keep the space-group symbol")
            return None
        problem = closure_problem(ops)
        if problem is not None:
            findings.add("SYMMETRY_OPERATION_INVALID", "error", f"the {len(ops)} symmetry operations listed are not "
                         f"a group: {problem}; list all operations of the space group, or only its symbol")
            return None
        return ops
    return _operations_of_declared_group(block)


def _operations_of_declared_group(block: dict[str, Any]) -> SymmetryOperations:
    symbol = space_group_symbol(block)
    group = pymatgen_space_group(symbol)
    if group is not None:
        return from_pymatgen(group.symmetry_ops, f"from the symbol '{symbol}'")
    number = cif_number(block_value(block, "_space_group_it_number", "_symmetry_int_tables_number"))
    if number is not None and number.is_integer() and 1 <= number <= 230:
        by_number = pymatgen_space_group_number(int(number))
        if by_number is not None:
            return from_pymatgen(by_number.symmetry_ops, f"from the space-group number {int(number)}")
    return identity()


def _site_rows(block: dict[str, Any]) -> tuple[list[tuple[str, str]], np.ndarray]:
    """(label, type symbol) and fractional coordinates of the atom-site rows whose coordinates are numbers."""
    columns = [block_list(block, f"_atom_site_fract_{axis}") or [] for axis in "xyz"]
    n_rows = min(len(c) for c in columns)
    labels = (block_list(block, "_atom_site_label") or []) + [""] * n_rows
    types = (block_list(block, "_atom_site_type_symbol") or []) + [""] * n_rows
    kept = [((str(labels[i]), str(types[i])), [cif_number(c[i]) for c in columns]) for i in range(n_rows)]
    good = [(name, xyz) for name, xyz in kept if all(v is not None and np.isfinite(v) for v in xyz)]
    coords = np.array([xyz for _, xyz in good], dtype=float).reshape(len(good), 3)
    return [name for name, _ in good], coords


def _position_keys(coords: np.ndarray) -> list[tuple[int, int, int]]:
    scale = 10**_POSITION_DIGITS
    grid = np.round((coords % 1.0) * scale).astype(np.int64) % scale
    return [(int(a), int(b), int(c)) for a, b, c in grid]


def _check_labels(block: dict[str, Any], ops: SymmetryOperations, findings: Findings) -> None:
    """Rows copied (same label, type and position) are errors; so is a label at two positions, except in P1 listings.

    One label over several rows at one position is a mixed site (Ni/Co/Mn), as pymatgen writes it.
    """
    names, coords = _site_rows(block)
    rows = list(zip(names, _position_keys(coords), strict=True))
    copies = sorted({label for ((label, _type), _pos), n in Counter(rows).items() if n > 1})
    positions: dict[str, set[tuple[int, int, int]]] = {}
    for (label, _type), pos in rows:
        positions.setdefault(label, set()).add(pos)
    repeated = {label: len(pos) for label, pos in positions.items() if len(pos) > 1}
    listed = ", ".join(f"{label} ({n} positions)" for label, n in list(repeated.items())[:6])
    if copies:
        findings.add("LABEL_DUPLICATE", "error", f"atom-site row(s) {', '.join(copies[:6])} are repeated with the same "
                     "position; delete the copies (labels must be unique)")
    elif repeated and ops.is_identity_only:
        findings.add("LABEL_DUPLICATE", "info", f"labels repeat in this P1 listing ({listed}), as pymatgen writes them; "
                     "findings name atoms by these labels")
    elif repeated:
        findings.add("LABEL_DUPLICATE", "error", f"atom-site labels are used more than once: {listed}; each site of "
                     "the asymmetric unit needs its own label (e.g. O1, O2)")


def _expansion_fits(block: dict[str, Any], ops: SymmetryOperations, findings: Findings, limits: ValidationLimits) -> bool:
    """Whether the atoms the operations generate stay within the limit; counted without building the structure."""
    limit = limits.expanded_atoms_limit
    _names, coords = _site_rows(block)
    if len(coords) * len(ops) <= limit:
        return True
    keys = _position_keys(coords)
    distinct = coords[sorted({key: i for i, key in enumerate(keys)}.values())]
    if len(distinct) > limit:
        atoms, prefix = len(distinct), "at least " if len(ops) > 1 else ""
    else:
        atoms, prefix = int(orbit_sizes(ops, distinct).sum()), ""
    if atoms <= limit:
        return True
    if len(ops) == 1:
        size = f"the CIF lists {prefix}{atoms:,} atoms"
    else:
        size = (f"the {len(distinct):,} atom sites would expand to {prefix}{atoms:,} atoms under {len(ops)} symmetry "
                f"operations ({ops.source})")
    findings.add("EXPANSION_TOO_LARGE", "error", f"{size}, more than the limit of {limit:,} (expanded_atoms_limit, "
                 "--max-atoms); the structure was not built or checked")
    return False
