"""Hybrid ranking: vector and keyword rankings fused by reciprocal rank into cited passages.

When the query names a chemical element (symbol, ion, name or simple compound: Nb, Nb5+,
niobium, Nb2O5; chem_terms.py) that at most ELEMENT_TIER_MAX_SHARE of the passages mention,
passages naming it under any alias rank above those that only share the topic: passages are
ordered by tier, then by fused score, where the tier counts 1 per asked element a passage names
directly and 0.5 per one it mentions only inside a material's formula (Zr in Na1+xZr2SixP3-xO12).
Elements of a material named in the query (Li[Ni0.9Co0.05Mn0.05]O2) are not asked for; they,
and common elements, still count in BM25.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from tools.domain.errors import LiteratureError
from tools.literature.chem_terms import named_elements
from tools.literature.chroma import citation_from_metadata
from tools.literature.models import Passage, SearchResult
from tools.literature.snapshot import StoreSnapshot

RRF_K = 60  # the usual reciprocal-rank-fusion constant (Cormack et al. 2009)
ELEMENT_TIER_MAX_SHARE = 0.3
"""An element asked for in a query ranks the passages naming it first when at most this share of
the store names it (Nb, Zr, W in an NCM library); commoner elements (Ni, Li, O there) only feed BM25."""


def vector_ranking(snapshot: StoreSnapshot, query_vector: np.ndarray, pool: int) -> tuple[list[str], dict[str, float]]:
    """The `pool` passages most similar to the query by exact cosine over the snapshot's unit
    vectors (10,000 x 384: ~2 ms, no chromadb call), best first, with their similarities."""
    if snapshot.vectors is None:
        raise LiteratureError("this store's snapshot has no vectors (a chromadb server ranks its own)")
    total = len(snapshot.ids)
    sims = snapshot.vectors @ query_vector
    top = np.argpartition(-sims, pool - 1)[:pool] if pool < total else np.arange(total)
    top = top[np.argsort(-sims[top], kind="stable")]
    return [snapshot.ids[i] for i in top], {snapshot.ids[i]: float(sims[i]) for i in top}


def asked_elements(query: str, snapshot: StoreSnapshot) -> list[str]:
    """Elements the query names directly that some, but at most ELEMENT_TIER_MAX_SHARE, of the passages name."""
    return sorted(e for e in named_elements(query) if 0 < snapshot.element_share(e) <= ELEMENT_TIER_MAX_SHARE)


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
    asked: Sequence[str] = (),
    pool: int = 50,
) -> list[Passage]:
    """The `k` best passages by element tier, then fused rank, each with its ranks and citation;
    repeated texts collapsed. Every passage naming an asked element competes (up to 10 x `pool`
    of them), even outside both rankings."""
    fused = reciprocal_rank_fusion((vector_ids, keyword_ids))
    for symbol in asked:
        for naming in snapshot.postings.get(symbol, ())[: 10 * pool]:
            fused.setdefault(snapshot.ids[naming], 0.0)
    tier = {cid: snapshot.tier(snapshot.position[cid], asked) for cid in fused if cid in snapshot.position} if asked else {}
    vector_rank = {cid: r for r, cid in enumerate(vector_ids, start=1)}
    keyword_rank = {cid: r for r, cid in enumerate(keyword_ids, start=1)}
    passages: list[Passage] = []
    seen: set[str] = set()
    for cid in sorted(fused, key=lambda c: (-tier.get(c, 0), -fused[c], c)):
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
                matched_elements=[e for e in asked if e in snapshot.elements[position]],
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
