"""Compile LightGBM boosters into flat numpy arrays and evaluate them with a numba kernel.

LightGBM's own `predict` costs about 10 ms per call of 100 rows, far too slow for a particle
swarm that calls the model a thousand times. Here every tree of every ensemble member is
flattened into shared node arrays (feature, threshold, children, leaf value, missing-value
rule) and walked by a compiled loop. The walk reproduces LightGBM's numerical decision
exactly (`NumericalDecision` in LightGBM's tree.h), so predictions match `Booster.predict`
to float rounding of the summation order. Only numerical splits are supported: the capacity
model feeds one-hot numbers, never LightGBM categorical features.

numba is imported lazily (first compile), so importing this module stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tools.domain.errors import ModelError

# LightGBM's MissingType values as they appear in dump_model()
_MISSING = {"None": 0, "Zero": 1, "NaN": 2}
# rows per call above which the batch kernel runs on every core
PARALLEL_MIN_ROWS = 20_000


@dataclass(frozen=True)
class CompiledForest:
    """All trees of `n_members` boosters in flat arrays, each tree in breadth-first order.

    The children of split node k are `child[k]` (x <= threshold) and `child[k] + 1`. A leaf has
    feature -1, threshold +inf and child pointing to itself, so a walk of `depth[t]` steps from
    the root ends on the leaf without branching (the fast kernel relies on it).
    """

    feature: np.ndarray  # int32, split feature index, -1 for a leaf
    fast_feature: np.ndarray  # uint32, split feature index, 0 for a leaf (fast kernel)
    threshold: np.ndarray  # float64, split threshold (x <= threshold goes to child), +inf for a leaf
    child: np.ndarray  # uint32, global index of the first child; the node itself for a leaf
    value: np.ndarray  # float64, leaf output (0 for split nodes)
    missing: np.ndarray  # int8, 0 None / 1 Zero / 2 NaN (LightGBM missing_type)
    default_left: np.ndarray  # bool, where a missing value goes
    roots: np.ndarray  # uint32, root node of each tree
    depth: np.ndarray  # int32, depth of each tree (steps from the root to its deepest leaf)
    tree_member: np.ndarray  # int32, which member each tree belongs to
    n_members: int
    n_features: int
    simple_missing: bool  # True when every split has missing type None (NaN counts as 0): fast kernel

    @property
    def n_trees(self) -> int:
        """Number of trees over all members."""
        return len(self.roots)

    @property
    def n_nodes(self) -> int:
        """Number of nodes (splits and leaves) over all members."""
        return len(self.feature)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers for JSON (floats round-trip exactly through json)."""
        out: dict[str, Any] = {name: getattr(self, name).tolist() for name in _ARRAYS}
        out.update(n_members=self.n_members, n_features=self.n_features, simple_missing=self.simple_missing)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompiledForest:
        """Inverse of to_dict; ModelError when arrays are missing or inconsistent."""
        try:
            arrays = {name: np.asarray(data[name], dtype=dtype) for name, dtype in _ARRAYS.items()}
            forest = cls(**arrays, n_members=int(data["n_members"]), n_features=int(data["n_features"]),
                         simple_missing=bool(data["simple_missing"]))
        except (KeyError, TypeError, ValueError) as err:
            raise ModelError(f"saved compiled trees are unreadable ({err})") from err
        n = len(forest.feature)
        if any(len(getattr(forest, k)) != n for k in ("fast_feature", "threshold", "child", "value", "missing", "default_left")):
            raise ModelError("saved compiled trees are inconsistent (node arrays differ in length)")
        if n == 0 or int(forest.child.max()) >= n or int(forest.roots.max()) >= n or int(forest.fast_feature.max()) >= forest.n_features:
            raise ModelError("saved compiled trees are inconsistent (index out of range)")
        return forest


_ARRAYS: dict[str, Any] = {
    "feature": np.int32,
    "fast_feature": np.uint32,
    "threshold": np.float64,
    "child": np.uint32,
    "value": np.float64,
    "missing": np.int8,
    "default_left": np.bool_,
    "roots": np.uint32,
    "depth": np.int32,
    "tree_member": np.int32,
}


