"""References: RIS records, DOI and year normalisation, and citation keys ([@key]) resolved to References."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from tools.literature.models import Reference

CITE_KEYS = re.compile(r"\[@([^\]]+)\]")
UNRESOLVED_NOTE = "citation key not found in the .bib/.ris files next to the document"


def normalise_doi(value: str | None) -> str | None:
    """A DOI without its https://doi.org/ or doi: prefix; None when empty."""
    if not value:
        return None
    doi = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:)", "", value.strip(), flags=re.I)
    return doi or None


def parse_year(value: Any) -> int | None:
    """The first plausible publication year (1800-2099) in a value, or None."""
    match = re.search(r"\b(1[89]\d\d|20\d\d)\b", str(value or ""))
    return int(match.group(1)) if match else None


_RIS_LINE = re.compile(r"^([A-Z][A-Z0-9])  -(?: (.*))?$")


def parse_ris(text: str) -> list[tuple[Reference, dict[str, str]]]:
    """Records of an RIS file as (Reference, fields with AB/KW/... joined)."""
    entries: list[tuple[Reference, dict[str, str]]] = []
    current: dict[str, list[str]] = {}
    for raw in text.splitlines():
        match = _RIS_LINE.match(raw.rstrip())
        if not match:
            if current and raw.strip():  # continuation of the previous tag
                last = next(reversed(current))
                current[last][-1] += " " + raw.strip()
            continue
        tag, value = match.group(1), (match.group(2) or "").strip()
        if tag == "TY":
            current = {"TY": [value]}
        elif tag == "ER":
            if current:
                entries.append(_ris_record(current))
            current = {}
        elif current:
            current.setdefault(tag, []).append(value)
    if current:
        entries.append(_ris_record(current))
    return entries


def _ris_record(tags: dict[str, list[str]]) -> tuple[Reference, dict[str, str]]:
    def first(*names: str) -> str:
        for name in names:
            if tags.get(name):
                return tags[name][0]
        return ""

    venue_bits = [first("JO", "JF", "T2", "JA"), first("VL")]
    start, end = first("SP"), first("EP")
    if start:
        venue_bits.append(f"{start}–{end}" if end else start)
    ref = Reference(
        key=first("ID") or None,
        title=first("TI", "T1"),
        authors=tags.get("AU", []) + tags.get("A1", []),
        year=parse_year(first("PY", "Y1", "DA")),
        venue=", ".join(b for b in venue_bits if b),
        doi=normalise_doi(first("DO")),
    )
    fields = {"abstract": " ".join(tags.get("AB", []) + tags.get("N2", [])), "keywords": ", ".join(tags.get("KW", []))}
    return ref, fields


def resolve_keys(keys: Iterable[str], refs: dict[str, Reference]) -> list[Reference]:
    """References for citation keys; an unknown key is kept, flagged, rather than dropped silently."""
    out: list[Reference] = []
    for key in keys:
        key = key.strip().lstrip("@")
        if not key:
            continue
        ref = refs.get(key) or Reference(key=key, note=UNRESOLVED_NOTE)
        if ref not in out:
            out.append(ref)
    return out


def keys_in(text: str) -> list[str]:
    """Citation keys of the [@key] and [@a; @b] markers in a text, in order."""
    keys: list[str] = []
    for group in CITE_KEYS.findall(text):
        keys += [k.strip().lstrip("@") for k in group.split(";")]
    return keys

