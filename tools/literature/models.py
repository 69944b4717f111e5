"""The literature store's data: references, citations, passages, chunks, ingestion reports, and the search input."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

_MODEL = ConfigDict(extra="forbid", frozen=True)

ProgressCallback = Callable[[str, int, int], None]
"""Called as progress(description, completed_files, total_files) while ingesting."""


class Reference(BaseModel):
    """A published work: who, when, what, where, and its DOI when known."""

    model_config = _MODEL

    key: str | None = Field(default=None, description="citation key (BibTeX key or RIS ID)")
    title: str = Field(default="", description="title of the work")
    authors: list[str] = Field(default_factory=list, description="authors as 'Last, First' or as written")
    year: int | None = Field(default=None, description="publication year")
    venue: str = Field(default="", description="journal or proceedings, with volume and pages when known")
    doi: str | None = Field(default=None, description="DOI without the https://doi.org/ prefix")
    note: str = Field(default="", description="remarks, e.g. 'DOI not verified'")

    def short(self) -> str:
        """'Noh et al. 2013' style label."""
        if not self.authors:
            who = self.title[:40] or (self.key or "unknown")
        else:
            first = _last_name(self.authors[0])
            who = first if len(self.authors) == 1 else (
                f"{first} and {_last_name(self.authors[1])}" if len(self.authors) == 2 else f"{first} et al."
            )
        return f"{who} {self.year}" if self.year else who

    def formatted(self) -> str:
        """Full reference line: authors (year). title. venue. doi."""
        parts = [f"{'; '.join(self.authors) or 'unknown authors'} ({self.year or 'n.d.'})."]
        if self.title:
            parts.append(f"{self.title}.")
        if self.venue:
            parts.append(f"{self.venue}.")
        parts.append(f"doi:{self.doi}" if self.doi else "(no DOI given)")
        if self.note:
            parts.append(f"[{self.note}]")
        return " ".join(parts)


def _last_name(author: str) -> str:
    """'Noh, Hyung-Joo' -> 'Noh'; 'Yang-Kook Sun' -> 'Sun'; a long corporate name stays whole."""
    if "," in author:
        return author.split(",")[0].strip()
    words = author.split()
    return words[-1] if 0 < len(words) <= 3 else author.strip()


class Citation(BaseModel):
    """Where a passage comes from, precisely enough for a scientist to check it."""

    model_config = _MODEL

    source: str = Field(description="document identity: file path, or matassist-starter/<file> for the built-in notes")
    kind: str = Field(description="pdf, markdown, text, bibtex, ris or synthetic")
    title: str = Field(default="", description="document title")
    authors: list[str] = Field(default_factory=list, description="document authors")
    year: int | None = Field(default=None, description="publication year of the document")
    venue: str = Field(default="", description="journal or proceedings")
    doi: str | None = Field(default=None, description="DOI of the document")
    page: int | None = Field(default=None, description="1-based PDF page of the passage")
    section: str = Field(default="", description="heading path of the passage, 'A > B'")
    references: list[Reference] = Field(
        default_factory=list, description="published works the passage cites (for notes that paraphrase papers)"
    )

    def label(self) -> str:
        """One line: who/what, page, section, DOI, and the works cited."""
        doc = Reference(title=self.title, authors=self.authors, year=self.year)
        head = doc.short() if self.authors else (self.title or Path(self.source).name)
        bits = [head]
        if self.authors and self.title:
            bits.append(f'"{self.title}"')
        if self.venue:
            bits.append(self.venue)
        if self.doi:
            bits.append(f"doi:{self.doi}")
        if self.page is not None:
            bits.append(f"p. {self.page}")
        if self.section:
            bits.append(f"section '{self.section}'")
        text = ", ".join(bits)
        if self.references:
            cited = "; ".join(
                f"{r.short()}" + (f", doi:{r.doi}" if r.doi else " (no DOI)") for r in self.references
            )
            text += f"; sources: {cited}"
        return text


class Passage(BaseModel):
    """A retrieved chunk with its ranks and citation."""

    model_config = _MODEL

    id: str = Field(description="chunk id in the store")
    text: str = Field(description="the passage text, verbatim as stored")
    score: float = Field(description="reciprocal-rank-fusion score (higher is better), unitless")
    vector_rank: int | None = Field(default=None, description="1-based rank by embedding similarity; None if not in the vector candidates")
    keyword_rank: int | None = Field(default=None, description="1-based rank by BM25; None if no keyword matched")
    similarity: float | None = Field(default=None, description="cosine similarity to the query, -1..1")
    citation: Citation = Field(description="where the passage comes from")
    synthetic: bool = Field(default=False, description="True for synthetic benchmark filler (never real literature)")
    matched_elements: list[str] = Field(
        default_factory=list,
        description="chemical elements named in the query that this passage names too, under any alias (symbol, ion, formula, name)",
    )


# The one search input: the `search_literature` tool (its docstring is the description the LLM
# reads), `matassist knowledge search` and LiteratureStore.search all validate with it.
class SearchLiteratureInput(BaseModel):
    """Search the literature store (papers and notes) and return cited passages: which dopant, coating or temperature window others used."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=2000, description="the question or keywords, plain text")
    k: int = Field(default=5, ge=1, le=50, description="number of passages to return")


