"""Benchmark the active-learning loop against the virtual lab: prints JSON with the gap figures.

Per strategy (ours, random, expert) and shot: median over seeds of the gap closed, the best
measured capacity, failed runs and the model's prediction error (ours). SIMULATED results.

Usage: .venv/bin/python benchmarks/bench_campaign.py [--seeds 0,1,2,3,4] [--shots 2] [--n 10]
       [--iterations 1000] [--particles 100] [--strategies ours,random,expert]
Takes several minutes (one model fit and one full swarm per seed and shot).
"""

from __future__ import annotations

import argparse
import json
import sys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--shots", type=int, default=2)
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--particles", type=int, default=100)
    parser.add_argument("--strategies", default="ours,random,expert")
    args = parser.parse_args()

    from tools.campaign.simulation import run_campaign

    result = run_campaign(
        shots=args.shots,
        n=args.n,
        fixed={"ni": 0.94},
        seeds=[int(s) for s in args.seeds.split(",")],
        strategies=args.strategies.split(","),
        iterations=args.iterations,
        particles=args.particles,
        progress=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    summary = {
        rep.strategy: {
            "median_gap_closed": [round(x, 3) for x in rep.median_gap_closed],
            "median_best_mah_g": [round(x, 2) for x in rep.median_best_mah_g],
            "median_failed_runs": rep.median_failed_runs,
            "median_mean_pct_error": [None if x is None else round(x, 3) for x in rep.median_mean_pct_error],
            "gap_closed_per_seed_last_shot": [round(s.shots[-1].gap_closed, 3) for s in rep.seeds],
        }
        for rep in result.strategies
        if rep.available
    }
    print(json.dumps({
        "benchmark": "campaign",
        "fixed": result.fixed,
        "shots": result.shots,
        "n": result.n,
        "seeds": result.seeds,
        "iterations": result.iterations,
        "particles": result.particles,
        "summary": summary,
        "elapsed_s": round(result.elapsed_s, 1),
        "target": "median gap closed >= 0.6 after 2 shots, ahead of random and expert, shot-2 error <= 1.5 %",
        "note": result.note,
    }, indent=2))


if __name__ == "__main__":
    main()
