"""Inference speed of the capacity model: LightGBM's predict vs the compiled (numba) evaluator.

The proposer's swarm calls the model 1000 times with 100 rows (100,000 evaluations of the
whole ensemble); scoring candidates in bulk is one call of 100,000 rows. Prints JSON with the
median of several repeats for each case, rows per second, and the largest difference between
the compiled and LightGBM's own predictions.

    .venv/bin/python benchmarks/bench_model_inference.py [--model DIR] [--repeats 5]

Without --model it fits the default ensemble (what `load_or_fit` gives the proposer) on the
simulated demo record. The CPU may be shared: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _median_time(fn: Callable[[], object], repeats: int) -> tuple[float, list[float], float]:
    """Median wall time, every wall time, median CPU time (all threads of this process)."""
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(times), times, statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="folder of a saved capacity model (default: fit one on the demo record)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats per case (median reported)")
    parser.add_argument("--calls", type=int, default=1000, help="small calls per swarm run")
    parser.add_argument("--rows", type=int, default=100, help="rows per small call")
    parser.add_argument("--lgb-calls", type=int, default=200,
                        help="small calls actually timed for LightGBM (then scaled to --calls; it is slow)")
    args = parser.parse_args()

    from tools.campaign.virtual_lab import VirtualLab
    from tools.modelling.capacity_model import CapacityModel, fit_capacity_model
    from tools.modelling.tree_compile import predict_mean_std

    load_before = os.getloadavg()
    record = VirtualLab(seed=7).demo_record()
    t0 = time.perf_counter()
    model = CapacityModel.load(args.model) if args.model else fit_capacity_model(record, seed=0)
    fit_or_load_s = time.perf_counter() - t0
    boosters = model.boosters
    failure_booster = model.failure_booster

    # swarm-like inputs: record rows moved around their ranges, categories kept one-hot
    X_rec = model.encoder.encode(record.frame)
    rng = np.random.default_rng(0)
    n_big = args.calls * args.rows
    X_big = X_rec[rng.integers(0, len(X_rec), n_big)].copy()
    numeric = [j for j, name in enumerate(model.encoder.feature_names) if "=" not in name]
    span = X_rec[:, numeric].max(0) - X_rec[:, numeric].min(0)
    X_big[:, numeric] += rng.normal(0, 0.3, (n_big, len(numeric))) * span
    small = [np.ascontiguousarray(X_big[i * args.rows:(i + 1) * args.rows]) for i in range(args.calls)]

    t0 = time.perf_counter()
    model.predict_encoded(small[0])
    first_call_s = time.perf_counter() - t0  # numba: import + load from cache (or compile)
    model.predict_encoded(X_big)  # warm the parallel kernel too

    results: dict[str, dict[str, object]] = {}

    def record_case(name: str, measured: tuple[float, list[float], float], rows: int, scale: float = 1.0, note: str = "") -> None:
        median, times, cpu = measured
        results[name] = {"median_s": round(median * scale, 4), "runs_s": [round(t * scale, 4) for t in times],
                         "median_cpu_s": round(cpu * scale, 4), "rows": rows, "rows_per_s": round(rows / (median * scale)),
                         **({"note": note} if note else {})}

    lgb_calls = min(args.lgb_calls, args.calls)
    scale = args.calls / lgb_calls
    note = f"timed {lgb_calls} calls, scaled x{scale:g}" if scale != 1 else ""
    reps = args.repeats
    ens_reps = max(1, min(reps, 3))
    record_case("lightgbm_one_member_small_calls",
                _median_time(lambda: [boosters[0].predict(x) for x in small[:lgb_calls]], reps), n_big, scale, note)
    record_case("lightgbm_one_member_one_batch", _median_time(lambda: boosters[0].predict(X_big), reps), n_big)
    record_case("lightgbm_ensemble_small_calls",
                _median_time(lambda: [[b.predict(x) for b in boosters] for x in small[:lgb_calls]], ens_reps), n_big, scale, note)
    record_case("lightgbm_ensemble_one_batch", _median_time(lambda: [b.predict(X_big) for b in boosters], ens_reps), n_big)
    record_case("compiled_ensemble_small_calls", _median_time(lambda: [model.predict_encoded(x) for x in small], reps), n_big)
    record_case("compiled_ensemble_one_batch_serial",
                _median_time(lambda: predict_mean_std(model.forest, X_big, parallel=False), reps), n_big)
    record_case("compiled_ensemble_one_batch_parallel",
                _median_time(lambda: predict_mean_std(model.forest, X_big, parallel=True), reps), n_big)
    record_case("compiled_ensemble_plus_failure_small_calls",
                _median_time(lambda: [(model.predict_encoded(x), model.failure_probability_encoded(x)) for x in small], reps), n_big)

    check = X_big[:5000]
    ours = model.predict_members_encoded(check)
    theirs = np.column_stack([b.predict(check) for b in boosters])
    fail_diff = 0.0
    if failure_booster is not None:
        fail_diff = float(np.abs(model.failure_probability_encoded(check) - failure_booster.predict(check)).max())

    print(json.dumps({
        "benchmark": "capacity model inference",
        "model": str(args.model) if args.model else "default ensemble fitted on the demo record (seed 7)",
        "n_members": model.metadata.n_members,
        "n_trees": model.forest.n_trees,
        "tree_steps_per_row": int(model.forest.depth.sum()),
        "failure_model_trees": 0 if model.failure_forest is None else model.failure_forest.n_trees,
        "hyperparameters": model.metadata.hyperparameters,
        "fit_or_load_s": round(fit_or_load_s, 3),
        "first_compiled_call_s": round(first_call_s, 3),
        "calls": args.calls,
        "rows_per_call": args.rows,
        "repeats": args.repeats,
        "results": results,
        "speedup_small_calls_vs_lightgbm_ensemble": round(
            float(results["lightgbm_ensemble_small_calls"]["median_s"]) / float(results["compiled_ensemble_small_calls"]["median_s"]), 1),  # type: ignore[arg-type]
        "max_abs_diff_vs_lightgbm_mah_g": float(np.abs(ours - theirs).max()),
        "max_abs_diff_failure_probability": fail_diff,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                    "note": ("CPU shared with other jobs: wall times vary with the load; median_cpu_s (CPU time of "
                             "all this process's threads) is the steadier figure for single-threaded cases")},
    }, indent=2))


if __name__ == "__main__":
    main()
