"""The electrode model: exact capacity, learned voltage and discharged density, calibrated uncertainty.

* gravimetric capacity: Faraday's law (tools.electrodes.parsing), never learned;
* average voltage: a seed ensemble of LightGBM regressors with Huber loss (robust to the few
  DFT outliers such as 54 V) on the composition features plus kNN target-encoding features;
* volumetric capacity: exact gravimetric capacity x predicted density of the discharged
  structure, learned as log(volume per atom), which is smoother than the density itself;
* 1-sigma uncertainties: a LightGBM model of the host-grouped out-of-fold absolute residuals,
  scaled so that the median |z| is that of a normal distribution;
* in_domain and the nearest known electrode from the distance space (tools.electrodes.space).

The model is saved as JSON (LightGBM's own text format for the trees), never pickled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from tools.electrodes.constants import AMU_PER_A3_TO_G_PER_CM3
from tools.electrodes.space import DistanceSpace, knn_encode, knn_query

if TYPE_CHECKING:
    import numpy as np

    from tools.electrodes.data import ElectrodeDataset
    from tools.electrodes.parsing import ParsedElectrode
    from tools.electrodes.schemas import ElectrodeCandidate, ElectrodePrediction

MODEL_VERSION = "1"


class ModelConfig(BaseModel):
    """Hyper-parameters of the electrode model (part of its cache key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_seeds: int = Field(default=3, ge=1, description="LightGBM seeds averaged per target")
    n_estimators: int = Field(default=300, ge=5, description="boosting rounds per LightGBM model (the CV's baselines use as many, the random forest a third as many trees)")
    learning_rate: float = Field(default=0.05, gt=0, description="LightGBM learning rate")
    num_leaves: int = Field(default=31, ge=2, description="LightGBM leaves per tree")
    min_child_samples: int = Field(default=10, ge=1, description="LightGBM minimum rows per leaf")
    colsample_bytree: float = Field(default=0.3, gt=0, le=1, description="fraction of features per tree")
    subsample: float = Field(default=0.8, gt=0, le=1, description="fraction of rows per tree")
    huber_alpha_v: float = Field(default=1.0, gt=0, description="Huber transition point of the voltage loss, V")
    knn_k: int = Field(default=5, ge=1, description="neighbours averaged by the kNN target-encoding features")
    pca_components: int = Field(default=20, ge=2, description="PCA dimensions of the distance space")
    domain_quantile: float = Field(default=0.95, gt=0, lt=1, description="quantile of the training rows' nearest-other-host distances used as the in_domain threshold")
    calibration_folds: int = Field(default=5, ge=2, description="host-grouped folds giving the out-of-fold residuals of the uncertainty model")
    fit_uncertainty: bool = Field(default=True, description="fit the uncertainty models (the CV of point accuracy switches this off)")
    n_jobs: int = Field(default=1, ge=1, description="LightGBM threads (1 wastes least CPU on a shared machine)")
    seed: int = Field(default=0, description="base random seed")


def lgb_params(cfg: ModelConfig, seed: int, objective: str = "l2", alpha: float = 1.0) -> dict[str, Any]:
    """LightGBM regressor parameters of this config."""
    params: dict[str, Any] = dict(
        n_estimators=cfg.n_estimators, learning_rate=cfg.learning_rate, num_leaves=cfg.num_leaves,
        min_child_samples=cfg.min_child_samples, colsample_bytree=cfg.colsample_bytree, subsample=cfg.subsample,
        subsample_freq=1, random_state=seed, n_jobs=cfg.n_jobs, verbose=-1, objective=objective,
    )
    if objective == "huber":
        params["alpha"] = alpha
    return params


@dataclass
class TargetModel:
    """A seed ensemble for one target, the training targets its kNN features need, and its uncertainty model."""

    members: list[Any]
    """LightGBM boosters."""
    knn_y: np.ndarray
    residual_model: Any | None = None
    calib_scale: float = 1.0

    def predict(self, X: np.ndarray, Z_query: np.ndarray, Z_train: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean prediction and 1-sigma (the ensemble spread when there is no uncertainty model)."""
        import numpy as np

        Xa = np.c_[X, knn_query(Z_train, self.knn_y, Z_query, k)]
        preds = np.stack([m.predict(Xa) for m in self.members])
        mean = preds.mean(axis=0)
        if self.residual_model is None:
            return mean, preds.std(axis=0)
        abs_err = np.maximum(self.residual_model.predict(Xa), 1e-9)
        return mean, abs_err * np.sqrt(np.pi / 2.0) * self.calib_scale

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the trees in LightGBM's text format."""
        return {
            "members": [m.model_to_string() for m in self.members],
            "knn_y": self.knn_y.tolist(),
            "residual_model": None if self.residual_model is None else self.residual_model.model_to_string(),
            "calib_scale": self.calib_scale,
        }

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> TargetModel:
        """Inverse of to_dict."""
        import lightgbm as lgb
        import numpy as np

        residual = payload.get("residual_model")
        return cls(
            members=[lgb.Booster(model_str=s) for s in payload["members"]],
            knn_y=np.asarray(payload["knn_y"], dtype=float),
            residual_model=None if residual is None else lgb.Booster(model_str=residual),
            calib_scale=float(payload["calib_scale"]),
        )


def fit_target(X: np.ndarray, y: np.ndarray, groups: np.ndarray, Z: np.ndarray, cfg: ModelConfig,
               objective: str, alpha: float = 1.0) -> TargetModel:
    """A seed ensemble for one target plus, when asked, its uncertainty model from host-grouped out-of-fold residuals."""
    import lightgbm as lgb
    import numpy as np
    from sklearn.model_selection import GroupKFold

    def fit(Xa: np.ndarray, target: np.ndarray, seed: int, obj: str = objective, rounds: int | None = None) -> Any:
        params = lgb_params(cfg, seed, obj, alpha)
        if rounds is not None:
            params["n_estimators"] = rounds
        return lgb.LGBMRegressor(**params).fit(Xa, target).booster_

    X_all = np.c_[X, knn_encode(Z, y, groups, cfg.knn_k)]
    members = [fit(X_all, y, cfg.seed + s) for s in range(cfg.n_seeds)]
    model = TargetModel(members=members, knn_y=y.copy())
    if not cfg.fit_uncertainty:
        return model
    oof = np.zeros(len(y))
    n_folds = min(cfg.calibration_folds, len(np.unique(groups)))
    for fold, (tr, te) in enumerate(GroupKFold(n_splits=n_folds, shuffle=True, random_state=cfg.seed).split(X, y, groups)):
        X_tr = np.c_[X[tr], knn_encode(Z[tr], y[tr], groups[tr], cfg.knn_k)]
        X_te = np.c_[X[te], knn_query(Z[tr], y[tr], Z[te], cfg.knn_k)]
        oof[te] = fit(X_tr, y[tr], cfg.seed + 100 + fold).predict(X_te)
    abs_res = np.abs(oof - y)
    model.residual_model = fit(X_all, abs_res, cfg.seed + 7, "l1", max(50, cfg.n_estimators // 3))
    # one global factor, so that the out-of-fold z-scores have the median |z| of a normal (0.6745)
    pred_sd = np.maximum(model.residual_model.predict(X_all), 1e-9) * np.sqrt(np.pi / 2.0)
    median = float(np.median(abs_res / pred_sd))
    model.calib_scale = median / 0.6745 if np.isfinite(median) and median > 0 else 1.0
    return model


def electrode_key(e: ParsedElectrode) -> tuple[Any, ...]:
    """A hashable key of an electrode reduced to one host atom: equal for the same electrode however it is written."""
    host_atoms = sum(a for el, a in e.discharged.items() if el != e.working_ion)
    discharged = tuple(sorted((el, round(a / host_atoms, 6)) for el, a in e.discharged.items()))
    return (e.working_ion, round(e.charged.get(e.working_ion, 0.0) / host_atoms, 6), discharged)


@dataclass
class ElectrodeModel:
    """A trained electrode model with the table it knows; get one from tools.electrodes.cache.load_or_train."""

    config: ModelConfig
    voltage: TargetModel
    log_volume_per_atom: TargetModel
    space: DistanceSpace
    train_Z: np.ndarray
    domain_threshold: float
    known: list[dict[str, Any]] = field(default_factory=list)
    """Battery id, formulas and published values of every training row."""
    known_keys: dict[tuple[Any, ...], int] = field(default_factory=dict)

    def predict_arrays(self, electrodes: Sequence[ParsedElectrode]) -> dict[str, np.ndarray]:
        """Vectorised prediction for parsed electrodes: arrays keyed by output name."""
        import numpy as np
        from sklearn.neighbors import NearestNeighbors

        from tools.electrodes.features import featurize

        X = featurize(electrodes)
        Zq = self.space.transform(X)
        k = self.config.knn_k
        volt, volt_sd = self.voltage.predict(X, Zq, self.train_Z, k)
        log_vpa, log_vpa_sd = self.log_volume_per_atom.predict(X, Zq, self.train_Z, k)
        grav = np.array([e.gravimetric_capacity_mah_g for e in electrodes])
        mass = np.array([e.discharged_mass_g_mol for e in electrodes])
        atoms = np.array([sum(e.discharged.values()) for e in electrodes])
        density = mass / atoms / np.exp(log_vpa) * AMU_PER_A3_TO_G_PER_CM3
        dist, nearest = NearestNeighbors(n_neighbors=1).fit(self.train_Z).kneighbors(Zq)
        return {
            "average_voltage_v": volt,
            "average_voltage_v_std": volt_sd,
            "gravimetric_capacity_mah_g": grav,
            "discharged_density_g_cm3": density,
            "volumetric_capacity_mah_cm3": grav * density,
            # d(vol)/d(log vpa) = -vol, so sigma(vol) = vol x sigma(log vpa)
            "volumetric_capacity_mah_cm3_std": grav * density * log_vpa_sd,
            "gravimetric_energy_wh_kg": volt * grav,
            "gravimetric_energy_wh_kg_std": volt_sd * grav,
            "domain_distance": dist[:, 0],
            "nearest_index": nearest[:, 0],
        }

    def predict(self, electrodes: Sequence[ParsedElectrode], candidates: Sequence[ElectrodeCandidate]) -> list[ElectrodePrediction]:
        """Predictions for parsed electrodes, labelled with the candidates they were parsed from."""
        from tools.electrodes.schemas import ElectrodePrediction, NearestKnown

        if not electrodes:
            return []
        out = self.predict_arrays(electrodes)
        results = []
        for i, (candidate, e) in enumerate(zip(candidates, electrodes, strict=True)):
            exact = self.known_keys.get(electrode_key(e))
            j = exact if exact is not None else int(out["nearest_index"][i])
            distance = float(out["domain_distance"][i])
            nearest = NearestKnown(**self.known[j], exact_match=exact is not None, feature_distance=0.0 if exact is not None else distance)
            values = {name: float(out[name][i]) for name in (
                "average_voltage_v", "average_voltage_v_std", "gravimetric_capacity_mah_g", "volumetric_capacity_mah_cm3",
                "volumetric_capacity_mah_cm3_std", "discharged_density_g_cm3", "gravimetric_energy_wh_kg",
                "gravimetric_energy_wh_kg_std", "domain_distance")}
            results.append(ElectrodePrediction(
                working_ion=e.working_ion, charged_formula=candidate.charged_formula.strip(),
                discharged_formula=candidate.discharged_formula.strip(), host_formula=e.host_formula,
                gravimetric_capacity_mah_g_std=0.0, in_domain=distance <= self.domain_threshold,
                domain_threshold=float(self.domain_threshold), nearest_known=nearest, **values,
            ))
        return results

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form of the whole model."""
        return {
            "config": self.config.model_dump(mode="json"),
            "voltage": self.voltage.to_dict(),
            "log_volume_per_atom": self.log_volume_per_atom.to_dict(),
            "space": self.space.to_dict(),
            "train_Z": self.train_Z.tolist(),
            "domain_threshold": self.domain_threshold,
            "known": self.known,
            "known_keys": [[list(key[:2]) + [list(map(list, key[2]))], index] for key, index in self.known_keys.items()],
        }

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> ElectrodeModel:
        """Inverse of to_dict (KeyError, TypeError or ValueError when the payload is not a model)."""
        import numpy as np

        keys = {(k[0], float(k[1]), tuple((str(el), float(a)) for el, a in k[2])): int(i) for k, i in payload["known_keys"]}
        return cls(
            config=ModelConfig.model_validate(payload["config"]),
            voltage=TargetModel.from_dict(payload["voltage"]),
            log_volume_per_atom=TargetModel.from_dict(payload["log_volume_per_atom"]),
            space=DistanceSpace.from_dict(payload["space"]),
            train_Z=np.asarray(payload["train_Z"], dtype=float),
            domain_threshold=float(payload["domain_threshold"]),
            known=list(payload["known"]),
            known_keys=keys,
        )


def train_model(ds: ElectrodeDataset, config: ModelConfig | None = None) -> ElectrodeModel:
    """Train the electrode model on every row of `ds`."""
    import numpy as np
    from sklearn.neighbors import NearestNeighbors

    from tools.electrodes.features import featurize

    cfg = config or ModelConfig()
    X = featurize(ds.electrodes)
    space = DistanceSpace.fit(X, cfg.pca_components, cfg.seed)
    Z = space.transform(X)
    groups = ds.hosts
    atoms = np.array([sum(e.discharged.values()) for e in ds.electrodes])
    mass = np.array([e.discharged_mass_g_mol for e in ds.electrodes])
    log_vpa = np.log(mass / atoms / ds.density_g_cm3 * AMU_PER_A3_TO_G_PER_CM3)
    voltage = fit_target(X, ds.voltage_v, groups, Z, cfg, "huber", cfg.huber_alpha_v)
    volume = fit_target(X, log_vpa, groups, Z, cfg, "l2")
    # in_domain threshold: a quantile of each training row's distance to its nearest row of another host
    dist, idx = NearestNeighbors(n_neighbors=min(len(Z), 60)).fit(Z).kneighbors(Z)
    other = np.where(groups[idx] != groups[:, None], dist, np.inf).min(axis=1)
    other = other[np.isfinite(other)]
    threshold = float(np.quantile(other, cfg.domain_quantile)) if len(other) else float("inf")
    frame = ds.frame
    known = [
        dict(battery_id=ds.battery_ids[i], charged_formula=str(frame["Formula Charge"].iloc[i]),
             discharged_formula=str(frame["Formula Discharge"].iloc[i]), working_ion=ds.electrodes[i].working_ion,
             average_voltage_v=float(ds.voltage_v[i]), gravimetric_capacity_mah_g=float(ds.gravimetric_mah_g[i]),
             volumetric_capacity_mah_cm3=float(ds.volumetric_mah_cm3[i]))
        for i in range(len(ds))
    ]
    keys: dict[tuple[Any, ...], int] = {}
    for i, e in enumerate(ds.electrodes):
        keys.setdefault(electrode_key(e), i)
    return ElectrodeModel(config=cfg, voltage=voltage, log_volume_per_atom=volume, space=space, train_Z=Z,
                          domain_threshold=threshold, known=known, known_keys=keys)
