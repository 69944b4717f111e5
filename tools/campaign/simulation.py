"""A simulated active-learning campaign against the virtual lab, with baselines side by side.

Each seed starts from ``VirtualLab(seed).demo_record()``. Every strategy gets its own copy of
the lab in the same state (same noise stream) and, per shot, proposes ``n`` runs, "runs" them
in the lab, appends every result (failed runs included) and, for the model-based strategy,
retrains. Reported per shot: best measured capacity so far among runs with the fixed values,
the share of the gap closed between the record's best such run and the lab's true optimum,
failed runs, and the model's prediction error on the shot's ok runs.

Strategies:
- ``ours``: tools.proposer.swarm.propose on a freshly fitted tools.modelling.capacity_model ensemble;
- ``random``: uniform random feasible proposals (grid, constraints and fixed values honoured);
- ``expert``: the best run so far with one factor changed by one or a few steps (or one
  category switched), factors drawn at random without a model;
- ``baybe``: BayBE's default Bayesian-optimisation recommender (the optional ``baybe`` extra,
  which adds botorch/gpytorch) on a hybrid search space, its rows snapped and repaired like the
  others (see baybe_proposals); reported as "unavailable (pip install .[baybe])" otherwise. Its
  surrogate's posterior mean is its prediction for the per-shot error.

The proposer never sees the lab: only the record and the model.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from tools.campaign.virtual_lab import VirtualLab
from tools.domain.errors import ProposalError
from tools.domain.record import ExperimentRecord, append_records, record_from_rows
from tools.proposer.models import ProposerSettings
from tools.proposer.relaxation import Relaxation
from tools.proposer.swarm import propose, runs_matching

STRATEGIES = ("ours", "random", "expert", "baybe")

Progress = Callable[[str], None]


class ShotReport(BaseModel):
    """What one shot of one strategy achieved for one seed."""

    model_config = ConfigDict(extra="forbid")

    shot: int = Field(description="shot number, 1-based")
    best_measured_mah_g: float = Field(description="best measured ok capacity so far among runs with the fixed values, mAh/g")
    shot_best_mah_g: float | None = Field(description="best measured ok capacity in this shot, mAh/g")
    gap_closed: float = Field(description="(best so far - record best) / (true optimum - record best); 1 = optimum reached")
    failed_runs: int = Field(description="runs of this shot that failed")
    mae_mah_g: float | None = Field(description="mean absolute error of the model's predictions on this shot's ok runs, mAh/g")
    mean_pct_error: float | None = Field(description="mean absolute percentage error of those predictions, %")
    elapsed_s: float = Field(description="wall time to propose (and retrain) for this shot, s")
    note: str = Field(default="", description="how the strategy's rows were made valid (BayBE: repaired and rejected rows)")


class SeedReport(BaseModel):
    """One strategy on one seed."""

    model_config = ConfigDict(extra="forbid")

    seed: int
    record_best_mah_g: float = Field(description="best measured ok run with the fixed values in the starting record, mAh/g")
    optimum_mah_g: float = Field(description="the lab's true optimum with the fixed values, mAh/g")
    shots: list[ShotReport]


class StrategyReport(BaseModel):
    """One strategy over every seed, with medians per shot."""

    model_config = ConfigDict(extra="forbid")

    strategy: str
    available: bool
    message: str = Field(default="", description="why the strategy is unavailable, or notes")
    seeds: list[SeedReport] = Field(default_factory=list)
    median_gap_closed: list[float] = Field(default_factory=list, description="median over seeds, per shot")
    median_best_mah_g: list[float] = Field(default_factory=list, description="median over seeds, per shot, mAh/g")
    median_failed_runs: list[float] = Field(default_factory=list, description="median over seeds, per shot")
    median_mean_pct_error: list[float | None] = Field(default_factory=list, description="median over seeds, per shot, %")


class CampaignResult(BaseModel):
    """The whole simulated campaign."""

    model_config = ConfigDict(extra="forbid")

    fixed: dict[str, float | str]
    shots: int
    n: int
    seeds: list[int]
    iterations: int
    particles: int
    strategies: list[StrategyReport]
    elapsed_s: float
    note: str = "simulated: virtual-lab results are not measurements"


class ShotError(BaseModel):
    """Prediction error of one shot: measured vs predicted_mah_g over its ok runs that have a prediction."""

    model_config = ConfigDict(extra="forbid")

    shot: str = Field(description="shot label (history, shot-1, ...)")
    runs: int = Field(description="runs in the shot")
    failed_runs: int = Field(description="runs of the shot marked failed")
    compared: int = Field(description="ok runs with both a measurement and a prediction")
    mae_mah_g: float | None = Field(description="mean absolute error, mAh/g")
    mean_pct_error: float | None = Field(description="mean absolute percentage error, %")
    best_mah_g: float | None = Field(description="best measured ok capacity of the shot, mAh/g")


def shot_errors(record: ExperimentRecord) -> list[ShotError]:
    """Per-shot prediction error (MAE and mean % error of measured vs predicted_mah_g), in first-seen order."""
    f = record.frame
    out: list[ShotError] = []
    for shot in pd.unique(f["shot"]):
        sub = f[f["shot"] == shot]
        ok = (sub["status"] == "ok") & sub[record.target].notna()
        both = ok & sub["predicted_mah_g"].notna()
        meas = sub.loc[both, record.target].to_numpy(float)
        pred = sub.loc[both, "predicted_mah_g"].to_numpy(float)
        mae = float(np.mean(np.abs(meas - pred))) if len(meas) else None
        pct = float(np.mean(np.abs(meas - pred) / np.abs(meas)) * 100) if len(meas) else None
        best = float(sub.loc[ok, record.target].max()) if ok.any() else None
        out.append(
            ShotError(
                shot=str(shot), runs=len(sub), failed_runs=int((sub["status"] == "failed").sum()),
                compared=int(len(meas)), mae_mah_g=mae, mean_pct_error=pct, best_mah_g=best,
            )
        )
    return out


def plot_parity(record: ExperimentRecord, path: Any) -> Any:
    """Parity plot (measured vs predicted) with one colour per shot, like the reference study's Figure 4."""
    from pathlib import Path

    from tools.plotting import _pyplot, save_figure

    plt = _pyplot()
    f = record.frame
    both = (f["status"] == "ok") & f[record.target].notna() & f["predicted_mah_g"].notna()
    fig, ax = plt.subplots(figsize=(5.2, 5))
    colors = ["#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb"]
    sub_all = f[both]
    for k, shot in enumerate(pd.unique(sub_all["shot"])):
        sub = sub_all[sub_all["shot"] == shot]
        ax.scatter(sub["predicted_mah_g"], sub[record.target], s=28, color=colors[k % len(colors)], label=f"{shot} ({len(sub)})", alpha=0.85)
    if len(sub_all):
        lo = float(min(sub_all["predicted_mah_g"].min(), sub_all[record.target].min())) - 2
        hi = float(max(sub_all["predicted_mah_g"].max(), sub_all[record.target].max())) + 2
        ax.plot([lo, hi], [lo, hi], color="black", lw=0.8, ls="--")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.legend(title="shot")
    else:
        ax.text(0.5, 0.5, "no ok run with a prediction yet", ha="center", va="center", transform=ax.transAxes)
    unit = record.space.target.unit
    ax.set_xlabel(f"predicted {record.target} ({unit})")
    ax.set_ylabel(f"measured {record.target} ({unit})")
    ax.set_title("Measured vs predicted, per shot")
    return save_figure(fig, Path(path))


