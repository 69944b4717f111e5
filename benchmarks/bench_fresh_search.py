"""Fresh-process search on a store folder: time to the first result, then per-query time; prints JSON.

`--build N` first fills the folder with the starter corpus plus SYNTHETIC FILLER up to N chunks
(as benchmarks/bench_literature.py does). Each of `--runs` fresh processes then opens the store,
embeds a warm-up, searches "Nb doping in Ni-rich NCM" and six more questions, and reports
open / model / index+first-search times, the per-query median, the top passage, and whether
chromadb or torch was imported. Point PYTHONPATH at another checkout to compare versions.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/bench_fresh_search.py STORE [--build 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
try:
    from tools.literature.store import LiteratureStore
except ImportError:  # the old layout
    from tools.literature import LiteratureStore
store = LiteratureStore(Path(sys.argv[1]))
opened = time.perf_counter() - t0
store.embedder.embed(["warm-up"])
model = time.perf_counter() - t0
result = store.search("Nb doping in Ni-rich NCM")
first = time.perf_counter() - t0
times = []
for q in ["Zr doping", "boric acid coating temperature", "Nb2O5 coating", "calcination in oxygen",
          "What does a tungsten oxide coating form on the surface?", "Mg2+ in the lithium layer"]:
    t = time.perf_counter(); store.search(q); times.append(time.perf_counter() - t)
print(json.dumps({"open_s": opened, "open_plus_model_s": model, "first_result_s": first,
                  "index_and_first_search_s": first - model, "per_query_ms": sorted(times)[len(times) // 2] * 1000,
                  "chunks": result.store_chunks, "top1": result.passages[0].citation.section.split(" > ")[-1],
                  "chromadb": "chromadb" in sys.modules, "torch": "torch" in sys.modules}))
"""


def build(folder: Path, total: int) -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks.bench_literature import filler_chunks, filler_vectors
    from tools.literature.embeddings import MiniLMEmbedder
    from tools.literature.store import LiteratureStore

    store = LiteratureStore(folder, embedder=MiniLMEmbedder())
    store.ingest_starter_corpus()
    n = max(0, total - store.count())
    chunks, pool = filler_chunks(n)
    vectors = filler_vectors(store.embedder.embed(pool), n)
    for start in range(0, n, 2500):
        store.add_chunks(chunks[start : start + 2500], vectors[start : start + 2500])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--build", type=int, default=0, help="fill the store up to this many chunks first")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.build:
        build(args.store, args.build)
    report: dict[str, object] = {"benchmark": "fresh_search", "load_average_start": [round(x, 2) for x in os.getloadavg()]}
    runs = []
    for _ in range(args.runs):
        done = subprocess.run([sys.executable, "-c", _CHILD, str(args.store)], capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    report["runs"] = [{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in runs]
    report["median_first_result_s"] = round(statistics.median(r["first_result_s"] for r in runs), 2)
    report["median_per_query_ms"] = round(statistics.median(r["per_query_ms"] for r in runs), 1)
    report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
