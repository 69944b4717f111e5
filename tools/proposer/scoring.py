"""The acquisition: how the proposer scores a candidate (see tools/proposer/swarm.py and docs/proposer.md).

    acq(x) = (1 - P_fail(x)) * max(mu(x) + kappa * sigma(x) + novelty(x) - floor, 0)
             - trust_weight * spread * max(d(x) - radius, 0)^2 / radius^2

and the exploit score ``(1 - P_fail) * (mu - floor)`` inside the exploit radius. With
``acquisition = "ei"`` the gain is the expected improvement of ``mu + novelty`` over the best
measured run with the fixed values instead (measured, not adopted: docs/proposer.md).

A locally corrected model (tools.modelling.local_model) gives two predictions: the corrected one
and the trees' own. With ``correction_scope = "exploit"`` the exploit score and the reported
prediction use the corrected mean while `acq` scores the trees' own mean and spread; used
everywhere, the correction lifted the neighbourhood of the record's best run (whose residual
carries its own lucky noise) and the whole batch collapsed around it.
"""

from __future__ import annotations

import math

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
        self.incumbent: float | None = None  # best measured run under the constraints, set by the swarm

    def nearest(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d2 = Z @ self.R_T
        d2 *= -2.0
        d2 += self.R_sq[None, :]
        idx = np.argmin(d2, axis=1)
        best = d2[np.arange(len(Z)), idx] + np.einsum("ij,ij->i", Z, Z)
        return np.sqrt(np.maximum(best, 0.0)), self.R_row[idx]

    def predict(
        self, V: np.ndarray, C: np.ndarray, F: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(mu, sigma, P_fail, mu_explore, sigma_explore): the explore pair leaves a local correction out when the settings say so."""
        X = self.encoding.encode(V, C, F)
        p = np.clip(np.asarray(self.model.failure_probability_encoded(X), dtype=float), 0.0, 1.0)
        self.evaluations += len(V)
        parts = getattr(self.model, "predict_parts_encoded", None)
        if self.cfg.correction_scope == "exploit" and parts is not None:
            mu_trees, sd_trees, m, sd_c = (np.asarray(a, dtype=float) for a in parts(X))
            return mu_trees + m, np.sqrt(sd_trees**2 + sd_c**2), p, mu_trees, sd_trees
        mu, sigma = (np.asarray(a, dtype=float) for a in self.model.predict_encoded(X))
        return mu, sigma, p, mu, sigma

    def acquisition(
        self, mu: np.ndarray, sigma: np.ndarray, p: np.ndarray, d: np.ndarray, d_novelty: np.ndarray | None = None
    ) -> np.ndarray:
        """The score (module docstring); `d_novelty` (distance to record and batch picks) defaults to `d`."""
        cfg = self.cfg
        r = cfg.trust_radius
        novelty = cfg.novelty_mah_g * np.minimum(d if d_novelty is None else d_novelty, r) / r
        if cfg.acquisition == "ei":
            best = self.incumbent if self.incumbent is not None else self.floor
            gain = expected_improvement(mu + novelty, np.maximum(sigma, 1e-9), best)
        else:
            gain = np.maximum(mu + cfg.kappa * sigma + novelty - self.floor, 0.0)
        # the trust region is measured from the record only: picks must not chain outwards
        outside = np.maximum(d - r, 0.0) / r
        return (1.0 - p) * gain - cfg.trust_weight * self.spread * outside**2

    def exploit_score(self, mu: np.ndarray, p: np.ndarray, d: np.ndarray) -> np.ndarray:
        score = (1.0 - p) * np.maximum(mu - self.floor, 0.0)
        return np.where(d <= self.cfg.exploit_radius * self.cfg.trust_radius, score, -np.inf)


def probability_of_improvement(mu: np.ndarray, sigma: np.ndarray, best: float) -> np.ndarray:
    """P(y > best) for y ~ N(mu, sigma^2)."""
    from scipy.special import ndtr

    return np.asarray(ndtr((np.asarray(mu, dtype=float) - best) / np.asarray(sigma, dtype=float)), dtype=float)


def expected_improvement(mu: np.ndarray, sigma: np.ndarray, best: float) -> np.ndarray:
    """E[max(y - best, 0)] for y ~ N(mu, sigma^2), in the unit of mu (mAh/g)."""
    from scipy.special import ndtr

    mu = np.asarray(mu, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    z = (mu - best) / sigma
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return np.asarray((mu - best) * ndtr(z) + sigma * pdf, dtype=float)
