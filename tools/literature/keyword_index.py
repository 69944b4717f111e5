"""BM25 keyword ranking over the stored passages (rank_bm25's Okapi BM25, imported when an index is built).

The store uses only `KeywordIndex(ids, texts).ranked_ids(query, limit)`; another keyword
ranker can replace this module without touching the callers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_STOPWORDS = frozenset(
    "a an and are as at be by can do does for from how in is it its of on or that the this to was were what "
    "when which who why with than then there these those into over under about used use using".split()
)
_WORD = re.compile(r"[a-z0-9]+")


def keyword_tokens(text: str) -> list[str]:
    """Lower-cased alphanumeric tokens without stopwords (BM25 vocabulary)."""
    return [t for t in _WORD.findall(text.lower()) if t not in _STOPWORDS]


class KeywordIndex:
    """BM25 over a fixed set of texts, each known by its id."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        from rank_bm25 import BM25Okapi

        self._ids = list(ids)
        corpus = [keyword_tokens(text) for text in texts]
        self._bm25 = BM25Okapi(corpus) if corpus else None

    def ranked_ids(self, query: str, limit: int) -> list[str]:
        """Ids of the texts sharing a keyword with the query, best BM25 score first, at most `limit`."""
        tokens = keyword_tokens(query)
        if not tokens or self._bm25 is None:
            return []
        scores = np.asarray(self._bm25.get_scores(tokens))
        top = np.argsort(-scores, kind="stable")[:limit]
        return [self._ids[i] for i in top if scores[i] > 0]