def next_shot_label(record: ExperimentRecord) -> str:
    """'shot-<k+1>' after the highest 'shot-<k>' in the record."""
    highest = 0
    for shot in pd.unique(record.frame["shot"]):
        text = str(shot)
        if text.startswith("shot-") and text[5:].isdigit():
            highest = max(highest, int(text[5:]))
    return f"shot-{highest + 1}"


def _best_at(record: ExperimentRecord, fixed: Mapping[str, Any]) -> float:
    f = record.frame
    mask = runs_matching(f, fixed) & (f["status"] == "ok").to_numpy() & f[record.target].notna().to_numpy()
    if not mask.any():
        return -math.inf
    return float(f.loc[mask, record.target].max())


def random_proposals(record: ExperimentRecord, fixed: Mapping[str, Any], n: int, seed: int) -> pd.DataFrame:
    """n distinct uniform random feasible runs (not already in the record)."""
    space = record.space.with_fixed(dict(fixed))
    relax = Relaxation(space)
    rng = np.random.default_rng(seed)
    Vr, Cr = relax.from_frame(record.frame)
    taken = set(relax.key_set(Vr, Cr))
    rows_V, rows_C = [], []
    for _ in range(50):
        V, C, ok = relax.sample(rng, 20 * n)
        for i in np.flatnonzero(ok):
            key = relax.key_set(V[i : i + 1], C[i : i + 1])[0]
            if key in taken:
                continue
            taken.add(key)
            rows_V.append(V[i])
            rows_C.append(C[i])
            if len(rows_V) == n:
                return relax.to_frame(np.array(rows_V), np.array(rows_C))
    raise ProposalError("random sampling found too few feasible runs under these fixed values")


