"""Nested 5-fold CV RMSE on public NCM records: plain LightGBM random search vs chemistry-aware variants.

The data are NOT part of this repository. Pass the path of a copy (docs/proposer.md gives
repository, path and commit of each):
- ``--dataset wang``: the doped-NCM record of Wang et al. 2021 (ACS Cent. Sci. 7, 1551; 168 runs,
  initial capacity IC), as published in Tawheed-tariq/Application-of-ML-in-lithium-ion-batteries
  (NMC_numerical_new.csv);
- ``--dataset liow``: the NCM synthesis record of Liow et al. 2022 (Nano Energy 98, 107214;
  408 runs, particle sizes imputed by the authors with MICE), as published in
  lchlyw/lithium_ion_mnc (impute_NCM_MICE.csv); only the 191 runs at <= 0.2 C are used.

Every variant is scored the same way: outer 5-fold CV (shuffled, grouped so that runs with
identical inputs never straddle a split; repeated with --repeats different shuffles), inside each
outer training split a RandomizedSearchCV (5-fold, --n-iter
candidates) picks the hyper-parameters, the refit model predicts the outer test fold. Derived
features are row-wise formulas of the record's own columns (no fitted statistics), so they
cannot leak across folds. Prints JSON: per variant, RMSE per repeat and fold, mean and the change
against the plain baseline.

Usage: python benchmarks/bench_public_records.py --data /path/NMC_numerical_new.csv --target IC
       [--repeats 3] [--n-iter 30] [--variants plain,chem,chem_mono,...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

FARADAY_MAH = 26801.5  # mAh per mol of electrons

# Wang et al. 2021 columns (Tawheed-tariq copy): composition per formula unit, dopant content M,
# lattice a, c (A), cell volume (A^3), current density CD (mA/g), voltage window, dopant molar
# mass, formula molar mass Mr, dopant electrons, electronegativity, isotopes, ionisation energy,
# electron affinity, atomic and ionic radius (pm)
WANG_COLUMNS = ["Li", "Ni", "Co", "Mn", "M", "LC_a", "LC_c", "CV", "CD", "V_min", "V_max", "Mr_dopant", "Mr",
                "no_electron_M", "EN_M", "No_iso_dopant", "E_ion_dopant", "EA_dopant", "AR_dopant", "IR_dopant"]


def chemistry_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Row-wise chemistry-aware features for a composition/dopant record (Wang et al. columns).

    - theoretical capacities (mAh/g) from the formula mass: one Li per formula unit, all the Li,
      and the Ni + Co redox couples (Mn4+ is inactive), and the smaller of the last two;
    - c/a (cation ordering of the layered structure; > 4.9 well layered), Li excess;
    - voltage window, log current density (rate losses scale with log rate);
    - dopant content weighted by its electronegativity and by its ionic-radius mismatch to Ni3+
      (56 pm) and the dopant's share of the transition-metal site.
    """
    f = frame
    out = pd.DataFrame(index=f.index)
    out["q_one_li"] = FARADAY_MAH / f["Mr"]
    out["q_all_li"] = FARADAY_MAH * f["Li"] / f["Mr"]
    out["q_redox"] = FARADAY_MAH * (f["Ni"] + f["Co"]) / f["Mr"]
    out["q_limit"] = np.minimum(out["q_all_li"], FARADAY_MAH * (2 * f["Ni"] + f["Co"]) / f["Mr"])
    out["c_over_a"] = f["LC_c"] / f["LC_a"]
    out["li_excess"] = f["Li"] - 1.0
    out["window"] = f["V_max"] - f["V_min"]
    out["log_rate"] = np.log10(f["CD"])
    tm = f["Ni"] + f["Co"] + f["Mn"] + f["M"]
    out["ni_share"] = f["Ni"] / tm
    out["mn_share"] = f["Mn"] / tm
    out["dopant_share"] = f["M"] / tm
    out["dopant_en"] = f["M"] * f["EN_M"]
    out["dopant_mismatch"] = f["M"] * np.abs(f["IR_dopant"] - 56.0)
    return out


