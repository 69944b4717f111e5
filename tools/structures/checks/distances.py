"""The distance checks: overlapping atoms, short contacts, atoms far from every partner, coordination polyhedra.

One neighbour search serves every finding here; it also leaves the cation coordination shells
and the polyhedra that share ligands in the context's `Analysis`, for the family rules.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from tools.structures.chemistry import anions_among, expected_bond_length
from tools.structures.context import CheckContext, Image
from tools.structures.polyhedra import classify_polyhedron

# Thresholds, all in angstrom unless said otherwise.
OVERLAP_DISTANCE = 0.5
"""Two atoms (that can both be present) closer than this are an error."""
BOND_SHORT_FACTOR = 0.75
"""A contact shorter than this fraction of the expected bond length is a warning."""
BOND_LONG_FACTOR = 1.35
"""An atom whose nearest bonding partner is farther than this multiple of the expected length is a warning."""
NEIGHBOUR_RADIUS = 4.0
"""Radius of the neighbour search for bonds and coordination."""
_MAX_NEIGHBOUR_PAIRS = 3_000_000
_MAX_CONNECTIVITY_SITES = 3000

ExpectedLength = Callable[[str, str], float | None]


def check_distances(ctx: CheckContext) -> None:
    """Overlaps, split sites, short contacts, far atoms and coordination shells from one neighbour search."""
    an = ctx.analysis
    s = ctx.structure
    n = len(s)
    an.occupancy = [float(sum(occ for _, occ in ctx.site_species(i))) for i in range(n)]
    an.majority = [max(ctx.site_species(i), key=lambda kv: kv[1])[0] for i in range(n)]
    an.anions = anions_among(ctx.elements())
    radius = _search_radius(ctx)
    if radius is None:
        return
    neighbours = s.get_neighbor_list(radius)
    expected = _expected_lengths(an.anions)
    overlaps, short = _contacts(ctx, neighbours, expected)
    if radius != NEIGHBOUR_RADIUS:
        ctx.add("ANALYSIS_SKIPPED", "warning", f"{n} sites are too many for a full neighbour search; only overlaps were checked")
        return
    for (a, b), ds in sorted(short.items()):
        ex = expected(a, b)
        assert ex is not None
        ctx.add("BOND_TOO_SHORT", "warning", f"{len(ds)} {a}-{b} contact(s) as short as {min(ds):.2f} A; "
                f"expected about {ex:.2f} A (below {BOND_SHORT_FACTOR:g} x the sum of radii)")
    far = _coordination(ctx, neighbours, radius, expected)
    if far:
        unique = sorted(set(far))
        ctx.add("BOND_TOO_LONG", "warning", f"{len(far)} atom(s) far from every bonding partner (beyond "
                f"{BOND_LONG_FACTOR:g} x the sum of radii): " + "; ".join(unique[:6]))
    if not overlaps and not short and not far:
        ctx.add("BONDS_OK", "info", f"all nearest-neighbour distances are within {BOND_SHORT_FACTOR:g}-{BOND_LONG_FACTOR:g} x "
                "the expected bond lengths (ionic radii for ionic pairs, atomic radii otherwise)")
    _sharing(ctx)


def _search_radius(ctx: CheckContext) -> float | None:
    """NEIGHBOUR_RADIUS, or just the overlap distance for very dense cells; None (with a warning) when even that is too much."""
    s = ctx.structure
    n = len(s)
    vol = float(s.lattice.volume)
    if n * n * (4 / 3 * math.pi * NEIGHBOUR_RADIUS**3) / vol <= _MAX_NEIGHBOUR_PAIRS:
        return NEIGHBOUR_RADIUS
    radius = OVERLAP_DISTANCE + 1e-6
    if n * n * (4 / 3 * math.pi * radius**3) / vol > _MAX_NEIGHBOUR_PAIRS:
        ctx.add("ANALYSIS_SKIPPED", "warning", f"{n} sites in {vol:.4g} A^3 are too many for a neighbour search; "
                "distances were not checked")
        return None
    return radius


def _expected_lengths(anions: set[str]) -> ExpectedLength:
    """Expected bond length of an element pair (either order), computed once per pair."""
    cache: dict[tuple[str, str], float | None] = {}

    def expected(a: str, b: str) -> float | None:
        key = (a, b) if a <= b else (b, a)
        if key not in cache:
            cache[key] = expected_bond_length(key[0], key[1], anions)
        return cache[key]

    return expected


def _contacts(ctx: CheckContext, neighbours: Any, expected: ExpectedLength) -> tuple[list[str], dict[tuple[str, str], list[float]]]:
    """Report overlaps and split sites; return the overlaps and the short contacts by element pair."""
    an = ctx.analysis
    centres, points, _images, dists = neighbours
    overlaps: list[str] = []
    split: list[str] = []
    short: dict[tuple[str, str], list[float]] = defaultdict(list)
    labels = [str(x) for x in ctx.structure.labels]
    for i, j, d in zip(centres, points, dists, strict=True):
        i, j, d = int(i), int(j), float(d)
        if j < i:
            continue
        if d < OVERLAP_DISTANCE:
            exclusive = i != j and an.occupancy[i] + an.occupancy[j] <= 1.001
            text = f"{labels[i]}-{labels[j]} {d:.2f} A"
            (split if exclusive else overlaps).append(text)
            continue
        if an.occupancy[i] + an.occupancy[j] <= 1.001:
            continue  # mutually exclusive partial sites are never both present
        ex = expected(an.majority[i], an.majority[j])
        if ex is not None and d < BOND_SHORT_FACTOR * ex:
            pair = (an.majority[i], an.majority[j])
            short[(min(pair), max(pair))].append(d)
    if overlaps:
        ctx.add("ATOMS_OVERLAP", "error", f"{len(overlaps)} pair(s) of atoms closer than {OVERLAP_DISTANCE} A: "
                + ", ".join(sorted(set(overlaps))[:6]))
    if split:
        ctx.add("SPLIT_SITES", "info", f"{len(split)} pair(s) of partly occupied sites closer than {OVERLAP_DISTANCE} A "
                "(their occupancies add to at most 1, so they are alternatives): " + ", ".join(sorted(set(split))[:4]))
    return overlaps, short


def _coordination(ctx: CheckContext, neighbours: Any, radius: float, expected: ExpectedLength) -> list[str]:
    """Nearest bonding partner of each atom and the cation coordination shells; returns the far-atom notes."""
    an = ctx.analysis
    s = ctx.structure
    centres, points, images, dists = neighbours
    labels = [str(x) for x in s.labels]
    per_site: dict[int, list[tuple[float, int, Image]]] = defaultdict(list)
    for i, j, img, d in zip(centres, points, images, dists, strict=True):
        per_site[int(i)].append((float(d), int(j), (int(img[0]), int(img[1]), int(img[2]))))
    far: list[str] = []
    for i in range(len(s)):
        el = an.majority[i]
        if an.anions:
            partners = (lambda e: e not in an.anions) if el in an.anions else (lambda e: e in an.anions)
        else:
            partners = (lambda e: True)  # noqa: E731 - intermetallic: any neighbour bonds
        cands = [(d, j, img) for d, j, img in per_site.get(i, []) if partners(an.majority[j]) and d >= OVERLAP_DISTANCE]
        if not cands:
            far.append(f"{labels[i]} ({el}): no bonding partner within {radius:g} A")
            continue
        d_min, j_min, _ = min(cands)
        ex = expected(el, an.majority[j_min])
        if ex is not None and d_min > BOND_LONG_FACTOR * ex:
            far.append(f"{labels[i]} ({el}): nearest {an.majority[j_min]} at {d_min:.2f} A, expected about {ex:.2f} A")
        if an.anions and el not in an.anions:
            cutoff = max(d_min * 1.25, (ex or d_min) * 1.15)
            shell = [(d, j, img) for d, j, img in cands if d <= cutoff]
            an.ligands[i] = {(j, img) for _, j, img in shell}
            centre = s[i].coords
            vecs = np.array([s.lattice.get_cartesian_coords(s[j].frac_coords + np.array(img)) - centre for _, j, img in shell])
            name, _dev = classify_polyhedron(vecs)
            an.coordination[i] = (len(shell), name, float(np.mean([d for d, _, _ in shell])))
    return far


def _sharing(ctx: CheckContext) -> None:
    """Which cation polyhedra share ligands (corners, edges, faces), for the family's connectivity rules."""
    an = ctx.analysis
    s = ctx.structure
    if not an.ligands or len(s) > _MAX_CONNECTIVITY_SITES:
        return
    cation_idx = sorted(an.ligands)
    max_reach = 0.0
    for i in cation_idx:
        _cn, _, mean_d = an.coordination[i]
        if mean_d is not None:
            max_reach = max(max_reach, mean_d * 1.3)
    reach = min(2 * max_reach, 7.0)
    if reach <= 0:
        return
    cat_sites = [s[i] for i in cation_idx]
    centres, points, images, _ = s.get_neighbor_list(reach, sites=cat_sites)
    for ci, j, img in zip(centres, points, images, strict=True):
        i = cation_idx[int(ci)]
        j = int(j)
        if j not in an.ligands or j < i:
            continue
        t = (int(img[0]), int(img[1]), int(img[2]))
        shifted = {(k, (im[0] + t[0], im[1] + t[1], im[2] + t[2])) for k, im in an.ligands[j]}
        shared = len(an.ligands[i] & shifted)
        if shared:
            an.sharing.append((i, j, shared))
