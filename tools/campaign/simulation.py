"""A simulated active-learning campaign against a virtual lab, with baselines side by side.

Each seed starts from the lab's demo record (``make_lab(lab, seed).demo_record()``, labs a and b:
tools/campaign/labs.py). Every strategy gets its own copy of the lab in the same state (same
noise stream) and, per shot, proposes ``n`` runs, "runs" them in the lab, appends every result
(failed runs included) and, for the model-based strategies, retrains. Reported per shot: best
measured capacity so far among runs that satisfy the fixed values and constraints, the share of
the gap closed between the record's best such run and the lab's true optimum under the same
constraints, failed runs, the model's prediction error on the shot's ok runs, wall and CPU time,
and for the model-based strategies what the batch was for.

Every strategy obeys the constraints (fixed values, ranges, allowed or excluded categories).

Strategies:
- ``ours``: tools.proposer.swarm.propose on a freshly fitted tools.modelling.capacity_model ensemble
  with the local GP correction (tools/campaign/variants.py, OURS_DEFAULT);
- ``ours-v1``: the same without the correction (the loop before it), for side-by-side runs;
- ``random``: uniform random feasible proposals (grid, constraints and fixed values honoured);
- ``expert``: the best run so far with one factor changed by one or a few steps (or one
  category switched), factors drawn at random without a model;
- ``baybe``: BayBE's default Bayesian-optimisation recommender (the optional ``baybe`` extra,
  which adds botorch/gpytorch) on a hybrid search space, its rows snapped and repaired like the
  others (tools/campaign/baybe.py); reported as "unavailable (pip install .[baybe])" otherwise. Its
  surrogate's posterior mean is its prediction for the per-shot error.

The baselines are in tools/campaign/baselines.py; the per-shot error of a real campaign is
tools/campaign/shots.py. The proposer never sees the lab: only the record and the model.
`plot_best_so_far` draws the median gap closed per shot and strategy, one panel per lab.
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

from tools.campaign.baselines import expert_proposals, random_proposals, stated_constraints
from tools.campaign.baybe import baybe_available, baybe_batch
from tools.campaign.labs import LABS, make_lab
from tools.campaign.variants import VARIANTS, OursVariant, fit_loop_model
from tools.domain.constraints import ConstraintSet, fixed_value
from tools.domain.errors import ProposalError
from tools.domain.record import ExperimentRecord, append_records, record_from_rows, runs_satisfying
from tools.proposer.models import ProposerSettings
from tools.proposer.swarm import propose

STRATEGIES = ("ours", "ours-v1", "random", "expert", "baybe")

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
    cpu_s: float | None = Field(default=None, description="CPU time of this process for the same work, s (what a shared machine does not inflate)")
    note: str = Field(default="", description="how the strategy's rows were made valid (BayBE: repaired and rejected rows)")
    purpose: str = Field(default="", description="model-based strategies: what the batch was for, one line")
    max_p_improve: float | None = Field(
        default=None, description="model-based strategies: highest predicted probability in the batch of beating the best measured run"
    )


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

    lab: str = Field(default="a", description="the simulated lab (tools/campaign/labs.py)")
    fixed: dict[str, float | str]
    constraints: list[str] = Field(default_factory=list, description="every constraint the strategies obeyed, as written (fixed values included)")
    shots: int
    n: int
    seeds: list[int]
    iterations: int
    particles: int
    strategies: list[StrategyReport]
    elapsed_s: float
    note: str = "simulated: virtual-lab results are not measurements"


def best_measured(record: ExperimentRecord, constraints: ConstraintSet) -> float:
    """Best measured ok capacity among the runs that satisfy `constraints` (-inf when none does)."""
    f = record.frame
    mask = runs_satisfying(record, constraints) & (f["status"] == "ok").to_numpy() & f[record.target].notna().to_numpy()
    if not mask.any():
        return -math.inf
    return float(f.loc[mask, record.target].max())


def _seed_start(lab: str, seed: int, fixed: Mapping[str, Any], constraints: ConstraintSet | None) -> tuple[Any, ExperimentRecord, ConstraintSet, float, float]:
    """A seed's fresh lab, its demo record, the stated constraints, the lab's optimum under them and the record's best run under them."""
    lab0 = make_lab(lab, seed)
    start = lab0.demo_record()
    stated = stated_constraints(start, fixed, constraints)  # DesignSpaceError on bad fixed values or constraints
    return lab0, start, stated, lab0.optimum(constraints=stated).capacity_mah_g, best_measured(start, stated)


class Ceiling(BaseModel):
    """How much of the gap a campaign can close without moving any factor the starting record never varied."""

    model_config = ConfigDict(extra="forbid")

    lab: str
    seed: int
    record_best_mah_g: float = Field(description="best measured ok run of the starting record under the constraints, mAh/g")
    optimum_mah_g: float = Field(description="the lab's true optimum under the constraints, mAh/g")
    ceiling_mah_g: float = Field(description="the true optimum with every never-varied factor held at its record value, mAh/g")
    share_of_gap: float = Field(description="(ceiling - record best) / (optimum - record best): the most a loop that never tries them can close")
    held: dict[str, float | str] = Field(description="the factors the record never varied and their one value")