def liow_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Row-wise chemistry-aware features for an NCM synthesis record (Liow et al. columns).

    - theoretical capacity (mAh/g) of LiNi_xCo_yMn_zO2 from its formula mass, and the capacity the
      redox couples allow: Mn4+ is inactive and pairs with as much Ni2+ (2 electrons each), the
      rest of the Ni is Ni3+ and Co3+ (1 electron each), capped at one Li per formula unit;
    - calcination: the distance from a Ni-dependent best temperature (about 1000 - 300 Ni degC:
      900 for NCM111, 760 for NCM811, 700 for LiNiO2) and a Larson-Miller-like thermal budget
      T (20 + log10 t);
    - test conditions: log C-rate, the cut-off voltage above 4.3 V times Ni (high-Ni material
      gains more from a higher cut-off), measurement temperature above 25 degC.
    """
    f = frame
    out = pd.DataFrame(index=f.index)
    mass = 6.94 + 58.69 * f["Ni"] + 58.93 * f["Co"] + 54.94 * f["Mn"] + 32.00
    electrons = f["Ni"] + f["Co"] + np.minimum(f["Ni"], f["Mn"])
    out["q_theory"] = FARADAY_MAH / mass
    out["q_redox"] = FARADAY_MAH * np.minimum(1.0, electrons) / mass
    out["temp_vs_best"] = f["sin_temp"] - (1000.0 - 300.0 * f["Ni"])
    out["abs_temp_vs_best"] = np.abs(out["temp_vs_best"])
    out["thermal_budget"] = (f["sin_temp"] + 273.15) * (20.0 + np.log10(f["sin_t"])) / 1000.0
    out["log_rate"] = np.log10(f["c_rate"])
    out["ni_x_cutoff"] = f["Ni"] * (f["cut_off"] - 4.3)
    out["warm"] = f["m_temp"] - 25.0
    return out


# monotone trends a chemist would sign: more capacity with a higher upper cut-off, a lower lower
# cut-off and a lower current density (C-rate)
MONOTONE = {"V_max": 1, "V_min": -1, "CD": -1, "log_rate": -1, "window": 1, "cut_off": 1, "c_rate": -1}

DATASETS: dict[str, dict[str, Any]] = {
    "wang": {"target": "IC", "drop": ["IC", "EC"], "features": chemistry_features, "encoding": "utf-8-sig", "filter": None},
    "liow": {"target": "Dis_cap", "drop": ["Dis_cap", "total"], "features": liow_features, "encoding": "utf-8",
             "filter": lambda f: f[f["c_rate"] <= 0.2]},
}


def _lgbm(monotone: list[int] | None, seed: int) -> Any:
    import lightgbm as lgb

    kw: dict[str, Any] = {"random_state": seed, "n_jobs": 1, "verbose": -1, "subsample_freq": 1}
    if monotone is not None:
        kw["monotone_constraints"] = monotone
        kw["monotone_constraints_method"] = "advanced"
    return lgb.LGBMRegressor(**kw)


def _space() -> dict[str, Any]:
    from scipy.stats import loguniform, randint, uniform

    return {
        "n_estimators": randint(50, 601),
        "learning_rate": loguniform(0.01, 0.3),
        "num_leaves": randint(4, 32),
        "max_depth": randint(2, 9),
        "min_child_samples": randint(2, 21),
        "subsample": uniform(0.5, 0.5),
        "colsample_bytree": uniform(0.4, 0.6),
        "reg_lambda": loguniform(1e-3, 10.0),
    }


def make_variant(name: str, base_cols: list[str], derived: Any = None) -> tuple[Any, Any]:
    """(feature function, estimator factory(seed) -> (estimator, search space or None))."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import ExtraTreesRegressor, VotingRegressor
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def raw(f: pd.DataFrame) -> pd.DataFrame:
        return f[base_cols]

    derive = derived or chemistry_features

    def chem(f: pd.DataFrame) -> pd.DataFrame:
        return pd.concat([f[base_cols], derive(f)], axis=1)

    def mono_for(cols: list[str]) -> list[int]:
        return [MONOTONE.get(c, 0) for c in cols]

    probe = pd.DataFrame({c: [1.0] for c in base_cols}).assign(
        **{k: v for k, v in {"Mr": 90.0, "LC_a": 2.86, "CD": 10.0, "c_rate": 0.1, "sin_t": 10.0}.items() if k in base_cols}
    )
    chem_cols = list(chem(probe).columns)
    space = _space()
    if name == "plain":
        return raw, lambda seed: (_lgbm(None, seed), space)
    if name == "plain_mono":
        return raw, lambda seed: (_lgbm(mono_for(base_cols), seed), space)
    if name == "chem":
        return chem, lambda seed: (_lgbm(None, seed), space)
    if name == "chem_mono":
        return chem, lambda seed: (_lgbm(mono_for(chem_cols), seed), space)
    if name == "extratrees_chem":
        return chem, lambda seed: (ExtraTreesRegressor(n_estimators=300, max_features=0.6, random_state=seed, n_jobs=1), None)
    if name == "gp_chem":
        def gp(seed: int) -> tuple[Any, Any]:
            kernel = ConstantKernel(1.0) * Matern(length_scale=np.ones(len(chem_cols)) * 3.0, nu=2.5, length_scale_bounds=(0.1, 100.0)) + WhiteKernel(0.1)
            reg = TransformedTargetRegressor(
                regressor=make_pipeline(StandardScaler(), GaussianProcessRegressor(kernel=kernel, normalize_y=False, n_restarts_optimizer=1, random_state=seed)),
                transformer=StandardScaler(),
            )
            return reg, None
        return chem, gp
    if name == "blend_chem":
        def blend(seed: int) -> tuple[Any, Any]:
            kernel = ConstantKernel(1.0) * Matern(length_scale=np.ones(len(chem_cols)) * 3.0, nu=2.5, length_scale_bounds=(0.1, 100.0)) + WhiteKernel(0.1)
            gp_reg = TransformedTargetRegressor(
                regressor=make_pipeline(StandardScaler(), GaussianProcessRegressor(kernel=kernel, n_restarts_optimizer=1, random_state=seed)),
                transformer=StandardScaler(),
            )
            et = ExtraTreesRegressor(n_estimators=400, max_features=0.6, random_state=seed, n_jobs=1)
            lgbm = _lgbm(mono_for(chem_cols), seed).set_params(n_estimators=300, learning_rate=0.05, num_leaves=8, min_child_samples=5, subsample=0.8, colsample_bytree=0.7)
            return VotingRegressor([("gp", gp_reg), ("et", et), ("lgbm", lgbm)]), None
        return chem, blend
    raise SystemExit(f"unknown variant {name}")


