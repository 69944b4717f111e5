"""`matassist knowledge ...`: the literature store (ingest papers and notes, search, list)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.common import JsonOpt, emit_json, err, guarded, out, settings
from cli.model_options import Flag, model_options
from tools.domain.errors import MatassistError
from tools.literature.models import SearchLiteratureInput

knowledge_app = typer.Typer(
    help="Literature store: ingest PDFs, notes and BibTeX/RIS; search with citations (offline).",
    no_args_is_help=True,
)

StoreOpt = Annotated[
    Path | None,
    typer.Option("--store", help="literature store folder; default <data dir>/literature"),
]
UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--chroma-url",
        envvar="MATASSIST_CHROMA_URL",
        help="use a chromadb HTTP server (http://host:port) instead of the local folder",
    ),
]


def open_store(store: Path | None, chroma_url: str | None) -> Any:
    """The literature store named by the options (a local folder unless a server URL is given)."""
    from tools.literature.store import LiteratureStore

    if chroma_url:
        if store is not None:
            raise MatassistError("give either --store or --chroma-url, not both")
        return LiteratureStore(url=chroma_url)
    return LiteratureStore(store or settings().ensure_data_dir() / "literature")


def _run_ingest(store: Any, paths: list[Path] | None, show_progress: bool) -> Any:
    """Ingest paths (or the starter corpus when None), with a progress bar on stderr when asked."""
    if not show_progress:
        return store.ingest_starter_corpus() if paths is None else store.ingest(paths)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("starting (the embedding model loads on first use)", total=None)

        def progress(description: str, done: int, total: int) -> None:
            bar.update(task, description=escape(description), completed=done, total=total)

        if paths is None:
            return store.ingest_starter_corpus(progress)
        return store.ingest(paths, progress)


def _ensure_corpus(store: Any, as_json: bool) -> dict[str, Any] | None:
    """Ingest the built-in starter notes when the store is empty; returns what was done."""
    if store.count() > 0:
        return None
    if not as_json:
        err.print("[yellow]the literature store is empty: ingesting the built-in starter notes (knowledge/literature) first[/]")
    result = _run_ingest(store, None, show_progress=not as_json)
    return {
        "note": "the store was empty, so the built-in starter notes were ingested first",
        "files": len(result.files),
        "chunks": result.store_chunks,
    }


@knowledge_app.command("ingest")
@guarded
def knowledge_ingest(
    paths: Annotated[list[Path], typer.Argument(help="PDF, Markdown, text, BibTeX or RIS files, or folders")],
    store: StoreOpt = None,
    chroma_url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add documents to the literature store; changed files replace their old passages."""
    lit = open_store(store, chroma_url)
    result = _run_ingest(lit, paths, show_progress=not as_json)
    if as_json:
        emit_json(result)
    else:
        table = Table(title="Ingestion")
        for col in ("file", "status", "chunks", "note"):
            table.add_column(col, justify="right" if col == "chunks" else "left")
        for report in result.files:
            colour = {"failed": "red", "added": "green", "updated": "cyan"}.get(report.status, "white")
            note = report.message
            if report.skipped_duplicate_chunks:
                note = f"{report.skipped_duplicate_chunks} repeated passage(s) stored once" + (f"; {note}" if note else "")
            table.add_row(escape(report.path), f"[{colour}]{report.status}[/]", str(report.chunks), escape(note))
        out.print(table)
        out.print(
            f"{result.chunks_added} chunks written, {result.chunks_removed} stale removed; "
            f"store now holds {result.store_chunks} chunks ({result.elapsed_s:.1f} s)"
        )
    if result.failed:
        names = ", ".join(Path(f.path).name for f in result.failed)
        raise MatassistError(f"{len(result.failed)} file(s) could not be ingested: {names}")


@knowledge_app.command("search")
@guarded
@model_options(SearchLiteratureInput, (Flag("query", form="argument"), Flag("k", bounded=True)), param="request")
def knowledge_search(
    request: SearchLiteratureInput,
    answer: Annotated[bool, typer.Option("--answer", help="offline answer: the top passages quoted with citations")] = False,
    store: StoreOpt = None,
    chroma_url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search the literature store (vector + keyword ranking); every passage comes with its citation."""
    from tools.literature.rendering import quote_plain, render_offline_answer

    lit = open_store(store, chroma_url)
    starter = _ensure_corpus(lit, as_json)
    result = lit.search(request.query, k=request.k)
    if as_json:
        payload: dict[str, Any] = result.model_dump(mode="json")
        payload["starter_corpus_ingested"] = starter
        if answer:
            payload["answer"] = {"mode": "offline-quotes", "text": render_offline_answer(result)}
        emit_json(payload)
        return
    if answer:
        out.print(render_offline_answer(result), markup=False)
        return
    if not result.passages:
        out.print(f"no passage matches ({result.store_chunks} chunks searched)")
        return
    # Each passage is quoted ('> ' lines, printed as text: its markup is not interpreted), its citation below.
    for number, passage in enumerate(result.passages, start=1):
        out.print(f"[bold][{number}][/] quoted passage:")
        out.print(quote_plain(passage.text, "> "), markup=False)
        out.print(f"[dim]source of [{number}]:[/] {escape(passage.citation.label())}")
        if passage.synthetic:
            out.print("[yellow](synthetic filler, not literature)[/]")
        out.print("")
    out.print(f"[dim]{result.store_chunks} chunks searched in {result.elapsed_ms:.0f} ms ({escape(result.embedder)})[/]")


@knowledge_app.command("list")
@guarded
def knowledge_list(
    store: StoreOpt = None,
    chroma_url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the documents in the literature store."""
    lit = open_store(store, chroma_url)
    docs = lit.documents()
    if as_json:
        emit_json({"documents": [d.model_dump(mode="json") for d in docs], "chunks": lit.count()})
        return
    if not docs:
        out.print("the literature store is empty (the starter notes are ingested on the first search)")
        return
    table = Table(title=f"Literature store: {len(docs)} documents, {lit.count()} chunks")
    for col in ("document", "kind", "title", "year", "DOI", "chunks"):
        table.add_column(col, justify="right" if col in {"year", "chunks"} else "left")
    for doc in docs:
        table.add_row(
            escape(doc.source if doc.source.startswith("matassist-starter/") else Path(doc.source).name),
            doc.kind,
            escape(doc.title[:70]),
            str(doc.year or ""),
            escape(doc.doi or ""),
            str(doc.chunks),
        )
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add `matassist knowledge ...` to the main app."""
    app.add_typer(knowledge_app, name="knowledge")
