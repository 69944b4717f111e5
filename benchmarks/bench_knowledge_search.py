"""End-to-end time of `matassist knowledge search` in fresh processes; prints JSON.

- `warm_store`: the data directory's store already holds the starter corpus (built once before
  timing); each run is a new process: imports, store opening, query embedding, search, output.
- `empty_store` (with --first-run): each run starts from an empty data directory, so the
  command also ingests the starter corpus first (what a new user's first search pays).
- `in_process`: one process, the store already open and searched once; the median time of
  `LiteratureStore.search` over the eval questions (query embedding included).

Runs are interleaved per repetition; medians are reported with the load average. `--code DIR`
runs another checkout (e.g. an older commit extracted with `git archive`) for before/after
comparisons: PYTHONPATH is set to it, and a checkout of the old layout (assistant/cli.py,
tools/literature.py) is run through its own entry points.

Usage: .venv/bin/python benchmarks/bench_knowledge_search.py [--runs 3] [--first-run] [--code DIR]
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

ROOT = Path(__file__).resolve().parent.parent
QUERY = "Nb doping in Ni-rich NCM"

_IN_PROCESS = r"""
import json, statistics, sys, time, yaml
from pathlib import Path
try:
    from tools.literature.store import LiteratureStore
except ImportError:  # the old layout
    from tools.literature import LiteratureStore
store = LiteratureStore(Path(sys.argv[1]) / "literature")
store.search("warm-up")
questions = yaml.safe_load(Path(sys.argv[2]).read_text())
texts = [q["question"] for q in questions["questions"]] + [q["question"] for q in questions.get("element_questions", [])]
times = []
for q in texts:
    t = time.perf_counter(); store.search(q, k=5); times.append((time.perf_counter() - t) * 1000.0)
print(json.dumps({"median_ms": statistics.median(times), "max_ms": max(times), "queries": len(times)}))
"""


def _env(code: Path, data_dir: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(code), os.environ.get("PYTHONPATH", "")) if p)  # the checkout first
    return {**os.environ, "PYTHONPATH": path, "MATASSIST_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}


def _cli_module(code: Path) -> str:
    """The console command's module in this checkout (cli.app; assistant.cli in the old layout)."""
    return "cli.app" if (code / "cli" / "app.py").is_file() else "assistant.cli"


def _search(code: Path, data_dir: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", _cli_module(code), "knowledge", "search", QUERY], cwd=code,
                   env=_env(code, data_dir), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--first-run", action="store_true", help="also time searches that start from an empty store")
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout to run (default: this one)")
    args = parser.parse_args()
    code = args.code.resolve()
    report: dict[str, object] = {"benchmark": "knowledge_search", "code": str(code), "query": QUERY,
                                 "load_average_start": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory() as tmp:
        warm_dir = Path(tmp) / "warm"
        _search(code, warm_dir)  # builds the store (and, where the code has it, the search snapshot)
        warm, first = [], []
        for run in range(args.runs):
            warm.append(_search(code, warm_dir))
            if args.first_run:
                first.append(_search(code, Path(tmp) / f"empty-{run}"))
        report["warm_store_s"] = {"runs": [round(t, 2) for t in warm], "median": round(statistics.median(warm), 2)}
        if first:
            report["empty_store_s"] = {"runs": [round(t, 2) for t in first], "median": round(statistics.median(first), 2)}
        done = subprocess.run([sys.executable, "-c", _IN_PROCESS, str(warm_dir), str(ROOT / "tests" / "data" / "literature_eval.yaml")],
                              cwd=code, env=_env(code, warm_dir), check=True, capture_output=True, text=True)
        report["in_process_search_ms"] = json.loads(done.stdout.strip().splitlines()[-1])
    report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
