"""Choosing the batch from the candidates the swarm visited, and turning picks into proposals.

First ``exploit_share`` of the batch by the mean alone, ``(1 - P_fail) * (mu - floor)``, inside
``exploit_radius`` of the trust radius; then the rest by ``acq`` with a kriging-believer-style
update (each pick counts as data for the novelty term) and a minimum separation between picks.
Candidate statistics ``S`` have the columns mu, sigma, P_fail, d, nearest record row, acq, and the
mean and spread the explore picks are scored by (the trees' own when a local correction is used
only for exploiting; tools/proposer/scoring.py).

Each proposal then says how likely it is to beat the best measured run with the fixed values
(``(1 - P_fail) * Phi((mu - best) / sigma)``), its expected improvement over it, which of its
values the record never tried, and the batch gets a one-line purpose.
"""

from __future__ import annotations

import math

import numpy as np

from tools.domain.record import ExperimentRecord
from tools.proposer.models import Proposal, ProposerSettings, Reason
from tools.proposer.relaxation import Relaxation
from tools.proposer.scoring import Scorer, expected_improvement, probability_of_improvement


def top_candidates(scorer: Scorer, S: np.ndarray, limit: int) -> np.ndarray:
    """Indices of the best `limit` candidates by acquisition plus the best `limit // 4` by the exploit score."""
    if len(S) <= limit:
        return np.arange(len(S))
    acq = S[:, 5]
    exploit = scorer.exploit_score(S[:, 0], S[:, 2], S[:, 3])
    top_acq = np.argpartition(-acq, limit - 1)[:limit]
    k = limit // 4
    top_exploit = np.argpartition(-exploit, k - 1)[:k]
    return np.union1d(top_acq, top_exploit)


def select_batch(
    relax: Relaxation,
    scorer: Scorer,
    V: np.ndarray,
    C: np.ndarray,
    S: np.ndarray,
    n: int,
    cfg: ProposerSettings,
    local_scan: bool = False,
) -> tuple[list[int], list[str]]:
    """Greedy batch: exploit picks by the mean, then explore picks by acq with a believer update.

    Unless `local_scan`, a candidate with the same categories as a pick and fewer than
    `min_step_distance` grid steps from it is never picked: that rule holds even when the
    normalised separation has to be relaxed to fill the batch.
    """
    mu, p, d = S[:, 0], S[:, 2], S[:, 3]
    mu_explore, sd_explore = S[:, 6], S[:, 7]
    Z = relax.normalised(V, C)
    K = relax.grid_steps(V)
    chosen: list[int] = []
    roles: list[str] = []
    blocked = np.zeros(len(V), dtype=bool)
    near_duplicate = np.zeros(len(V), dtype=bool)
    d_now = d.copy()

    def take(i: int, role: str) -> None:
        chosen.append(i)
        roles.append(role)
        dist = np.sqrt(np.maximum(np.einsum("ij,ij->i", Z - Z[i], Z - Z[i]), 0.0))
        blocked[dist < cfg.min_separation] = True
        blocked[i] = True
        if not local_scan:
            steps = np.abs(K - K[i]).sum(axis=1)
            near_duplicate[(steps < cfg.min_step_distance) & np.all(C == C[i], axis=1)] = True
        np.minimum(d_now, dist, out=d_now)  # believer: the pick counts as data

    n_exploit = int(round(cfg.exploit_share * n))
    exploit = scorer.exploit_score(mu, p, d)
    for _ in range(n_exploit):
        score = np.where(blocked | near_duplicate, -np.inf, exploit)
        i = int(np.argmax(score))
        if not np.isfinite(score[i]):
            break
        take(i, "exploit")
    while len(chosen) < n:
        acq = scorer.acquisition(mu_explore, sd_explore, p, d, d_now)
        score = np.where(blocked | near_duplicate, -np.inf, acq)
        i = int(np.argmax(score))
        if not np.isfinite(score[i]):
            # separation exhausted the candidates: relax it, keep distinctness and the step rule
            unchosen = np.ones(len(V), dtype=bool)
            unchosen[chosen] = False
            blocked = ~unchosen
            score = np.where(blocked | near_duplicate, -np.inf, acq)
            i = int(np.argmax(score))
            if not np.isfinite(score[i]):
                break
        take(i, "explore")
    return chosen, roles


