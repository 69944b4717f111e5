"""Shipped vectors of the starter passages, so that the first search of a new store embeds nothing.

`knowledge/literature/starter-vectors.npz` holds the vector of every starter passage by chunk id,
made with the packaged MiniLM model (both backends give the same vectors). Embedding the 61
passages costs seconds on a busy machine; with the file, ingesting the starter corpus only
writes them. Rebuild it with scripts/build_starter_vectors.py after editing the notes; the test
test_shipped_starter_vectors_match_the_notes_and_the_model says when.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np

from tools.literature.documents import STARTER_PREFIX, document_chunks, starter_corpus_files
from tools.literature.embeddings import Embedder
from tools.literature.models import Chunk

STARTER_VECTORS = "starter-vectors.npz"


def _shipped_path() -> Path:
    return Path(str(resources.files("knowledge") / "literature" / STARTER_VECTORS))


def starter_vectors(embedder_name: str) -> dict[str, np.ndarray]:
    """Shipped starter-passage vectors by chunk id, if they were made by `embedder_name` (else empty)."""
    try:
        with np.load(_shipped_path(), allow_pickle=False) as data:
            if str(data["embedder"]) != embedder_name:
                return {}
            return dict(zip([str(i) for i in data["ids"]], np.asarray(data["vectors"], dtype=np.float32), strict=True))
    except (OSError, KeyError, ValueError):
        return {}


def write_starter_vectors(embedder: Embedder, path: Path | None = None) -> Path:
    """Embed every starter passage with `embedder` and save the vectors (default: the shipped file)."""
    chunks = [c for p in starter_corpus_files() for c in document_chunks(p, f"{STARTER_PREFIX}{p.name}")]
    unique = {c.chunk_id(): c for c in chunks}
    vectors = embedder.embed([c.text for c in unique.values()])
    target = path or _shipped_path()
    np.savez_compressed(target, ids=np.array(list(unique)), vectors=vectors.astype(np.float32), embedder=np.array(embedder.name))
    return target


def vectors_with(chunks: Sequence[Chunk], known: dict[str, np.ndarray], embedder: Embedder) -> np.ndarray:
    """Vectors of `chunks`: the known ones looked up by chunk id, the others embedded now."""
    vectors = np.zeros((len(chunks), embedder.dimension), dtype=np.float32)
    missing = []
    for i, chunk in enumerate(chunks):
        vector = known.get(chunk.chunk_id())
        if vector is None or vector.shape != (embedder.dimension,):
            missing.append(i)
        else:
            vectors[i] = vector
    if missing:
        vectors[missing] = embedder.embed([chunks[i].text for i in missing])
    return vectors
