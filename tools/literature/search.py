"""Hybrid ranking: vector and keyword rankings fused by reciprocal rank into cited passages."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.literature.chroma import citation_from_metadata
from tools.literature.keyword_index import KeywordIndex
from tools.literature.models import Passage, SearchResult

RRF_K = 60  # the usual reciprocal-rank-fusion constant (Cormack et al. 2009)


@dataclass
class StoreSnapshot:
    """The stored passages at one store revision, with their keyword index."""

    revision: str
    ids: list[str]
    documents: list[str]
    metadatas: list[dict[str, Any]]
    keywords: KeywordIndex
    position: dict[str, int]

    @classmethod
    def build(cls, revision: str, ids: list[str], documents: list[str], metadatas: list[dict[str, Any]]) -> StoreSnapshot:
        """Index the passages by keyword; a passage's title and section path count as its words too."""
        texts = [f"{m.get('title', '')} {m.get('section', '')} {d}" for d, m in zip(documents, metadatas, strict=True)]
        return cls(revision, ids, documents, metadatas, KeywordIndex(ids, texts), {cid: i for i, cid in enumerate(ids)})


_SNAPSHOTS: dict[tuple[str, str], StoreSnapshot] = {}
_SNAPSHOTS_LOCK = threading.Lock()


def cached_snapshot(key: tuple[str, str], revision: str, load: Callable[[str], StoreSnapshot]) -> StoreSnapshot:
    """The process-wide snapshot of a (location, collection), loaded again when its revision changed."""
    with _SNAPSHOTS_LOCK:
        cached = _SNAPSHOTS.get(key)
        if cached is not None and cached.revision == revision:
            return cached
        snapshot = load(revision)
        _SNAPSHOTS[key] = snapshot
        return snapshot


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> dict[str, float]:
    """Fused score of every id: the sum of 1 / (k + rank) over the rankings it appears in."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, cid in enumerate(ranking, start=1):
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (k + rank)
    return fused


def fused_passages(
    snapshot: StoreSnapshot,
    vector_ids: Sequence[str],
    keyword_ids: Sequence[str],
    similarity: dict[str, float],
    k: int,
) -> list[Passage]:
    """The `k` best passages by fused rank, each with its ranks and citation; repeated texts collapsed."""
    fused = reciprocal_rank_fusion((vector_ids, keyword_ids))
    vector_rank = {cid: r for r, cid in enumerate(vector_ids, start=1)}
    keyword_rank = {cid: r for r, cid in enumerate(keyword_ids, start=1)}
    passages: list[Passage] = []
    seen: set[str] = set()
    for cid in sorted(fused, key=lambda c: (-fused[c], c)):
        position = snapshot.position.get(cid)
        if position is None:  # written by another client after our snapshot was taken
            continue
        meta = snapshot.metadatas[position]
        content = str(meta.get("content_hash", cid))
        if content in seen:
            continue
        seen.add(content)
        passages.append(
            Passage(
                id=cid, text=snapshot.documents[position], score=fused[cid], vector_rank=vector_rank.get(cid),
                keyword_rank=keyword_rank.get(cid), similarity=similarity.get(cid),
                citation=citation_from_metadata(meta), synthetic=bool(meta.get("synthetic", False)),
            )
        )
        if len(passages) == k:
            break
    return passages


def iter_eval_hits(result: SearchResult, source_name: str, section: str) -> Iterator[int]:
    """1-based ranks of passages from file `source_name` whose section path contains `section`."""
    for rank, passage in enumerate(result.passages, start=1):
        if Path(passage.citation.source).name == source_name and section.lower() in passage.citation.section.lower():
            yield rank