def compile_boosters(boosters: Sequence[Any]) -> CompiledForest:
    """Flatten LightGBM boosters (lightgbm.Booster) into one CompiledForest, one member per booster."""
    feature: list[int] = []
    threshold: list[float] = []
    child: list[int] = []
    value: list[float] = []
    missing: list[int] = []
    default_left: list[bool] = []
    roots: list[int] = []
    depths: list[int] = []
    tree_member: list[int] = []
    n_features: int | None = None

    def add_tree(root: dict[str, Any]) -> tuple[int, int]:
        base = len(feature)
        queue: list[tuple[dict[str, Any], int]] = [(root, 0)]
        max_depth = 0
        i = 0
        while i < len(queue):
            node, level = queue[i]
            idx = base + i
            max_depth = max(max_depth, level)
            if "split_feature" not in node:
                feature.append(-1)
                threshold.append(math.inf)
                child.append(idx)
                value.append(float(node["leaf_value"]))
                missing.append(0)
                default_left.append(False)
            else:
                if node.get("decision_type", "<=") != "<=":
                    raise ModelError(f"cannot compile a LightGBM tree with a '{node.get('decision_type')}' (categorical) split")
                feature.append(int(node["split_feature"]))
                threshold.append(float(node["threshold"]))
                child.append(base + len(queue))
                value.append(0.0)
                missing.append(_MISSING[str(node.get("missing_type", "None"))])
                default_left.append(bool(node.get("default_left", True)))
                queue.append((node["left_child"], level + 1))
                queue.append((node["right_child"], level + 1))
            i += 1
        return base, max_depth

    for m, booster in enumerate(boosters):
        dump = booster.dump_model()
        n_feat = int(dump["max_feature_idx"]) + 1
        if n_features is not None and n_feat != n_features:
            raise ModelError("ensemble members were trained on different feature sets")
        n_features = n_feat
        if int(dump.get("num_tree_per_iteration", 1)) != 1:
            raise ModelError("only single-output LightGBM models (regression, binary) can be compiled")
        for tree in dump["tree_info"]:
            root, depth = add_tree(tree["tree_structure"])
            roots.append(root)
            depths.append(depth)
            tree_member.append(m)
    if n_features is None or not roots:
        raise ModelError("nothing to compile: no trees")
    missing_arr = np.asarray(missing, dtype=np.int8)
    feature_arr = np.asarray(feature, dtype=np.int32)
    return CompiledForest(
        feature=feature_arr,
        fast_feature=np.maximum(feature_arr, 0).astype(np.uint32),
        threshold=np.asarray(threshold, dtype=np.float64),
        child=np.asarray(child, dtype=np.uint32),
        value=np.asarray(value, dtype=np.float64),
        missing=missing_arr,
        default_left=np.asarray(default_left, dtype=np.bool_),
        roots=np.asarray(roots, dtype=np.uint32),
        depth=np.asarray(depths, dtype=np.int32),
        tree_member=np.asarray(tree_member, dtype=np.int32),
        n_members=len(boosters),
        n_features=n_features,
        simple_missing=bool(np.all(missing_arr == 0)),
    )


def _kernels() -> Any:
    """The numba kernels module (imported on first use: numba is slow to import)."""
    from tools.modelling import _tree_kernels

    return _tree_kernels


def _as_rows(X: np.ndarray, n_features: int) -> np.ndarray:
    arr = np.ascontiguousarray(X, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != n_features:
        raise ModelError(f"expected an array of shape (rows, {n_features}), got {arr.shape}")
    return arr


def predict_members(forest: CompiledForest, X: np.ndarray, parallel: bool | None = None) -> np.ndarray:
    """Raw output of every member for every row: shape (rows, n_members).

    `parallel` spreads row blocks over all cores (default: when there are at least
    PARALLEL_MIN_ROWS rows; for small calls thread start-up costs more than it saves).
    """
    arr = _as_rows(X, forest.n_features)
    k = _kernels()
    if parallel is None:
        parallel = arr.shape[0] >= PARALLEL_MIN_ROWS
    if forest.simple_missing:
        # Every split has missing type None: LightGBM reads NaN as 0, so do that once here
        # and use the branch-free kernel.
        if np.isnan(arr).any():
            arr = np.where(np.isnan(arr), 0.0, arr)
        fn = k.fast_parallel if parallel else k.fast_serial
        return fn(
            arr, forest.fast_feature, forest.threshold, forest.child, forest.value,
            forest.roots, forest.depth, forest.tree_member, forest.n_members,
        )
    fn = k.exact_parallel if parallel else k.exact_serial
    return fn(
        arr, forest.feature, forest.threshold, forest.child, forest.value,
        forest.missing, forest.default_left, forest.roots, forest.tree_member, forest.n_members,
    )


def predict_mean_std(forest: CompiledForest, X: np.ndarray, parallel: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population standard deviation over members for every row."""
    raw = predict_members(forest, X, parallel)
    mean, std = _kernels().mean_std(raw)
    return mean, std
