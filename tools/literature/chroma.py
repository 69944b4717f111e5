"""chromadb underneath the store: a persistent folder or an HTTP server, the collection and its metadata."""

from __future__ import annotations

import json
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
    meta = collection.metadata or {}
    if meta.get("embedder") != embedder.name or meta.get("dimension") != embedder.dimension:
        raise LiteratureError(
            f"the literature store at {where} was built with embedder "
            f"'{meta.get('embedder')}' ({meta.get('dimension')} dimensions), not '{embedder.name}'; "
            "use the same embedder or another folder/collection"
        )
    return collection
