"""The BayBE strategy of the simulated campaign: BayBE's default recommender on the design space (optional extra).

baybe (with botorch and gpytorch) is imported inside functions, only when the strategy runs;
without the ``baybe`` extra the strategy is reported as unavailable. BayBE's rows are snapped
and repaired by the proposer's relaxation like every other strategy's (see baybe_proposals).
The user's constraints narrow BayBE's search space: continuous bounds move to the allowed range,
excluded categories (and the values other than a fixed one) are left out of the candidates.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from tools.campaign.baselines import stated_constraints
from tools.domain.constraints import ConstraintSet
from tools.domain.errors import ProposalError
from tools.domain.record import ExperimentRecord
from tools.proposer.relaxation import Relaxation

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


def baybe_available() -> tuple[bool, str]:
    """(True, "") when the optional baybe extra imports, else (False, why it is unavailable)."""
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
    bounds = dict(enumerate(relax.bounds))  # each number's allowed range (narrowed by the user's constraints)
    constraints: list[Any] = []
    for eq in relax.equalities:
        # a_dep * x_dep = const - sum(a_i x_i) must stay within the dependent term's range
        if len(eq.idx) < 2:
            continue
        j_dep, a_dep = int(eq.idx[-1]), float(eq.coef[-1])
        lo_d, hi_d = sorted((a_dep * relax.bounds[j_dep][0], a_dep * relax.bounds[j_dep][1]))
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
    for j, cat in enumerate(relax.categories):
        # every value stays a parameter value (so every record run is a valid measurement); the
        # values the fixed value or the user's choice leave out are excluded from the candidates
        params.append(CategoricalParameter(name=cat.name, values=tuple(cat.values)))
        if cat.name in space.fixed:
            other_values = [v for v in cat.values if v != str(space.fixed[cat.name])]
        else:
            allowed = relax.allowed_categories.get(j)
            other_values = [] if allowed is None else [v for v, ok in zip(cat.values, allowed, strict=True) if not ok]
        if other_values:
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
    constraints: ConstraintSet | None = None,
) -> tuple[pd.DataFrame, BaybeBatch]:
    """n distinct valid runs recommended by BayBE within `constraints`, with how they were repaired; see baybe_proposals."""
    import warnings

    ok, msg = baybe_available()
    if not ok:
        raise ProposalError(f"baybe {msg}")
    stated = stated_constraints(record, fixed, constraints)
    relax = Relaxation(record.space, stated)
    space = relax.space
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
                    if not feasible[i] or space.row_problems(row) or stated.violations(row, space) or key in taken:
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


def baybe_proposals(
    record: ExperimentRecord, fixed: Mapping[str, Any], n: int, seed: int, constraints: ConstraintSet | None = None
) -> pd.DataFrame:
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
    rows, _info = baybe_batch(record, fixed, n, seed, constraints=constraints)
    return rows