def expert_proposals(record: ExperimentRecord, fixed: Mapping[str, Any], n: int, seed: int) -> pd.DataFrame:
    """One-factor-at-a-time nudges of the best run so far (with the fixed values): one to three steps."""
    space = record.space.with_fixed(dict(fixed))
    relax = Relaxation(space)
    rng = np.random.default_rng(seed)
    f = record.frame
    ok = (f["status"] == "ok").to_numpy() & f[record.target].notna().to_numpy()
    match = runs_matching(f, space.fixed) & ok
    pool = f[match] if match.any() else f[ok]
    if pool.empty:
        raise ProposalError("no ok run to start from")
    base = pool.sort_values(record.target, ascending=False).iloc[[0]]
    Vb, Cb = relax.from_frame(base)
    if not match.any():  # project the best run onto the fixed values
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
        if not relax.finish(V, C)[0] or space.row_problems(relax.row(V, C, 0)):
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


BAYBE_UNAVAILABLE = "unavailable (pip install .[baybe])"
BAYBE_FAILED_QUANTILE = 0.10


class BaybeBatch(BaseModel):
    """How one BayBE batch was turned into valid design-space rows."""

    model_config = ConfigDict(extra="forbid")

    recommended: int = Field(description="rows BayBE recommended, over every call")
    calls: int = Field(description="recommend calls (a second one asks for the shortfall, with the accepted rows pending)")
    repaired: int = Field(description="accepted rows that needed more than grid snapping: conditionals applied (coating none -> 0), a snapped value moved by the composition repair, or a fixed value pinned")
    rejected: int = Field(description="recommended rows dropped: invalid after repair, already in the record or a duplicate in the batch")
    measurements: int = Field(description="rows given to BayBE as measurements (ok runs plus failed runs)")
    failed_as: float | None = Field(description="capacity given to failed runs: the record's 10th percentile of ok capacities, mAh/g")
    predicted_mah_g: list[float] = Field(default_factory=list, description="BayBE surrogate's posterior mean at each returned row, mAh/g")
    warnings: list[str] = Field(default_factory=list, description="distinct warnings BayBE/BoTorch raised while recommending")
    elapsed_s: float = Field(description="wall time of the BayBE calls, s")


def _baybe_available() -> tuple[bool, str]:
    import importlib.util

    try:
        found = importlib.util.find_spec("baybe") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return False, f"{BAYBE_UNAVAILABLE}: baybe is an optional extra (it adds botorch, gpytorch and more); skipped"
    try:
        import baybe  # noqa: F401
    except ImportError as err:
        return False, f"{BAYBE_UNAVAILABLE}: importing baybe failed ({err}); skipped"
    return True, ""


