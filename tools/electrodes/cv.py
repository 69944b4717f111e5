"""The cross-validated comparison: a mean control, a random forest and LightGBM on the same features, and ours.

Every model sees the same folds. `grouped` folds keep each host (all its working ions) in one
fold, so a score says how well the model does on hosts it never saw; `random` folds let hosts
leak across folds (that is how most published figures are made). The baselines learn all three
targets from the features without the exact capacity column; ours computes the gravimetric
capacity exactly and learns voltage and density (tools.electrodes.model).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from tools.electrodes.model import ModelConfig
from tools.electrodes.schemas import TARGETS, CVReport, CVRow, PublishedFigure

if TYPE_CHECKING:
    import numpy as np

    from tools.electrodes.data import ElectrodeDataset

MODELS: tuple[str, ...] = ("mean", "rf", "lgbm", "ours")
MODEL_LABELS: dict[str, str] = {
    "mean": "mean (control)",
    "rf": "RF @ Magpie-style",
    "lgbm": "LightGBM @ Magpie-style",
    "ours": "ours",
    "crabnet": "CrabNet",
}
OURS_NOTE = ("ours: gravimetric capacity exact (Faraday's law); voltage and discharged density from LightGBM (Huber loss for "
             "the voltage) on the Magpie-style features of both end members plus kNN target encoding; volumetric = exact "
             "gravimetric x predicted density")
CRABNET_NOT_RUN = (
    "not run: CrabNet cannot be installed for Python 3.11 with pip (every crabnet release from 1.0.2 on requires "
    "Python < 3.11, 2.0.8 '>=3.7,<3.11'; 1.0.0 and 1.0.1 depend on the conda-only names python, pytorch and "
    "cudatoolkit==11.3: ResolutionImpossible). Forced in (2.0.8 --no-deps --ignore-requires-python, torch 2.13 CPU) it "
    "trains, but 20 epochs of one fold's voltage (2,784 rows) had not finished after 5.6 CPU-minutes; its default "
    "300 epochs x 5 folds x 3 targets would take about 19 CPU-hours"
)
PUBLISHED: tuple[PublishedFigure, ...] = tuple(
    PublishedFigure(source="Wu & Hargreaves 2026 (Battery Explorer, their split)", model="CrabNet", target=t, mae=mae, scaled_mae=s)
    for t, mae, s in (("average_voltage_v", 1.09, 0.474), ("gravimetric_capacity_mah_g", 24.7, 0.284),
                      ("volumetric_capacity_mah_cm3", 94.3, 0.295))
)
Progress = Callable[[str, int, int], None]


def make_folds(ds: ElectrodeDataset, grouped: bool, n_splits: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled K-fold splits; `grouped` keeps every host (with all its ions) in one fold."""
    import numpy as np
    from sklearn.model_selection import GroupKFold, KFold

    idx = np.arange(len(ds))
    if grouped:
        return list(GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(idx, groups=ds.hosts))
    return list(KFold(n_splits=n_splits, shuffle=True, random_state=seed).split(idx))


