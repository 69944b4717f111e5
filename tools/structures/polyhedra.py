"""Coordination polyhedra: the closest ideal shape to a set of centre-to-ligand vectors.

Shapes are compared by their sorted ligand-centre-ligand angles, so the comparison needs no
alignment of the polyhedron with the ideal one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _unit(v: Any) -> np.ndarray:
    arr = np.asarray(v, dtype=float)
    return arr / np.linalg.norm(arr, axis=1)[:, None]


def _ring(n: int, z: float = 0.0, phase: float = 0.0) -> list[list[float]]:
    return [[math.cos(phase + 2 * math.pi * k / n), math.sin(phase + 2 * math.pi * k / n), z] for k in range(n)]


def _dodecahedron() -> list[list[float]]:
    ta, tb = math.radians(35.2), math.radians(73.5)
    sa, ca, sb, cb = math.sin(ta), math.cos(ta), math.sin(tb), math.cos(tb)
    return [[sa, 0, ca], [-sa, 0, ca], [0, sa, -ca], [0, -sa, -ca], [0, sb, cb], [0, -sb, cb], [sb, 0, -cb], [-sb, 0, -cb]]


def _ideal_shapes() -> dict[int, list[tuple[str, np.ndarray]]]:
    phi = (1 + 5**0.5) / 2
    prism_h = math.sqrt(3) / 2
    antiprism_h = 2**0.25 / 2
    shapes: dict[int, list[tuple[str, Any]]] = {
        2: [("linear", [[1, 0, 0], [-1, 0, 0]])],
        3: [("trigonal planar", _ring(3))],
        4: [
            ("tetrahedron", [[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]),
            ("square planar", [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]]),
        ],
        5: [
            ("trigonal bipyramid", _ring(3) + [[0, 0, 1], [0, 0, -1]]),
            ("square pyramid", [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1]]),
        ],
        6: [
            ("octahedron", [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]]),
            ("trigonal prism", _ring(3, prism_h) + _ring(3, -prism_h)),
        ],
        7: [("pentagonal bipyramid", _ring(5) + [[0, 0, 1], [0, 0, -1]])],
        8: [
            ("cube", [[x, y, z] for x in (1, -1) for y in (1, -1) for z in (1, -1)]),
            ("square antiprism", _ring(4, antiprism_h) + _ring(4, -antiprism_h, math.pi / 4)),
            ("dodecahedron", _dodecahedron()),
        ],
        12: [
            ("cuboctahedron", [[a, b, 0] for a in (1, -1) for b in (1, -1)]
             + [[a, 0, b] for a in (1, -1) for b in (1, -1)]
             + [[0, a, b] for a in (1, -1) for b in (1, -1)]),
            ("icosahedron", [[0, a, b * phi] for a in (1, -1) for b in (1, -1)]
             + [[a, b * phi, 0] for a in (1, -1) for b in (1, -1)]
             + [[b * phi, 0, a] for a in (1, -1) for b in (1, -1)]),
        ],
    }  # fmt: skip
    return {n: [(name, _sorted_angles(_unit(v))) for name, v in items] for n, items in shapes.items()}


def _sorted_angles(unit_vectors: np.ndarray) -> np.ndarray:
    cos = np.clip(unit_vectors @ unit_vectors.T, -1.0, 1.0)
    iu = np.triu_indices(len(unit_vectors), k=1)
    return np.sort(np.degrees(np.arccos(cos[iu])))


_SHAPES: dict[int, list[tuple[str, np.ndarray]]] | None = None
POLYHEDRON_ANGLE_TOLERANCE = 15.0
"""Mean absolute deviation of the ligand-centre-ligand angles (degrees) up to which a shape is named."""


def classify_polyhedron(vectors: np.ndarray) -> tuple[str, float]:
    """Closest ideal polyhedron to centre-to-ligand vectors and the mean angle deviation in degrees."""
    global _SHAPES
    if _SHAPES is None:
        _SHAPES = _ideal_shapes()
    n = len(vectors)
    if n < 2 or n not in _SHAPES:
        return ("single ligand" if n == 1 else f"{n}-coordinate"), math.nan
    angles = _sorted_angles(_unit(vectors))
    best_name, best_dev = "", math.inf
    for name, ideal in _SHAPES[n]:
        dev = float(np.mean(np.abs(angles - ideal)))
        if dev < best_dev:
            best_name, best_dev = name, dev
    if best_dev > POLYHEDRON_ANGLE_TOLERANCE:
        return "irregular", best_dev
    return best_name, best_dev

