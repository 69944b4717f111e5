"""BibTeX parsing: entries of a .bib file as References (LaTeX markup removed), read by bibtexparser 1.x.

bibtexparser 2.x cannot be installed next to pymatgen-core, which pins `bibtexparser<2`; 1.4 is
imported lazily (only when a .bib file is read).

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


def _bibtex_entries(text: str) -> list[dict[str, str]]:
    """Raw entries (fields plus ENTRYTYPE and ID) of a BibTeX text, read by bibtexparser 1.x."""
    import logging
    import warnings

    logging.getLogger("bibtexparser").setLevel(logging.ERROR)  # it logs every odd entry type
    try:
        # bibtexparser 1.4 builds a pyparsing grammar that pyparsing >= 3.1 flags with diagnostic warnings.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import bibtexparser
            from bibtexparser.bparser import BibTexParser

            parser = BibTexParser(common_strings=True, ignore_nonstandard_types=False)
            database = bibtexparser.loads(text, parser=parser)
    except ImportError as err:
        raise DocumentError("bibtexparser is not installed; install the project's locked requirements") from err
    except Exception as err:  # pyparsing's ParseException, bibtexparser's UndefinedString, ...
        raise DocumentError(f"not a readable BibTeX file: {err}") from err
    return [dict(entry) for entry in database.entries]


def parse_bibtex(text: str) -> list[tuple[Reference, dict[str, str]]]:
    """Entries of a BibTeX file as (Reference, all fields), in file order.

    @string macros are expanded, @comment/@preamble skipped. Parsing is bibtexparser's; values
    are then cleaned of LaTeX markup ({braces}, \\commands, $_{0.9}$ subscripts, -- dashes).
    """
    entries: list[tuple[Reference, dict[str, str]]] = []
    for entry in _bibtex_entries(text):
        key = str(entry.get("ID", "")).strip()
        fields = {
            name.lower(): _clean_bib_value(str(value))
            for name, value in entry.items()
            if name not in ("ENTRYTYPE", "ID")
        }
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
                    key=key or None,
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

