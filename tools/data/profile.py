"""The bias report of an experiment record: how habit shaped what was tried.

Per parameter: the distribution (skew, share of the most common value), one-valued
parameters, parameters piled on a habitual value (overall or within each category that
governs them, e.g. coating temperature per coating material), counts per Ni level, and the
failed and missing shares. Numbers pinned by a conditional (coating temperature 0 when there
is no coating) are left out of that parameter's statistics.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from tools.domain.design_space import CategoryParameter, DesignSpace, NumberParameter
from tools.domain.record import ExperimentRecord, active_mask

# A parameter counts as clustered when one value holds at least this share of its runs ...
CLUSTER_SHARE = 0.5
# ... or, within the categories that govern it, a typical (median) category's top value does.
GROUP_CLUSTER_SHARE = 0.6
MIN_GROUP_ROWS = 10

Shape = Literal["one-valued", "clustered", "near-normal", "skewed", "spread"]


class ParameterProfile(BaseModel):
    """Distribution summary of one parameter over the runs where it is free."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="parameter name")
    kind: Literal["number", "category"]
    n: int = Field(description="runs counted (pinned values left out)")
    n_unique: int = Field(description="distinct values")
    top_value: float | str | None = Field(description="most common value")
    top_share: float = Field(description="share of runs at the most common value, 0 to 1")
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    skew: float | None = Field(default=None, description="sample skewness")
    excess_kurtosis: float | None = None
    group_top_share: dict[str, float] = Field(
        default_factory=dict, description="top-value share within each governing category value"
    )
    group_top_value: dict[str, float] = Field(default_factory=dict, description="most common value per category value")
    counts: dict[str, int] = Field(default_factory=dict, description="value counts when there are at most 20 values")
    one_valued: bool
    clustered: bool
    shape: Shape


