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

Particles live in a continuous relaxation: one coordinate in [0, 1] per free number (its grid
position) and one per value of each free category (decoded by argmax). Decoding snaps to every
step, clips to every bound, pins fixed values, applies conditionals (no coating -> amount,
temperature and time 0) and repairs each linear equality (the last free term, e.g. ``mn``, is
derived from the others, which are first clipped to what the equality still allows).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from tools.domain.design_space import CategoryParameter, DesignSpace, NumberParameter
from tools.domain.errors import DesignSpaceError, ProposalError
from tools.domain.record import ExperimentRecord

Reason = Literal["exploit", "explore", "boundary probe"]

_KEY_DECIMALS = 9


class CapacityModelLike(Protocol):
    """What the proposer needs from a fitted model (tools.modelling.capacity_model.CapacityModel)."""

    encoder: Any

    def predict_encoded(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def failure_probability_encoded(self, X: np.ndarray) -> np.ndarray: ...


class ProposerSettings(BaseModel):
    """Knobs of the swarm and the acquisition; defaults are the tuned ones (docs/proposer.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    iterations: int = Field(default=1000, ge=1, description="swarm iterations")
    particles: int = Field(default=100, ge=2, description="particles in the swarm")
    kappa: float = Field(default=1.0, ge=0, description="weight of the model's spread (sigma) in the score, dimensionless")
    novelty_mah_g: float = Field(default=3.0, ge=0, description="bonus at the trust radius for distance from the record, mAh/g")
    trust_radius: float = Field(default=0.4, gt=0, description="trust radius, in normalised distance (each number's range = 1, a category switch = 1)")
    trust_weight: float = Field(default=4.0, ge=0, description="trust-region penalty weight, in units of the capacities' standard deviation")
    floor_quantile: float = Field(default=0.1, ge=0, le=1, description="quantile of measured capacities that a failed run is valued at")
    exploit_share: float = Field(default=0.4, ge=0, le=1, description="share of the batch chosen by the mean alone (inside half the trust radius)")
    exploit_radius: float = Field(default=1.0, gt=0, le=1, description="exploit picks stay within this share of the trust radius")
    min_separation: float = Field(default=0.08, ge=0, description="minimum normalised distance between two proposals of a batch")
    boundary_p_fail: float = Field(default=0.15, ge=0, le=1, description="a proposal at or above this failure probability is labelled a boundary probe")
    inertia: float = Field(default=0.72, description="swarm velocity inertia")
    c_personal: float = Field(default=1.49, description="pull towards a particle's own best")
    c_social: float = Field(default=1.49, description="pull towards the neighbourhood best")
    neighbours: int = Field(default=2, ge=1, description="ring-topology neighbours on each side (local best keeps several basins alive)")
    max_velocity: float = Field(default=0.25, gt=0, description="velocity clamp per coordinate, in the [0, 1] relaxation")
    seed_share: float = Field(default=0.5, ge=0, le=1, description="share of particles started at the best record runs (with the fixed values applied)")


class Proposal(BaseModel):
    """One proposed experiment."""

    model_config = ConfigDict(extra="forbid")

    params: dict[str, float | str] = Field(description="every design-space column -> value, in its unit")
    predicted_mah_g: float = Field(description="model mean prediction, mAh/g")
    uncertainty_mah_g: float = Field(description="model ensemble standard deviation, mAh/g")
    failure_probability: float = Field(description="model probability that the synthesis fails, 0 to 1")
    distance_to_record: float = Field(description="normalised distance to the nearest record run (number range = 1, category switch = 1)")
    nearest_run: str = Field(description="experiment_id of the nearest record run")
    acquisition: float = Field(description="the score it was chosen by, mAh/g-like")
    reason: Reason = Field(description="exploit (best mean near data), explore (uncertainty or sparse data), boundary probe (near failures)")


class ProposalResult(BaseModel):
    """A batch of proposals with what the swarm did to find them."""

    model_config = ConfigDict(extra="forbid")

    proposals: list[Proposal]
    fixed: dict[str, float | str] = Field(description="values held fixed")
    incumbent_mah_g: float | None = Field(description="best measured ok run in the record that matches the fixed values, mAh/g")
    convergence: list[float] = Field(description="best acquisition found so far, per iteration")
    evaluations: int = Field(description="candidates scored by the model (a particle that stays on its grid point is not re-scored)")
    distinct_candidates: int = Field(description="distinct feasible candidates among the best 20,000 scored (the pool the batch is chosen from)")
    fast_encoding: bool = Field(description="True when particles were encoded by the verified linear map, not through pandas")
    elapsed_s: float = Field(description="wall time of the swarm and the selection, s")
    settings: ProposerSettings


# -- the continuous relaxation -------------------------------------------------------------
@dataclass
class _Equality:
    idx: np.ndarray  # number indices of the free terms, dependent last
    coef: np.ndarray
    const: float  # target minus fixed terms
    tol: float


class Relaxation:
    """Maps points of [0, 1]^D to valid rows of a design space, vectorised over points."""

    def __init__(self, space: DesignSpace):
        self.space = space
        self.numbers: list[NumberParameter] = space.numbers
        self.categories: list[CategoryParameter] = space.categories
        self.num_index = {p.name: j for j, p in enumerate(self.numbers)}
        self.cat_index = {p.name: j for j, p in enumerate(self.categories)}
        fixed = space.fixed
        self.levels: list[np.ndarray | None] = []
        for p in self.numbers:
            if p.step is None or p.n_levels is None:
                self.levels.append(None)
            else:
                self.levels.append(np.array([p.value_at(k) for k in range(p.n_levels)], dtype=float))
        # equality constraints: choose a dependent term (the last free one)
        dependent: set[int] = set()
        self.equalities: list[_Equality] = []
        self.inequalities: list[tuple[np.ndarray, np.ndarray, float, float, float]] = []
        for c in space.constraints:
            idx = np.array([self.num_index[n] for n in c.terms], dtype=int)
            coef = np.array(list(c.terms.values()), dtype=float)
            if c.equals is not None:
                free = [(i, a) for i, a, n in zip(idx, coef, c.terms, strict=True) if n not in fixed]
                const = c.equals - sum(a * float(fixed[n]) for n, a in c.terms.items() if n in fixed)
                if free:
                    cand = [k for k, (i, _a) in enumerate(free) if int(i) not in dependent]
                    if not cand:
                        raise DesignSpaceError(f"constraint {c.name}: cannot choose a derived term")
                    last = cand[-1]
                    free.append(free.pop(last))
                    dependent.add(int(free[-1][0]))
                self.equalities.append(
                    _Equality(np.array([i for i, _ in free], dtype=int), np.array([a for _, a in free]), const, c.tolerance)
                )
            lo = -math.inf if c.at_least is None else c.at_least
            hi = math.inf if c.at_most is None else c.at_most
            if c.equals is not None:
                lo = hi = c.equals
            self.inequalities.append((idx, coef, lo, hi, c.tolerance + 1e-9))
        self.dependent = dependent
        # coordinates
        self.free_numbers = [j for j, p in enumerate(self.numbers) if p.name not in fixed and j not in dependent]
        self.free_categories = [j for j, p in enumerate(self.categories) if p.name not in fixed]
        self.cat_slices: list[slice] = []
        pos = len(self.free_numbers)
        for j in self.free_categories:
            k = len(self.categories[j].values)
            self.cat_slices.append(slice(pos, pos + k))
            pos += k
        self.dim = pos
        self.fixed_numbers = {self.num_index[n]: float(v) for n, v in fixed.items() if n in self.num_index}
        self.fixed_categories = {
            self.cat_index[n]: self.categories[self.cat_index[n]].values.index(str(v)) for n, v in fixed.items() if n in self.cat_index
        }
        # vectorised decoding of the free grid numbers: one padded table of levels
        grid = [(col, j) for col, j in enumerate(self.free_numbers) if self.levels[j] is not None]
        self._cont = [(col, j) for col, j in enumerate(self.free_numbers) if self.levels[j] is None]
        self._grid_cols = np.array([c for c, _ in grid], dtype=np.int64)
        self._grid_params = np.array([j for _, j in grid], dtype=np.int64)
        width = max((len(lv) for lv in self.levels if lv is not None), default=1)
        self._grid_levels = np.zeros((len(grid), width))
        for r, (_, j) in enumerate(grid):
            lv = self.levels[j]
            assert lv is not None
            self._grid_levels[r, : len(lv)] = lv
        self._grid_top = np.array([n_levels - 1.0 for n_levels in self._grid_levels_count(grid)])
        self._grid_rows = np.arange(len(grid))[None, :]
        self.conditionals: list[tuple[list[tuple[int, int]], list[tuple[int, float]]]] = []
        for cond in space.conditionals:
            when = [(self.cat_index[n], self.categories[self.cat_index[n]].values.index(v)) for n, v in cond.when.items()]
            then = [(self.num_index[n], float(v)) for n, v in cond.then.items()]
            self.conditionals.append((when, then))
        # scaling for distances: each number's range counts 1, a category switch counts 1
        self.low = np.array([p.low for p in self.numbers])
        span = np.array([p.high - p.low for p in self.numbers])
        self.span = np.where(span > 0, span, 1.0)
        self.cat_sizes = [len(p.values) for p in self.categories]
        self.cat_offsets = np.concatenate([[0], np.cumsum(self.cat_sizes)]).astype(int)

    def _grid_levels_count(self, grid: list[tuple[int, int]]) -> list[int]:
        counts = []
        for _, j in grid:
            lv = self.levels[j]
            counts.append(0 if lv is None else len(lv))
        return counts

    # decode ---------------------------------------------------------------------------
    def decode(self, P: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Points in [0, 1]^D -> (number values (m, n_num), category indices (m, n_cat), feasible mask)."""
        m = P.shape[0]
        V = np.zeros((m, len(self.numbers)))
        C = np.zeros((m, len(self.categories)), dtype=np.int64)
        if self._grid_cols.size:
            U = np.minimum(np.maximum(P[:, self._grid_cols], 0.0), 1.0)
            K = np.rint(U * self._grid_top).astype(np.int64)
            V[:, self._grid_params] = self._grid_levels[self._grid_rows, K]
        for col, j in self._cont:
            V[:, j] = self._number_from_unit(j, P[:, col])
        for j, v in self.fixed_numbers.items():
            V[:, j] = v
        for sl, j in zip(self.cat_slices, self.free_categories, strict=True):
            C[:, j] = np.argmax(P[:, sl], axis=1)
        for j, k in self.fixed_categories.items():
            C[:, j] = k
        return V, C, self.finish(V, C)

    def finish(self, V: np.ndarray, C: np.ndarray) -> np.ndarray:
        """Apply conditionals and repair equalities in place; returns the feasible mask."""
        self._apply_conditionals(V, C)
        feasible = self._repair(V)
        self._apply_conditionals(V, C)
        feasible &= self._check_linear(V)
        return feasible

    def _number_from_unit(self, j: int, u: np.ndarray) -> np.ndarray:
        levels = self.levels[j]
        p = self.numbers[j]
        u = np.clip(u, 0.0, 1.0)
        if levels is None:
            return p.low + u * (p.high - p.low)
        k = np.rint(u * (len(levels) - 1)).astype(np.int64)
        return levels[k]

    def _snap_into(self, j: int, x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Snap x to number j's grid within [a, b] (and its bounds); values outside stay clipped."""
        p = self.numbers[j]
        levels = self.levels[j]
        if levels is None or p.step is None:
            return np.clip(np.clip(x, a, b), p.low, p.high)
        top = float(len(levels) - 1)
        eps = 1e-7
        # np.minimum/np.maximum: np.clip's Python wrapper costs more than the arithmetic here
        k_lo = np.minimum(np.maximum(np.ceil((a - p.low) / p.step - eps), 0.0), top)
        k_hi = np.minimum(np.maximum(np.floor((b - p.low) / p.step + eps), 0.0), top)
        k = np.minimum(np.maximum(np.rint((x - p.low) / p.step), k_lo), np.maximum(k_lo, k_hi))
        return levels[k.astype(np.int64)]

    def _range(self, j: int) -> tuple[float, float]:
        p = self.numbers[j]
        return p.low, p.high

    def _repair(self, V: np.ndarray) -> np.ndarray:
        m = V.shape[0]
        ok = np.ones(m, dtype=bool)
        for eq in self.equalities:
            if len(eq.idx) == 0:
                continue
            s = np.zeros(m)
            ranges = [self._range(int(j)) for j in eq.idx]
            contrib = [(min(a * lo, a * hi), max(a * lo, a * hi)) for a, (lo, hi) in zip(eq.coef, ranges, strict=True)]
            for t, (j, a) in enumerate(zip(eq.idx[:-1], eq.coef[:-1], strict=True)):
                rest_lo = sum(c[0] for c in contrib[t + 1 :])
                rest_hi = sum(c[1] for c in contrib[t + 1 :])
                # a * x must lie in [const - s - rest_hi, const - s - rest_lo]
                lo_ax = eq.const - s - rest_hi
                hi_ax = eq.const - s - rest_lo
                lo_x, hi_x = (lo_ax / a, hi_ax / a) if a > 0 else (hi_ax / a, lo_ax / a)
                V[:, j] = self._snap_into(int(j), V[:, j], lo_x, hi_x)
                s = s + a * V[:, j]
            j_dep, a_dep = int(eq.idx[-1]), float(eq.coef[-1])
            x = (eq.const - s) / a_dep
            lo, hi = self._range(j_dep)
            V[:, j_dep] = self._snap_into(j_dep, x, np.full(m, lo), np.full(m, hi))
            ok &= np.abs(s + a_dep * V[:, j_dep] - eq.const) <= eq.tol + 1e-9
        return ok

    def _apply_conditionals(self, V: np.ndarray, C: np.ndarray) -> None:
        for when, then in self.conditionals:
            mask = np.ones(V.shape[0], dtype=bool)
            for j, k in when:
                mask &= C[:, j] == k
            for j, v in then:
                V[mask, j] = v

    def _check_linear(self, V: np.ndarray) -> np.ndarray:
        ok = np.ones(V.shape[0], dtype=bool)
        for idx, coef, lo, hi, tol in self.inequalities:
            total = V[:, idx] @ coef
            ok &= (total >= lo - tol) & (total <= hi + tol)
        return ok

    # encode back ----------------------------------------------------------------------
    def to_unit(self, V: np.ndarray, C: np.ndarray) -> np.ndarray:
        """Rows (values, category indices) -> points in [0, 1]^D that decode to them (before repair)."""
        P = np.zeros((V.shape[0], self.dim))
        for col, j in enumerate(self.free_numbers):
            p = self.numbers[j]
            P[:, col] = np.clip((V[:, j] - p.low) / (p.high - p.low), 0, 1) if p.high > p.low else 0.5
        for sl, j in zip(self.cat_slices, self.free_categories, strict=True):
            block = np.full((V.shape[0], sl.stop - sl.start), 0.25)
            block[np.arange(V.shape[0]), C[:, j]] = 0.75
            P[:, sl] = block
        return P

    def features(self, V: np.ndarray, C: np.ndarray) -> np.ndarray:
        """Numbers as values plus categories one-hot: the basis of the fast encoding."""
        m = V.shape[0]
        F = np.zeros((m, V.shape[1] + int(self.cat_offsets[-1])))
        F[:, : V.shape[1]] = V
        rows = np.arange(m)[:, None]
        F[rows, V.shape[1] + self.cat_offsets[:-1][None, :] + C] = 1.0
        return F

    def normalised_from_features(self, F: np.ndarray) -> np.ndarray:
        """`normalised` computed from `features` output (saves rebuilding the one-hot block)."""
        n = len(self.numbers)
        Z = F.copy()
        Z[:, :n] = (F[:, :n] - self.low) / self.span
        Z[:, n:] *= math.sqrt(0.5)
        return Z

    def normalised(self, V: np.ndarray, C: np.ndarray) -> np.ndarray:
        """Coordinates for distances: each number's range counts 1, a category switch counts 1."""
        return self.normalised_from_features(self.features(V, C))

    def keys(self, V: np.ndarray, C: np.ndarray) -> np.ndarray:
        """A hashable row identity (rounded values and category indices) as a 1-D void array."""
        key = np.ascontiguousarray(np.hstack([np.round(V, _KEY_DECIMALS) + 0.0, C.astype(float)]))
        return key.view(np.dtype((np.void, key.dtype.itemsize * key.shape[1]))).ravel()

    def key_set(self, V: np.ndarray, C: np.ndarray) -> list[bytes]:
        """Row identities as bytes (hashable), in row order."""
        return [k.tobytes() for k in self.keys(V, C)]

    def from_frame(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Record rows -> (values, category indices)."""
        V = frame[[p.name for p in self.numbers]].to_numpy(dtype=float)
        C = np.zeros((len(frame), len(self.categories)), dtype=np.int64)
        for j, p in enumerate(self.categories):
            lookup = {v: i for i, v in enumerate(p.values)}
            C[:, j] = [lookup[str(v)] for v in frame[p.name]]
        return V, C

    def to_frame(self, V: np.ndarray, C: np.ndarray) -> pd.DataFrame:
        """(values, category indices) -> a frame with every design-space column, in order."""
        data: dict[str, Any] = {}
        for p in self.space.parameters:
            if isinstance(p, NumberParameter):
                data[p.name] = V[:, self.num_index[p.name]].astype(float)
            else:
                data[p.name] = np.asarray(p.values, dtype=object)[C[:, self.cat_index[p.name]]]
        return pd.DataFrame(data)

    def row(self, V: np.ndarray, C: np.ndarray, i: int) -> dict[str, float | str]:
        """One row as a plain dict with clean floats."""
        out: dict[str, float | str] = {}
        for p in self.space.parameters:
            if isinstance(p, NumberParameter):
                out[p.name] = float(f"{V[i, self.num_index[p.name]]:.10g}")
            else:
                out[p.name] = p.values[int(C[i, self.cat_index[p.name]])]
        return out

    def sample(self, rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """m uniform random points of the relaxation, decoded."""
        return self.decode(rng.random((m, self.dim)))


# -- encoding: a verified linear map, else the encoder itself ---------------------------------
class Encoding:
    """Encodes decoded rows for the model without pandas, when that is verified to equal encoder.encode.

    Each encoded column must be, bit for bit, one of the relaxation's feature columns (a
    number's value or a category's 0/1 indicator) or a constant; that is checked on random
    rows and on the record's rows. Otherwise every call goes through ``encoder.encode``.
    """

    def __init__(self, relax: Relaxation, encoder: Any, rng: np.random.Generator, record_frame: pd.DataFrame | None = None):
        self.relax = relax
        self.encoder = encoder
        self.gather: np.ndarray | None = None
        self.constants: np.ndarray | None = None
        self.fast = False
        self._fit(rng, record_frame)

    def _probe(self, rng: np.random.Generator, m: int, record_frame: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
        V, C, ok = self.relax.sample(rng, m)
        V, C = V[ok], C[ok]
        if record_frame is not None and len(record_frame):
            take = record_frame.sample(n=min(m, len(record_frame)), random_state=int(rng.integers(2**31)))
            Vr, Cr = self.relax.from_frame(take)
            V, C = np.vstack([V, Vr]), np.vstack([C, Cr])
        return V, C

    def _fit(self, rng: np.random.Generator, record_frame: pd.DataFrame | None) -> None:
        V, C = self._probe(rng, 300, record_frame)
        F = self.relax.features(V, C)
        X = np.asarray(self.encoder.encode(self.relax.to_frame(V, C)), dtype=float)
        if X.ndim != 2 or X.shape[0] != F.shape[0]:
            return
        equal = np.all(F[:, :, None] == X[:, None, :], axis=0)  # (features, encoded columns)
        gather = np.where(equal.any(axis=0), np.argmax(equal, axis=0), -1)
        constant = np.all(X == X[:1], axis=0)
        if np.any((gather < 0) & ~constant):
            return
        self.gather, self.constants = gather, X[0].copy()
        V2, C2 = self._probe(rng, 300, record_frame)
        X2 = np.asarray(self.encoder.encode(self.relax.to_frame(V2, C2)), dtype=float)
        self.fast = bool(np.array_equal(self._gathered(V2, C2), X2))

    def _gathered(self, V: np.ndarray, C: np.ndarray, F: np.ndarray | None = None) -> np.ndarray:
        assert self.gather is not None and self.constants is not None
        if F is None:
            F = self.relax.features(V, C)
        X = np.empty((len(V), len(self.gather)))
        cols = self.gather >= 0
        X[:, cols] = F[:, self.gather[cols]]
        X[:, ~cols] = self.constants[~cols]
        return X

    def encode(self, V: np.ndarray, C: np.ndarray, F: np.ndarray | None = None) -> np.ndarray:
        """Encoded model input of decoded rows (`F`: their `Relaxation.features`, when already built)."""
        if self.fast:
            return self._gathered(V, C, F)
        return np.asarray(self.encoder.encode(self.relax.to_frame(V, C)), dtype=float)


# -- the swarm ---------------------------------------------------------------------------
def _matching(frame: pd.DataFrame, fixed: Mapping[str, Any]) -> np.ndarray:
    mask = np.ones(len(frame), dtype=bool)
    for name, value in fixed.items():
        col = frame[name]
        if isinstance(value, str):
            mask &= (col.astype(str) == value).to_numpy()
        else:
            mask &= np.isclose(col.to_numpy(dtype=float), float(value), rtol=0, atol=1e-9)
    return mask


class _Scorer:
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


def propose(
    model: CapacityModelLike,
    record: ExperimentRecord,
    fixed: Mapping[str, Any] | None = None,
    n: int = 10,
    seed: int = 0,
    iterations: int | None = None,
    particles: int | None = None,
    settings: ProposerSettings | None = None,
    **overrides: Any,
) -> ProposalResult:
    """Propose n distinct, valid next experiments by a particle swarm on an uncertainty- and failure-aware score.

    `fixed` adds held values to the record's design space (DesignSpaceError if unknown, off
    its step or infeasible). `iterations`, `particles` and any ProposerSettings field given as
    a keyword override `settings`.
    """
    from threadpoolctl import threadpool_limits

    # Small matrix products inside the loop: BLAS threads only contend (10-40x slower on 2 cores).
    with threadpool_limits(1, user_api="blas"):
        return _propose(model, record, fixed, n, seed, iterations, particles, settings, overrides)


def _propose(
    model: CapacityModelLike,
    record: ExperimentRecord,
    fixed: Mapping[str, Any] | None,
    n: int,
    seed: int,
    iterations: int | None,
    particles: int | None,
    settings: ProposerSettings | None,
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
    space = record.space.with_fixed(dict(fixed or {}))
    relax = Relaxation(space)
    rng = np.random.default_rng(seed)
    encoding = Encoding(relax, model.encoder, rng, record.frame)
    scorer = _Scorer(model, relax, encoding, record, cfg)

    frame = record.frame
    fixed_now = dict(space.fixed)
    match = _matching(frame, fixed_now)
    ok_mask = ((frame["status"] == "ok") & frame[record.target].notna()).to_numpy()
    incumbent = float(frame.loc[match & ok_mask, record.target].max()) if (match & ok_mask).any() else None

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
            mu, sigma, p = scorer.predict(Vf, Cf, F)
            d, near = scorer.nearest(relax.normalised_from_features(F))
            acq = scorer.acquisition(mu, sigma, p, d)
            score[todo] = acq
            archive_V.append(Vf)
            archive_C.append(Cf)
            archive_stats.append(np.column_stack([mu, sigma, p, d, near.astype(float), acq]))
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
    keep = _top_candidates(scorer, S_all, limit=20_000)
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
    chosen, roles = _select(relax, scorer, V_all, C_all, S_all, n, cfg)
    proposals = _proposals(relax, scorer, record, V_all, C_all, S_all, chosen, roles, cfg)
    return ProposalResult(
        proposals=proposals,
        fixed={k: v for k, v in fixed_now.items()},
        incumbent_mah_g=incumbent,
        convergence=convergence,
        evaluations=scorer.evaluations,
        distinct_candidates=int(len(first)),
        fast_encoding=encoding.fast,
        elapsed_s=time.perf_counter() - t0,
        settings=cfg,
    )


def _top_candidates(scorer: _Scorer, S: np.ndarray, limit: int) -> np.ndarray:
    """Indices of the best `limit` candidates by acquisition plus the best `limit // 4` by the exploit score."""
    if len(S) <= limit:
        return np.arange(len(S))
    acq = S[:, 5]
    exploit = scorer.exploit_score(S[:, 0], S[:, 2], S[:, 3])
    top_acq = np.argpartition(-acq, limit - 1)[:limit]
    k = limit // 4
    top_exploit = np.argpartition(-exploit, k - 1)[:k]
    return np.union1d(top_acq, top_exploit)


def _select(
    relax: Relaxation,
    scorer: _Scorer,
    V: np.ndarray,
    C: np.ndarray,
    S: np.ndarray,
    n: int,
    cfg: ProposerSettings,
) -> tuple[list[int], list[str]]:
    """Greedy batch: exploit picks by the mean, then explore picks by acq with a believer update."""
    mu, sigma, p, d = S[:, 0], S[:, 1], S[:, 2], S[:, 3]
    Z = relax.normalised(V, C)
    chosen: list[int] = []
    roles: list[str] = []
    blocked = np.zeros(len(V), dtype=bool)
    d_now = d.copy()

    def take(i: int, role: str) -> None:
        chosen.append(i)
        roles.append(role)
        dist = np.sqrt(np.maximum(np.einsum("ij,ij->i", Z - Z[i], Z - Z[i]), 0.0))
        blocked[dist < cfg.min_separation] = True
        blocked[i] = True
        np.minimum(d_now, dist, out=d_now)  # believer: the pick counts as data

    n_exploit = int(round(cfg.exploit_share * n))
    exploit = scorer.exploit_score(mu, p, d)
    for _ in range(n_exploit):
        score = np.where(blocked, -np.inf, exploit)
        i = int(np.argmax(score))
        if not np.isfinite(score[i]):
            break
        take(i, "exploit")
    while len(chosen) < n:
        acq = scorer.acquisition(mu, sigma, p, d, d_now)
        score = np.where(blocked, -np.inf, acq)
        i = int(np.argmax(score))
        if not np.isfinite(score[i]):
            # separation exhausted the candidates: relax it, keep distinctness
            unchosen = np.ones(len(V), dtype=bool)
            unchosen[chosen] = False
            blocked = ~unchosen
            score = np.where(blocked, -np.inf, acq)
            i = int(np.argmax(score))
            if not np.isfinite(score[i]):
                break
        take(i, "explore")
    return chosen, roles


def _proposals(
    relax: Relaxation,
    scorer: _Scorer,
    record: ExperimentRecord,
    V: np.ndarray,
    C: np.ndarray,
    S: np.ndarray,
    chosen: list[int],
    roles: list[str],
    cfg: ProposerSettings,
) -> list[Proposal]:
    frame = record.frame
    failed = (frame["status"] == "failed").to_numpy()
    Vr, Cr = relax.from_frame(frame)
    R = relax.normalised(Vr, Cr)
    out: list[Proposal] = []
    for i, role in zip(chosen, roles, strict=True):
        mu, sigma, p, d, near, acq = S[i]
        z = relax.normalised(V[i : i + 1], C[i : i + 1])
        dist = np.sqrt(np.sum((R - z) ** 2, axis=1))
        d_fail = float(dist[failed].min()) if failed.any() else math.inf
        d_ok = float(dist[~failed].min()) if (~failed).any() else math.inf
        reason: Reason = "exploit" if role == "exploit" else "explore"
        if p >= cfg.boundary_p_fail or d_fail < d_ok:
            reason = "boundary probe"
        out.append(
            Proposal(
                params=relax.row(V, C, i),
                predicted_mah_g=float(mu),
                uncertainty_mah_g=float(sigma),
                failure_probability=float(p),
                distance_to_record=float(d),
                nearest_run=str(frame["experiment_id"].iat[int(near)]),
                acquisition=float(acq),
                reason=reason,
            )
        )
    return out


def proposals_frame(result: ProposalResult, space: DesignSpace, shot: str | None = None) -> pd.DataFrame:
    """Proposals as record rows ready to run: parameters, predicted_mah_g, source=ml-proposal."""
    rows = []
    for prop in result.proposals:
        row: dict[str, Any] = {name: prop.params[name] for name in space.names}
        row["predicted_mah_g"] = round(prop.predicted_mah_g, 2)
        row["source"] = "ml-proposal"
        if shot is not None:
            row["shot"] = shot
        rows.append(row)
    return pd.DataFrame(rows)


def plot_convergence(result: ProposalResult, path: Any) -> Any:
    """Write the swarm's convergence (best acquisition per iteration) as a PNG."""
    from pathlib import Path

    from tools.plotting import _pyplot, save_figure

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(np.arange(1, len(result.convergence) + 1), result.convergence, color="#4477aa")
    ax.set_xlabel("iteration")
    ax.set_ylabel("best acquisition (mAh/g-like)")
    ax.set_title(f"Particle swarm convergence ({result.settings.particles} particles)")
    ax.grid(alpha=0.3)
    return save_figure(fig, Path(path))
