"""Retrieval quality on the starter corpus with the real model; prints JSON.

- `questions` of tests/data/literature_eval.yaml: recall@5, MRR and precision@5 (passages from
  the expected file and section among the top 5, divided by 5);
- `element_questions` (one element each, relevant passages listed by hand): precision of
  passages about the asked element among the top 5, divided by 5 (`p_at_5`) and by
  min(5, number of relevant passages) (`p_at_5_attainable`, 1.0 when every relevant passage
  that fits is in the top 5), the share of questions whose top passage is relevant, and the
  MRR of the first relevant passage.

The store is built in a temporary folder from the starter corpus with `MiniLMEmbedder()`
(whichever backend the code under PYTHONPATH defaults to; both give the same vectors).
`--extra FILE` ingests more documents first (e.g. distractors). Works on checkouts of the old
layout (tools/literature.py, rank-bm25) too: it only uses LiteratureStore and MiniLMEmbedder.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/eval_literature.py [--k 5] [--extra FILE ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "tests" / "data" / "literature_eval.yaml"


def _matches(passage: object, source: str, section: str) -> bool:
    citation = passage.citation  # type: ignore[attr-defined]
    return Path(citation.source).name == source and section.lower() in citation.section.lower()


def evaluate(store: object, data: dict[str, list[dict[str, object]]], k: int = 5) -> dict[str, object]:
    out: dict[str, object] = {}
    reciprocal, precision, missed = [], [], []
    for q in data["questions"]:
        result = store.search(str(q["question"]), k=k)  # type: ignore[attr-defined]
        hits = [r for r, p in enumerate(result.passages, start=1) if _matches(p, str(q["source"]), str(q["section"]))]
        reciprocal.append(1.0 / hits[0] if hits else 0.0)
        precision.append(len(hits) / k)
        if not hits:
            missed.append(q["id"])
    n = len(reciprocal)
    out["questions"] = {
        "n": n,
        "recall_at_5": round(sum(r > 0 for r in reciprocal) / n, 4),
        "mrr": round(sum(reciprocal) / n, 4),
        "precision_at_5": round(sum(precision) / n, 4),
        "missed": missed,
    }
    per_question, p5, p5a, top1, rr = [], [], [], [], []
    for q in data.get("element_questions", []):
        relevant = q["relevant"]
        result = store.search(str(q["question"]), k=k)  # type: ignore[attr-defined]
        flags = [any(_matches(p, str(r["source"]), str(r["section"])) for r in relevant) for p in result.passages]  # type: ignore[union-attr]
        good = sum(flags)
        first = next((i for i, f in enumerate(flags, start=1) if f), None)
        p5.append(good / k)
        p5a.append(good / min(k, len(relevant)))  # type: ignore[arg-type]
        top1.append(bool(flags and flags[0]))
        rr.append(1.0 / first if first else 0.0)
        per_question.append({
            "id": q["id"], "element": q["element"], "question": q["question"], "relevant_in_top5": good,
            "relevant_total": len(relevant), "first_relevant_rank": first,  # type: ignore[arg-type]
            "top5_sections": [p.citation.section.split(" > ")[-1][:40] for p in result.passages],
        })
    if per_question:
        m = len(per_question)
        out["element_questions"] = {
            "n": m,
            "p_at_5": round(sum(p5) / m, 4),
            "p_at_5_attainable": round(sum(p5a) / m, 4),
            "top1_relevant": round(sum(top1) / m, 4),
            "mrr_first_relevant": round(sum(rr) / m, 4),
            "per_question": per_question,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--extra", type=Path, nargs="*", default=[], help="more documents to ingest first")
    parser.add_argument("--brief", action="store_true", help="omit the per-question lists")
    args = parser.parse_args()
    try:
        from tools.literature.embeddings import MiniLMEmbedder
        from tools.literature.store import LiteratureStore
    except ImportError:  # a checkout of the old layout, for before/after comparisons
        from tools.embeddings import MiniLMEmbedder

        from tools.literature import LiteratureStore

    data = yaml.safe_load(EVAL.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        store = LiteratureStore(Path(tmp) / "store", embedder=MiniLMEmbedder())
        if args.extra:
            store.ingest(args.extra, strict=True)
        store.ingest_starter_corpus()
        report = {"store_chunks": store.count(), **evaluate(store, data, args.k)}
    if args.brief and "element_questions" in report:
        report["element_questions"].pop("per_question")  # type: ignore[union-attr]
    json.dump(report, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
