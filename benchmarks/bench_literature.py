"""Benchmark of the literature store; prints JSON.

Measures, with the real packaged embedding model (all-MiniLM-L6-v2, offline):
- model load time (first embed in the process);
- ingestion throughput (chunks/s) for the starter corpus and a generated 50-page PDF;
- retrieval quality on tests/data/literature_eval.yaml: recall@5 and MRR;
- search latency (mean, p50, p95, max over the eval questions) on a 10,000-chunk store,
  filled up with SYNTHETIC FILLER chunks (marked synthetic=True, kind 'synthetic', text starting
  'SYNTHETIC FILLER'): their vectors are random mixtures of 256 real-model embeddings of filler
  sentences, so building the store takes seconds instead of minutes; recall is measured again on
  that store, with the filler as distractors.

Usage: .venv/bin/python benchmarks/bench_literature.py [--filler-total 10000] [--out FILE]
Timings on a shared 2-core machine are noisy; the load average is printed with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.literature_pdf import paper_pages, write_pdf  # noqa: E402
from tools.literature.embeddings import MiniLMEmbedder  # noqa: E402
from tools.literature.models import Chunk  # noqa: E402
from tools.literature.search import iter_eval_hits  # noqa: E402
from tools.literature.store import LiteratureStore  # noqa: E402

EVAL = ROOT / "tests" / "data" / "literature_eval.yaml"

_TOPICS = [
    "calcination", "coating", "dopant", "residual lithium", "cation mixing", "cycle retention",
    "particle size", "precursor", "slurry", "impedance", "spinel", "olivine", "electrolyte",
]
_VERBS = ["increased", "decreased", "did not change", "scattered", "improved", "worsened"]


def filler_chunks(n: int, seed: int = 0) -> tuple[list[Chunk], list[str]]:
    """`n` synthetic filler chunks (clearly marked) and the 256 pool sentences their vectors mix."""
    rng = np.random.default_rng(seed)
    pool = [
        f"SYNTHETIC FILLER sentence {i}: the {_TOPICS[i % len(_TOPICS)]} of batch {i} "
        f"{_VERBS[i % len(_VERBS)]} after {rng.integers(1, 20)} h at {rng.integers(600, 900)} degC."
        for i in range(256)
    ]
    chunks = []
    for i in range(n):
        topic = _TOPICS[int(rng.integers(len(_TOPICS)))]
        text = (
            f"SYNTHETIC FILLER chunk {i} (benchmark only, not literature): the {topic} of lot F{i} "
            f"{_VERBS[int(rng.integers(len(_VERBS)))]} when run {int(rng.integers(1, 99))} used "
            f"{int(rng.integers(600, 900))} degC and {rng.uniform(0, 0.6):.2f} wt% additive; "
            f"capacity {int(rng.integers(150, 230))} mAh/g."
        )
        chunks.append(Chunk(text=text, source="synthetic-filler/benchmark", kind="synthetic",
                            title="SYNTHETIC FILLER (benchmark only)", section=f"filler {i // 100}", synthetic=True))
    return chunks, pool


def filler_vectors(pool_vectors: np.ndarray, n: int, seed: int = 1) -> np.ndarray:
    """Random mixtures of two pool vectors plus noise, unit length: realistic-looking, fast."""
    rng = np.random.default_rng(seed)
    a = pool_vectors[rng.integers(len(pool_vectors), size=n)]
    b = pool_vectors[rng.integers(len(pool_vectors), size=n)]
    mixed = a + 0.7 * b + 0.15 * rng.standard_normal(a.shape).astype(np.float32)
    return (mixed / np.linalg.norm(mixed, axis=1, keepdims=True)).astype(np.float32)


class QueryCache:
    """Wraps an embedder and remembers vectors, to time retrieval apart from query embedding."""

    def __init__(self, inner: MiniLMEmbedder) -> None:
        self.inner = inner
        self.cache: dict[str, np.ndarray] = {}
        self.enabled = False

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts: list[str]) -> np.ndarray:
        if self.enabled and all(t in self.cache for t in texts):
            return np.stack([self.cache[t] for t in texts])
        vectors = self.inner.embed(texts)
        if len(texts) == 1:
            self.cache[texts[0]] = vectors[0]
        return vectors


def _latency(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "mean": round(statistics.fmean(ordered), 1),
        "p50": round(ordered[len(ordered) // 2], 1),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
        "max": round(ordered[-1], 1),
    }


def retrieval_only(store: LiteratureStore, cache: QueryCache, questions: list[dict[str, str]]) -> dict[str, float]:
    """Search latency with query vectors already computed (vector + BM25 + fusion + metadata)."""
    cache.enabled = True
    try:
        latencies = []
        for q in questions:
            started = time.perf_counter()
            store.search(q["question"], k=5)
            latencies.append((time.perf_counter() - started) * 1000.0)
    finally:
        cache.enabled = False
    return _latency(latencies)


def embedding_only(embedder: MiniLMEmbedder, questions: list[dict[str, str]]) -> dict[str, float]:
    """Time to embed one query, per question."""
    latencies = []
    for q in questions:
        started = time.perf_counter()
        embedder.embed([q["question"]])
        latencies.append((time.perf_counter() - started) * 1000.0)
    return _latency(latencies)


def evaluate(store: LiteratureStore, questions: list[dict[str, str]]) -> dict[str, object]:
    """recall@5, MRR and per-query latency over the eval set."""
    latencies, reciprocal, missed = [], [], []
    for q in questions:
        started = time.perf_counter()
        result = store.search(q["question"], k=5)
        latencies.append((time.perf_counter() - started) * 1000.0)
        rank = next(iter_eval_hits(result, q["source"], q["section"]), None)
        reciprocal.append(0.0 if rank is None else 1.0 / rank)
        if rank is None:
            missed.append(q["id"])
    return {
        "questions": len(questions),
        "recall_at_5": round(sum(r > 0 for r in reciprocal) / len(reciprocal), 4),
        "mrr": round(sum(reciprocal) / len(reciprocal), 4),
        "missed": missed,
        "latency_ms_end_to_end": _latency(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--filler-total", type=int, default=10_000, help="store size for the latency test (chunks)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    questions = yaml.safe_load(EVAL.read_text(encoding="utf-8"))["questions"]
    report: dict[str, object] = {"benchmark": "literature", "load_average": os.getloadavg()}

    model = MiniLMEmbedder()
    embedder = QueryCache(model)
    started = time.perf_counter()
    model.embed(["warm-up"])
    report["model_load_s"] = round(time.perf_counter() - started, 2)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = LiteratureStore(folder / "store", embedder=embedder)

        starter = store.ingest_starter_corpus()
        pdf = write_pdf(folder / "synthetic-50-page-paper.pdf", paper_pages(50))
        pdf_result = store.ingest([pdf], strict=True)
        report["ingest"] = {
            "starter_corpus": {
                "files": len(starter.files), "chunks": starter.chunks_added, "seconds": round(starter.elapsed_s, 2),
                "chunks_per_s": round(starter.chunks_added / starter.elapsed_s, 1),
            },
            "pdf_50_pages": {
                "chunks": pdf_result.chunks_added, "seconds": round(pdf_result.elapsed_s, 2),
                "chunks_per_s": round(pdf_result.chunks_added / pdf_result.elapsed_s, 1),
            },
        }
        store.search("warm-up")  # builds the keyword index once
        report["eval_starter_plus_pdf"] = {"store_chunks": store.count(), **evaluate(store, questions)}

        n_filler = max(0, args.filler_total - store.count())
        chunks, pool = filler_chunks(n_filler)
        started = time.perf_counter()
        pool_vectors = embedder.embed(pool)
        vectors = filler_vectors(pool_vectors, n_filler)
        for start in range(0, n_filler, 2500):
            store.add_chunks(chunks[start : start + 2500], vectors[start : start + 2500])
        fill_s = time.perf_counter() - started
        started = time.perf_counter()
        store.search("warm-up")
        index_s = time.perf_counter() - started
        quality = evaluate(store, questions)
        retrieval = retrieval_only(store, embedder, questions)
        report["store_10k"] = {
            "store_chunks": store.count(),
            "synthetic_filler_chunks": n_filler,
            "filler_build_s": round(fill_s, 1),
            "keyword_index_build_s_first_search": round(index_s, 2),
            **quality,
            "latency_ms_retrieval_only": retrieval,
            "latency_ms_query_embedding_only": embedding_only(model, questions),
        }
    report["acceptance"] = {
        "recall_at_5_ge_0_9": report["eval_starter_plus_pdf"]["recall_at_5"] >= 0.9,  # type: ignore[index]
        "end_to_end_p95_lt_200ms_10k": quality["latency_ms_end_to_end"]["p95"] < 200,  # type: ignore[index]
        "retrieval_only_p95_lt_200ms_10k": retrieval["p95"] < 200,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
