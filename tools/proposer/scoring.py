"""The acquisition: how the proposer scores a candidate (see tools/proposer/swarm.py and docs/proposer.md).

    acq(x) = (1 - P_fail(x)) * max(mu(x) + kappa * sigma(x) + novelty(x) - floor, 0)
             - trust_weight * spread * max(d(x) - radius, 0)^2 / radius^2

and the exploit score ``(1 - P_fail) * (mu - floor)`` inside the exploit radius.
"""

from __future__ import annotations

import numpy as np

from tools.domain.errors import ProposalError
from tools.domain.record import ExperimentRecord
from tools.proposer.models import CapacityModelLike, ProposerSettings
from tools.proposer.relaxation import Encoding, Relaxation


class Scorer:
    """Model + record context: scores decoded rows by the acquisition."""

    def __init__(self, model: CapacityModelLike, relax: Relaxation, encoding: Encoding, record: ExperimentRecord, cfg: ProposerSettings):
        self.model = model
        self.relax = relax
        self.encoding = encoding
        self.cfg = cfg
        Vr, Cr = relax.from_frame(record.frame)
        self.R, self.R_row = np.unique(relax.normalised(Vr, Cr), axis=0, return_index=True)
        self.R_sq = np.einsum("ij,ij->i", self.R, self.R)
        self.R_T = np.ascontiguousarray(self.R.T)
        ok = record.ok_runs[record.target].to_numpy(dtype=float)
        if len(ok) == 0:
            raise ProposalError("the record has no ok run with a measured capacity: nothing to learn from")
        self.floor = float(np.quantile(ok, cfg.floor_quantile))
        self.spread = float(np.std(ok)) if len(ok) > 1 else 1.0
        self.spread = max(self.spread, 1.0)  # mAh/g: a flat record must not switch the trust region off
        self.evaluations = 0

    def nearest(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d2 = Z @ self.R_T
        d2 *= -2.0
        d2 += self.R_sq[None, :]
        idx = np.argmin(d2, axis=1)
        best = d2[np.arange(len(Z)), idx] + np.einsum("ij,ij->i", Z, Z)
        return np.sqrt(np.maximum(best, 0.0)), self.R_row[idx]

    def predict(self, V: np.ndarray, C: np.ndarray, F: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        X = self.encoding.encode(V, C, F)
        mu, sigma = self.model.predict_encoded(X)
        p = self.model.failure_probability_encoded(X)
        self.evaluations += len(V)
        return np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float), np.clip(np.asarray(p, dtype=float), 0.0, 1.0)

    def acquisition(
        self, mu: np.ndarray, sigma: np.ndarray, p: np.ndarray, d: np.ndarray, d_novelty: np.ndarray | None = None
    ) -> np.ndarray:
        """The score (module docstring); `d_novelty` (distance to record and batch picks) defaults to `d`."""
        cfg = self.cfg
        r = cfg.trust_radius
        novelty = cfg.novelty_mah_g * np.minimum(d if d_novelty is None else d_novelty, r) / r
        gain = np.maximum(mu + cfg.kappa * sigma + novelty - self.floor, 0.0)
        # the trust region is measured from the record only: picks must not chain outwards
        outside = np.maximum(d - r, 0.0) / r
        return (1.0 - p) * gain - cfg.trust_weight * self.spread * outside**2

    def exploit_score(self, mu: np.ndarray, p: np.ndarray, d: np.ndarray) -> np.ndarray:
        score = (1.0 - p) * np.maximum(mu - self.floor, 0.0)
        return np.where(d <= self.cfg.exploit_radius * self.cfg.trust_radius, score, -np.inf)
