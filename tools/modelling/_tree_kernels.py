"""numba kernels that walk a CompiledForest (see tools/modelling/tree_compile.py); imported lazily.

The decision rule is LightGBM's `NumericalDecision` (tree.h): NaN becomes 0 unless the split's
missing type is NaN; a "missing" value (zero for type Zero, NaN for type NaN) follows the
default direction; otherwise `x <= threshold` goes left.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np


def _jit(parallel: bool = False) -> Callable[[Callable[..., Any]], Any]:
    """njit with numba's on-disk cache (beside this file, else numba's user-wide cache folder).

    When no cache folder is writable numba raises at decoration time; then compile once per
    process instead (slower start, same results).
    """

    def deco(fn: Callable[..., Any]) -> Any:
        try:
            return numba.njit(cache=True, nogil=True, parallel=parallel)(fn)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return numba.njit(cache=False, nogil=True, parallel=parallel)(fn)

    return deco


BLOCK = 128  # rows walked together through one tree (their features stay in L1 cache)


@_jit()
def _fast_block(X: Any, r0: int, r1: int, out: Any, feat: Any, th: Any, child: Any, va: Any, roots: Any, depth: Any, tm: Any) -> None:
    # Tree-outer, row-inner: the rows' walks are independent, so the CPU overlaps them, and
    # the step `child + (x > threshold)` has no branch to mispredict. A leaf points to itself
    # with threshold +inf (and feature 0), so exactly depth[t] steps always end on a leaf.
    # Unsigned indices spare numba's negative-index wrap-around (about 2x faster here).
    for t in range(roots.shape[0]):
        root = roots[t]
        d = depth[t]
        m = tm[t]
        for i in range(r0, r1):
            node = root
            for _ in range(d):
                node = child[node] + np.uint32(X[i, feat[node]] > th[node])
            out[i, m] += va[node]


@_jit()
def fast_serial(X: Any, feat: Any, th: Any, child: Any, va: Any, roots: Any, depth: Any, tm: Any, n_members: int) -> Any:
    """Per-member raw scores, one thread: shape (rows, n_members). Needs missing type None everywhere and no NaN in X."""
    n = X.shape[0]
    out = np.zeros((n, n_members))
    for r0 in range(0, n, BLOCK):
        _fast_block(X, r0, min(r0 + BLOCK, n), out, feat, th, child, va, roots, depth, tm)
    return out


@_jit(parallel=True)
def fast_parallel(X: Any, feat: Any, th: Any, child: Any, va: Any, roots: Any, depth: Any, tm: Any, n_members: int) -> Any:
    """fast_serial with row blocks spread over all cores."""
    n = X.shape[0]
    out = np.zeros((n, n_members))
    n_blocks = (n + BLOCK - 1) // BLOCK
    for b in numba.prange(n_blocks):
        r0 = b * BLOCK
        _fast_block(X, r0, min(r0 + BLOCK, n), out, feat, th, child, va, roots, depth, tm)
    return out


@_jit()
def _walk(x: Any, feature: Any, threshold: Any, child: Any, missing: Any, default_left: Any, node: int) -> int:
    # LightGBM's NumericalDecision, missing types included.
    while feature[node] >= 0:
        fval = x[feature[node]]
        mt = missing[node]
        if np.isnan(fval) and mt != 2:
            fval = 0.0
        if (mt == 1 and fval >= -1e-35 and fval <= 1e-35) or (mt == 2 and np.isnan(fval)):
            node = child[node] if default_left[node] else child[node] + 1
        elif fval <= threshold[node]:
            node = child[node]
        else:
            node = child[node] + 1
    return node


@_jit()
def _exact_row(X: Any, i: int, out: Any, f: Any, th: Any, ch: Any, va: Any, mi: Any, dl: Any, roots: Any, tm: Any) -> None:
    x = X[i]
    for t in range(roots.shape[0]):
        leaf = _walk(x, f, th, ch, mi, dl, roots[t])
        out[i, tm[t]] += va[leaf]


@_jit()
def exact_serial(X: Any, f: Any, th: Any, ch: Any, va: Any, mi: Any, dl: Any, roots: Any, tm: Any, n_members: int) -> Any:
    """Per-member raw scores for any missing-value rules, one thread: shape (rows, n_members)."""
    out = np.zeros((X.shape[0], n_members))
    for i in range(X.shape[0]):
        _exact_row(X, i, out, f, th, ch, va, mi, dl, roots, tm)
    return out


@_jit(parallel=True)
def exact_parallel(X: Any, f: Any, th: Any, ch: Any, va: Any, mi: Any, dl: Any, roots: Any, tm: Any, n_members: int) -> Any:
    """exact_serial with rows spread over all cores."""
    out = np.zeros((X.shape[0], n_members))
    for i in numba.prange(X.shape[0]):
        _exact_row(X, i, out, f, th, ch, va, mi, dl, roots, tm)
    return out


@_jit()
def mean_std(raw: Any) -> Any:
    """Row-wise mean and population standard deviation of a (rows, members) array."""
    n, m = raw.shape
    mean = np.empty(n)
    std = np.empty(n)
    for i in range(n):
        s = 0.0
        for j in range(m):
            s += raw[i, j]
        mu = s / m
        v = 0.0
        for j in range(m):
            d = raw[i, j] - mu
            v += d * d
        mean[i] = mu
        std[i] = np.sqrt(v / m)
    return mean, std
