"""Structure-aware chunking: text split into blocks (headings, paragraphs, tables, lists, code), grouped under
their heading path, and packed into passages of about MAX_CHUNK_CHARS characters (tables kept whole when they fit)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

MAX_CHUNK_CHARS = 1000  # all-MiniLM-L6-v2 reads 256 word pieces, roughly 1000 characters of prose
MAX_TABLE_CHARS = 2400  # a table is kept whole up to this size, then split by rows


@dataclass
class Block:
    """One structural unit of a document: a heading (with its level), paragraph, table, code or list."""

    kind: Literal["heading", "paragraph", "table", "code", "list"]
    text: str
    level: int = 0
    page: int | None = None


@dataclass
class Section:
    """The blocks under one heading path ('A > B')."""

    path: str
    blocks: list[Block] = field(default_factory=list)


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_NUMBERED_HEADING = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+([A-Z][^\n]{1,80})$")
_KNOWN_HEADINGS = {
    "abstract", "introduction", "experimental", "experimental section", "methods", "materials and methods",
    "results", "results and discussion", "discussion", "conclusion", "conclusions", "summary",
    "references", "acknowledgements", "acknowledgments", "supporting information",
}
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+")


def _is_table_line(line: str) -> bool:
    stripped = line.strip()
    if stripped.startswith("|") and stripped.count("|") >= 2:
        return True
    return "\t" in stripped or len(re.findall(r"\S {3,}\S", stripped)) >= 2


def _plain_heading(line: str) -> tuple[int, str] | None:
    """A heading in plain or PDF text: '2.1 Synthesis', 'Results', never a sentence."""
    stripped = line.strip()
    if not stripped or len(stripped) > 90 or stripped.endswith((".", ",", ";", ":")):
        return None
    match = _NUMBERED_HEADING.match(stripped)
    if match and len(match.group(2).split()) <= 12:
        return match.group(1).count(".") + 1, stripped
    bare = re.sub(r"^\d{1,2}\.?\s+", "", stripped).lower()
    if bare in _KNOWN_HEADINGS:
        return 1, stripped
    return None


def _join_lines(lines: Sequence[str]) -> str:
    """Join wrapped lines into a paragraph, undoing end-of-line hyphenation."""
    text = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if text.endswith("-") and line[:1].islower():
            text = text[:-1] + line
        else:
            text = f"{text} {line}" if text else line
    return text


def markdown_blocks(body: str) -> list[Block]:
    """Blocks of a Markdown body: ATX and underlined headings, fenced code, pipe tables, lists, paragraphs."""
    blocks: list[Block] = []
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if line.lstrip().startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].lstrip().startswith("```"):
                j += 1
            blocks.append(Block("code", "\n".join(lines[i : j + 1])))
            i = j + 1
            continue
        heading = _MD_HEADING.match(line)
        if heading:
            blocks.append(Block("heading", heading.group(2).strip(), len(heading.group(1))))
            i += 1
            continue
        if i + 1 < len(lines) and line.strip() and re.fullmatch(r"\s*(=+|-+)\s*", lines[i + 1]) and len(lines[i + 1].strip()) >= 3:
            blocks.append(Block("heading", line.strip(), 1 if "=" in lines[i + 1] else 2))
            i += 2
            continue
        if line.strip().startswith("|"):
            j = i
            while j < len(lines) and lines[j].strip().startswith("|"):
                j += 1
            blocks.append(Block("table", "\n".join(x.rstrip() for x in lines[i:j])))
            i = j
            continue
        if _LIST_ITEM.match(line):
            j = i
            while j < len(lines) and lines[j].strip() and (_LIST_ITEM.match(lines[j]) or lines[j].startswith((" ", "\t"))):
                j += 1
            blocks.append(Block("list", "\n".join(x.rstrip() for x in lines[i:j])))
            i = j
            continue
        j = i
        while j < len(lines) and lines[j].strip() and not _MD_HEADING.match(lines[j]) and not lines[j].strip().startswith(("|", "```")):
            j += 1
        blocks.append(Block("paragraph", _join_lines(lines[i:j])))
        i = max(j, i + 1)
    return blocks


def plain_blocks(text: str, page: int | None = None) -> list[Block]:
    """Blocks of plain or PDF-extracted text: headings, tables (aligned columns), paragraphs."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    widths = sorted(len(x.strip()) for x in lines if len(x.strip()) > 20)
    typical = widths[len(widths) // 2] if widths else 80
    blocks: list[Block] = []
    paragraph: list[str] = []
    table: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(Block("paragraph", _join_lines(paragraph), page=page))
            paragraph.clear()
        if table:
            blocks.append(Block("table", "\n".join(table), page=page))
            table.clear()

    for i, raw in enumerate(lines):
        line = raw.rstrip()
        if not line.strip():
            flush()
            continue
        if i + 1 < len(lines) and re.fullmatch(r"\s*(=+|-+)\s*", lines[i + 1] or "") and len(lines[i + 1].strip()) >= 3:
            flush()
            # An underlined title ranks above numbered headings ("1. Introduction" is level 1).
            blocks.append(Block("heading", line.strip(), 0 if "=" in lines[i + 1] else 1, page=page))
            continue
        if re.fullmatch(r"\s*(=+|-+)\s*", line) and blocks and blocks[-1].kind == "heading":
            continue
        heading = _plain_heading(line)
        if heading and not paragraph:
            flush()
            blocks.append(Block("heading", heading[1], heading[0], page=page))
            continue
        if _is_table_line(line):
            if paragraph:
                blocks.append(Block("paragraph", _join_lines(paragraph), page=page))
                paragraph.clear()
            table.append(line.strip())
            continue
        if table:
            blocks.append(Block("table", "\n".join(table), page=page))
            table.clear()
        if heading:
            flush()
            blocks.append(Block("heading", heading[1], heading[0], page=page))
            continue
        paragraph.append(line)
        # Extracted PDF text rarely has blank lines: a short line ending a sentence ends a paragraph.
        if line.rstrip().endswith((".", "?", "!", ":")) and len(line.strip()) < 0.7 * typical:
            flush()
    flush()
    return blocks


def group_sections(blocks: Iterable[Block]) -> list[Section]:
    """Group blocks under their heading path."""
    stack: list[tuple[int, str]] = []
    sections: list[Section] = [Section("")]
    for block in blocks:
        if block.kind == "heading":
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            stack.append((block.level, block.text))
            sections.append(Section(" > ".join(t for _, t in stack)))
        else:
            sections[-1].blocks.append(block)
    return [s for s in sections if s.blocks]


def _split_long(text: str, limit: int) -> list[str]:
    """Split a long paragraph at sentence ends (then at spaces) into pieces of at most `limit`."""
    if len(text) <= limit:
        return [text]
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])", text)
    pieces: list[str] = []
    current = ""
    for sentence in sentences:
        while len(sentence) > limit:
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > limit:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return pieces


