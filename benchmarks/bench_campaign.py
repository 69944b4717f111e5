"""Benchmark the active-learning loop against both virtual labs: prints JSON with per-seed tables.

For each lab (a, b) and strategy (ours, ours-v1, random, expert; baybe optional on its own seeds
and shots, it takes minutes per batch) and seed: the share of the gap closed after every shot,
the best measured capacity, failed runs, the model's prediction error per shot, the wall and CPU
time per shot. Summary per lab and strategy: median gap closed after each shot, the worst seed
after shot 2, the share of seeds where shot 2 beat shot 1, the median shot-2 prediction error and
the time per shot. Per lab also the ceiling: the share of the gap a loop can close without ever
moving a factor the starting record never varied (tools.campaign.simulation.untried_ceiling, true
values, per seed and median). SIMULATED results.

Work is spread over --jobs processes (one per lab, strategy and block of seeds); --save writes
each block's CampaignResult, --load merges saved blocks instead of running (so a long BayBE run
can be measured separately and joined). --plot writes the best-so-far figure.

Usage: python benchmarks/bench_campaign.py [--labs a,b] [--seeds 0-19] [--shots 5]
       [--strategies ours,ours-v1,random,expert] [--baybe-seeds 0-4 --baybe-shots 2]
       [--jobs 2] [--save DIR] [--load FILE ...] [--plot PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

GOALS = {
    "median_gap_after_2": 0.75,
    "worst_gap_after_2": 0.45,
    "share_shot2_improves": 0.70,
    "median_gap_after_5": 0.90,
    "shot2_error_pct": 1.5,
    "seconds_per_shot": 5.0,
}


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def _run_block(args: tuple[str, str, list[int], int, int, int, int]) -> str:
    from tools.campaign.simulation import run_campaign

    lab, strategy, seeds, shots, n, iterations, particles = args
    result = run_campaign(
        shots=shots, n=n, fixed={"ni": 0.94}, seeds=seeds, strategies=[strategy], iterations=iterations,
        particles=particles, lab=lab, progress=lambda msg: print(f"[lab {lab}] {msg}", file=sys.stderr, flush=True),
    )
    return result.model_dump_json()


def summarise_strategy(rep: dict[str, Any]) -> dict[str, Any]:
    """Per-seed table and the goal figures of one strategy on one lab."""
    seeds = rep["seeds"]
    if not seeds:
        return {"available": rep["available"], "message": rep.get("message", "")}
    shots = len(seeds[0]["shots"])
    table = []
    for s in seeds:
        table.append({
            "seed": s["seed"],
            "record_best": round(s["record_best_mah_g"], 2),
            "optimum": round(s["optimum_mah_g"], 2),
            "gap_closed": [round(x["gap_closed"], 3) for x in s["shots"]],
            "best": [round(x["best_measured_mah_g"], 2) for x in s["shots"]],
            "failed": [x["failed_runs"] for x in s["shots"]],
            "error_pct": [None if x["mean_pct_error"] is None else round(x["mean_pct_error"], 2) for x in s["shots"]],
            "seconds": [round(x["elapsed_s"], 2) for x in s["shots"]],
            "cpu_seconds": [None if x.get("cpu_s") is None else round(x["cpu_s"], 2) for x in s["shots"]],
            "purpose": [x.get("purpose", "") for x in s["shots"]],
        })
    med = [statistics.median(t["gap_closed"][k] for t in table) for k in range(shots)]
    out: dict[str, Any] = {
        "available": True,
        "seeds": len(table),
        "median_gap_closed": [round(x, 3) for x in med],
        "mean_gap_closed": [round(statistics.mean(t["gap_closed"][k] for t in table), 3) for k in range(shots)],
        "median_failed": [statistics.median(t["failed"][k] for t in table) for k in range(shots)],
    }
    errs = [[t["error_pct"][k] for t in table if t["error_pct"][k] is not None] for k in range(shots)]
    out["median_error_pct"] = [round(statistics.median(e), 3) if e else None for e in errs]
    secs = [x for t in table for x in t["seconds"]]
    cpus = [x for t in table for x in t["cpu_seconds"] if x is not None]
    out["seconds_per_shot"] = {"median": round(statistics.median(secs), 2), "max": round(max(secs), 2)}
    if cpus:
        out["cpu_seconds_per_shot"] = {"median": round(statistics.median(cpus), 2), "max": round(max(cpus), 2)}
    if shots >= 2:
        out["worst_gap_after_2"] = round(min(t["gap_closed"][1] for t in table), 3)
        improved = [t["best"][1] > t["best"][0] + 1e-9 for t in table]
        out["share_shot2_improves"] = round(sum(improved) / len(improved), 3)
    if shots >= 5:
        out["worst_gap_after_5"] = round(min(t["gap_closed"][4] for t in table), 3)
    out["per_seed"] = table
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--labs", default="a,b")
    parser.add_argument("--seeds", default="0-19")
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--particles", type=int, default=100)
    parser.add_argument("--strategies", default="ours,ours-v1,random,expert")
    parser.add_argument("--baybe-seeds", default="", help="seeds for BayBE (empty: not run)")
    parser.add_argument("--baybe-shots", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--block", type=int, default=5, help="seeds per process")
    parser.add_argument("--save", default="", help="directory for each block's CampaignResult JSON")
    parser.add_argument("--load", nargs="*", default=[], help="saved CampaignResult JSON files to merge instead of running")
    parser.add_argument("--plot", default="")
    args = parser.parse_args()

    from tools.campaign.simulation import (
        CampaignResult,
        StrategyReport,
        plot_best_so_far,
        untried_ceiling,
    )

    blocks: list[str] = []
    if args.load:
        blocks = [Path(p).read_text() for p in args.load]
    else:
        seeds = _seeds(args.seeds)
        work = []
        for lab in args.labs.split(","):
            for strategy in args.strategies.split(","):
                for i in range(0, len(seeds), args.block):
                    work.append((lab, strategy, seeds[i : i + args.block], args.shots, args.n, args.iterations, args.particles))
            for s in _seeds(args.baybe_seeds):
                work.append((lab, "baybe", [s], args.baybe_shots, args.n, args.iterations, args.particles))
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for k, text in enumerate(pool.map(_run_block, work)):
                blocks.append(text)
                if args.save:
                    Path(args.save).mkdir(parents=True, exist_ok=True)
                    lab, strategy, seeds_b = work[k][0], work[k][1], work[k][2]
                    (Path(args.save) / f"{lab}-{strategy}-{seeds_b[0]}-{seeds_b[-1]}.json").write_text(text)

    # merge blocks per lab and strategy
    merged: dict[str, dict[str, dict[str, Any]]] = {}
    meta: dict[str, dict[str, Any]] = {}
    for text in blocks:
        res = json.loads(text)
        lab = res.get("lab", "a")
        meta.setdefault(lab, {k: res[k] for k in ("fixed", "n", "iterations", "particles")})
        for rep in res["strategies"]:
            slot = merged.setdefault(lab, {}).setdefault(rep["strategy"], {"strategy": rep["strategy"], "available": rep["available"], "message": rep.get("message", ""), "seeds": []})
            slot["seeds"].extend(rep["seeds"])
    summary: dict[str, Any] = {}
    plots = []
    for lab, reps in merged.items():
        summary[lab] = {}
        seen = sorted({s["seed"] for rep in reps.values() for s in rep["seeds"]})
        ceilings = [untried_ceiling(lab, s) for s in seen]
        summary[lab]["ceiling_without_untried"] = {
            "held": ceilings[0].held if ceilings else {},
            "median_share_of_gap": statistics.median(c.share_of_gap for c in ceilings) if ceilings else None,
            "per_seed": [{"seed": c.seed, "share_of_gap": round(c.share_of_gap, 3), "ceiling": round(c.ceiling_mah_g, 2),
                          "optimum": round(c.optimum_mah_g, 2), "record_best": c.record_best_mah_g} for c in ceilings],
        }
        strategies = []
        for name, rep in reps.items():
            rep["seeds"].sort(key=lambda s: s["seed"])
            summary[lab][name] = summarise_strategy(rep)
            strategies.append(StrategyReport(strategy=name, available=rep["available"], message=rep["message"], seeds=rep["seeds"]))
        shots = max((len(s.seeds[0].shots) for s in strategies if s.seeds), default=0)
        plots.append(CampaignResult(lab=lab, fixed=meta[lab]["fixed"], shots=shots, n=meta[lab]["n"], seeds=[],
                                    iterations=meta[lab]["iterations"], particles=meta[lab]["particles"], strategies=strategies, elapsed_s=0.0))
    if args.plot and plots:
        plot_best_so_far(plots, args.plot)
    print(json.dumps({
        "benchmark": "campaign",
        "labs": sorted(merged),
        "goals": GOALS,
        "summary": summary,
        "plot": args.plot or None,
        "note": "simulated: virtual-lab results are not measurements",
    }, indent=1))


if __name__ == "__main__":
    main()