class SearchResult(BaseModel):
    """Ranked passages for a query; the shape the LLM layer consumes."""

    model_config = _MODEL

    query: str = Field(description="the query as given")
    passages: list[Passage] = Field(description="best first")
    store_chunks: int = Field(description="number of chunks searched")
    embedder: str = Field(description="embedding model name")
    elapsed_ms: float = Field(description="search wall time, milliseconds")


class LiteratureAnswer(BaseModel):
    """Offline answer: the best passages quoted verbatim with their citations, no generated prose."""

    model_config = _MODEL

    query: str = Field(description="the question")
    mode: Literal["offline-quotes"] = Field(default="offline-quotes", description="how the answer was made")
    text: str = Field(description="the rendered answer: numbered quotes with citations")
    passages: list[Passage] = Field(description="the quoted passages")


class Chunk(BaseModel):
    """A passage ready to store: text plus metadata."""

    model_config = _MODEL

    text: str = Field(description="passage text")
    source: str = Field(description="document identity (path or matassist-starter/<file>)")
    kind: str = Field(description="document kind")
    title: str = Field(default="", description="document title")
    authors: list[str] = Field(default_factory=list, description="document authors")
    year: int | None = Field(default=None, description="publication year")
    venue: str = Field(default="", description="journal or proceedings")
    doi: str | None = Field(default=None, description="DOI")
    page: int | None = Field(default=None, description="1-based page (PDF)")
    section: str = Field(default="", description="heading path")
    references: list[Reference] = Field(default_factory=list, description="works the passage cites")
    file_sha256: str = Field(default="", description="SHA-256 of the source file bytes")
    synthetic: bool = Field(default=False, description="synthetic filler, not literature")

    @property
    def content_hash(self) -> str:
        """SHA-256 of the whitespace-normalised, lower-cased text."""
        return hashlib.sha256(" ".join(self.text.lower().split()).encode("utf-8")).hexdigest()

    def chunk_id(self) -> str:
        """Stable id: document identity + content, so a re-ingested unchanged passage keeps its id."""
        doc = hashlib.sha256(self.source.encode("utf-8")).hexdigest()[:12]
        return f"{doc}-{self.content_hash[:20]}"

    def citation(self) -> Citation:
        """The citation of this passage."""
        return Citation(
            source=self.source, kind=self.kind, title=self.title, authors=self.authors, year=self.year,
            venue=self.venue, doi=self.doi, page=self.page, section=self.section, references=self.references,
        )


class FileReport(BaseModel):
    """What happened to one file during ingestion."""

    model_config = _MODEL

    path: str = Field(description="file as given")
    source: str = Field(description="document identity in the store")
    status: Literal["added", "updated", "unchanged", "duplicate", "failed"] = Field(description="outcome")
    chunks: int = Field(default=0, description="chunks now stored for this document")
    skipped_duplicate_chunks: int = Field(default=0, description="repeated passages inside the document that were stored once")
    message: str = Field(default="", description="why it failed, or what it duplicates")


class IngestResult(BaseModel):
    """Outcome of an ingestion run."""

    model_config = _MODEL

    files: list[FileReport] = Field(description="one report per file, in the order processed")
    chunks_added: int = Field(description="chunks written in this run")
    chunks_removed: int = Field(description="stale chunks deleted (changed files)")
    store_chunks: int = Field(description="chunks in the store afterwards")
    elapsed_s: float = Field(description="wall time, seconds")

    @property
    def failed(self) -> list[FileReport]:
        """Reports of files that could not be ingested."""
        return [f for f in self.files if f.status == "failed"]


class DocumentInfo(BaseModel):
    """One document in the store."""

    model_config = _MODEL

    source: str = Field(description="document identity")
    kind: str = Field(description="document kind")
    title: str = Field(description="title")
    authors: list[str] = Field(description="authors")
    year: int | None = Field(description="publication year")
    doi: str | None = Field(description="DOI")
    chunks: int = Field(description="number of stored passages")
    pages: int | None = Field(description="highest page number seen (PDF)")
    ingested_at: str = Field(description="UTC time of ingestion, ISO 8601")
    synthetic: bool = Field(description="synthetic filler")

