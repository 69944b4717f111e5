"""The electrode model against the issue's goals: a host-grouped hold-out, the 5-fold CV table, training and prediction time.

Prints JSON:
- holdout: 20% of the hosts (GroupShuffleSplit, seed 42) the model never sees; MAE, scaled MAE,
  R2 and median error per target for the mean control, plain LightGBM and ours, overall and per
  working ion, plus the calibration of the uncertainties and the in_domain split;
- cv: the comparison table (tools.electrodes.cv) for each fold scheme asked for;
- timing: training the full model from scratch (median of --repeats), and predicting 1,000 rows
  of the table after the model is cached, in this process (cache load + predict) and through
  `matassist electrode predict --data 1000.csv --out` in a fresh process (median of --repeats);
- the load average before and after, since the CPU may be shared.

    .venv/bin/python benchmarks/bench_electrodes.py [--schemes grouped,random] [--repeats 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GOALS = {"average_voltage_v": 0.45, "gravimetric_capacity_mah_g": 0.5, "volumetric_capacity_mah_cm3": 40.0,
         "predict_1000_s": 10.0, "train_s": 300.0}


def _metrics(y: np.ndarray, p: np.ndarray, base: np.ndarray) -> dict[str, float | int | None]:
    mae = float(np.mean(np.abs(p - y)))
    ss = float(np.sum((y - y.mean()) ** 2))
    return {"n": len(y), "mae": mae, "scaled_mae": mae / float(np.mean(np.abs(base - y))),
            "r2": 1 - float(np.sum((p - y) ** 2)) / ss if ss > 0 else None, "median_ae": float(np.median(np.abs(p - y)))}


def holdout(ds: Any) -> dict[str, Any]:
    """Train on 80% of the hosts, score on the rest: mean control, plain LightGBM, ours."""
    from tools.electrodes.cv import fit_predict, holdout_split, targets_of
    from tools.electrodes.features import featurize
    from tools.electrodes.model import ModelConfig, train_model
    from tools.electrodes.schemas import TARGETS

    train, test = holdout_split(ds)
    ys = targets_of(ds)
    X = featurize(ds.electrodes)
    config = ModelConfig()
    result: dict[str, Any] = {"n_train": len(train), "n_test": len(test), "n_test_hosts": len(set(ds.hosts[test])),
                              "shared_hosts": len(set(ds.hosts[train]) & set(ds.hosts[test]))}
    preds = {m: fit_predict(m, ds, X, train, test, config) for m in ("mean", "lgbm")}
    started = time.perf_counter()
    model = train_model(ds.subset(train), config)
    result["ours_train_s"] = time.perf_counter() - started
    ours = model.predict_arrays([ds.electrodes[i] for i in test])
    preds["ours"] = {t: ours[t] for t in TARGETS}
    ions = ds.ions[test]
    for name, p in preds.items():
        result[name] = {}
        for t in TARGETS:
            y = ys[t][test]
            result[name][t] = {"all": _metrics(y, p[t], preds["mean"][t])}
            for ion in sorted(set(ions)):
                k = ions == ion
                result[name][t][ion] = _metrics(y[k], p[t][k], preds["mean"][t][k])
    from scipy.stats import spearmanr

    calibration = {}
    for t in ("average_voltage_v", "volumetric_capacity_mah_cm3"):
        error, sd = np.abs(ours[t] - ys[t][test]), ours[f"{t}_std"]
        calibration[t] = {"within_1sd": float(np.mean(error <= sd)), "within_2sd": float(np.mean(error <= 2 * sd)),
                          "median_sd": float(np.median(sd)), "spearman_abs_error_vs_sd": float(spearmanr(error, sd).statistic)}
    result["uncertainty"] = calibration
    inside = ours["domain_distance"] <= model.domain_threshold
    result["in_domain"] = {"share": float(inside.mean())}
    for t in ("average_voltage_v", "volumetric_capacity_mah_cm3"):
        error = np.abs(ours[t] - ys[t][test])
        result["in_domain"][t] = {"mae_in": float(error[inside].mean()), "mae_out": float(error[~inside].mean()) if (~inside).any() else None}
    result["goals_met"] = {t: result["ours"][t]["all"]["mae"] <= GOALS[t] for t in TARGETS}
    return result


def cv(ds: Any, scheme: str) -> dict[str, Any]:
    """The comparison table of one fold scheme (progress on stderr)."""
    from tools.electrodes.cv import compare_models

    def say(message: str, done: int, total: int) -> None:
        print(f"[cv {scheme} {done}/{total}] {message}", file=sys.stderr, flush=True)

    report, _ = compare_models(ds, scheme=scheme, progress=say)
    return report.model_dump(mode="json")


def timing(ds: Any, repeats: int) -> dict[str, Any]:
    """Training from scratch and predicting 1,000 rows with the cached model, median of `repeats`."""
    from tools.electrodes.cache import load_or_train
    from tools.electrodes.predict import predict_candidates
    from tools.electrodes.schemas import ElectrodeCandidate

    rng = np.random.default_rng(1)
    rows = ds.frame.iloc[np.sort(rng.choice(len(ds), 1000, replace=False))]
    candidates = [ElectrodeCandidate(working_ion=i, charged_formula=c, discharged_formula=d)
                  for i, c, d in zip(rows["Working Ion"], rows["Formula Charge"], rows["Formula Discharge"], strict=True)]
    train_s, train_cpu_s, predict_s, cli_s = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(repeats):
            started, cpu = time.perf_counter(), time.process_time()
            _, info = load_or_train(Path(tmp) / f"run{k}")
            train_s.append(time.perf_counter() - started)
            train_cpu_s.append(time.process_time() - cpu)
            assert not info.reused
        models = Path(tmp) / "run0"
        for _ in range(repeats):
            started = time.perf_counter()
            model, info = load_or_train(models)
            result = predict_candidates(model, info, candidates)
            predict_s.append(time.perf_counter() - started)
            assert info.reused and len(result.predictions) == 1000
        data_dir = Path(tmp) / "data"
        (data_dir / "models").mkdir(parents=True)
        os.symlink(models, data_dir / "models" / "electrodes")
        table, out = Path(tmp) / "in.csv", Path(tmp) / "out.csv"
        rows[["Working Ion", "Formula Charge", "Formula Discharge"]].to_csv(table, index=False)
        env = {**os.environ, "MATASSIST_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "cli.app", "electrode", "predict", "--data", str(table), "--out", str(out), "--json"],
                           check=True, capture_output=True, env=env, cwd=ROOT)
            cli_s.append(time.perf_counter() - started)
    return {
        "train_s_runs": train_s, "train_s_median": statistics.median(train_s), "train_cpu_s_median": statistics.median(train_cpu_s),
        "predict_1000_in_process_s_runs": predict_s, "predict_1000_in_process_s_median": statistics.median(predict_s),
        "predict_1000_cli_s_runs": cli_s, "predict_1000_cli_s_median": statistics.median(cli_s),
        "note": "in process: cache load + parse + features + predict; CLI: a fresh `matassist electrode predict --data --out` (imports included)",
        "goals_met": {"train_s": statistics.median(train_s) <= GOALS["train_s"],
                      "predict_1000_s": statistics.median(cli_s) <= GOALS["predict_1000_s"]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--schemes", default="grouped,random", help="CV fold schemes, comma-separated (grouped, random)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each timing (median reported)")
    parser.add_argument("--parts", default="holdout,cv,timing", help="which parts to run")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()

    from tools.electrodes.data import load_dataset

    load_before = os.getloadavg()
    started = time.perf_counter()
    ds = load_dataset()
    payload: dict[str, Any] = {"rows": len(ds), "data_sha256": ds.sha256, "cpu_count": os.cpu_count(), "goals": GOALS}
    parts = set(args.parts.split(","))
    capacity = np.array([e.gravimetric_capacity_mah_g for e in ds.electrodes])
    payload["capacity_reproduction_max_abs_error_mah_g"] = float(np.abs(capacity - ds.gravimetric_mah_g).max())
    if "holdout" in parts:
        payload["holdout"] = holdout(ds)
    if "cv" in parts:
        payload["cv"] = {scheme: cv(ds, scheme) for scheme in args.schemes.split(",")}
    if "timing" in parts:
        payload["timing"] = timing(ds, args.repeats)
    payload["wall_s"] = time.perf_counter() - started
    payload["load_average_before"] = load_before
    payload["load_average_after"] = os.getloadavg()
    text = json.dumps(payload, indent=1)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
