"""A simulated active-learning campaign against the virtual lab, with baselines side by side.

Each seed starts from ``VirtualLab(seed).demo_record()``. Every strategy gets its own copy of
the lab in the same state (same noise stream) and, per shot, proposes ``n`` runs, "runs" them
in the lab, appends every result (failed runs included) and, for the model-based strategy,
retrains. Reported per shot: best measured capacity so far among runs with the fixed values,
the share of the gap closed between the record's best such run and the lab's true optimum,
failed runs, and the model's prediction error on the shot's ok runs.

Strategies:
- ``ours``: tools.proposer.propose on a freshly fitted tools.capacity_model ensemble;
- ``random``: uniform random feasible proposals (grid, constraints and fixed values honoured);
- ``expert``: the best run so far with one factor changed by one or a few steps (or one
  category switched), factors drawn at random without a model;
- ``baybe``: Bayesian optimisation with the baybe package, when installed (it is an optional
  extra; it pulls torch/botorch); reported as unavailable otherwise.

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

from tools.errors import ProposalError
from tools.proposer import ProposerSettings, Relaxation, _matching, propose
from tools.record import ExperimentRecord, append_records, record_from_rows
from tools.virtual_lab import VirtualLab

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

    from tools.plots import _pyplot, save_figure

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
    mask = _matching(f, fixed) & (f["status"] == "ok").to_numpy() & f[record.target].notna().to_numpy()
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
    match = _matching(f, space.fixed) & ok
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


def _baybe_available() -> tuple[bool, str]:
    import importlib.util

    if importlib.util.find_spec("baybe") is None:
        return False, (
            "baybe is not installed: it is an optional extra, not in the lock (baybe 0.15.0 would add "
            "botorch, gpytorch, linear-operator and 7 more packages); skipped"
        )
    return False, "baybe is installed, but the baybe strategy is not implemented in this version: skipped"


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
) -> CampaignResult:
    """Run the simulated loop for every strategy and seed; see the module docstring."""
    from tools.capacity_model import DEFAULT_MEMBERS, fit_capacity_model

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
                else:
                    rows = expert_proposals(record, space.fixed, n, seed * 100 + shot)
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
                )
                reports_shots.append(rep)
                err_txt = f", prediction error {pct:.2f}% (MAE {mae:.2f})" if pct is not None and mae is not None else ""
                say(
                    f"seed {seed} {strategy} shot {shot}: best {best:.2f} mAh/g, gap closed {rep.gap_closed:.0%}, "
                    f"{failed} failed{err_txt} [{elapsed:.1f} s]"
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
    "ShotError",
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