def _baybe_measurements(record: ExperimentRecord, space: Any) -> tuple[pd.DataFrame, float | None]:
    """The record as BayBE measurements: every ok run with a capacity, failed runs at the low quantile.

    BayBE has no failure model. A failed run is given the record's 10th percentile of ok
    capacities (the floor the proposer also uses), so the surrogate learns that the region is poor
    instead of never hearing of it. Numbers that a conditional pins outside their range (coating
    none -> coating temperature 0) are given their lower bound: BayBE checks measurements against
    the parameter bounds, and the value carries no information when the conditional applies.
    """
    f = record.frame
    target = record.target
    ok = (f["status"] == "ok") & f[target].notna()
    failed = f["status"] == "failed"
    floor = float(np.quantile(f.loc[ok, target].to_numpy(float), BAYBE_FAILED_QUANTILE)) if ok.any() else None
    take = (ok | failed) if floor is not None else ok
    data = f.loc[take, space.names].copy()
    for p in space.numbers:
        col = data[p.name].astype(float)
        data[p.name] = col.clip(p.low, p.high)
    for c in space.categories:
        data[c.name] = data[c.name].astype(str)
    data[target] = np.where(ok[take].to_numpy(), f.loc[take, target].to_numpy(float), floor if floor is not None else np.nan)
    return data.reset_index(drop=True), floor


def _baybe_campaign(relax: Relaxation, target: str, recommender_options: Mapping[str, Any] | None) -> Any:
    """A BayBE Campaign over the design space (a hybrid space; see baybe_proposals for the mapping)."""
    from baybe import Campaign
    from baybe.constraints import (
        ContinuousLinearConstraint,
        DiscreteExcludeConstraint,
        SubSelectionCondition,
    )
    from baybe.parameters import (
        CategoricalParameter,
        NumericalContinuousParameter,
        NumericalDiscreteParameter,
    )
    from baybe.recommenders import BotorchRecommender, TwoPhaseMetaRecommender
    from baybe.searchspace import SearchSpace
    from baybe.targets import NumericalTarget

    space = relax.space
    bounds = {j: (p.low, p.high) for j, p in enumerate(relax.numbers)}
    constraints: list[Any] = []
    for eq in relax.equalities:
        # a_dep * x_dep = const - sum(a_i x_i) must stay within the dependent term's range
        if len(eq.idx) < 2:
            continue
        j_dep, a_dep = int(eq.idx[-1]), float(eq.coef[-1])
        lo_d, hi_d = sorted((a_dep * relax.numbers[j_dep].low, a_dep * relax.numbers[j_dep].high))
        lo_sum, hi_sum = eq.const - hi_d, eq.const - lo_d  # bounds on sum(a_i x_i) over the free terms
        free = [(int(j), float(a)) for j, a in zip(eq.idx[:-1], eq.coef[:-1], strict=True)]
        if len(free) == 1:  # a bound of its own: narrow the parameter (no constraint to slow BoTorch down)
            j, a = free[0]
            lo, hi = sorted((lo_sum / a, hi_sum / a))
            bounds[j] = (max(bounds[j][0], lo), min(bounds[j][1], hi))
        else:
            names = [relax.numbers[j].name for j, _ in free]
            coefs = [a for _, a in free]
            constraints.append(ContinuousLinearConstraint(parameters=names, operator=">=", coefficients=coefs, rhs=lo_sum))
            constraints.append(ContinuousLinearConstraint(parameters=names, operator="<=", coefficients=coefs, rhs=hi_sum))
    for c in space.constraints:
        if c.equals is None:
            raise ProposalError(f"the baybe strategy does not handle the inequality constraint {c.name} yet")
    params: list[Any] = []
    for j, p in enumerate(relax.numbers):
        if j in relax.dependent:
            continue  # derived from its equality after the recommendation
        if p.name in space.fixed:  # every grid value (so every record run is valid), only the fixed one a candidate
            values = relax.levels[j]
            grid = sorted({p.low, p.high, float(space.fixed[p.name])}) if values is None else [float(v) for v in values]
            params.append(NumericalDiscreteParameter(name=p.name, values=tuple(grid)))
            others = [v for v in grid if abs(v - float(space.fixed[p.name])) > 1e-12]
            constraints.append(DiscreteExcludeConstraint(parameters=[p.name], conditions=[SubSelectionCondition(selection=others)]))
            continue
        lo, hi = bounds[j]
        if not hi > lo:
            raise ProposalError(f"the fixed values leave {p.name} a single value: the baybe strategy needs a range")
        params.append(NumericalContinuousParameter(name=p.name, bounds=(lo, hi)))
    for cat in relax.categories:
        params.append(CategoricalParameter(name=cat.name, values=tuple(cat.values)))
        if cat.name in space.fixed:
            other_values = [v for v in cat.values if v != str(space.fixed[cat.name])]
            constraints.append(DiscreteExcludeConstraint(parameters=[cat.name], conditions=[SubSelectionCondition(selection=other_values)]))
    searchspace = SearchSpace.from_product(parameters=params, constraints=constraints)
    objective = NumericalTarget(name=target).to_objective()
    if recommender_options:
        recommender: Any = TwoPhaseMetaRecommender(recommender=BotorchRecommender(**dict(recommender_options)))
        return Campaign(searchspace=searchspace, objective=objective, recommender=recommender)
    return Campaign(searchspace=searchspace, objective=objective)  # BayBE's default recommender