def _split_table(text: str, limit: int) -> list[str]:
    """Keep a table whole when it fits, else split by rows repeating the header."""
    if len(text) <= limit:
        return [text]
    rows = text.split("\n")
    header_len = 2 if len(rows) > 2 and re.fullmatch(r"[\s|:\-]+", rows[1]) else 1
    header, body = rows[:header_len], rows[header_len:]
    pieces: list[str] = []
    current = list(header)
    for row in body:
        if len("\n".join([*current, row])) > limit and len(current) > header_len:
            pieces.append("\n".join(current))
            current = [*header]
        current.append(row)
    pieces.append("\n".join(current))
    return pieces


def pack_section(section: Section, limit: int = MAX_CHUNK_CHARS) -> list[tuple[str, int | None]]:
    """Pack a section's blocks into chunks: small paragraphs merged, tables whole, never across pages."""
    chunks: list[tuple[str, int | None]] = []
    current: list[str] = []
    current_page: int | None = None
    size = 0

    def flush() -> None:
        nonlocal size
        if current:
            chunks.append(("\n\n".join(current), current_page))
            current.clear()
            size = 0

    for block in section.blocks:
        if block.page != current_page and current:
            flush()
        current_page = block.page
        if block.kind == "table":
            pieces = _split_table(block.text, MAX_TABLE_CHARS)
            if len(pieces) == 1 and size + len(pieces[0]) <= limit:
                current.append(pieces[0])
                size += len(pieces[0]) + 2
                continue
            flush()
            current_page = block.page
            chunks.extend((piece, block.page) for piece in pieces)
            continue
        for piece in _split_long(block.text, limit) if block.kind in ("paragraph", "list") else [block.text]:
            if current and size + len(piece) > limit:
                flush()
                current_page = block.page
            current.append(piece)
            size += len(piece) + 2
    flush()
    return chunks