def nested_cv(X: pd.DataFrame, y: np.ndarray, factory: Any, repeats: int, n_iter: int, groups: np.ndarray) -> dict[str, Any]:
    from sklearn.model_selection import GroupKFold, KFold, RandomizedSearchCV

    per_repeat, per_fold = [], []
    for rep in range(repeats):
        outer = GroupKFold(5, shuffle=True, random_state=100 + rep)
        pred = np.empty_like(y)
        folds = []
        for k, (tr, te) in enumerate(outer.split(X, y, groups)):
            est, space = factory(rep * 10 + k)
            if space is not None:
                search = RandomizedSearchCV(
                    est, space, n_iter=n_iter, cv=KFold(5, shuffle=True, random_state=200 + rep * 10 + k),
                    scoring="neg_root_mean_squared_error", random_state=300 + rep * 10 + k, n_jobs=1, refit=True,
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    search.fit(X.iloc[tr], y[tr])
                model = search.best_estimator_
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = est.fit(X.iloc[tr], y[tr])
            pred[te] = model.predict(X.iloc[te])
            folds.append(float(np.sqrt(np.mean((pred[te] - y[te]) ** 2))))
        per_fold.append(folds)
        per_repeat.append(float(np.sqrt(np.mean((pred - y) ** 2))))
    return {"rmse_per_repeat": per_repeat, "rmse_per_fold": per_fold, "rmse_mean": float(np.mean(per_repeat))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="wang")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-iter", type=int, default=30)
    parser.add_argument("--variants", default="plain,plain_mono,chem,chem_mono,extratrees_chem,gp_chem,blend_chem")
    args = parser.parse_args()
    spec = DATASETS[args.dataset]
    frame = pd.read_csv(args.data, encoding=spec["encoding"])
    n_all = len(frame)
    if spec["filter"] is not None:
        frame = spec["filter"](frame).reset_index(drop=True)
    target = spec["target"]
    base_cols = [c for c in frame.columns if c not in set(spec["drop"])]
    y = frame[target].to_numpy(float)
    groups = pd.factorize(frame[base_cols].astype(str).agg("|".join, axis=1))[0]
    results: dict[str, Any] = {}
    for name in args.variants.split(","):
        t0 = time.perf_counter()
        features, factory = make_variant(name, base_cols, spec["features"])
        X = features(frame)
        res = nested_cv(X, y, factory, args.repeats, args.n_iter, groups)
        res["seconds"] = round(time.perf_counter() - t0, 1)
        res["n_features"] = X.shape[1]
        results[name] = res
        print(f"{name}: {res['rmse_mean']:.2f} ({res['seconds']} s)", file=sys.stderr, flush=True)
    base = results.get("plain", {}).get("rmse_mean")
    for res in results.values():
        res["change_vs_plain"] = None if base is None else round(res["rmse_mean"] / base - 1.0, 4)
    print(json.dumps({"data": args.data, "dataset": args.dataset, "rows_in_file": n_all, "rows": len(frame),
                      "distinct_inputs": int(groups.max() + 1), "target": target, "target_std": float(np.std(y)),
                      "repeats": args.repeats, "n_iter": args.n_iter, "results": results}, indent=1))


if __name__ == "__main__":
    main()