def baybe_batch(
    record: ExperimentRecord,
    fixed: Mapping[str, Any],
    n: int,
    seed: int,
    recommender_options: Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, BaybeBatch]:
    """n distinct valid runs recommended by BayBE, with how they were repaired; see baybe_proposals."""
    import warnings

    ok, msg = _baybe_available()
    if not ok:
        raise ProposalError(f"baybe {msg}")
    space = record.space.with_fixed(dict(fixed))
    relax = Relaxation(space)
    measurements, floor = _baybe_measurements(record, space)
    if measurements.empty:
        raise ProposalError("BayBE needs at least one measured run in the record")
    taken = set(relax.key_set(*relax.from_frame(record.frame)))
    rows_V: list[np.ndarray] = []
    rows_C: list[np.ndarray] = []
    recommended = repaired = rejected = calls = 0
    seen_warnings: dict[str, None] = {}
    t0 = time.perf_counter()
    try:
        from baybe import Settings

        with Settings(random_seed=int(seed) % 2**32, cache_directory=None), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            campaign = _baybe_campaign(relax, record.target, recommender_options)
            names = [p.name for p in campaign.searchspace.parameters]
            # record runs may lie outside a narrowed range (co up to 0.12 while ni = 0.94 allows 0.06)
            campaign.add_measurements(measurements[[*names, record.target]], numerical_measurements_must_be_within_tolerance=False)
            pending: pd.DataFrame | None = None
            while len(rows_V) < n and calls < 3:
                want = n - len(rows_V)
                recs = campaign.recommend(batch_size=want, pending_experiments=pending)
                calls += 1
                recommended += len(recs)
                V, C, off_fixed = _baybe_to_grid(relax, recs)
                snapped_V = V.copy()
                feasible = relax.finish(V, C)
                own = np.array([j not in relax.dependent for j in range(len(relax.numbers))])
                for i in range(len(recs)):
                    row = relax.row(V, C, i)
                    key = relax.key_set(V[i : i + 1], C[i : i + 1])[0]
                    if not feasible[i] or space.row_problems(row) or key in taken:
                        rejected += 1
                        continue
                    taken.add(key)
                    if off_fixed[i] or not np.allclose(V[i, own], snapped_V[i, own], rtol=0, atol=1e-9):
                        repaired += 1
                    rows_V.append(V[i])
                    rows_C.append(C[i])
                if len(rows_V) < n:
                    done = relax.to_frame(np.array(rows_V), np.array(rows_C)) if rows_V else None
                    pending = None if done is None else _baybe_measurements_frame(done, space)[names]
            predicted: list[float] = []
            if len(rows_V) == n:
                done = relax.to_frame(np.array(rows_V), np.array(rows_C))
                stats = campaign.posterior_stats(_baybe_measurements_frame(done, space)[names], stats=("mean",))
                predicted = [float(x) for x in stats[f"{record.target}_mean"].to_numpy(float)]
            for w in caught:
                seen_warnings.setdefault(f"{type(w.message).__name__}: {str(w.message).splitlines()[0][:160]}", None)
    except ProposalError:
        raise
    except (ValueError, RuntimeError, ArithmeticError) as err:
        raise ProposalError(f"BayBE could not recommend: {err}") from err
    elapsed = time.perf_counter() - t0
    if len(rows_V) < n:
        raise ProposalError(f"BayBE gave only {len(rows_V)} valid new runs of {n} after {calls} calls ({rejected} rejected)")
    info = BaybeBatch(
        recommended=recommended, calls=calls, repaired=repaired, rejected=rejected,
        measurements=len(measurements), failed_as=floor, predicted_mah_g=predicted, warnings=list(seen_warnings),
        elapsed_s=elapsed,
    )
    return relax.to_frame(np.array(rows_V), np.array(rows_C)), info