class DatasetProfile(BaseModel):
    """The whole bias report."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rows: int
    design_space: str
    target: str
    ok_runs: int
    failed_runs: int
    failed_share: float
    missing_target: int = Field(description="runs with no measured target")
    missing_target_share: float
    failed_with_missing_target: int
    counts_by_ni: dict[str, int] = Field(default_factory=dict, description="runs per Ni fraction (NCM spaces)")
    counts_by_source: dict[str, int]
    counts_by_shot: dict[str, int]
    target_summary: dict[str, float]
    parameters: list[ParameterProfile]
    one_valued: list[str]
    clustered: list[str]
    findings: list[str] = Field(description="plain-language observations, most important first")


def _key(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def _governing(space: DesignSpace, name: str) -> list[str]:
    """Categories whose value pins this number in some conditional (coating -> coating_temp_c)."""
    return sorted({cat for cond in space.conditionals if name in cond.then for cat in cond.when})


def _profile_parameter(record: ExperimentRecord, param: NumberParameter | CategoryParameter) -> ParameterProfile:
    frame = record.frame[active_mask(record, param.name)]
    col = frame[param.name]
    n = len(col)
    counts = col.value_counts()
    n_unique = int(counts.size)
    top_value = counts.index[0] if n_unique else None
    top_share = float(counts.iloc[0] / n) if n else 0.0
    one_valued = n_unique <= 1
    stats: dict[str, float | None] = {"mean": None, "std": None, "min": None, "max": None, "skew": None, "excess_kurtosis": None}
    group_share: dict[str, float] = {}
    group_value: dict[str, float] = {}
    if isinstance(param, NumberParameter) and n:
        values = col.to_numpy(dtype=float)
        stats = {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if n > 1 else 0.0,
            "min": float(values.min()),
            "max": float(values.max()),
            "skew": float(pd.Series(values).skew()) if n > 2 and n_unique > 1 else 0.0,
            "excess_kurtosis": float(pd.Series(values).kurt()) if n > 3 and n_unique > 1 else 0.0,
        }
        for cat in _governing(record.space, param.name):
            for value, sub in frame.groupby(cat)[param.name]:
                if len(sub) >= MIN_GROUP_ROWS:
                    vc = sub.value_counts()
                    group_share[str(value)] = round(float(vc.iloc[0] / len(sub)), 4)
                    group_value[str(value)] = float(vc.index[0])
    group_clustered = bool(group_share) and float(np.median(list(group_share.values()))) >= GROUP_CLUSTER_SHARE
    clustered = not one_valued and (top_share >= CLUSTER_SHARE or group_clustered)
    shape: Shape
    if one_valued:
        shape = "one-valued"
    elif clustered:
        shape = "clustered"
    elif stats["skew"] is not None and n_unique >= 5 and abs(stats["skew"] or 0) < 0.5 and abs(stats["excess_kurtosis"] or 0) < 1.0:
        shape = "near-normal"
    elif stats["skew"] is not None and abs(stats["skew"] or 0) >= 1.0:
        shape = "skewed"
    else:
        shape = "spread"
    return ParameterProfile(
        name=param.name,
        kind=param.kind,
        n=n,
        n_unique=n_unique,
        top_value=(float(top_value) if isinstance(param, NumberParameter) and top_value is not None else top_value),
        top_share=round(top_share, 4),
        **{k: (round(v, 6) if v is not None and math.isfinite(v) else None) for k, v in stats.items()},
        group_top_share=group_share,
        group_top_value=group_value,
        counts={_key(k): int(v) for k, v in counts.items()} if n_unique <= 20 else {},
        one_valued=one_valued,
        clustered=clustered,
        shape=shape,
    )


def profile_record(record: ExperimentRecord) -> DatasetProfile:
    """Compute the bias report of a validated record."""
    frame = record.frame
    target = record.target
    params = [_profile_parameter(record, p) for p in record.space.parameters]
    rows = len(frame)
    failed = int((frame["status"] == "failed").sum())
    missing = int(frame[target].isna().sum())
    failed_missing = int(((frame["status"] == "failed") & frame[target].isna()).sum())
    by_ni = {_key(k): int(v) for k, v in frame["ni"].value_counts().sort_index().items()} if "ni" in frame else {}
    measured = frame.loc[frame["status"] == "ok", target].dropna()
    target_summary = (
        {
            "count": float(len(measured)),
            "mean": round(float(measured.mean()), 3),
            "std": round(float(measured.std(ddof=1)), 3) if len(measured) > 1 else 0.0,
            "min": float(measured.min()),
            "max": float(measured.max()),
        }
        if len(measured)
        else {"count": 0.0}
    )
    findings: list[str] = []
    if by_ni:
        top_ni, top_count = max(by_ni.items(), key=lambda kv: kv[1])
        if top_count / rows >= 0.8 and len(by_ni) > 1:
            rest = ", ".join(f"{v} at {k}" for k, v in by_ni.items() if k != top_ni)
            findings.append(f"ni: {top_count} of {rows} runs ({top_count / rows:.0%}) at {top_ni}; only {rest}")
    for p in params:
        if p.one_valued:
            findings.append(f"{p.name}: one-valued, never varied (always {p.top_value})")
    for p in params:
        if p.clustered and not (p.name == "ni" and by_ni):
            if p.group_top_share:
                per = ", ".join(
                    f"{g} at {p.group_top_value[g]:g} in {s:.0%}" for g, s in sorted(p.group_top_share.items(), key=lambda kv: -kv[1])
                )
                findings.append(f"{p.name}: clustered on one habitual value per {', '.join(_governing(record.space, p.name))} ({per})")
            else:
                findings.append(f"{p.name}: clustered, {p.top_share:.0%} of runs at {p.top_value}")
    for p in params:
        if p.shape == "near-normal":
            findings.append(f"{p.name}: near-normal around {p.mean:.4g} (sd {p.std:.3g}, skew {p.skew:+.2f})")
    if failed:
        findings.append(
            f"{failed} failed runs ({failed / rows:.1%}); {failed_missing} of them were discontinued with no {target}"
        )
    return DatasetProfile(
        rows=rows,
        design_space=record.space.name,
        target=target,
        ok_runs=rows - failed,
        failed_runs=failed,
        failed_share=round(failed / rows, 4) if rows else 0.0,
        missing_target=missing,
        missing_target_share=round(missing / rows, 4) if rows else 0.0,
        failed_with_missing_target=failed_missing,
        counts_by_ni=by_ni,
        counts_by_source={str(k): int(v) for k, v in frame["source"].value_counts().items()},
        counts_by_shot={str(k): int(v) for k, v in frame["shot"].value_counts().items()},
        target_summary=target_summary,
        parameters=params,
        one_valued=[p.name for p in params if p.one_valued],
        clustered=[p.name for p in params if p.clustered],
        findings=findings,
    )
