"""Fit time and quality of each augmentation method on the simulated demo record; prints JSON.

Usage: python benchmarks/bench_augment.py [--repeats N] [--rows R] [--methods ctgan,tvae,gaussian_copula]
       [--no-utility] [--out FILE]

Each method runs with its default epochs (tools.augmentation.models.DEFAULT_EPOCHS) `repeats` times
with seeds 0..N-1; medians (and every run) of fit time, SDMetrics scores, rejection share and
the utility RMSEs are reported. Timings on a shared CPU are noisy: CPU seconds are given too.
The first run of a process also pays for importing SDV and torch (reported separately).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.augmentation.augment import augment_record  # noqa: E402
from tools.augmentation.models import DEFAULT_EPOCHS, METHODS, AugmentationInput  # noqa: E402
from tools.campaign.virtual_lab import VirtualLab  # noqa: E402
from tools.domain.fileio import atomic_write_text  # noqa: E402


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def run(methods: list[str], repeats: int, rows: int, utility: bool) -> dict[str, Any]:
    """Run every method `repeats` times on the demo record and summarise."""
    record = VirtualLab(seed=7).demo_record()
    t0 = time.perf_counter()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import sdv.single_table  # noqa: F401  (import cost measured on its own)
    import_s = time.perf_counter() - t0
    results: dict[str, Any] = {}
    for method in methods:
        runs = []
        for seed in range(repeats):
            started = time.perf_counter()
            report = augment_record(record, AugmentationInput(method=method, rows=rows, seed=seed, check_utility=utility)).report  # type: ignore[arg-type]
            arms = {a.training: {"rmse": a.rmse, "r2": a.r2} for a in (report.utility.arms if report.utility else [])}
            runs.append({
                "seed": seed,
                "fit_seconds": report.fit_seconds,
                "fit_cpu_seconds": report.fit_cpu_seconds,
                "total_seconds": time.perf_counter() - started,
                "column_shapes": report.column_shapes,
                "column_pair_trends": report.column_pair_trends,
                "rejection_share": report.rejection_share,
                "duplicates_dropped": report.duplicates_dropped,
                "exact_copies_dropped": report.exact_copies_dropped,
                "near_copies": report.near_copies,
                "nn_distance_median": report.nn_distance_median,
                "rows_returned": report.rows_returned,
                "utility": arms,
            })
            print(f"{method} seed {seed}: fit {report.fit_seconds:.1f} s", file=sys.stderr, flush=True)
        keys = ["fit_seconds", "fit_cpu_seconds", "total_seconds", "column_shapes", "column_pair_trends",
                "rejection_share", "duplicates_dropped", "nn_distance_median"]
        medians: dict[str, Any] = {k: _median([r[k] for r in runs]) for k in keys}
        for arm in ("real", "real+synthetic", "synthetic"):
            medians[f"rmse_{arm}"] = _median([r["utility"].get(arm, {}).get("rmse") for r in runs])
        results[method] = {"epochs": DEFAULT_EPOCHS.get(method), "median": medians, "runs": runs}
    return {
        "benchmark": "augmentation on the simulated demo record (652 runs, 571 ok; VirtualLab seed 7)",
        "rows": rows,
        "repeats": repeats,
        "utility_check": utility,
        "sdv_import_seconds": import_s,
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine()},
        "note": "wall-clock times on a shared CPU are noisy; fit_cpu_seconds counts this process only",
        "methods": results,
    }


def main() -> None:
    """Parse arguments, run, print JSON (and write it with --out)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--no-utility", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown method(s): {', '.join(sorted(unknown))}")
    payload = run(methods, args.repeats, args.rows, not args.no_utility)
    text = json.dumps(payload, indent=2)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    print(text)  # noqa: T201


if __name__ == "__main__":
    main()
