"""BM25 keyword ranking over the stored passages: bm25s (Lucene BM25), or the same formula in numpy.

The vocabulary is lower-cased words without stopwords, chemical formulas kept whole
(nb2o5, lini0.8co0.15al0.05o2) and one `elem_<symbol>` token per element mention under any alias
(chem_terms.py), so a query naming an element by one alias matches passages naming it by another.

bm25s builds the index when it is installed (a project dependency); otherwise `NumpyBM25`, the
same Lucene formula in numpy with the same scores, keeps an environment that was not re-synced
working. The store uses only `KeywordIndex(ids, texts).ranked_ids(query, limit)` and its
`save`/`load`; another keyword ranker can replace this module without touching the callers.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tools.domain.errors import LiteratureError
from tools.literature.chem_terms import element_mentions, element_token, formula_tokens

_STOPWORDS = frozenset(
    "a an and are as at be by can do does for from how in is it its of on or that the this to was were what "
    "when which who why with than then there these those into over under about used use using".split()
)
_WORD = re.compile(r"[a-z0-9]+")

BM25_K1 = 1.5
BM25_B = 0.75
_NUMPY_FILE = "numpy-bm25.npz"


def keyword_tokens(text: str) -> list[str]:
    """BM25 vocabulary: lower-cased alphanumeric words without stopwords, chemical formulas kept
    whole (nb2o5, lini0.8co0.15al0.05o2), and one `elem_<symbol>` token per element mention under
    any alias (Nb, Nb5+, Nb2O5, LiNbO3, niobium -> elem_nb)."""
    words = [t for t in _WORD.findall(text.lower()) if t not in _STOPWORDS]
    return words + formula_tokens(text) + [element_token(e) for e in element_mentions(text)]


class NumpyBM25:
    """Lucene BM25 as bm25s computes it (idf = ln(1 + (N - df + 0.5) / (df + 0.5)), term weight
    tf / (tf + k1 (1 - b + b |d| / avgdl)), a repeated query token counted each time),
    stored as one sparse column of precomputed weights per term."""

    def __init__(self, corpus: list[list[str]], k1: float = BM25_K1, b: float = BM25_B) -> None:
        self.num_docs = len(corpus)
        lengths = np.array([len(doc) for doc in corpus], dtype=np.float32)
        avgdl = float(lengths.mean()) if len(lengths) else 1.0
        norm = k1 * (1.0 - b + b * lengths / max(avgdl, 1e-9))
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for doc_id, doc in enumerate(corpus):
            for token, tf in Counter(doc).items():
                docs, tfs = postings.setdefault(token, ([], []))
                docs.append(doc_id)
                tfs.append(tf)
        self.vocab_dict = {token: i for i, token in enumerate(postings)}
        self._docs: list[np.ndarray] = []
        self._weights: list[np.ndarray] = []
        for docs_list, tfs_list in postings.values():
            doc_ids, counts = np.array(docs_list, dtype=np.int32), np.array(tfs_list, dtype=np.float32)
            idf = np.log(1.0 + (self.num_docs - len(doc_ids) + 0.5) / (len(doc_ids) + 0.5))
            self._docs.append(doc_ids)
            self._weights.append((idf * counts / (counts + norm[doc_ids])).astype(np.float32))

    def save(self, folder: str) -> None:
        """Write the index to `folder` (numpy-bm25.npz and vocab.json)."""
        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        sizes = np.array([len(d) for d in self._docs], dtype=np.int64)
        np.savez(
            target / _NUMPY_FILE,
            offsets=np.concatenate([[0], np.cumsum(sizes)]),
            docs=np.concatenate(self._docs) if self._docs else np.zeros(0, np.int32),
            weights=np.concatenate(self._weights) if self._weights else np.zeros(0, np.float32),
            num_docs=np.array(self.num_docs),
        )
        (target / "vocab.json").write_text(json.dumps(list(self.vocab_dict), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: str) -> NumpyBM25:
        """An index written by `save`."""
        source = Path(folder)
        vocab = json.loads((source / "vocab.json").read_text(encoding="utf-8"))
        with np.load(source / _NUMPY_FILE, allow_pickle=False) as data:
            offsets, docs, weights = data["offsets"], data["docs"], data["weights"]
            index = cls.__new__(cls)
            index.num_docs = int(data["num_docs"])
        index.vocab_dict = {token: i for i, token in enumerate(vocab)}
        index._docs = [docs[offsets[i] : offsets[i + 1]] for i in range(len(vocab))]
        index._weights = [weights[offsets[i] : offsets[i + 1]] for i in range(len(vocab))]
        return index

    def get_scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 score of every passage for the query tokens."""
        scores = np.zeros(self.num_docs, dtype=np.float32)
        for token in tokens:
            term = self.vocab_dict.get(token)
            if term is not None:
                np.add.at(scores, self._docs[term], self._weights[term])
        return scores


