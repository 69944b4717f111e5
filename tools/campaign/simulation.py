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
  others (tools/campaign/baybe.py); reported as "unavailable (pip install .[baybe])" otherwise. Its
  surrogate's posterior mean is its prediction for the per-shot error.

The baselines are in tools/campaign/baselines.py; the per-shot error of a real campaign is
tools/campaign/shots.py. The proposer never sees the lab: only the record and the model.
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

from tools.campaign.baselines import expert_proposals, random_proposals
from tools.campaign.baybe import baybe_available, baybe_batch
from tools.campaign.virtual_lab import VirtualLab
from tools.domain.errors import ProposalError
from tools.domain.record import ExperimentRecord, append_records, record_from_rows
from tools.proposer.models import ProposerSettings
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


def _best_at(record: ExperimentRecord, fixed: Mapping[str, Any]) -> float:
    f = record.frame
    mask = runs_matching(f, fixed) & (f["status"] == "ok").to_numpy() & f[record.target].notna().to_numpy()
    if not mask.any():
        return -math.inf
    return float(f.loc[mask, record.target].max())


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
        ok, msg = baybe_available()
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
    "CampaignResult",
    "STRATEGIES",
    "SeedReport",
    "ShotReport",
    "StrategyReport",
    "run_campaign",
]
