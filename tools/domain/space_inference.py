"""Design-space inference: a design space read off a CSV's columns when no space file is given.

Numbers get their observed bounds and the grid step they share; text columns become
categories. The record's bookkeeping columns and the target are not parameters.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from tools.domain.design_space import (
    DesignSpace,
    NumberParameter,
    Target,
    design_space_from_dict,
    suggest,
)
from tools.domain.errors import DesignSpaceError
from tools.domain.record_columns import BOOKKEEPING

if TYPE_CHECKING:
    import pandas as pd


def _nice_step(values: np.ndarray) -> float | None:
    """The grid step shared by all values (a power-of-ten multiple of 1, 2, 2.5 or 5), or None."""
    uniq = np.unique(values)
    if len(uniq) < 2:
        return None
    diffs = np.diff(uniq)
    smallest = float(diffs.min())
    if smallest <= 0:
        return None
    exponent = math.floor(math.log10(smallest))
    for decade in (exponent, exponent - 1):
        for mult in (5, 2.5, 2, 1):
            step = mult * 10.0**decade
            k = (uniq - uniq[0]) / step
            if step <= smallest + 1e-12 and np.all(np.abs(k - np.round(k)) < 1e-6):
                return float(f"{step:.10g}")
    return None


def infer_design_space(raw: pd.DataFrame, target: str, name: str = "inferred") -> DesignSpace:
    """Infer a design space from a text frame: numbers get observed bounds and step, text gets categories."""
    if target not in raw.columns:
        raise DesignSpaceError(f"target column '{target}' not in the CSV{suggest(target, raw.columns)}")
    params: list[dict[str, Any]] = []
    for col in raw.columns:
        if col == target or col in BOOKKEEPING:
            continue
        cells = [c for c in raw[col].tolist() if c != ""]
        if not cells:
            raise DesignSpaceError(f"cannot infer column '{col}': every value is empty")
        try:
            numbers = np.array([float(c) for c in cells])
        except ValueError:
            params.append({"name": col, "kind": "category", "values": sorted(set(cells))})
            continue
        low, high = float(numbers.min()), float(numbers.max())
        step = _nice_step(numbers)
        if step is not None:
            # widen high to the grid so the bound itself is a grid value
            k = round((high - low) / step)
            high = float(f"{low + k * step:.10g}")
        params.append({"name": col, "kind": "number", "low": low, "high": high, "step": step})
    if not params:
        raise DesignSpaceError("cannot infer a design space: the CSV has no parameter columns besides the target")
    data = {
        "name": name,
        "description": f"inferred from a CSV with target '{target}'",
        "target": Target(name=target).model_dump(),
        "parameters": params,
    }
    return design_space_from_dict(data, origin=f"inferred space for {name}")


def space_param_kind(space: DesignSpace, name: str) -> str:
    """'number' or 'category' for a parameter."""
    return "number" if isinstance(space.parameter(name), NumberParameter) else "category"