def holdout_split(ds: ElectrodeDataset, test_size: float = 0.2, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """A host-grouped hold-out: no host appears on both sides."""
    import numpy as np
    from sklearn.model_selection import GroupShuffleSplit

    split = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    train, test = next(split.split(np.arange(len(ds)), groups=ds.hosts))
    return train, test


def targets_of(ds: ElectrodeDataset) -> dict[str, np.ndarray]:
    """The published values of every target."""
    return {"average_voltage_v": ds.voltage_v, "gravimetric_capacity_mah_g": ds.gravimetric_mah_g,
            "volumetric_capacity_mah_cm3": ds.volumetric_mah_cm3}


def baseline_features(X: np.ndarray) -> np.ndarray:
    """The features the baselines learn from: all but the exact capacity (they must learn capacity)."""
    import numpy as np

    from tools.electrodes.features import feature_names

    keep = [i for i, name in enumerate(feature_names()) if name != "gravimetric_capacity_exact"]
    return np.asarray(X[:, keep])


def fit_predict(name: str, ds: ElectrodeDataset, X: np.ndarray, train: np.ndarray, test: np.ndarray,
                config: ModelConfig) -> dict[str, np.ndarray]:
    """Fit model `name` on rows `train` and predict every target for rows `test`."""
    import numpy as np

    ys = targets_of(ds)
    if name == "mean":
        return {t: np.full(len(test), ys[t][train].mean()) for t in TARGETS}
    if name == "rf":
        from sklearn.ensemble import RandomForestRegressor

        Xb = baseline_features(X)
        Xb = np.where(np.isnan(Xb), np.nanmean(Xb[train], axis=0), Xb)
        forests = {t: RandomForestRegressor(n_estimators=max(10, config.n_estimators // 3), max_features=0.2, n_jobs=config.n_jobs,
                                            random_state=config.seed).fit(Xb[train], ys[t][train]) for t in TARGETS}
        return {t: np.asarray(forest.predict(Xb[test])) for t, forest in forests.items()}
    if name == "lgbm":
        import lightgbm as lgb

        from tools.electrodes.model import lgb_params

        Xb = baseline_features(X)
        boosted = {t: lgb.LGBMRegressor(**lgb_params(config, config.seed)).fit(Xb[train], ys[t][train]) for t in TARGETS}
        return {t: np.asarray(model.predict(Xb[test])) for t, model in boosted.items()}
    if name == "ours":
        from tools.electrodes.model import train_model

        model = train_model(ds.subset(train), config.model_copy(update={"fit_uncertainty": False}))
        predicted = model.predict_arrays([ds.electrodes[i] for i in test])
        return {t: predicted[t] for t in TARGETS}
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")


def score_table(ds: ElectrodeDataset, scheme: str, predictions: Mapping[str, Mapping[str, np.ndarray]],
                mean_predictions: Mapping[str, np.ndarray]) -> list[CVRow]:
    """MAE, scaled MAE (over the mean control's MAE on the same rows) and R2 per model, target and ion."""
    import numpy as np

    ys = targets_of(ds)
    ions = ds.ions
    rows = []
    for model, preds in predictions.items():
        for t in TARGETS:
            p = np.asarray(preds[t], dtype=float)
            for ion in ["all", *sorted(set(ions))]:
                mask = (np.ones(len(ds), bool) if ion == "all" else ions == ion) & np.isfinite(p)
                if not mask.any():
                    continue
                y = ys[t][mask]
                mae = float(np.mean(np.abs(p[mask] - y)))
                mae_mean = float(np.mean(np.abs(mean_predictions[t][mask] - y)))
                ss = float(np.sum((y - y.mean()) ** 2))
                r2 = 1.0 - float(np.sum((p[mask] - y) ** 2)) / ss if ss > 0 else float("nan")
                rows.append(CVRow(scheme=scheme, model=model, target=t, ion=ion, n=int(mask.sum()), mae=mae,
                                  scaled_mae=mae / mae_mean if mae_mean > 0 else float("nan"), r2=r2))
    return rows


def compare_models(
    ds: ElectrodeDataset,
    config: ModelConfig | None = None,
    scheme: str = "grouped",
    n_splits: int = 5,
    seed: int = 0,
    models: Sequence[str] = MODELS,
    progress: Progress | None = None,
) -> tuple[CVReport, dict[str, dict[str, np.ndarray]]]:
    """The comparison table and every model's out-of-fold predictions ({model: {target: array}}).

    `progress(message, done, total)` hears of every model of every fold.
    """
    import numpy as np

    from tools.electrodes.cache import config_key
    from tools.electrodes.features import featurize

    if scheme not in ("grouped", "random"):
        raise ValueError(f"unknown fold scheme {scheme!r}; choose grouped or random")
    cfg = config or ModelConfig()
    started = time.perf_counter()
    names = list(dict.fromkeys(["mean", *models]))
    X = featurize(ds.electrodes)
    folds = make_folds(ds, scheme == "grouped", n_splits, seed)
    oof = {m: {t: np.full(len(ds), np.nan) for t in TARGETS} for m in names}
    total, done = len(folds) * len(names), 0
    for k, (train, test) in enumerate(folds):
        for name in names:
            if progress is not None:
                progress(f"fold {k + 1}/{len(folds)}: {MODEL_LABELS[name]}", done, total)
            predicted = fit_predict(name, ds, X, train, test, cfg)
            for t in TARGETS:
                oof[name][t][test] = predicted[t]
            done += 1
    if progress is not None:
        progress("scoring", done, total)
    rows = score_table(ds, scheme, {m: oof[m] for m in names if m in models}, oof["mean"])
    report = CVReport(scheme=scheme, n_splits=n_splits, n_rows=len(ds), data_sha256=ds.sha256, config_key=config_key(cfg), rows=rows,
                      not_run={"crabnet": CRABNET_NOT_RUN}, published=list(PUBLISHED), elapsed_s=time.perf_counter() - started)
    return report, oof
