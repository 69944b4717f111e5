"""Model-free baseline strategies of the simulated campaign: random feasible runs and an expert's one-factor nudges.

Both obey the user's constraints (tools.domain.constraints): random runs are drawn from the
narrowed relaxation, the expert starts from the best run that satisfies them (or the best run
moved into them) and never makes a move that breaks one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tools.domain.constraints import ConstraintSet, fixed_value
from tools.domain.errors import ProposalError
from tools.domain.record import ExperimentRecord, runs_satisfying
from tools.proposer.relaxation import Relaxation


def stated_constraints(record: ExperimentRecord, fixed: Mapping[str, Any], constraints: ConstraintSet | None = None) -> ConstraintSet:
    """`constraints` with the `fixed` values added, typed and checked against the record's space (DesignSpaceError when they do not fit)."""
    stated = (constraints or ConstraintSet()).extend(fixed_value(k, v) for k, v in fixed.items())
    return stated.validated(record.space)


def random_proposals(
    record: ExperimentRecord, fixed: Mapping[str, Any], n: int, seed: int, constraints: ConstraintSet | None = None
) -> pd.DataFrame:
    """n distinct uniform random feasible runs (not already in the record) that satisfy the fixed values and `constraints`."""
    stated = stated_constraints(record, fixed, constraints)
    relax = Relaxation(record.space, stated)
    space = relax.space
    rng = np.random.default_rng(seed)
    Vr, Cr = relax.from_frame(record.frame)
    taken = set(relax.key_set(Vr, Cr))
    rows_V, rows_C = [], []
    for _ in range(50):
        V, C, ok = relax.sample(rng, 20 * n)
        for i in np.flatnonzero(ok):
            key = relax.key_set(V[i : i + 1], C[i : i + 1])[0]
            if key in taken or (stated and stated.violations(relax.row(V, C, int(i)), space)):
                continue
            taken.add(key)
            rows_V.append(V[i])
            rows_C.append(C[i])
            if len(rows_V) == n:
                return relax.to_frame(np.array(rows_V), np.array(rows_C))
    raise ProposalError("random sampling found too few feasible runs under these fixed values")


def expert_proposals(
    record: ExperimentRecord, fixed: Mapping[str, Any], n: int, seed: int, constraints: ConstraintSet | None = None
) -> pd.DataFrame:
    """One-factor-at-a-time nudges of the best run so far (with the fixed values, within `constraints`): one to three steps."""
    stated = stated_constraints(record, fixed, constraints)
    relax = Relaxation(record.space, stated)
    space = relax.space
    rng = np.random.default_rng(seed)
    f = record.frame
    ok = (f["status"] == "ok").to_numpy() & f[record.target].notna().to_numpy()
    match = runs_satisfying(record, stated) & ok
    pool = f[match] if match.any() else f[ok]
    if pool.empty:
        raise ProposalError("no ok run to start from")
    base = pool.sort_values(record.target, ascending=False).iloc[[0]]
    Vb, Cb = relax.from_frame(base)
    if not match.any():  # move the best run into the constraints: fixed values, allowed ranges and categories
        for j, (low, high) in enumerate(relax.bounds):
            Vb[:, j] = np.clip(Vb[:, j], low, high)
        for j, allowed in relax.allowed_categories.items():
            if not allowed[Cb[0, j]]:
                Cb[:, j] = int(np.argmax(allowed))
        for j, v in relax.fixed_numbers.items():
            Vb[:, j] = v
        for j, k in relax.fixed_categories.items():
            Cb[:, j] = k
        relax.finish(Vb, Cb)
    moves: list[tuple[str, np.ndarray, np.ndarray]] = []
    for j, p in enumerate(relax.numbers):
        if p.name in space.fixed or j in relax.dependent or p.step is None:
            continue
        for k in (-3, -2, -1, 1, 2, 3):
            V, C = Vb.copy(), Cb.copy()
            V[0, j] = Vb[0, j] + k * p.step
            if not (p.low - 1e-12 <= V[0, j] <= p.high + 1e-12):
                continue
            V[0, j] = p.snap(V[0, j])
            moves.append((p.name, V, C))
    for j, c in enumerate(relax.categories):
        if c.name in space.fixed:
            continue
        for k in range(len(c.values)):
            if k == Cb[0, j]:
                continue
            V, C = Vb.copy(), Cb.copy()
            C[0, j] = k
            moves.append((c.name, V, C))
    taken = set(relax.key_set(*relax.from_frame(f)))
    valid: list[tuple[str, np.ndarray, np.ndarray]] = []
    for name, V, C in moves:
        if not relax.finish(V, C)[0] or space.row_problems(relax.row(V, C, 0)) or stated.violations(relax.row(V, C, 0), space):
            continue
        key = relax.key_set(V, C)[0]  # a move that a conditional undoes equals the base run: skipped here
        if key in taken:
            continue
        taken.add(key)
        valid.append((name, V, C))
    if not valid:
        raise ProposalError("no one-factor change of the best run is left to try")
    # one factor per proposal where possible: shuffle factors, take one move of each in turn
    by_factor: dict[str, list[int]] = {}
    for i, (name, _, _) in enumerate(valid):
        by_factor.setdefault(name, []).append(i)
    factors = list(by_factor)
    rng.shuffle(factors)
    picks: list[int] = []
    while len(picks) < n and any(by_factor[fac] for fac in factors):
        for fac in factors:
            if by_factor[fac] and len(picks) < n:
                options = by_factor[fac]
                picks.append(options.pop(int(rng.integers(len(options)))))
    V = np.vstack([valid[i][1] for i in picks])
    C = np.vstack([valid[i][2] for i in picks])
    return relax.to_frame(V, C)
