"""Query-embedding benchmark: numpy MiniLM backend versus sentence-transformers; prints JSON.

For each backend, `--runs` fresh processes each measure
- `import_and_first_query_s`: from before `import tools.literature.embeddings` to the first query vector
  (imports, model load, one embedding), the cost a cold `matassist knowledge search` pays;
- `per_query_ms`: median time to embed one eval question afterwards (33 questions);
- whether torch was imported.
The medians over the runs are reported. Then, in this process, both backends embed the starter
corpus passages and the eval questions and the vectors are compared (max abs difference, min
cosine similarity), which needs torch for the reference.

Usage: .venv/bin/python benchmarks/bench_embedding.py [--runs 3] [--no-compare]
Timings on a shared 2-core machine are noisy; the load average is printed with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "tests" / "data" / "literature_eval.yaml"

_CHILD = r"""
import json, statistics, sys, time
started = time.perf_counter()
from tools.literature.embeddings import MiniLMEmbedder
embedder = MiniLMEmbedder(backend=sys.argv[1])
embedder.embed(["Nb doping in Ni-rich NCM"])
first = time.perf_counter() - started
questions = json.loads(sys.argv[2])
times = []
for q in questions:
    t = time.perf_counter()
    embedder.embed([q])
    times.append((time.perf_counter() - t) * 1000.0)
print(json.dumps({"import_and_first_query_s": first, "per_query_ms": statistics.median(times),
                  "torch_imported": "torch" in sys.modules}))
"""


def cold_runs(backend: str, questions: list[str], runs: int) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    results = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, backend, json.dumps(questions)],
            capture_output=True, text=True, check=True, cwd=ROOT, env=env,
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {
        "runs": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in results],
        "median_import_and_first_query_s": round(statistics.median(r["import_and_first_query_s"] for r in results), 3),
        "median_per_query_ms": round(statistics.median(r["per_query_ms"] for r in results), 2),
        "torch_imported": any(r["torch_imported"] for r in results),
    }


def compare(questions: list[str]) -> dict[str, object]:
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from tools.literature.documents import document_chunks, starter_corpus_files
    from tools.literature.embeddings import MiniLMEmbedder

    passages = [c.text for p in starter_corpus_files() for c in document_chunks(p)]
    fast, reference = MiniLMEmbedder(backend="numpy"), MiniLMEmbedder(backend="sentence-transformers")
    out: dict[str, object] = {}
    for label, texts in (("starter_passages", passages), ("eval_questions", questions)):
        a, b = reference.embed(texts), fast.embed(texts)
        single = np.concatenate([fast.embed([t]) for t in texts])  # one at a time, as queries are embedded
        out[label] = {
            "texts": len(texts),
            "max_abs_diff": float(np.abs(a - b).max()),
            "min_cosine": float((a * b).sum(axis=1).min()),
            "max_abs_diff_one_at_a_time": float(np.abs(a - single).max()),
            "min_cosine_one_at_a_time": float((a * single).sum(axis=1).min()),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-compare", action="store_true", help="skip the vector comparison (needs torch)")
    args = parser.parse_args()
    questions = [q["question"] for q in yaml.safe_load(EVAL.read_text(encoding="utf-8"))["questions"]]
    report: dict[str, object] = {"benchmark": "embedding", "load_average_start": [round(x, 2) for x in os.getloadavg()]}
    for backend in ("numpy", "sentence-transformers"):
        report[backend] = cold_runs(backend, questions, args.runs)
    if not args.no_compare:
        report["numpy_vs_sentence_transformers"] = compare(questions)
    report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
