"""Learning from the shot: a local Gaussian-process correction of the tree ensemble on the runs the user's constraints select.

Why
---
Ten new runs among 650 barely move a bootstrap ensemble of shallow trees: a new best run is
smoothed into its many neighbours, so after shot 1 the model predicted every shot-2 candidate
below the run it had just measured, and shot 2 added nothing in 13 of 20 simulated seeds. The
runs that matter for the next shot are those in the slice the user holds (``ni = 0.94``: 18 in
the demo record, 28 after one shot; with ranges or choices, the runs that satisfy them).

What
----
`LocallyCorrectedModel` wraps a fitted model (tools.modelling.capacity_model.CapacityModel or
anything with the same methods). It fits a Gaussian process to the ensemble's residuals
``y - mu_tree(x)`` over the ok runs that satisfy the constraints, on normalised coordinates (each
number's range counts 1, a category switch counts 1, as the proposer's distances), and predicts

    mu(x)    = mu_tree(x) + m_gp(x)
    sigma(x) = sqrt(sigma_tree(x)^2 + (sigma_weight * s_gp(x))^2)

where ``m_gp``, ``s_gp`` are the GP's posterior mean and latent standard deviation (the
white-noise level is measurement noise, not model uncertainty, and is left out). The GP has a zero
prior mean, so away from the slice's runs the correction fades and the trees speak alone; near a
new run the prediction moves towards what was measured. Kernel: constant x Matern 5/2 on the
distance over all factors (``isotropic``) or a sum of one-factor Matern 5/2 kernels
(``additive``: a factor value that lifted one run lifts every recipe that has it; measured, not
adopted) + white noise. The hyper-parameters are fixed by default (amplitude 3 mAh/g, length
0.25, noise 1.2 mAh/g): maximising the marginal likelihood (scikit-learn's
GaussianProcessRegressor, `fit_hyperparameters=True`) on 18-40 runs explains a single good new
run as noise (amplitude at its lower bound), which is exactly the failure this module exists to
fix (docs/proposer.md). Prediction is done here in numpy (a swarm calls it a thousand times).

Residuals: the in-sample residual of a bootstrap ensemble is shrunk towards zero for runs the
trees fit, so each run's residual uses only the members whose bootstrap sample left it out
(out-of-bag), when the model exposes `predict_members_encoded` and `bootstrap_counts`; otherwise
in-sample.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from tools.domain.constraints import ConstraintSet
from tools.domain.design_space import CategoryParameter
from tools.domain.record import ExperimentRecord, runs_satisfying


class LocalCorrection(BaseModel):
    """Knobs of the local correction (the campaign's adopted loop sets sigma_weight 0: tools.campaign.variants)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="fit the GP correction on the runs that satisfy the constraints")
    min_runs: int = Field(default=5, ge=2, description="fewest ok runs in the slice for a correction")
    fit_hyperparameters: bool = Field(
        default=False,
        description="maximise the marginal likelihood within the bounds below (isotropic kernel only); "
        "False keeps the fixed values (a single good run is not read as noise)",
    )
    amplitude_mah_g: float = Field(default=3.0, gt=0, description="kernel standard deviation (prior size of the trees' local error), mAh/g")
    length_scale: float = Field(default=0.25, gt=0, description="Matern length scale, normalised units (a number's range = 1, a category switch = 1)")
    length_bounds: tuple[float, float] = Field(default=(0.05, 2.0), description="bounds of the length scale when fitted, normalised units")
    noise_mah_g: float = Field(default=1.2, gt=0, description="white-noise standard deviation (measurement noise), mAh/g")
    noise_bounds: tuple[float, float] = Field(default=(0.3, 5.0), description="bounds of the white-noise standard deviation when fitted, mAh/g")
    amplitude_bounds: tuple[float, float] = Field(default=(0.25, 20.0), description="bounds of the kernel standard deviation when fitted, mAh/g")
    restarts: int = Field(default=2, ge=0, description="optimiser restarts of the marginal likelihood")
    sigma_weight: float = Field(default=1.0, ge=0, description="weight of the GP's standard deviation in the combined sigma (0: the trees' spread alone)")
    kernel: Literal["isotropic", "additive"] = Field(
        default="isotropic",
        description="isotropic: one Matern 5/2 on the distance over all factors; additive: a sum of one-factor Matern 5/2 "
        "kernels (amplitude shared out), so a factor value that lifted one run lifts every recipe that has it",
    )


def _as_constraints(slice_: ConstraintSet | Mapping[str, Any], record: ExperimentRecord) -> ConstraintSet:
    constraints = slice_ if isinstance(slice_, ConstraintSet) else ConstraintSet.from_fixed(dict(slice_))
    return constraints.validated(record.space)


class LocallyCorrectedModel:
    """A capacity model plus a GP on its residuals over the runs that satisfy the constraints (module docstring)."""

    def __init__(
        self,
        base: Any,
        record: ExperimentRecord,
        constraints: ConstraintSet | Mapping[str, Any],
        settings: LocalCorrection | None = None,
        seed: int = 0,
    ):
        """`constraints`: a ConstraintSet, or fixed values name -> value; they select the slice the GP is fitted on."""
        self.base = base
        self.encoder = base.encoder
        self.metadata = base.metadata
        self.space = getattr(base, "space", record.space)
        self.settings = settings or LocalCorrection()
        self.constraints = _as_constraints(constraints, record)
        self._scale, self._offset = self._coordinates()
        self.n_slice = 0
        self.kernel_text = "off"
        self.residuals: np.ndarray | None = None
        self._alpha: np.ndarray | None = None
        self._Z: np.ndarray = np.zeros((0, len(self._scale)))
        self._L: np.ndarray = np.zeros((0, 0))
        self._active_columns = np.zeros(0, dtype=np.int64)
        cfg = self.settings
        self._amp2, self._ls, self._noise2 = cfg.amplitude_mah_g**2, cfg.length_scale, cfg.noise_mah_g**2
        if cfg.enabled:
            self._fit(record, seed)

    # -- coordinates ---------------------------------------------------------------------------
    def _coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """Per encoded column: scale and offset so that a number's range is 1 and a category switch is 1."""
        scale, offset = [], []
        for p in self.encoder.space.parameters:
            if isinstance(p, CategoryParameter):
                scale.extend([math.sqrt(0.5)] * len(p.values))
                offset.extend([0.0] * len(p.values))
            else:
                span = p.high - p.low
                scale.append(1.0 / span if span > 0 else 1.0)
                offset.append(p.low)
        return np.array(scale), np.array(offset)

    def _z(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=float) - self._offset) * self._scale

    # -- fit -------------------------------------------------------------------------------------
    def _fit(self, record: ExperimentRecord, seed: int) -> None:
        f = record.frame
        ok = ((f["status"] == "ok") & f[record.target].notna()).to_numpy()
        mask = ok & runs_satisfying(record, self.constraints)
        n = int(mask.sum())
        self.n_slice = n
        if n < self.settings.min_runs:
            self.kernel_text = f"off (only {n} ok runs satisfy the constraints; needs {self.settings.min_runs})"
            return
        X = np.asarray(self.encoder.encode(f[mask]), dtype=float)
        y = f.loc[mask, record.target].to_numpy(dtype=float)
        r = y - self._out_of_bag_mean(ok, mask, X)
        self.residuals = r
        cfg = self.settings
        Z = self._z(X)
        # additive: only the factors that vary among the slice's runs count (the others add a constant)
        varied = np.ptp(Z, axis=0) > 0 if cfg.kernel == "additive" else np.ones(Z.shape[1], dtype=bool)
        self._active_columns = np.flatnonzero(varied)
        if cfg.fit_hyperparameters and cfg.kernel == "isotropic":
            self._fit_hyperparameters(Z, r, seed)
        self._Z = Z
        K = self._kernel(Z, Z) + (self._noise2 + 1e-9) * np.eye(n)
        self._L = np.linalg.cholesky(K)
        self._alpha = np.linalg.solve(self._L.T, np.linalg.solve(self._L, r))
        self.kernel_text = (
            f"{cfg.kernel} GP on {n} runs: amplitude {math.sqrt(self._amp2):.2f} mAh/g, length {self._ls:.3f}, "
            f"noise {math.sqrt(self._noise2):.2f} mAh/g"
        )

    def _fit_hyperparameters(self, Z: np.ndarray, r: np.ndarray, seed: int) -> None:
        """Maximum likelihood within the bounds (scikit-learn); kept as an option, see the module docstring."""
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        cfg = self.settings
        lo_a, hi_a = cfg.amplitude_bounds
        kernel = ConstantKernel(min(max(self._amp2, lo_a**2), hi_a**2), (lo_a**2, hi_a**2)) * Matern(
            length_scale=cfg.length_scale, length_scale_bounds=cfg.length_bounds, nu=2.5
        ) + WhiteKernel(cfg.noise_mah_g**2, (cfg.noise_bounds[0] ** 2, cfg.noise_bounds[1] ** 2))
        gp = GaussianProcessRegressor(kernel=kernel, normalize_y=False, n_restarts_optimizer=cfg.restarts, random_state=seed)
        with warnings.catch_warnings():
            # convergence notes at a bound are expected here: the bound is the answer
            warnings.simplefilter("ignore")
            gp.fit(Z, r)
        fitted = gp.kernel_
        self._amp2 = float(fitted.k1.k1.constant_value)
        self._ls = float(fitted.k1.k2.length_scale)
        self._noise2 = float(fitted.k2.noise_level)

    def _out_of_bag_mean(self, ok: np.ndarray, mask: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Each slice run's prediction by the members whose bootstrap left it out (in-sample when that is unknown)."""
        members_fn = getattr(self.base, "predict_members_encoded", None)
        bags = getattr(self.base, "bootstrap_counts", None)
        ok_index = np.flatnonzero(ok)
        if members_fn is None or bags is None or bags.shape[1] != len(ok_index):
            return np.asarray(self.base.predict_encoded(X)[0], dtype=float)
        members = np.asarray(members_fn(X), dtype=float)
        pos = np.searchsorted(ok_index, np.flatnonzero(mask))
        left_out = bags[:, pos].T == 0  # (rows, members)
        use = np.where(left_out.any(axis=1, keepdims=True), left_out, True)
        return np.asarray((members * use).sum(axis=1) / use.sum(axis=1), dtype=float)

    def _kernel(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        root5 = math.sqrt(5.0) / self._ls
        if self.settings.kernel == "additive":
            K = np.zeros((len(A), len(B)))
            if not len(self._active_columns):
                return K
            for j in self._active_columns:
                d = np.abs(A[:, j][:, None] - B[:, j][None, :]) * root5
                K += (1.0 + d + d * d / 3.0) * np.exp(-d)
            return K * (self._amp2 / len(self._active_columns))
        d2 = np.einsum("ij,ij->i", A, A)[:, None] + np.einsum("ij,ij->i", B, B)[None, :] - 2.0 * A @ B.T
        d = np.sqrt(np.maximum(d2, 0.0)) * root5
        return self._amp2 * (1.0 + d + d * d / 3.0) * np.exp(-d)

    # -- prediction ----------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """True when a correction was fitted (enough runs in the slice)."""
        return self._alpha is not None

    def correction(self, X: np.ndarray, with_std: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """GP mean and latent standard deviation of the residual at encoded rows (zeros when inactive or not asked for)."""
        X = np.asarray(X, dtype=float)
        if self._alpha is None:
            return np.zeros(len(X)), np.zeros(len(X))
        Ks = self._kernel(self._z(X), self._Z)
        mean = Ks @ self._alpha
        if not with_std:
            return mean, np.zeros(len(X))
        v = np.linalg.solve(self._L, Ks.T)
        var = np.maximum(self._amp2 - np.einsum("ij,ij->j", v, v), 0.0)
        return mean, np.sqrt(var)

    def predict_parts_encoded(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(trees' mean, trees' std, GP mean, GP std times sigma_weight) at encoded rows."""
        mu, sigma = self.base.predict_encoded(X)
        w = self.settings.sigma_weight
        m, s = self.correction(X, with_std=w > 0)
        return np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float), m, w * s

    def predict_encoded(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Corrected mean and combined standard deviation at encoded rows, mAh/g."""
        mu, sigma, m, s = self.predict_parts_encoded(X)
        return mu + m, np.sqrt(sigma**2 + s**2)

    def predict(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Corrected mean and combined standard deviation for a frame with the design space's columns."""
        return self.predict_encoded(self.encoder.encode(frame))

    def failure_probability_encoded(self, X: np.ndarray) -> np.ndarray:
        """The base model's failure probability (the correction is for the capacity only)."""
        return np.asarray(self.base.failure_probability_encoded(X), dtype=float)

    def failure_probability(self, frame: pd.DataFrame) -> np.ndarray:
        """The base model's failure probability for a frame."""
        return np.asarray(self.base.failure_probability(frame), dtype=float)


__all__ = ["LocalCorrection", "LocallyCorrectedModel"]
