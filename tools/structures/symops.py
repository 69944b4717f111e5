"""Symmetry operations of a CIF, read strictly: 'x, y, z'-style text into integer rotations and translations.

pymatgen reads operations leniently (a stray letter is dropped, a missing component shifts the
others), so a broken operation can silently build the wrong structure. Here every component
must be a sum of signed terms (a number or fraction, optionally times x, y or z); the rotation
must be an integer matrix of determinant +1 or -1; and the set must be closed under composition
(modulo lattice translations), as the operations of a space group are. `orbit_sizes` counts the
atoms the operations generate from each site without building the structure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_TERM = re.compile(r"([+-])?(\d+(?:\.\d*)?(?:/\d+(?:\.\d*)?)?|\.\d+)?(\*)?([xyz])?")
_POSITION_TOLERANCE = 1e-4
"""Fractional distance below which two generated positions are the same atom (pymatgen's site tolerance)."""
_TRANSLATION_GRID = 1000
"""Translations are compared on a grid of 1/1000 of a cell edge (CIFs write 1/3 as 0.3333)."""
MAX_CLOSURE_OPERATIONS = 2000
"""Closure is checked for at most this many operations (192 for the largest conventional cell)."""


@dataclass(frozen=True)
class SymmetryOperations:
    """Rotations (k x 3 x 3, integers) and translations (k x 3, fractions of the cell edges) of k operations."""

    rotations: np.ndarray
    translations: np.ndarray
    source: str
    """Where they come from, for messages: 'listed in the CIF', "from the symbol 'F d -3 m'", 'identity (P1)'."""

    def __len__(self) -> int:
        return len(self.rotations)

    @property
    def is_identity_only(self) -> bool:
        """Whether the only operation is x, y, z (a P1 listing)."""
        return len(self) == 1 and bool(np.array_equal(self.rotations[0], np.eye(3))) and not np.any(
            np.abs(_wrapped(self.translations[0])) > _POSITION_TOLERANCE)


def identity() -> SymmetryOperations:
    """The single operation x, y, z."""
    return SymmetryOperations(np.eye(3, dtype=int)[None], np.zeros((1, 3)), "identity (P1)")


def _number(text: str) -> float:
    if "/" in text:
        num, den = text.split("/", 1)
        if float(den) == 0:
            raise ValueError(f"division by zero in '{text}'")
        return float(num) / float(den)
    return float(text)


def _component(text: str) -> tuple[list[float], float]:
    """One component ('-x+y', '1/2+z', '0.25-x') as its row of the rotation and its translation."""
    s = re.sub(r"\s+", "", text).lower()
    if not s:
        raise ValueError("a component is empty")
    row, shift, pos = [0.0, 0.0, 0.0], 0.0, 0
    while pos < len(s):
        m = _TERM.match(s, pos)
        sign, number, star, axis = m.groups() if m else (None, None, None, None)
        if m is None or m.end() == pos or (number is None and axis is None) or (star and not (number and axis)):
            raise ValueError(f"the component '{text.strip()}' cannot be read at '{s[pos:pos + 8]}'")
        if pos > 0 and sign is None:
            raise ValueError(f"the component '{text.strip()}' needs + or - between its terms")
        value = (_number(number) if number else 1.0) * (-1.0 if sign == "-" else 1.0)
        if axis:
            row["xyz".index(axis)] += value
        else:
            shift += value
        pos = m.end()
    return row, shift


def parse_operation(text: str) -> tuple[np.ndarray, np.ndarray]:
    """An operation such as '-y, x-y, z+1/3' as (integer rotation, translation); ValueError saying what is wrong."""
    parts = str(text).strip().strip("'\"").split(",")
    if len(parts) != 3:
        raise ValueError(f"it has {len(parts)} component(s), not three")
    rows, shifts = zip(*(_component(p) for p in parts), strict=True)
    rotation = np.array(rows, dtype=float)
    if not np.allclose(rotation, np.round(rotation), atol=1e-6):
        raise ValueError("it multiplies x, y or z by a fraction; a symmetry operation uses whole numbers")
    rotation = np.round(rotation).astype(int)
    det = round(float(np.linalg.det(rotation)))
    if det not in (1, -1):
        raise ValueError(f"it is not a symmetry operation (determinant {det}; it must be +1 or -1)")
    return rotation, np.array(shifts, dtype=float)


def parse_operations(texts: list[str]) -> SymmetryOperations:
    """Every operation listed in a CIF; ValueError naming the first one that is wrong."""
    rotations, translations = [], []
    for i, text in enumerate(texts, start=1):
        try:
            rotation, translation = parse_operation(text)
        except ValueError as err:
            raise ValueError(f"operation {i} ('{str(text).strip()}') cannot be used: {err}") from err
        rotations.append(rotation)
        translations.append(translation)
    if not rotations:
        raise ValueError("the symmetry-operation loop is empty")
    return SymmetryOperations(np.array(rotations), np.array(translations), "listed in the CIF")


def _wrapped(translations: np.ndarray) -> np.ndarray:
    return translations - np.round(translations)


def _keys(rotations: np.ndarray, translations: np.ndarray) -> list[bytes]:
    grid = np.round((translations % 1.0) * _TRANSLATION_GRID).astype(np.int64) % _TRANSLATION_GRID
    flat = np.concatenate([rotations.reshape(len(rotations), 9).astype(np.int64), grid], axis=1)
    return [row.tobytes() for row in flat]


def closure_problem(ops: SymmetryOperations) -> str | None:
    """Why the operations are not a group (a product that is missing, no identity), or None when they are."""
    k = len(ops)
    if k > MAX_CLOSURE_OPERATIONS:
        return None  # too many to compare pairwise; the expansion limit guards the cost
    known = set(_keys(ops.rotations, ops.translations))
    if _keys(np.eye(3, dtype=int)[None], np.zeros((1, 3)))[0] not in known:
        return "the operations do not include the identity x, y, z"
    rot = np.einsum("aij,bjk->abik", ops.rotations, ops.rotations).reshape(k * k, 3, 3)
    trans = (np.einsum("aij,bj->abi", ops.rotations, ops.translations) + ops.translations[:, None, :]).reshape(k * k, 3)
    for n, key in enumerate(_keys(rot, trans)):
        if key not in known:
            a, b = divmod(n, k)
            return (f"the product of operations {a + 1} and {b + 1} is not in the list, so they are not the "
                    "operations of a space group (some are missing or mistyped)")
    return None


def orbit_sizes(ops: SymmetryOperations, positions: np.ndarray) -> np.ndarray:
    """Number of distinct positions each fractional position generates under the operations."""
    if len(positions) == 0:
        return np.zeros(0, dtype=int)
    images = np.einsum("kij,nj->nki", ops.rotations, positions) + ops.translations[None, :, :]
    grid = np.round((images % 1.0) / _POSITION_TOLERANCE).astype(np.int64) % round(1 / _POSITION_TOLERANCE)
    return np.array([len(np.unique(block, axis=0)) for block in grid], dtype=int)


def from_pymatgen(symmetry_ops: object, source: str) -> SymmetryOperations:
    """Operations of a pymatgen SpaceGroup (its `symmetry_ops`, SymmOp objects in fractional coordinates)."""
    rotations, translations = [], []
    for op in symmetry_ops:  # type: ignore[attr-defined]
        rotations.append(np.round(op.rotation_matrix).astype(int))
        translations.append(np.array(op.translation_vector, dtype=float))
    return SymmetryOperations(np.array(rotations), np.array(translations), source)
