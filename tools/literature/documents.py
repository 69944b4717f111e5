"""Reading documents into chunks: text and PDF pages, Markdown front matter, .bib/.ris files next to a document."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from tools.domain.errors import DataFileError, DocumentError
from tools.domain.fileio import check_regular_file
from tools.literature.bibtex import parse_bibtex
from tools.literature.chunking import group_sections, markdown_blocks, pack_section, plain_blocks
from tools.literature.models import Chunk, Reference
from tools.literature.references import (
    CITE_KEYS,
    keys_in,
    normalise_doi,
    parse_ris,
    parse_year,
    resolve_keys,
)

DocumentKind = Literal["pdf", "markdown", "text", "bibtex", "ris", "synthetic"]
SUFFIX_KIND: dict[str, DocumentKind] = {
    ".pdf": "pdf",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".bib": "bibtex",
    ".ris": "ris",
}
STARTER_PREFIX = "matassist-starter/"


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes; DocumentError for anything but a regular file (a pipe would hang, /dev/zero never ends)."""
    try:
        check_regular_file(path)
    except DataFileError as err:
        raise DocumentError(str(err)) from err
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DocumentError(f"{path}: cannot read ({err.strerror or err})") from err
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DocumentError(f"{path}: not a text file (neither UTF-8 nor Windows-1252)")


def read_pdf_pages(path: Path) -> list[tuple[int, str]]:
    """Text of each PDF page as (1-based page, text); clear errors for encrypted, corrupt or textless files."""
    import logging

    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError, PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # malformed-but-readable files log noise per object
    try:
        reader = PdfReader(str(path), strict=False)
        if reader.is_encrypted:
            try:
                decrypted = reader.decrypt("")
            except DependencyError as err:
                raise DocumentError(
                    f"{path}: the PDF is encrypted (AES) and cannot be opened here; save an unencrypted copy and ingest that"
                ) from err
            if not decrypted:
                raise DocumentError(f"{path}: the PDF is password-protected; save an unencrypted copy and ingest that")
        pages = [(number, page.extract_text() or "") for number, page in enumerate(reader.pages, start=1)]
    except DocumentError:
        raise
    except FileNotDecryptedError as err:
        raise DocumentError(f"{path}: the PDF is password-protected; save an unencrypted copy and ingest that") from err
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as err:
        raise DocumentError(f"{path}: not a readable PDF (corrupt or truncated): {err}") from err
    except OSError as err:
        raise DocumentError(f"{path}: cannot read ({err.strerror or err})") from err
    if not pages:
        raise DocumentError(f"{path}: the PDF has no pages")
    if not any(text.strip() for _, text in pages):
        raise DocumentError(
            f"{path}: no extractable text in {len(pages)} page(s) (a scanned image?); run OCR first and ingest the result"
        )
    return pages


