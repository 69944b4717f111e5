"""The stored passages at one store revision, indexed for search, kept in memory and on disk.

A search needs every passage's text and metadata, the BM25 index (keyword_index.py), the
elements each passage names (chem_terms.py) and, for a local store, the passage vectors.
Reading them from chromadb costs its import (1-3 s) and a full `get`, and building the indexes
costs more on big stores, so each revision of a collection leaves a snapshot:

- in this process, `cached_snapshot` keeps one per (location, collection);
- on disk, for local stores, `<store>/matassist-search-snapshot/<collection>/<revision>/` holds
  `passages.json`, `vectors.npy`, `bm25/` and `meta.json`. It is written to a temporary folder
  and renamed, so a reader never sees half a snapshot, and older revisions are removed. A later
  process searches from it without importing chromadb.

Writes go through chromadb and change the collection's revision, so the next search builds
a new snapshot.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tools.domain.errors import LiteratureError
from tools.literature.chem_terms import elements_in, named_elements
from tools.literature.keyword_index import KeywordIndex

SNAPSHOT_DIR = "matassist-search-snapshot"
SNAPSHOT_FORMAT = 1

PassageRows = tuple[list[str], list[str], list[dict[str, Any]], np.ndarray | None]
"""(ids, documents, metadatas, vectors or None) of every stored passage, as read from chromadb."""


def searchable_text(document: str, meta: dict[str, Any]) -> str:
    """Title, section path and text of a passage; the full stops keep a heading's last word
    ('Note 10') from reading as a number before the text's first word ('W doping' -> '10 W')."""
    return f"{meta.get('title', '')}. {meta.get('section', '')}. {document}"


def entity_text(document: str, meta: dict[str, Any]) -> str:
    """Title, section and text of a passage without its authors' names ('Li, Wangda', 'Won Mo')."""
    text = searchable_text(document, meta)
    try:
        authors = json.loads(meta.get("authors") or "[]")
    except (TypeError, ValueError):
        authors = []
    for author in authors:
        if isinstance(author, str) and len(author) > 2:
            text = text.replace(author, " ")
    return text


def _postings(elements: Sequence[frozenset[str]]) -> dict[str, list[int]]:
    postings: dict[str, list[int]] = {}
    for i, found in enumerate(elements):
        for symbol in found:
            postings.setdefault(symbol, []).append(i)
    return postings


@dataclass
class StoreSnapshot:
    """The stored passages at one store revision, with their keyword and element indexes."""

    revision: str
    ids: list[str]
    documents: list[str]
    metadatas: list[dict[str, Any]]
    keywords: KeywordIndex
    position: dict[str, int]
    elements: list[frozenset[str]] = field(default_factory=list)
    named: list[frozenset[str]] = field(default_factory=list)
    postings: dict[str, list[int]] = field(default_factory=dict)
    vectors: np.ndarray | None = None

    @classmethod
    def build(
        cls,
        revision: str,
        ids: list[str],
        documents: list[str],
        metadatas: list[dict[str, Any]],
        vectors: np.ndarray | None = None,
    ) -> StoreSnapshot:
        """Index the passages by keyword and by the elements they name; a passage's title and
        section path count as its words too. `vectors` (local stores) are kept for exact ranking."""
        texts = [searchable_text(d, m) for d, m in zip(documents, metadatas, strict=True)]
        entities = [entity_text(d, m) for d, m in zip(documents, metadatas, strict=True)]
        elements = [elements_in(t) for t in entities]
        return cls(
            revision, ids, documents, metadatas, KeywordIndex(ids, texts), {cid: i for i, cid in enumerate(ids)},
            elements, [named_elements(t) for t in entities], _postings(elements), vectors,
        )

    def tier(self, position: int, asked: Sequence[str]) -> float:
        """1 per asked element the passage names directly, 0.5 per one only inside a material's formula."""
        return sum(1.0 if e in self.named[position] else 0.5 for e in asked if e in self.elements[position])

    def element_share(self, symbol: str) -> float:
        """Share of passages naming the element (any alias)."""
        return len(self.postings.get(symbol, ())) / max(1, len(self.ids))


