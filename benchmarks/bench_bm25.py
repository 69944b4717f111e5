"""Keyword-ranking backends: rank-bm25 (BM25Okapi) versus bm25s (and the numpy fallback); prints JSON.

On the same tokens (tools.literature.keyword_index.keyword_tokens of title + section + text), for
- the starter corpus (61 passages) and
- a 10,000-passage corpus: the starter passages plus SYNTHETIC FILLER passages generated as
  benchmarks/bench_literature.py does,
it measures the index build time (median of `--runs`), the per-query time (scores for every
passage + top-50, median over the eval questions, after one warm-up) and the BM25-only
retrieval quality (recall@5 / MRR on the eval questions, attainable precision@5 on the element
questions). With `--hybrid`, it also runs the full hybrid search on the starter corpus with the
real model for each backend (recall@5, MRR, precision@5 and the element metrics of
benchmarks/eval_literature.py). rank-bm25 is only needed for this comparison (not a project
dependency any more): install it by hand to include it.

Usage: .venv/bin/python benchmarks/bench_bm25.py [--runs 3] [--hybrid]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_literature import filler_chunks  # noqa: E402
from tools.domain.errors import LiteratureError  # noqa: E402
from tools.literature import keyword_index, snapshot  # noqa: E402
from tools.literature.documents import document_chunks, starter_corpus_files  # noqa: E402
from tools.literature.keyword_index import NumpyBM25, bm25_scores, keyword_tokens  # noqa: E402

EVAL = ROOT / "tests" / "data" / "literature_eval.yaml"


class RankBM25:
    """rank-bm25's BM25Okapi behind the store's interface (vocab_dict, get_scores)."""

    def __init__(self, corpus: list[list[str]]) -> None:
        from rank_bm25 import BM25Okapi

        self.inner = BM25Okapi(corpus)
        self.vocab_dict = {t: 0 for doc in self.inner.doc_freqs for t in doc}

    def get_scores(self, tokens: list[str]) -> np.ndarray:
        return np.asarray(self.inner.get_scores(tokens), dtype=np.float32)


_MAKE_BM25S = keyword_index.make_bm25


def _bm25s(corpus: list[list[str]]) -> Any:
    return _MAKE_BM25S(corpus)


BACKENDS: dict[str, Callable[[list[list[str]]], Any]] = {
    "rank-bm25": RankBM25,
    "bm25s": _bm25s,
    "numpy-fallback": NumpyBM25,
}


def _available() -> dict[str, Callable[[list[list[str]]], Any]]:
    out = dict(BACKENDS)
    try:
        import rank_bm25  # noqa: F401
    except ImportError:
        out.pop("rank-bm25")
    try:
        keyword_index.import_bm25s()
    except LiteratureError:
        out.pop("bm25s")
    return out


def _corpora() -> dict[str, tuple[list[str], list[tuple[str, str]], list[list[str]]]]:
    """name -> (ids, (file, section) per passage, tokens per passage)."""
    starter = [(p.name, c) for p in starter_corpus_files() for c in document_chunks(p)]
    ids = [f"s{i}" for i in range(len(starter))]
    keys = [(name, c.section) for name, c in starter]
    tokens = [keyword_tokens(f"{c.title} {c.section} {c.text}") for _, c in starter]
    filler, _ = filler_chunks(10_000 - len(starter))
    return {
        "starter_61": (ids, keys, tokens),
        "store_10k": (
            ids + [f"f{i}" for i in range(len(filler))],
            keys + [("filler", c.section) for c in filler],
            tokens + [keyword_tokens(f"{c.title} {c.section} {c.text}") for c in filler],
        ),
    }


def _quality(index: Any, keys: list[tuple[str, str]], data: dict[str, Any]) -> dict[str, float]:
    total = len(keys)
    reciprocal = []
    for q in data["questions"]:
        scores = bm25_scores(index, keyword_tokens(q["question"]), total)
        top = [i for i in np.argsort(-scores, kind="stable")[:5] if scores[i] > 0]
        rank = next((r for r, i in enumerate(top, 1) if keys[i][0] == q["source"] and q["section"].lower() in keys[i][1].lower()), None)
        reciprocal.append(1.0 / rank if rank else 0.0)
    attainable = []
    for q in data["element_questions"]:
        scores = bm25_scores(index, keyword_tokens(q["question"]), total)
        top = [i for i in np.argsort(-scores, kind="stable")[:5] if scores[i] > 0]
        good = sum(any(keys[i][0] == r["source"] and r["section"].lower() in keys[i][1].lower() for r in q["relevant"]) for i in top)
        attainable.append(good / min(5, len(q["relevant"])))
    return {
        "bm25_only_recall_at_5": round(sum(r > 0 for r in reciprocal) / len(reciprocal), 4),
        "bm25_only_mrr": round(sum(reciprocal) / len(reciprocal), 4),
        "bm25_only_element_p_at_5_attainable": round(sum(attainable) / len(attainable), 4),
    }


def _timings(make: Callable[[list[list[str]]], Any], tokens: list[list[str]], queries: list[str], runs: int) -> dict[str, Any]:
    builds = []
    index = None
    for _ in range(runs):
        started = time.perf_counter()
        index = make(tokens)
        builds.append(time.perf_counter() - started)
    query_tokens = [keyword_tokens(q) for q in queries]
    bm25_scores(index, query_tokens[0], len(tokens))  # warm-up
    per_query = []
    for qt in query_tokens:
        started = time.perf_counter()
        scores = bm25_scores(index, qt, len(tokens))
        np.argsort(-scores, kind="stable")[:50]
        per_query.append((time.perf_counter() - started) * 1000.0)
    return {
        "build_s_runs": [round(b, 4) for b in builds],
        "build_s_median": round(statistics.median(builds), 4),
        "query_ms_median": round(statistics.median(per_query), 3),
        "query_ms_max": round(max(per_query), 3),
        "index": index,
    }


def _hybrid(backends: dict[str, Callable[[list[list[str]]], Any]]) -> dict[str, Any]:
    from benchmarks.eval_literature import evaluate
    from tools.literature.embeddings import MiniLMEmbedder
    from tools.literature.store import LiteratureStore

    data = yaml.safe_load(EVAL.read_text(encoding="utf-8"))
    out: dict[str, Any] = {}
    original = keyword_index.make_bm25
    try:
        for name, make in backends.items():
            keyword_index.make_bm25 = make  # type: ignore[assignment]
            snapshot.clear_snapshot_cache()
            with tempfile.TemporaryDirectory() as tmp:
                store = LiteratureStore(Path(tmp) / "s", embedder=MiniLMEmbedder())
                store.ingest_starter_corpus()
                report = evaluate(store, data)
            report["element_questions"].pop("per_question")  # type: ignore[union-attr]
            out[name] = report
    finally:
        keyword_index.make_bm25 = original  # type: ignore[assignment]
        snapshot.clear_snapshot_cache()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hybrid", action="store_true", help="also the full hybrid search with the real model")
    args = parser.parse_args()
    data = yaml.safe_load(EVAL.read_text(encoding="utf-8"))
    queries = [q["question"] for q in data["questions"]] + [q["question"] for q in data["element_questions"]]
    backends = _available()
    report: dict[str, Any] = {"benchmark": "bm25", "load_average_start": [round(x, 2) for x in os.getloadavg()]}
    for corpus_name, (_ids, keys, tokens) in _corpora().items():
        section: dict[str, Any] = {"passages": len(tokens)}
        for name, make in backends.items():
            timing = _timings(make, tokens, queries, args.runs)
            index = timing.pop("index")
            section[name] = {**timing, **_quality(index, keys, data)}
        report[corpus_name] = section
    if args.hybrid:
        report["hybrid_starter_real_model"] = _hybrid(backends)
    report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