def untried_ceiling(lab: str = "a", seed: int = 0, fixed: Mapping[str, Any] | None = None, constraints: ConstraintSet | None = None) -> Ceiling:
    """The best a loop can reach on `lab`'s seed-`seed` demo record while it leaves the never-varied factors alone.

    A factor the record never varied (one distinct value over every run, failed ones included)
    is invisible to a model trained on it; its effect can only be found by trying it. The
    difference between `optimum_mah_g` and `ceiling_mah_g` is what trying them is worth (true
    values, no noise). SIMULATED.
    """
    lab0, start, stated, optimum, record_best = _seed_start(lab, seed, fixed if fixed is not None else {"ni": 0.94}, constraints)
    held: dict[str, float | str] = {}
    for p in start.space.parameters:
        values = pd.unique(start.frame[p.name]).tolist()  # Python values, not numpy scalars
        if len(values) == 1 and stated.get(p.name) is None:  # a value the user states is not "held"
            held[p.name] = values[0]
    ceiling = lab0.optimum(constraints=stated.extend(fixed_value(k, v) for k, v in held.items())).capacity_mah_g
    gap = optimum - record_best
    return Ceiling(lab=lab, seed=seed, record_best_mah_g=record_best, optimum_mah_g=optimum, ceiling_mah_g=ceiling,
                   share_of_gap=(ceiling - record_best) / gap if gap > 0 else 1.0, held=held)


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
    lab: str = "a",
    variants: Mapping[str, OursVariant] | None = None,
    constraints: ConstraintSet | None = None,
) -> CampaignResult:
    """Run the simulated loop for every strategy and seed; see the module docstring.

    `lab` names the simulated lab (a or b). `constraints` (besides `fixed`) bind every strategy
    and the lab's optimum. `variants` adds or replaces model-based strategies by name;
    `proposer_settings` replaces the proposer settings of "ours".
    """
    t_all = time.perf_counter()
    fixed = dict(fixed if fixed is not None else {"ni": 0.94})
    all_variants = dict(VARIANTS)
    if proposer_settings is not None:
        all_variants["ours"] = all_variants["ours"].model_copy(update={"proposer": proposer_settings})
    all_variants.update(variants or {})
    lab = str(lab).strip().lower()
    if lab not in LABS:
        raise ProposalError(f"unknown lab '{lab}' (choose from {', '.join(LABS)})")
    unknown = [s for s in strategies if s not in STRATEGIES and s not in all_variants]
    if unknown:
        raise ProposalError(f"unknown strategy {', '.join(unknown)} (choose from {', '.join(STRATEGIES)})")
    if shots < 1 or n < 1:
        raise ProposalError("shots and n must be at least 1")
    if not seeds:
        raise ProposalError("give at least one seed")
    say = progress or (lambda _msg: None)
    reports = {s: StrategyReport(strategy=s, available=True) for s in strategies}
    if "baybe" in reports:
        ok, msg = baybe_available()
        reports["baybe"] = StrategyReport(strategy="baybe", available=ok, message=msg)
    active = [s for s in strategies if reports[s].available]
    stated = ConstraintSet()

    for seed in seeds:
        lab0, start, stated, optimum, record_best = _seed_start(lab, seed, fixed, constraints)
        if not math.isfinite(record_best):
            held = f"with {fixed}" if len(stated) == len(fixed) else "that satisfies " + "; ".join(c.describe() for c in stated.items)
            raise ProposalError(f"seed {seed}: the starting record has no ok run {held}; nothing to measure the gap from")
        gap = optimum - record_best
        for strategy in active:
            reports[strategy].seeds.append(
                SeedReport(
                    seed=seed, record_best_mah_g=record_best, optimum_mah_g=optimum,
                    shots=_run_strategy(strategy, all_variants, copy.deepcopy(lab0), start, stated, shots, n, seed, gap,
                                        record_best, iterations, particles, n_members, baybe_options, say),
                )
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
    for name, value in stated.fixed.items():  # a value fixed through `constraints` is reported too
        fixed.setdefault(name, value)
    return CampaignResult(
        lab=lab,
        fixed=fixed,
        constraints=[c.describe() for c in stated.items],
        shots=shots,
        n=n,
        seeds=list(seeds),
        iterations=iterations,
        particles=particles,
        strategies=[reports[s] for s in strategies],
        elapsed_s=time.perf_counter() - t_all,
    )


def _run_strategy(
    strategy: str,
    variants: Mapping[str, OursVariant],
    lab: Any,
    start: ExperimentRecord,
    constraints: ConstraintSet,
    shots: int,
    n: int,
    seed: int,
    gap: float,
    record_best: float,
    iterations: int,
    particles: int,
    n_members: int | None,
    baybe_options: Mapping[str, Any] | None,
    say: Progress,
) -> list[ShotReport]:
    """Every shot of one strategy on one seed: propose, run in the lab, append, report."""
    record = start
    reports: list[ShotReport] = []
    for shot in range(1, shots + 1):
        t0 = time.perf_counter()
        c0 = time.process_time()
        predicted: np.ndarray | None = None
        note = purpose = ""
        max_pi: float | None = None
        if strategy in variants:
            variant = variants[strategy]
            model = fit_loop_model(record, constraints, seed, variant, n_members)
            result = propose(
                model, record, constraints=constraints, n=n, seed=seed * 100 + shot,
                iterations=iterations, particles=particles, settings=variant.proposer,
            )
            rows = pd.DataFrame([p.params for p in result.proposals])
            predicted = np.array([p.predicted_mah_g for p in result.proposals])
            purpose = result.purpose
            chances = [p.p_improve for p in result.proposals if p.p_improve is not None]
            max_pi = max(chances) if chances else None
        elif strategy == "random":
            rows = random_proposals(record, constraints.fixed, n, seed * 100 + shot, constraints=constraints)
        elif strategy == "expert":
            rows = expert_proposals(record, constraints.fixed, n, seed * 100 + shot, constraints=constraints)
        else:
            say(f"seed {seed} baybe shot {shot}: recommending {n} runs (a BayBE batch can take minutes)")
            rows, info = baybe_batch(
                record, constraints.fixed, n, seed * 100 + shot, recommender_options=baybe_options, constraints=constraints
            )
            predicted = np.array(info.predicted_mah_g)
            note = (
                f"{info.recommended} recommended in {info.calls} call(s), {info.repaired} repaired beyond grid "
                f"snapping, {info.rejected} rejected; {info.measurements} measurements, failed runs at "
                f"{'-' if info.failed_as is None else f'{info.failed_as:.2f}'} mAh/g"
            )
            if info.warnings:
                note += f"; {len(info.warnings)} distinct warning(s): " + " | ".join(info.warnings[:3])
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0
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
        best = best_measured(record, constraints)
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
            cpu_s=cpu,
            note=note,
            purpose=purpose,
            max_p_improve=max_pi,
        )
        reports.append(rep)
        err_txt = f", prediction error {pct:.2f}% (MAE {mae:.2f})" if pct is not None and mae is not None else ""
        say(
            f"seed {seed} {strategy} shot {shot}: best {best:.2f} mAh/g, gap closed {rep.gap_closed:.0%}, "
            f"{failed} failed{err_txt} [{elapsed:.1f} s, CPU {cpu:.1f} s]" + (f" ({note})" if note else "")
        )
    return reports


