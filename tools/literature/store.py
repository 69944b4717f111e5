"""Literature store: ingest papers and notes, search them, answer with checkable citations.

Documents (PDF, Markdown, plain text, BibTeX and RIS records) are split into passages along
their structure (headings, paragraphs, whole tables; tools/literature/documents.py and
chunking.py), each passage carrying its citation (title, authors, year, DOI, page, section and
the works it cites). Passages live in a chromadb collection (a persistent folder, or a chromadb
HTTP server; chroma.py) with vectors computed here by an `Embedder` (embeddings.py; chromadb's
own embedding function is never used, because it downloads a model; queries are embedded by a
numpy forward pass of the packaged model, minilm.py, without torch). Search fuses vector
similarity and BM25 keyword ranking (keyword_index.py, bm25s) by reciprocal rank fusion
(search.py) and returns passages with their citations. A query that names a chemical element
(Nb, Nb5+, Nb2O5, niobium: chem_terms.py) ranks the passages naming that element, under any
alias, above passages that only share the topic.

A local store is searched without importing chromadb once it has been searched before: each
revision of the collection leaves a snapshot (passages, vectors, BM25 and element indexes;
snapshot.py) in `<store>/matassist-search-snapshot/`, and the revision is read from chroma's
sqlite file (chroma.py). Writes go through chromadb and change the revision, so the next search
rebuilds the snapshot. Retrieved text is data, never instructions: see rendering.py for how
passages are quoted and fenced for a language model and for Markdown renderers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tools.domain.errors import DocumentError, LiteratureError
from tools.literature.chroma import LazyCollection, chunk_metadata, citation_from_metadata
from tools.literature.documents import (
    STARTER_PREFIX,
    document_chunks,
    expand_paths,
    sha256_file,
    starter_corpus_files,
)
from tools.literature.embeddings import Embedder, default_embedder
from tools.literature.models import (
    Chunk,
    Citation,
    DocumentInfo,
    FileReport,
    IngestResult,
    LiteratureAnswer,
    ProgressCallback,
    SearchLiteratureInput,
    SearchResult,
)
from tools.literature.rendering import render_offline_answer
from tools.literature.search import asked_elements, fused_passages, vector_ranking
from tools.literature.snapshot import (
    PassageRows,
    StoreSnapshot,
    cached_snapshot,
    load_or_build,
    snapshot_folder,
)
from tools.literature.starter import starter_vectors, vectors_with

DEFAULT_COLLECTION = "literature"


class LiteratureStore:
    """A chromadb collection of passages with hybrid (vector + BM25) search.

    Open it on a folder (persistent, local) or on the URL of a chromadb HTTP server. The
    embedder's name is recorded in the collection; reopening it with another embedder is refused
    because vectors of different models cannot be compared.
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        url: str | None = None,
        embedder: Embedder | None = None,
        collection: str = DEFAULT_COLLECTION,
    ) -> None:
        if (path is None) == (url is None):
            raise LiteratureError("open the literature store on either a folder or a chromadb server URL")
        self.path = path
        self.url = url
        self.embedder: Embedder = embedder or default_embedder()
        self.collection_name = collection
        self._location = url if url is not None else str(Path(str(path)).resolve())
        self._chroma = LazyCollection(path, url, collection, self.embedder)

    @property
    def _collection(self) -> Any:
        return self._chroma.collection

    # -- reading

    def count(self) -> int:
        """Number of stored chunks."""
        if not self._chroma.opened and self.path is not None:
            return len(self._snapshot().ids)  # from the snapshot: no chromadb import
        return int(self._collection.count())

    def documents(self) -> list[DocumentInfo]:
        """Every document in the store with its chunk count, sorted by source."""
        data = self._collection.get(include=["metadatas"])
        groups: dict[str, list[dict[str, Any]]] = {}
        for meta in data["metadatas"] or []:
            groups.setdefault(str(meta.get("source", "")), []).append(dict(meta))
        out = []
        for source, metas in sorted(groups.items()):
            first = metas[0]
            citation = citation_from_metadata(first)
            pages = [int(m.get("page") or 0) for m in metas]
            if citation.kind in ("bibtex", "ris"):  # one record per entry: no single title, year or DOI
                citation = Citation(source=source, kind=citation.kind, title=f"{len(metas)} bibliographic records")
            out.append(
                DocumentInfo(
                    source=source, kind=citation.kind, title=citation.title, authors=citation.authors,
                    year=citation.year, doi=citation.doi, chunks=len(metas), pages=max(pages) or None,
                    ingested_at=str(first.get("ingested_at", "")), synthetic=bool(first.get("synthetic", False)),
                )
            )
        return out

    def _source_state(self, source: str) -> tuple[list[str], set[str]]:
        data = self._collection.get(where={"source": source}, include=["metadatas"])
        hashes = {str(m.get("file_sha256", "")) for m in data["metadatas"] or []}
        return list(data["ids"]), hashes

    def _source_with_file_hash(self, file_hash: str) -> str | None:
        data = self._collection.get(where={"file_sha256": file_hash}, include=["metadatas"], limit=1)
        metas = data["metadatas"] or []
        return str(metas[0]["source"]) if metas else None

    # -- writing

    def add_chunks(self, chunks: Sequence[Chunk], embeddings: np.ndarray | None = None) -> int:
        """Store chunks (embedding them unless vectors are given); repeated ids are stored once. Returns chunks written."""
        unique: dict[str, Chunk] = {}
        for chunk in chunks:
            unique.setdefault(chunk.chunk_id(), chunk)
        if embeddings is not None:
            if embeddings.shape != (len(chunks), self.embedder.dimension):
                raise LiteratureError(
                    f"precomputed embeddings have shape {embeddings.shape}, expected ({len(chunks)}, {self.embedder.dimension})"
                )
            keep = {chunk.chunk_id(): i for i, chunk in reversed(list(enumerate(chunks)))}
            vectors = np.asarray(embeddings[[keep[cid] for cid in unique]], dtype=np.float32)
        else:
            vectors = self.embedder.embed([c.text for c in unique.values()])
        ids = list(unique)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        batch = max(1, min(int(self._chroma.client.get_max_batch_size()), 4000))
        for start in range(0, len(ids), batch):
            part = ids[start : start + batch]
            self._collection.upsert(
                ids=part,
                embeddings=vectors[start : start + batch],
                documents=[unique[i].text for i in part],
                metadatas=[chunk_metadata(unique[i], stamp) for i in part],
            )
        if ids:
            self._chroma.bump_revision()
        return len(ids)

    def delete_source(self, source: str) -> int:
        """Remove every chunk of one document; returns how many were removed."""
        ids, _ = self._source_state(source)
        if ids:
            self._collection.delete(ids=ids)
            self._chroma.bump_revision()
        return len(ids)

    def _ingest_one(
        self, path: Path, source: str, known_vectors: dict[str, np.ndarray] | None = None
    ) -> tuple[FileReport, int, int]:
        file_hash = sha256_file(path)
        old_ids, old_hashes = self._source_state(source)
        if old_ids and old_hashes == {file_hash}:
            return FileReport(path=str(path), source=source, status="unchanged", chunks=len(old_ids)), 0, 0
        if not old_ids:
            twin = self._source_with_file_hash(file_hash)
            if twin is not None:
                return (
                    FileReport(path=str(path), source=source, status="duplicate", message=f"same content as {twin}; not stored again"),
                    0,
                    0,
                )
        chunks = document_chunks(path, source)
        distinct = {c.chunk_id() for c in chunks}
        removed = 0
        if old_ids:
            # The changed file replaces its old chunks; unchanged passages are re-written with the same ids.
            stale = [i for i in old_ids if i not in distinct]
            if stale:
                self._collection.delete(ids=stale)
            removed = len(stale)
        written = self.add_chunks(chunks, vectors_with(chunks, known_vectors, self.embedder) if known_vectors else None)
        status: Literal["added", "updated"] = "updated" if old_ids else "added"
        report = FileReport(
            path=str(path), source=source, status=status, chunks=len(distinct),
            skipped_duplicate_chunks=len(chunks) - len(distinct),
        )
        return report, written, removed

    def ingest(
        self,
        paths: Sequence[Path | str],
        progress: ProgressCallback | None = None,
        *,
        strict: bool = False,
        source_prefix: str | None = None,
        known_vectors: dict[str, np.ndarray] | None = None,
    ) -> IngestResult:
        """Ingest files and folders (recursively); a changed file replaces its old chunks.

        Files that cannot be read are reported with status 'failed' (or raise DocumentError when
        `strict`). `source_prefix` names documents '<prefix><file name>' instead of by their path.
        `known_vectors` maps chunk ids to vectors already computed with this store's embedder
        (the shipped starter vectors); other chunks are embedded.
        """
        started = time.perf_counter()
        files = expand_paths([Path(p) for p in paths])
        reports: list[FileReport] = []
        added = removed = 0
        for done, path in enumerate(files):
            if progress:
                progress(f"reading {path.name}", done, len(files))
            source = f"{source_prefix}{path.name}" if source_prefix else str(path.resolve())
            try:
                report, written, dropped = self._ingest_one(path, source, known_vectors)
            except DocumentError as err:
                if strict:
                    raise
                report, written, dropped = FileReport(path=str(path), source=source, status="failed", message=str(err)), 0, 0
            reports.append(report)
            added += written
            removed += dropped
        if progress:
            progress("done", len(files), len(files))
        return IngestResult(
            files=reports, chunks_added=added, chunks_removed=removed, store_chunks=self.count(),
            elapsed_s=time.perf_counter() - started,
        )

    def ingest_starter_corpus(self, progress: ProgressCallback | None = None) -> IngestResult:
        """Ingest the built-in notes (knowledge/literature) as 'matassist-starter/<file>'."""
        return self.ingest(
            starter_corpus_files(), progress, strict=True, source_prefix=STARTER_PREFIX,
            known_vectors=starter_vectors(self.embedder.name),
        )

    # -- searching

    def _rows(self) -> PassageRows:
        """Every stored passage read from chromadb, with its vector for a local store."""
        local = self.path is not None
        data = self._collection.get(include=["documents", "metadatas", "embeddings"] if local else ["documents", "metadatas"])
        ids = list(data["ids"])
        vectors = None
        if local:
            raw = data.get("embeddings")
            vectors = np.asarray(raw if raw is not None and len(ids) else np.zeros((0, self.embedder.dimension)), dtype=np.float32)
        return ids, [str(d) for d in data["documents"] or []], [dict(m) for m in data["metadatas"] or []], vectors

    def _snapshot(self) -> StoreSnapshot:
        """The stored passages and their indexes at the current revision: from this process's
        cache, else from the snapshot on disk, else read from chromadb (and saved for the next process)."""

        def load(revision: str) -> StoreSnapshot:
            folder = snapshot_folder(self.path, self.collection_name, revision) if self.path is not None and revision else None
            return load_or_build(folder, revision, self._rows, self.embedder.name, self.embedder.dimension)

        return cached_snapshot((self._location, self.collection_name), self._chroma.revision(), load)

    def search(self, query: str, k: int = 5, candidates: int = 50) -> SearchResult:
        """Hybrid search: vector and BM25 rankings fused by reciprocal rank; duplicates collapsed;
        passages naming an element the query asks for first (search.py)."""
        request = SearchLiteratureInput(query=query, k=k)
        started = time.perf_counter()
        snapshot = self._snapshot()
        total = len(snapshot.ids)
        if total == 0 or not request.query.strip():
            return SearchResult(query=query, passages=[], store_chunks=total, embedder=self.embedder.name, elapsed_ms=0.0)
        pool = min(total, max(candidates, 4 * request.k))
        vector = self.embedder.embed([request.query])
        if snapshot.vectors is not None and len(snapshot.vectors) == total:
            vector_ids, similarity = vector_ranking(snapshot, vector[0], pool)
        else:
            hits = self._collection.query(query_embeddings=vector, n_results=pool, include=["distances"])
            vector_ids = list(hits["ids"][0])
            similarity = {cid: 1.0 - float(d) for cid, d in zip(vector_ids, hits["distances"][0], strict=True)}
        keyword_ids = snapshot.keywords.ranked_ids(request.query, pool)
        asked = asked_elements(request.query, snapshot)
        passages = fused_passages(snapshot, vector_ids, keyword_ids, similarity, request.k, asked, pool)
        return SearchResult(
            query=query, passages=passages, store_chunks=total, embedder=self.embedder.name,
            elapsed_ms=(time.perf_counter() - started) * 1000.0,
        )

    def answer(self, query: str, k: int = 3) -> LiteratureAnswer:
        """Offline answer: the top passages quoted verbatim with citations; no prose is generated."""
        result = self.search(query, k=k)
        return LiteratureAnswer(query=query, text=render_offline_answer(result), passages=result.passages)