_IMPORT_LOCK = threading.Lock()


def import_bm25s() -> Any:
    """Import bm25s without its optional accelerators; LiteratureError when it is not installed.

    bm25s imports numba, scipy.sparse and tqdm when they are installed (1.9 s here: numba comes
    with the project for other code); its numpy backend, which we use, needs none of them.
    Modules already imported are left alone, and the blocks are lifted afterwards, so a later
    `import numba` works as usual.
    """
    loaded = sys.modules.get("bm25s")
    if loaded is not None:
        return loaded
    blocked = [name for name in ("numba", "scipy", "tqdm") if name not in sys.modules]
    with _IMPORT_LOCK:
        for name in blocked:
            sys.modules[name] = None  # type: ignore[assignment]
        try:
            import bm25s
        except ImportError as err:
            raise LiteratureError("bm25s is not installed; install the project's locked requirements") from err
        finally:
            for name in blocked:
                if name in sys.modules and sys.modules[name] is None:
                    del sys.modules[name]
    return bm25s


def make_bm25(corpus: list[list[str]]) -> Any:
    """A BM25 index (Lucene variant, k1=1.5, b=0.75) over tokenised passages; None when empty.

    bm25s when installed, else `NumpyBM25` (same scores). Both have `vocab_dict`,
    `get_scores(tokens)` and `save(folder)`.
    """
    if not corpus:
        return None
    try:
        bm25s = import_bm25s()
    except LiteratureError:
        return NumpyBM25(corpus)
    index = bm25s.BM25(k1=BM25_K1, b=BM25_B, method="lucene")
    # bm25s needs one non-empty token list per passage; a passage of stopwords only gets a dummy token.
    index.index([tokens or ["\x00"] for tokens in corpus], show_progress=False)
    return index


def bm25_scores(index: Any, tokens: list[str], total: int) -> np.ndarray:
    """BM25 score of every passage for the query tokens (zeros when none is in the vocabulary)."""
    known = [t for t in tokens if t in index.vocab_dict]
    if not known:
        return np.zeros(total, dtype=np.float32)
    return np.asarray(index.get_scores(known), dtype=np.float32)


class KeywordIndex:
    """BM25 over a fixed set of texts, each known by its id."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        self._ids = list(ids)
        self._bm25 = make_bm25([keyword_tokens(text) for text in texts])

    @property
    def backend(self) -> str:
        """Which BM25 implementation ranks: 'bm25s', 'numpy' or 'none' (no passages)."""
        if self._bm25 is None:
            return "none"
        return "numpy" if isinstance(self._bm25, NumpyBM25) else "bm25s"

    def ranked_ids(self, query: str, limit: int) -> list[str]:
        """Ids of the texts sharing a keyword with the query, best BM25 score first, at most `limit`."""
        tokens = keyword_tokens(query)
        if not tokens or self._bm25 is None or limit <= 0:
            return []
        scores = bm25_scores(self._bm25, tokens, len(self._ids))
        top = np.flatnonzero(scores > 0)
        if len(top) > limit:
            top = top[np.argpartition(-scores[top], limit - 1)[:limit]]
        top = top[np.lexsort((top, -scores[top]))]  # best first; ties by position, as a stable sort
        return [self._ids[i] for i in top]

    def save(self, folder: Path) -> bool:
        """Write the BM25 index into `folder` (absent when there are no passages); False when it cannot be saved."""
        if self._bm25 is None:
            return True
        if not hasattr(self._bm25, "save"):
            return False
        self._bm25.save(str(folder))
        return True

    @classmethod
    def load(cls, folder: Path, ids: Sequence[str]) -> KeywordIndex:
        """The index `save` wrote for these ids (OSError/ValueError/LiteratureError when unreadable)."""
        index = cls.__new__(cls)
        index._ids = list(ids)
        if (folder / _NUMPY_FILE).is_file():
            index._bm25 = NumpyBM25.load(str(folder))
        elif folder.is_dir():
            index._bm25 = import_bm25s().BM25.load(str(folder))
        else:
            index._bm25 = None
        return index