def plot_best_so_far(results: Sequence[CampaignResult], path: Any) -> Any:
    """Best so far per strategy: median share of the gap closed after each shot (shot 0 = the record), one panel per lab.

    The band is the interquartile range over seeds; thin lines per seed would hide the medians at 20 seeds.
    """
    from pathlib import Path

    from tools.plotting import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 4.2), squeeze=False)
    colors = {"ours": "#4477aa", "ours-v1": "#66ccee", "baybe": "#228833", "expert": "#ccbb44", "random": "#bbbbbb"}
    extra = ["#ee6677", "#aa3377", "#000000"]
    for ax, res in zip(axes[0], results, strict=True):
        for k, rep in enumerate(res.strategies):
            if not rep.available or not rep.seeds:
                continue
            gaps = np.array([[0.0] + [sh.gap_closed for sh in sd.shots] for sd in rep.seeds])
            x = np.arange(gaps.shape[1])
            color = colors.get(rep.strategy, extra[k % len(extra)])
            ax.plot(x, np.median(gaps, axis=0), marker="o", color=color, label=f"{rep.strategy} ({len(rep.seeds)} seeds)")
            if len(rep.seeds) > 1:
                ax.fill_between(x, np.percentile(gaps, 25, axis=0), np.percentile(gaps, 75, axis=0), color=color, alpha=0.15)
        ax.axhline(1.0, color="black", lw=0.8, ls="--")
        ax.set_xlabel("shot (0 = the starting record)")
        ax.set_ylabel("share of the gap to the optimum closed (best so far)")
        held = ", ".join(res.constraints) or ", ".join(f"{k}={v}" for k, v in res.fixed.items())
        ax.set_title(f"lab {res.lab}, {held}, {res.n} runs per shot (SIMULATED)", fontsize=9)
        ax.set_ylim(-0.05, 1.05)
        ax.set_xticks(range(res.shots + 1))
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, Path(path))


__all__ = [
    "CampaignResult",
    "Ceiling",
    "STRATEGIES",
    "best_measured",
    "plot_best_so_far",
    "SeedReport",
    "ShotReport",
    "StrategyReport",
    "run_campaign",
    "untried_ceiling",
]