def snapshot_folder(store_path: Path, collection: str, revision: str) -> Path:
    """Where the search snapshot of one revision of a local store's collection lives."""
    return Path(store_path) / SNAPSHOT_DIR / collection / revision


def write_snapshot(folder: Path, snapshot: StoreSnapshot, embedder_name: str, dimension: int) -> None:
    """Save a built snapshot (passages, vectors, BM25, elements) for the next process; best effort.

    Written to a temporary folder and renamed; older revisions of the collection, and temporary
    folders a crashed writer left (an hour old), are removed.
    """
    if snapshot.vectors is None:
        return  # a remote store: its vectors stay on the server
    tmp = folder.parent / f".{folder.name}.tmp-{uuid.uuid4().hex}"
    try:
        tmp.mkdir(parents=True)
        if not snapshot.keywords.save(tmp / "bm25"):
            shutil.rmtree(tmp, ignore_errors=True)
            return  # a BM25 object that cannot be saved
        meta = {"format": SNAPSHOT_FORMAT, "revision": snapshot.revision, "embedder": embedder_name,
                "dimension": dimension, "count": len(snapshot.ids)}
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        passages = {"ids": snapshot.ids, "documents": snapshot.documents, "metadatas": snapshot.metadatas,
                    "elements": [sorted(e) for e in snapshot.elements], "named": [sorted(e) for e in snapshot.named]}
        (tmp / "passages.json").write_text(json.dumps(passages, ensure_ascii=False), encoding="utf-8")
        np.save(tmp / "vectors.npy", snapshot.vectors, allow_pickle=False)
        try:
            tmp.rename(folder)
        except OSError:  # another process saved this revision first
            shutil.rmtree(tmp, ignore_errors=True)
        for old in folder.parent.iterdir():
            if old.name != folder.name and (not old.name.startswith(".") or time.time() - old.stat().st_mtime > 3600):
                shutil.rmtree(old, ignore_errors=True)
    except (OSError, ValueError, TypeError, AttributeError):
        shutil.rmtree(tmp, ignore_errors=True)


def read_snapshot(folder: Path, revision: str) -> StoreSnapshot | None:
    """The saved snapshot of `revision`, or None when absent, of another revision or unreadable."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != SNAPSHOT_FORMAT or meta.get("revision") != revision:
            return None
        passages = json.loads((folder / "passages.json").read_text(encoding="utf-8"))
        vectors = np.load(folder / "vectors.npy", allow_pickle=False)
        ids = [str(i) for i in passages["ids"]]
        if not (len(ids) == len(passages["documents"]) == len(passages["metadatas"]) == len(vectors) == int(meta["count"])):
            return None
        keywords = KeywordIndex.load(folder / "bm25", ids)
    except (OSError, ValueError, KeyError, TypeError, LiteratureError):
        return None
    elements = [frozenset(e) for e in passages["elements"]]
    return StoreSnapshot(
        revision, ids, [str(d) for d in passages["documents"]], [dict(m) for m in passages["metadatas"]], keywords,
        {cid: i for i, cid in enumerate(ids)}, elements, [frozenset(e) for e in passages["named"]],
        _postings(elements), np.asarray(vectors, dtype=np.float32),
    )


def load_or_build(
    folder: Path | None, revision: str, fetch: Callable[[], PassageRows], embedder_name: str, dimension: int
) -> StoreSnapshot:
    """The snapshot of `revision`: read from `folder` (local stores), else built from the rows
    `fetch` reads from chromadb and saved there for the next process."""
    snapshot = read_snapshot(folder, revision) if folder is not None else None
    if snapshot is None:
        ids, documents, metadatas, vectors = fetch()
        snapshot = StoreSnapshot.build(revision, ids, documents, metadatas, vectors)
        if folder is not None:
            write_snapshot(folder, snapshot, embedder_name, dimension)
    return snapshot


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


def clear_snapshot_cache() -> None:
    """Forget this process's snapshots, as a new process starts (the ones on disk stay)."""
    with _SNAPSHOTS_LOCK:
        _SNAPSHOTS.clear()
