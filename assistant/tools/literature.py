"""`search_literature` for the assistant: cited passages from the literature store (chromadb, offline embeddings)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.settings import Settings
from assistant.tools.base import ToolContext, ToolOutput, tool_spec
from tools.literature.models import SearchLiteratureInput

_STORES: dict[str, Any] = {}
_LOCK = threading.Lock()


def literature_store(settings: Settings) -> Any:
    """The process-wide store of the data directory (the embedding model loads once, lazily)."""
    from tools.literature.store import LiteratureStore

    folder = settings.ensure_data_dir() / "literature"
    key = settings.chroma_url or str(folder)
    with _LOCK:
        if key not in _STORES:
            _STORES[key] = LiteratureStore(url=settings.chroma_url) if settings.chroma_url else LiteratureStore(folder)
        return _STORES[key]


def ingest_documents(settings: Settings, paths: list[Path], progress: Callable[[str], None] | None = None) -> Any:
    """Ingest files (PDF, Markdown, text, BibTeX/RIS) into the store; returns the IngestResult."""
    store = literature_store(settings)

    def report(message: str, done: int, total: int) -> None:
        if progress is not None:
            progress(f"{message} ({done}/{total})")

    return store.ingest(paths, report)


def _search(ctx: ToolContext, args: SearchLiteratureInput) -> ToolOutput:
    """Cited passages. The summary quotes each passage as an escaped Markdown blockquote and the
    data fences them as escaped <passage> elements: retrieved text reaches the model, the terminal
    and the UI only as quoted material, its markup shown as text (tools/literature/rendering.py)."""
    from tools.literature.rendering import escape_html, fence_passages, render_quoted_passages

    store = literature_store(ctx.settings)
    notes = []
    if store.count() == 0:
        ctx.note("the literature store is empty: ingesting the starter corpus (knowledge/literature)")
        result = store.ingest_starter_corpus()
        notes.append(f"The store was empty; the starter corpus was ingested ({result.chunks_added} passages).")
    ctx.note("searching the literature store")
    found = store.search(args.query, k=args.k)
    return ToolOutput(
        summary=render_quoted_passages(found, notes).strip(),
        data={"passages_for_llm": fence_passages(found.passages),
              "citations": [escape_html(p.citation.label()) for p in found.passages],
              "store_chunks": found.store_chunks},
        sources=list(dict.fromkeys(p.citation.label() for p in found.passages)),
    )


SPEC = tool_spec("search_literature", SearchLiteratureInput, _search)
