"""The proposer: a particle swarm over the design space that picks the next batch of experiments.

Why this acquisition (see docs/proposer.md for the long form)
-------------------------------------------------------------
A swarm on the predicted mean alone walks out of the record, where trees extrapolate flat and
confident, and its runs fail. So every candidate ``x`` is scored by

    acq(x) = (1 - P_fail(x)) * max(mu(x) + kappa * sigma(x) + novelty(x) - floor, 0)
             - trust_weight * spread * max(d(x) - radius, 0)^2 / radius^2

- ``mu``, ``sigma``: the model's mean and ensemble spread (mAh/g): optimism where members disagree;
- ``novelty = novelty_mah_g * min(d, radius) / radius`` with ``d`` the normalised distance to the
  nearest run in the record (ok or failed): a bonus for sparse data, because a tree ensemble is
  blind to a factor the record never varied (its spread is zero there too);
- the trust region: beyond ``radius`` the score falls quadratically (``spread`` is the standard
  deviation of the measured capacities), so proposals stay where the record can still speak;
- ``(1 - P_fail)``: a failed run is worth no more than a poor one (``floor`` is a low quantile
  of the measured capacities), so the boundaries that failed runs draw repel the swarm.

The batch is chosen from every distinct candidate the swarm visited, never a run already in
the record: first ``exploit_share`` of it by the mean alone, ``(1 - P_fail) * (mu - floor)``,
inside ``exploit_radius`` of the trust radius; then the rest by ``acq`` with a kriging-believer-
style update (each pick counts as data for the novelty term, so its neighbours lose their bonus;
the trust region stays measured from the record, so picks cannot chain outwards) and a minimum
separation between picks, so the batch spreads over more than one basin.

The pieces: the settings and results (tools/proposer/models.py), the continuous relaxation
the particles move in and the equality repair (relaxation.py), the acquisition (scoring.py),
the batch selection (selection.py), and the CSV rows and figures of a result (output.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from tools.domain.constraints import ConstraintSet, fixed_value
from tools.domain.errors import ProposalError
from tools.domain.record import ExperimentRecord, runs_satisfying
from tools.proposer.models import CapacityModelLike, ProposalResult, ProposerSettings
from tools.proposer.relaxation import Encoding, Relaxation
from tools.proposer.scoring import Scorer
from tools.proposer.selection import (
    batch_purpose,
    batch_spread,
    build_proposals,
    select_batch,
    top_candidates,
)

NO_MATCHING_RUN = (
    "No measured run in the record satisfies these constraints: every prediction here extrapolates beyond the record, "
    "so treat the numbers as a guide to what to try, not as expected values."
)


def limits_of_the_record(record: ExperimentRecord, ok_mask: np.ndarray, has_matching_run: bool) -> list[str]:
    """What the user must know to judge the predictions: extrapolation beyond the record, a target that never varies."""
    notes = [] if has_matching_run else [NO_MATCHING_RUN]
    measured = record.frame.loc[ok_mask, record.target]
    if len(measured) and measured.nunique() == 1:
        unit = f" {record.space.target.unit}" if record.space.target.unit else ""
        notes.append(
            f"Every measured {record.target} in the record is the same ({float(measured.iloc[0]):g}{unit}): the model "
            "cannot tell runs apart, so the predictions and their +/- say nothing about which proposal is better; "
            "measure runs that differ before trusting a ranking."
        )
    return notes


def propose(
    model: CapacityModelLike,
    record: ExperimentRecord,
    fixed: Mapping[str, Any] | None = None,
    n: int = 10,
    seed: int = 0,
    iterations: int | None = None,
    particles: int | None = None,
    settings: ProposerSettings | None = None,
    constraints: ConstraintSet | None = None,
    local_scan: bool = False,
    **overrides: Any,
) -> ProposalResult:
    """Propose n distinct, valid next experiments by a particle swarm on an uncertainty- and failure-aware score.

    `fixed` and `constraints` (limits, ranges, allowed or excluded categories) narrow the
    record's design space (DesignSpaceError if a name is unknown, a value off its step or the
    set infeasible); every returned proposal is checked against every constraint. Unless
    `local_scan`, no two proposals are one recipe with a single grid step changed.
    `iterations`, `particles` and any ProposerSettings field given as a keyword override `settings`.
    """
    from threadpoolctl import threadpool_limits

    stated = (constraints or ConstraintSet()).extend(fixed_value(k, v) for k, v in (fixed or {}).items())
    # Small matrix products inside the loop: BLAS threads only contend (10-40x slower on 2 cores).
    with threadpool_limits(1, user_api="blas"):
        return _propose(model, record, stated, n, seed, iterations, particles, settings, local_scan, overrides)


def _propose(
    model: CapacityModelLike,
    record: ExperimentRecord,
    constraints: ConstraintSet,
    n: int,
    seed: int,
    iterations: int | None,
    particles: int | None,
    settings: ProposerSettings | None,
    local_scan: bool,
    overrides: Mapping[str, Any],
) -> ProposalResult:
    t0 = time.perf_counter()
    if n < 1:
        raise ProposalError("ask for at least one proposal")
    cfg = settings or ProposerSettings()
    updates = dict(overrides)
    if iterations is not None:
        updates["iterations"] = iterations
    if particles is not None:
        updates["particles"] = particles
    if updates:
        unknown = set(updates) - set(ProposerSettings.model_fields)
        if unknown:
            raise ProposalError(f"unknown proposer setting(s): {', '.join(sorted(unknown))}")
        cfg = ProposerSettings.model_validate({**cfg.model_dump(), **updates})
    if len(record) == 0:
        raise ProposalError("the record is empty: nothing to learn from")
    constraints = constraints.validated(record.space)
    relax = Relaxation(record.space, constraints)
    rng = np.random.default_rng(seed)
    encoding = Encoding(relax, model.encoder, rng, record.frame)
    scorer = Scorer(model, relax, encoding, record, cfg)

    frame = record.frame
    fixed_now = dict(relax.space.fixed)
    match = runs_satisfying(record, constraints)
    ok_mask = ((frame["status"] == "ok") & frame[record.target].notna()).to_numpy()
    incumbent = float(frame.loc[match & ok_mask, record.target].max()) if (match & ok_mask).any() else None
    scorer.incumbent = incumbent

    # starting positions: the best ok runs (projected onto the fixed values), then uniform
    m = cfg.particles
    n_seed = int(round(cfg.seed_share * m))
    order = np.argsort(-np.where(ok_mask, frame[record.target].to_numpy(dtype=float), -np.inf))
    preferred = np.concatenate([order[match[order] & ok_mask[order]], order[~match[order] & ok_mask[order]]])
    starts = preferred[: max(1, n_seed)] if n_seed else preferred[:0]
    Vs, Cs = relax.from_frame(frame.iloc[starts])
    P0_seed = relax.to_unit(Vs, Cs)
    P0_seed = P0_seed[np.arange(n_seed) % max(1, len(P0_seed))] if len(P0_seed) else np.zeros((0, relax.dim))
    P0_seed = np.clip(P0_seed + rng.normal(0.0, 0.03, P0_seed.shape), 0.0, 1.0)
    P = np.vstack([P0_seed, rng.random((m - len(P0_seed), relax.dim))])
    span = cfg.max_velocity
    Vel = rng.uniform(-span, span, P.shape) * 0.5

    archive_V: list[np.ndarray] = []
    archive_C: list[np.ndarray] = []
    archive_stats: list[np.ndarray] = []

    last: dict[str, np.ndarray] = {}

    def evaluate(points: np.ndarray) -> np.ndarray:
        V, C, feasible = relax.decode(points)
        keys = relax.keys(V, C)
        score = np.full(len(points), -np.inf)
        todo = feasible.copy()
        if last:
            # a particle whose grid point did not change keeps its score: no model call for it
            same = keys == last["keys"]
            score[same] = last["score"][same]
            todo &= ~same
        if todo.any():
            Vf, Cf = V[todo], C[todo]
            F = relax.features(Vf, Cf)
            mu, sigma, p, mu_explore, sd_explore = scorer.predict(Vf, Cf, F)
            d, near = scorer.nearest(relax.normalised_from_features(F))
            acq = scorer.acquisition(mu_explore, sd_explore, p, d)
            score[todo] = acq
            archive_V.append(Vf)
            archive_C.append(Cf)
            archive_stats.append(np.column_stack([mu, sigma, p, d, near.astype(float), acq, mu_explore, sd_explore]))
        last["keys"], last["score"] = keys, score
        return score

    pbest = P.copy()
    pbest_score = evaluate(P)
    convergence: list[float] = []
    offsets = [k for k in range(-cfg.neighbours, cfg.neighbours + 1)]
    ring = (np.arange(m)[:, None] + np.array(offsets)[None, :]) % m
    for _ in range(cfg.iterations - 1 if cfg.iterations > 1 else 0):
        best_nb = ring[np.arange(m), np.argmax(pbest_score[ring], axis=1)]
        r1 = rng.random(P.shape)
        r2 = rng.random(P.shape)
        Vel = cfg.inertia * Vel + cfg.c_personal * r1 * (pbest - P) + cfg.c_social * r2 * (pbest[best_nb] - P)
        np.clip(Vel, -span, span, out=Vel)
        P = P + Vel
        # reflect at the walls so particles do not pile on the bounds
        low_hit, high_hit = P < 0.0, P > 1.0
        P = np.where(low_hit, -P, np.where(high_hit, 2.0 - P, P))
        Vel = np.where(low_hit | high_hit, -Vel, Vel)
        np.clip(P, 0.0, 1.0, out=P)
        score = evaluate(P)
        better = score > pbest_score
        pbest[better] = P[better]
        pbest_score[better] = score[better]
        convergence.append(float(pbest_score.max()))
    if not convergence:
        convergence.append(float(pbest_score.max()))

    if not archive_V:
        raise ProposalError("the swarm found no feasible candidate under these fixed values")
    V_all = np.vstack(archive_V)
    C_all = np.vstack(archive_C)
    S_all = np.vstack(archive_stats)
    # the batch comes from the best candidates by either score: sort only those
    keep = top_candidates(scorer, S_all, limit=20_000)
    V_all, C_all, S_all = V_all[keep], C_all[keep], S_all[keep]
    keys = relax.keys(V_all, C_all)
    _, first = np.unique(keys, return_index=True)
    V_all, C_all, S_all, keys = V_all[first], C_all[first], S_all[first], keys[first]
    Vr, Cr = relax.from_frame(frame)
    in_record = np.isin(keys, relax.keys(Vr, Cr))
    V_all, C_all, S_all = V_all[~in_record], C_all[~in_record], S_all[~in_record]
    if len(V_all) < n:
        raise ProposalError(
            f"the swarm found only {len(V_all)} distinct new candidates under these fixed values; ask for fewer or free a parameter"
        )
    chosen, roles = select_batch(relax, scorer, V_all, C_all, S_all, n, cfg, local_scan=local_scan)
    if len(chosen) < n:
        raise ProposalError(
            f"only {len(chosen)} proposals under these constraints are not near-duplicates of each other "
            f"(one grid step apart); ask for fewer, loosen a constraint, or ask for a local scan"
        )
    proposals = build_proposals(relax, scorer, record, V_all, C_all, S_all, chosen, roles, cfg, incumbent)
    for prop in proposals:  # the last word: nothing leaves this function that breaks a stated constraint
        broken = constraints.violations(prop.params, record.space) + [m for _, m in record.space.row_problems(prop.params)]
        if broken:
            raise ProposalError("internal error: a proposal broke a constraint (" + "; ".join(broken) + "); nothing was proposed")
    diversity, steps_apart = batch_spread(relax, V_all[chosen], C_all[chosen])
    return ProposalResult(
        warnings=limits_of_the_record(record, ok_mask, incumbent is not None),
        proposals=proposals,
        fixed={k: v for k, v in fixed_now.items()},
        incumbent_mah_g=incumbent,
        purpose=batch_purpose(proposals, incumbent),
        convergence=convergence,
        evaluations=scorer.evaluations,
        distinct_candidates=int(len(first)),
        fast_encoding=encoding.fast,
        elapsed_s=time.perf_counter() - t0,
        settings=cfg,
        batch_diversity=diversity,
        min_steps_apart=steps_apart,
        local_scan=local_scan,
    )