def _baybe_measurements_frame(frame: pd.DataFrame, space: Any) -> pd.DataFrame:
    """Design-space rows in BayBE's terms (numbers clipped into their bounds), for pending experiments."""
    data = frame[space.names].copy()
    for p in space.numbers:
        data[p.name] = data[p.name].astype(float).clip(p.low, p.high)
    return data


def _baybe_to_grid(relax: Relaxation, recs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BayBE's recommendations snapped to every number's grid and bounds, and which rows were off the fixed values."""
    V = np.zeros((len(recs), len(relax.numbers)))
    C = np.zeros((len(recs), len(relax.categories)), dtype=np.int64)
    for j, p in enumerate(relax.numbers):
        if j in relax.dependent:  # not a BayBE parameter: derived by the repair
            continue
        V[:, j] = [p.snap(float(x)) for x in recs[p.name].to_numpy(float)]
    for j, c in enumerate(relax.categories):
        lookup = {v: k for k, v in enumerate(c.values)}
        C[:, j] = [lookup[str(v)] for v in recs[c.name]]
    # the search space offers only the fixed values; a row off them would be a mapping error: pin and count it
    off = np.zeros(len(recs), dtype=bool)
    for j, v in relax.fixed_numbers.items():
        off |= np.abs(V[:, j] - v) > 1e-9
        V[:, j] = v
    for j, k in relax.fixed_categories.items():
        off |= C[:, j] != k
        C[:, j] = k
    return V, C, off


def baybe_proposals(record: ExperimentRecord, fixed: Mapping[str, Any], n: int, seed: int) -> pd.DataFrame:
    """n distinct valid new runs recommended by BayBE's default recommender (optional extra).

    The BayBE search space is hybrid. Free numbers are continuous parameters within their bounds;
    categories are categorical parameters; a fixed value (number or category) is a discrete
    parameter with every allowed value, so every record run is a valid measurement, and a
    DiscreteExcludeConstraint leaves only the fixed value as a candidate. Each linear equality
    (ni + co + mn = 1) drops its derived term (mn) from BayBE's parameters; the range of that term
    becomes a narrowed bound when one free term is left (ni fixed: co in [0, 0.06]) or a pair of
    continuous linear inequalities otherwise. The default recommender (TwoPhaseMetaRecommender
    with a BotorchRecommender, a Gaussian process and qLogEI) is left as BayBE ships it.

    Measurements: every ok run with a capacity, and every failed run at the record's 10th
    percentile of ok capacities (BayBE has no failure model). BayBE's rows are then snapped to each
    number's step, the conditionals applied (coating none -> 0) and the composition repaired exactly
    as for every other strategy; rows still invalid, already in the record or duplicated are
    dropped, and BayBE is asked again for the shortfall with the accepted rows as pending
    experiments. Raises ProposalError when baybe is not installed ("unavailable (pip install
    .[baybe])") or BayBE fails.
    """
    rows, _info = baybe_batch(record, fixed, n, seed)
    return rows


def run_campaign(
    shots: int = 2,
    n: int = 10,
    fixed: Mapping[str, Any] | None = None,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    strategies: Sequence[str] = ("ours", "random", "expert"),
    iterations: int = 1000,
    particles: int = 100,
    proposer_settings: ProposerSettings | None = None,
    n_members: int | None = None,
    progress: Progress | None = None,
    baybe_options: Mapping[str, Any] | None = None,
) -> CampaignResult:
    """Run the simulated loop for every strategy and seed; see the module docstring."""
    from tools.modelling.capacity_model import DEFAULT_MEMBERS, fit_capacity_model

    t_all = time.perf_counter()
    fixed = dict(fixed if fixed is not None else {"ni": 0.94})
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ProposalError(f"unknown strategy {', '.join(unknown)} (choose from {', '.join(STRATEGIES)})")
    if shots < 1 or n < 1:
        raise ProposalError("shots and n must be at least 1")
    if not seeds:
        raise ProposalError("give at least one seed")
    members = n_members or DEFAULT_MEMBERS
    say = progress or (lambda _msg: None)
    reports = {s: StrategyReport(strategy=s, available=True) for s in strategies}
    if "baybe" in reports:
        ok, msg = _baybe_available()
        reports["baybe"] = StrategyReport(strategy="baybe", available=ok, message=msg)
    active = [s for s in strategies if reports[s].available]

    for seed in seeds:
        lab0 = VirtualLab(seed)
        start = lab0.demo_record()
        space = start.space.with_fixed(fixed)  # raises DesignSpaceError on bad fixed values
        optimum = lab0.optimum(dict(space.fixed)).capacity_mah_g
        record_best = _best_at(start, space.fixed)
        if not math.isfinite(record_best):
            raise ProposalError(f"seed {seed}: the starting record has no ok run with {fixed}; nothing to measure the gap from")
        gap = optimum - record_best
        for strategy in active:
            lab = copy.deepcopy(lab0)
            record = start
            reports_shots: list[ShotReport] = []
            for shot in range(1, shots + 1):
                t0 = time.perf_counter()
                predicted: np.ndarray | None = None
                note = ""
                if strategy == "ours":
                    model = fit_capacity_model(record, seed=seed, n_members=members)
                    result = propose(
                        model, record, space.fixed, n=n, seed=seed * 100 + shot,
                        iterations=iterations, particles=particles, settings=proposer_settings,
                    )
                    rows = pd.DataFrame([p.params for p in result.proposals])
                    predicted = np.array([p.predicted_mah_g for p in result.proposals])
                elif strategy == "random":
                    rows = random_proposals(record, space.fixed, n, seed * 100 + shot)
                elif strategy == "expert":
                    rows = expert_proposals(record, space.fixed, n, seed * 100 + shot)
                else:
                    say(f"seed {seed} baybe shot {shot}: recommending {n} runs (a BayBE batch can take minutes)")
                    rows, info = baybe_batch(record, space.fixed, n, seed * 100 + shot, recommender_options=baybe_options)
                    predicted = np.array(info.predicted_mah_g)
                    note = (
                        f"{info.recommended} recommended in {info.calls} call(s), {info.repaired} repaired beyond grid "
                        f"snapping, {info.rejected} rejected; {info.measurements} measurements, failed runs at "
                        f"{'-' if info.failed_as is None else f'{info.failed_as:.2f}'} mAh/g"
                    )
                    if info.warnings:
                        note += f"; {len(info.warnings)} distinct warning(s): " + " | ".join(info.warnings[:3])
                elapsed = time.perf_counter() - t0
                ran = lab.run(rows, shot=f"shot-{shot}")
                # the lab can "measure" a failed run below zero: record it failed, without a capacity
                lo, hi = record.space.target.low, record.space.target.high
                cap = ran[record.target].to_numpy(dtype=float)
                bad = (cap < (-np.inf if lo is None else lo)) | (cap > (np.inf if hi is None else hi))
                ran.loc[bad, record.target] = np.nan
                ran.loc[bad, "status"] = "failed"
                ran.insert(0, "experiment_id", [f"{strategy}-s{seed}-shot{shot}-{i + 1:02d}" for i in range(len(ran))])
                if predicted is not None:
                    ran["predicted_mah_g"] = np.round(predicted, 2)
                new = record_from_rows(ran.to_dict("records"), record.space, source=f"{strategy} shot {shot}")
                record = append_records(record, new)
                best = _best_at(record, space.fixed)
                okmask = (new.frame["status"] == "ok").to_numpy() & new.frame[record.target].notna().to_numpy()
                shot_best = float(new.frame.loc[okmask, record.target].max()) if okmask.any() else None
                mae = pct = None
                if predicted is not None and okmask.any():
                    meas = new.frame.loc[okmask, record.target].to_numpy(float)
                    pred = new.frame.loc[okmask, "predicted_mah_g"].to_numpy(float)
                    mae = float(np.mean(np.abs(meas - pred)))
                    pct = float(np.mean(np.abs(meas - pred) / np.abs(meas)) * 100)
                failed = int((new.frame["status"] == "failed").sum())
                rep = ShotReport(
                    shot=shot,
                    best_measured_mah_g=best,
                    shot_best_mah_g=shot_best,
                    gap_closed=(best - record_best) / gap if gap > 0 else 1.0,
                    failed_runs=failed,
                    mae_mah_g=mae,
                    mean_pct_error=pct,
                    elapsed_s=elapsed,
                    note=note,
                )
                reports_shots.append(rep)
                err_txt = f", prediction error {pct:.2f}% (MAE {mae:.2f})" if pct is not None and mae is not None else ""
                say(
                    f"seed {seed} {strategy} shot {shot}: best {best:.2f} mAh/g, gap closed {rep.gap_closed:.0%}, "
                    f"{failed} failed{err_txt} [{elapsed:.1f} s]" + (f" ({note})" if note else "")
                )
            reports[strategy].seeds.append(
                SeedReport(seed=seed, record_best_mah_g=record_best, optimum_mah_g=optimum, shots=reports_shots)
            )
    for strategy in active:
        summary = reports[strategy]
        for k in range(shots):
            per_seed = [s.shots[k] for s in summary.seeds]
            summary.median_gap_closed.append(statistics.median(x.gap_closed for x in per_seed))
            summary.median_best_mah_g.append(statistics.median(x.best_measured_mah_g for x in per_seed))
            summary.median_failed_runs.append(statistics.median(x.failed_runs for x in per_seed))
            errs = [e for x in per_seed if (e := x.mean_pct_error) is not None]
            summary.median_mean_pct_error.append(statistics.median(errs) if errs else None)
    return CampaignResult(
        fixed=fixed,
        shots=shots,
        n=n,
        seeds=list(seeds),
        iterations=iterations,
        particles=particles,
        strategies=[reports[s] for s in strategies],
        elapsed_s=time.perf_counter() - t_all,
    )


__all__ = [
    "BAYBE_UNAVAILABLE",
    "BaybeBatch",
    "CampaignResult",
    "ShotError",
    "baybe_batch",
    "baybe_proposals",
    "next_shot_label",
    "plot_parity",
    "shot_errors",
    "STRATEGIES",
    "ShotReport",
    "StrategyReport",
    "expert_proposals",
    "random_proposals",
    "run_campaign",
]