def build_proposals(
    relax: Relaxation,
    scorer: Scorer,
    record: ExperimentRecord,
    V: np.ndarray,
    C: np.ndarray,
    S: np.ndarray,
    chosen: list[int],
    roles: list[str],
    cfg: ProposerSettings,
    incumbent: float | None = None,
) -> list[Proposal]:
    """The chosen candidates as Proposal objects: the reason each was chosen for, its chance to beat `incumbent`, its untried values."""
    frame = record.frame
    failed = (frame["status"] == "failed").to_numpy()
    Vr, Cr = relax.from_frame(frame)
    R = relax.normalised(Vr, Cr)
    seen_numbers = {p.name: set(np.round(frame[p.name].to_numpy(dtype=float), 9)) for p in relax.numbers}
    seen_categories = {c.name: set(frame[c.name].astype(str)) for c in relax.categories}
    out: list[Proposal] = []
    for i, role in zip(chosen, roles, strict=True):
        mu, sigma, p, d, near, acq = S[i][:6]
        z = relax.normalised(V[i : i + 1], C[i : i + 1])
        dist = np.sqrt(np.sum((R - z) ** 2, axis=1))
        d_fail = float(dist[failed].min()) if failed.any() else math.inf
        d_ok = float(dist[~failed].min()) if (~failed).any() else math.inf
        reason: Reason = "exploit" if role == "exploit" else "explore"
        if p >= cfg.boundary_p_fail or d_fail < d_ok:
            reason = "boundary probe"
        params = relax.row(V, C, i)
        untried = [
            name for name, value in params.items()
            if (name in seen_numbers and round(float(value), 9) not in seen_numbers[name])
            or (name in seen_categories and str(value) not in seen_categories[name])
        ]
        p_improve = gain = None
        if incumbent is not None:
            mean, spread = np.array([mu]), np.array([max(float(sigma), 1e-9)])
            p_improve = float((1.0 - p) * probability_of_improvement(mean, spread, incumbent)[0])
            gain = float((1.0 - p) * expected_improvement(mean, spread, incumbent)[0])
        out.append(
            Proposal(
                params=params,
                predicted_mah_g=float(mu),
                uncertainty_mah_g=float(sigma),
                failure_probability=float(p),
                distance_to_record=float(d),
                nearest_run=str(frame["experiment_id"].iat[int(near)]),
                acquisition=float(acq),
                reason=reason,
                p_improve=p_improve,
                expected_improvement_mah_g=gain,
                untried=untried,
            )
        )
    return out


def batch_purpose(proposals: list[Proposal], incumbent: float | None) -> str:
    """One line saying what the batch is for: climb (exploit picks), test untried values, map a boundary, explore."""
    if not proposals:
        return ""
    climb = [p for p in proposals if p.reason == "exploit"]
    boundary = [p for p in proposals if p.reason == "boundary probe"]
    untried = [p for p in proposals if p.untried and p.reason == "explore"]
    explore = [p for p in proposals if p.reason == "explore" and not p.untried]
    factors: dict[str, int] = {}
    for p in untried:
        for name in p.untried:
            factors[name] = factors.get(name, 0) + 1
    parts = []
    if climb:
        where = f"the best run so far ({incumbent:.1f} mAh/g)" if incumbent is not None else "the best predicted runs"
        parts.append(f"{len(climb)} to climb around {where}")
    if untried:
        names = ", ".join(sorted(factors, key=lambda k: -factors[k])[:3])
        parts.append(f"{len(untried)} to test values the record never tried ({names})")
    if boundary:
        parts.append(f"{len(boundary)} to map the failure boundary")
    if explore:
        parts.append(f"{len(explore)} to explore sparse regions")
    if incumbent is not None:
        tail = f"; best chance to beat the incumbent {max((p.p_improve or 0.0) for p in proposals):.0%}"
    else:
        tail = "; no measured run satisfies the constraints yet, so there is no best run to beat"
    return f"{len(proposals)} runs: " + "; ".join(parts) + tail


def batch_spread(relax: Relaxation, V: np.ndarray, C: np.ndarray) -> tuple[float | None, int | None]:
    """Smallest normalised distance between two rows, and smallest grid-step difference between two rows with the same categories."""
    if len(V) < 2:
        return None, None
    Z = relax.normalised(V, C)
    K = relax.grid_steps(V)
    best_d = math.inf
    best_k: int | None = None
    for i in range(len(V) - 1):
        dist = np.sqrt(np.maximum(np.einsum("ij,ij->i", Z[i + 1:] - Z[i], Z[i + 1:] - Z[i]), 0.0))
        best_d = min(best_d, float(dist.min()))
        same = np.all(C[i + 1:] == C[i], axis=1)
        if same.any():
            steps = int(np.abs(K[i + 1:][same] - K[i]).sum(axis=1).min())
            best_k = steps if best_k is None else min(best_k, steps)
    return best_d, best_k