def parse_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split YAML front matter ('---' ... '---' at the top) from the body."""
    if not text.startswith("---"):
        return {}, text
    match = re.match(r"^---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|$)", text, re.S)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as err:
        raise DocumentError(f"front matter is not valid YAML: {err}") from err
    if not isinstance(meta, dict):
        raise DocumentError("front matter must be a YAML mapping")
    return meta, text[match.end() :]


def _reference_entries(path: Path) -> list[tuple[Reference, dict[str, str]]]:
    """Entries of a .bib or .ris file."""
    text = _read_text(path)
    try:
        return parse_bibtex(text) if path.suffix.lower() == ".bib" else parse_ris(text)
    except DocumentError as err:
        raise DocumentError(f"{path}: {err}") from err


def _folder_references(folder: Path) -> dict[str, Reference]:
    """Citation keys of every .bib/.ris file in a folder (for [@key] markers and front matter)."""
    refs: dict[str, Reference] = {}
    for bib in sorted([*folder.glob("*.bib"), *folder.glob("*.ris")]):
        for ref, _ in _reference_entries(bib):
            if ref.key:
                refs[ref.key] = ref
    return refs


def _sidecar_reference(path: Path) -> Reference | None:
    """Metadata for paper.pdf from paper.bib or paper.ris next to it (first entry)."""
    for suffix in (".bib", ".ris"):
        sidecar = path.with_suffix(suffix)
        if sidecar.is_file() and sidecar != path:
            entries = _reference_entries(sidecar)
            if entries:
                return entries[0][0]
    return None


def _authors(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [a.strip() for a in re.split(r";|\s+and\s+", value) if a.strip()]
    if isinstance(value, list):
        return [str(a).strip() for a in value if str(a).strip()]
    raise DocumentError("front matter 'authors' must be a list or a string")


def document_chunks(path: Path, source: str | None = None) -> list[Chunk]:
    """Parse one file into chunks with citations (no embedding, no store)."""
    if not path.exists():
        raise DocumentError(f"{path}: no such file")
    kind = SUFFIX_KIND.get(path.suffix.lower())
    if kind is None:
        raise DocumentError(
            f"{path}: unsupported file type '{path.suffix}'; use one of {', '.join(sorted(SUFFIX_KIND))}"
        )
    source = source or str(path.resolve())
    file_hash = sha256_file(path)
    base: dict[str, Any] = {"source": source, "kind": kind, "file_sha256": file_hash}

    if kind in ("bibtex", "ris"):
        chunks = []
        for ref, fields in _reference_entries(path):
            lines = [ref.title or "(untitled)", f"{'; '.join(ref.authors)} ({ref.year or 'n.d.'}). {ref.venue}".strip()]
            if ref.doi:
                lines.append(f"doi:{ref.doi}")
            if fields.get("abstract"):
                lines.append(f"Abstract: {fields['abstract']}")
            if fields.get("keywords"):
                lines.append(f"Keywords: {fields['keywords']}")
            chunks.append(
                Chunk(text="\n".join(lines), title=ref.title, authors=ref.authors, year=ref.year, venue=ref.venue,
                      doi=ref.doi, section=f"bibliographic record {ref.key or ''}".strip(), **base)
            )
        if not chunks:
            raise DocumentError(f"{path}: no {kind} entries found")
        return chunks

    doc_ref = _sidecar_reference(path) if kind in ("pdf", "text", "markdown") else None
    meta: dict[str, Any] = {}
    default_refs: list[Reference] = []
    folder_refs: dict[str, Reference] | None = None
    if kind == "pdf":
        blocks = [b for number, text in read_pdf_pages(path) for b in plain_blocks(text, page=number)]
    else:
        text = _read_text(path)
        if kind == "markdown":
            try:
                meta, text = parse_front_matter(text)
            except DocumentError as err:
                raise DocumentError(f"{path}: {err}") from err
        blocks = markdown_blocks(text) if kind == "markdown" else plain_blocks(text)
        if meta.get("sources") or CITE_KEYS.search(text):
            folder_refs = _folder_references(path.parent)
        if meta.get("cite"):
            cited = resolve_keys([str(meta["cite"])], folder_refs or {})
            doc_ref = cited[0]
        if meta.get("sources"):
            default_refs = resolve_keys([str(k) for k in meta["sources"]], folder_refs or {})
    title = str(meta.get("title") or (doc_ref.title if doc_ref else "") or "")
    if not title:
        first_heading = next((b.text for b in blocks if b.kind == "heading"), "")
        title = first_heading or path.stem
    info: dict[str, Any] = {
        "title": title,
        "authors": _authors(meta["authors"]) if "authors" in meta else (doc_ref.authors if doc_ref else []),
        "year": parse_year(meta.get("year")) if meta.get("year") else (doc_ref.year if doc_ref else None),
        "venue": str(meta.get("venue") or (doc_ref.venue if doc_ref else "")),
        "doi": normalise_doi(str(meta["doi"])) if meta.get("doi") else (doc_ref.doi if doc_ref else None),
    }
    chunks = []
    for section in group_sections(blocks):
        section_text = "\n".join(b.text for b in section.blocks)
        keys = keys_in(section_text)
        refs = resolve_keys(keys, folder_refs or {}) if keys else default_refs
        for text_piece, page in pack_section(section):
            if text_piece.strip():
                chunks.append(Chunk(text=text_piece, page=page, section=section.path, references=refs, **info, **base))
    if not chunks:
        raise DocumentError(f"{path}: no text to index (the file is empty)")
    return chunks


def starter_corpus_files() -> list[Path]:
    """The built-in literature notes shipped in knowledge/literature (Markdown and BibTeX)."""
    root = resources.files("knowledge") / "literature"
    files = [Path(str(p)) for p in root.iterdir() if Path(str(p)).suffix in (".md", ".bib")]
    return sorted(p for p in files if p.name.lower() != "readme.md")


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    """The files to ingest: files as given, folders searched recursively for supported types."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIX_KIND)
            if not found:
                raise DocumentError(f"{path}: no .pdf, .md, .txt, .bib or .ris files in this folder")
            files += found
        elif path.exists():
            files.append(path)
        else:
            raise DocumentError(f"{path}: no such file or folder")
    return files

