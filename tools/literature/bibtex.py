"""BibTeX parsing: entries of a .bib file as References (LaTeX markup removed).

The one interface the rest of the package uses is `parse_bibtex(text)`; another parser can
replace this module without touching the callers.
"""

from __future__ import annotations

import re

from tools.domain.errors import DocumentError
from tools.literature.models import Reference
from tools.literature.references import normalise_doi, parse_year

_LATEX = [(r"\&", "&"), (r"\%", "%"), (r"--", "–"), ("~", " "), (r"\textendash", "–")]


def _clean_bib_value(value: str) -> str:
    value = re.sub(r"\\[a-zA-Z]+\{([^{}]*)\}", r"\1", value)
    value = re.sub(r"\\[\"'`^~=.]\{?([a-zA-Z])\}?", r"\1", value)
    for old, new in _LATEX:
        value = value.replace(old, new)
    value = re.sub(r"\$([^$]*)\$", lambda m: re.sub(r"[_^]", "", m.group(1)), value)  # $_{0.9}$ -> 0.9
    value = value.replace("{", "").replace("}", "").replace("$", "")
    return " ".join(value.split())


def _bib_value(text: str, i: int) -> tuple[str, int]:
    """Read a BibTeX field value starting at text[i]: {...}, "..." or a bare word; returns (value, end)."""
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text):
        return "", i
    if text[i] == "{":
        depth, j = 0, i
        while j < len(text):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    return text[i + 1 : j], j + 1
            j += 1
        raise DocumentError("unbalanced braces in a BibTeX entry")
    if text[i] == '"':
        j = i + 1
        depth = 0
        while j < len(text) and not (text[j] == '"' and depth == 0):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        return text[i + 1 : j], j + 1
    match = re.match(r"[^,}\s]+", text[i:])
    word = match.group(0) if match else ""
    return word, i + len(word)


def parse_bibtex(text: str) -> list[tuple[Reference, dict[str, str]]]:
    """Entries of a BibTeX file as (Reference, all fields); @string/@comment/@preamble are skipped."""
    entries: list[tuple[Reference, dict[str, str]]] = []
    for match in re.finditer(r"@(\w+)\s*[{(]\s*([^,\s]+)\s*,", text):
        kind = match.group(1).lower()
        if kind in {"string", "comment", "preamble"}:
            continue
        fields: dict[str, str] = {}
        i = match.end()
        while i < len(text):
            name_match = re.match(r"\s*,?\s*([A-Za-z][\w-]*)\s*=", text[i:])
            if not name_match:
                break
            i += name_match.end()
            value, i = _bib_value(text, i)
            fields[name_match.group(1).lower()] = _clean_bib_value(value)
            closing = re.match(r"\s*,?\s*[})]", text[i:])
            if closing:
                break
        authors = [
            "et al." if a.strip() == "others" else a.strip()
            for a in re.split(r"\s+and\s+", fields.get("author", ""))
            if a.strip()
        ]
        venue_bits = [
            fields.get("journal") or fields.get("booktitle") or fields.get("institution") or fields.get("publisher") or ""
        ]
        if fields.get("volume"):
            venue_bits.append(fields["volume"])
        if fields.get("pages"):
            venue_bits.append(fields["pages"])
        entries.append(
            (
                Reference(
                    key=match.group(2),
                    title=fields.get("title", ""),
                    authors=authors,
                    year=parse_year(fields.get("year")),
                    venue=", ".join(b for b in venue_bits if b),
                    doi=normalise_doi(fields.get("doi")),
                    note=fields.get("note", ""),
                ),
                fields,
            )
        )
    return entries

