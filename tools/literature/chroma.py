"""chromadb underneath the store: a persistent folder or an HTTP server, the collection and its metadata.

The metadata of a local collection (which embedder made its vectors, its revision) can also be
read straight from chroma's sqlite file with the standard library, so a store that is only
searched never imports chromadb (1-3 s). That reads the `collections` and
`collection_metadata` tables, unchanged since chroma 0.4; if a later chroma changes them, the
read gives None and the store opens chromadb as before: slower, still correct.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tools.domain.errors import LiteratureError
from tools.literature.embeddings import Embedder
from tools.literature.models import Chunk, Citation, Reference

SCHEMA_VERSION = 1


def chunk_metadata(chunk: Chunk, ingested_at: str) -> dict[str, Any]:
    """The chromadb metadata of a stored chunk."""
    # chromadb metadata holds scalars only: lists go as JSON, None as an empty value.
    return {
        "source": chunk.source,
        "kind": chunk.kind,
        "title": chunk.title,
        "authors": json.dumps(chunk.authors, ensure_ascii=False),
        "year": chunk.year or 0,
        "venue": chunk.venue,
        "doi": chunk.doi or "",
        "page": chunk.page or 0,
        "section": chunk.section,
        "references": json.dumps([r.model_dump(mode="json") for r in chunk.references], ensure_ascii=False),
        "content_hash": chunk.content_hash,
        "file_sha256": chunk.file_sha256,
        "synthetic": chunk.synthetic,
        "ingested_at": ingested_at,
    }


def citation_from_metadata(meta: dict[str, Any]) -> Citation:
    """The citation of a stored chunk, read back from its chromadb metadata."""
    return Citation(
        source=str(meta.get("source", "")),
        kind=str(meta.get("kind", "")),
        title=str(meta.get("title", "")),
        authors=json.loads(meta.get("authors") or "[]"),
        year=int(meta["year"]) if meta.get("year") else None,
        venue=str(meta.get("venue", "")),
        doi=str(meta["doi"]) if meta.get("doi") else None,
        page=int(meta["page"]) if meta.get("page") else None,
        section=str(meta.get("section", "")),
        references=[Reference.model_validate(r) for r in json.loads(meta.get("references") or "[]")],
    )


def connect(path: Path | None, url: str | None) -> Any:
    """A chromadb client: an HTTP client when `url` is given, else a persistent client on the folder `path`."""
    try:
        import chromadb
        from chromadb.config import Settings as ChromaSettings
    except ImportError as err:
        raise LiteratureError("chromadb is not installed") from err
    settings = ChromaSettings(anonymized_telemetry=False)
    if url:
        parsed = urlparse(url if "://" in url else f"http://{url}")
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise LiteratureError(f"chromadb URL '{url}' must look like http://host:port")
        try:
            client = chromadb.HttpClient(
                host=parsed.hostname,
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=settings,
            )
            client.heartbeat()
        except Exception as err:  # chromadb raises ValueError/httpx errors/... for an unreachable server
            raise LiteratureError(f"cannot reach the chromadb server at {url}: {err}") from err
        return client
    assert path is not None
    try:
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=settings)
    except OSError as err:
        raise LiteratureError(f"cannot open the literature store folder {path}: {err}") from err
    except Exception as err:  # chromadb's own errors (locked or corrupt sqlite file, ...)
        raise LiteratureError(f"cannot open the literature store in {path}: {err}") from err


def collection_metadata(embedder: Embedder, revision: str) -> dict[str, Any]:
    """The collection's metadata: which embedder made its vectors, and a revision that changes on every write."""
    return {
        "embedder": embedder.name,
        "dimension": embedder.dimension,
        "schema": SCHEMA_VERSION,
        "revision": revision,
    }


def open_collection(client: Any, name: str, embedder: Embedder, where: str) -> Any:
    """The collection `name` (created when missing); refused when its vectors came from another embedder."""
    from chromadb.errors import NotFoundError

    try:
        collection = client.get_collection(name, embedding_function=None)
    except NotFoundError:
        return client.create_collection(
            name,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
            metadata=collection_metadata(embedder, uuid.uuid4().hex),
        )
    check_embedder(collection.metadata or {}, embedder, where)
    return collection


def check_embedder(meta: dict[str, Any], embedder: Embedder, where: str) -> None:
    """Refuse a collection whose vectors came from another embedder (they cannot be compared)."""
    if meta.get("embedder") != embedder.name or meta.get("dimension") != embedder.dimension:
        raise LiteratureError(
            f"the literature store at {where} was built with embedder "
            f"'{meta.get('embedder')}' ({meta.get('dimension')} dimensions), not '{embedder.name}'; "
            "use the same embedder or another folder/collection"
        )


def sqlite_collection_metadata(path: Path, name: str) -> dict[str, Any] | None:
    """The metadata of collection `name` in the local store folder `path`, read from chroma's
    sqlite file without importing chromadb; None when there is no such file or collection, or it
    cannot be read."""
    db = Path(path) / "chroma.sqlite3"
    if not db.is_file():
        return None
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=10)) as con:
            rows = con.execute(
                "SELECT c.id, m.key, m.str_value, m.int_value FROM collections c "
                "JOIN collection_metadata m ON m.collection_id = c.id WHERE c.name = ?",
                (name,),
            ).fetchall()
    except sqlite3.Error:
        return None
    if not rows or len({row[0] for row in rows}) != 1:
        return None
    return {key: (text if text is not None else number) for _, key, text, number in rows}


class LazyCollection:
    """The store's chromadb collection, opened on first use.

    A local collection that already exists is checked from chroma's sqlite file (a different
    embedder is refused at once) and its revision read from there, so chromadb is imported only
    for writes, listings, or a search without a snapshot. A server collection is opened at once.
    """

    def __init__(self, path: Path | None, url: str | None, name: str, embedder: Embedder) -> None:
        self.path = path
        self.url = url
        self.name = name
        self.embedder = embedder
        self._client: Any = None
        self._collection: Any = None
        self._lock = threading.Lock()
        if url is not None or not self._check_local():
            self.open()

    @property
    def opened(self) -> bool:
        """True once chromadb has been imported and the collection opened."""
        return self._collection is not None

    @property
    def client(self) -> Any:
        """The chromadb client (opened on first use)."""
        self.open()
        return self._client

    @property
    def collection(self) -> Any:
        """The chromadb collection (opened on first use)."""
        self.open()
        return self._collection

    def open(self) -> None:
        """Connect to chromadb and open (or create) the collection, once."""
        if self._collection is not None:
            return
        with self._lock:
            if self._collection is None:
                client = connect(self.path, self.url)
                self._collection = open_collection(client, self.name, self.embedder, str(self.url or self.path))
                self._client = client

    def _sqlite_meta(self) -> dict[str, Any] | None:
        return sqlite_collection_metadata(self.path, self.name) if self.path is not None else None

    def _check_local(self) -> bool:
        """True when the local collection exists and was built with this embedder (refused otherwise)."""
        meta = self._sqlite_meta()
        if meta is None or "revision" not in meta:
            return False
        check_embedder(meta, self.embedder, str(self.path))
        return True

    def revision(self) -> str:
        """The collection's revision, which changes on every write."""
        meta = self._sqlite_meta()
        if meta is not None and "revision" in meta:
            return str(meta["revision"])
        collection = self.client.get_collection(self.name, embedding_function=None)
        return str((collection.metadata or {}).get("revision", ""))

    def bump_revision(self) -> None:
        """Give the collection a new revision (after a write)."""
        self.collection.modify(metadata=collection_metadata(self.embedder, uuid.uuid4().hex))
