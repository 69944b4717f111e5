"""A minimal PDF writer for tests and benchmarks: pages of Helvetica text lines, no dependencies.

Text drawn with a standard-14 font (Helvetica, WinAnsi encoding) extracts reliably with pypdf,
which is what ingestion tests need; reportlab is not installed here.
"""

from __future__ import annotations

from pathlib import Path


def _escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_bytes(pages: list[list[str]]) -> bytes:
    """A valid PDF with one page per list of text lines (12 pt leading, top-left start)."""
    objects: list[bytes] = []
    n_pages = len(pages)
    # 1: catalog, 2: pages, 3: font, then (page, content) pairs.
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for i, lines in enumerate(pages):
        body = ["BT", "/F1 10 Tf", "12 TL", "50 800 Td"]
        for line in lines:
            body.append(f"({_escape(line)}) Tj T*")
        body.append("ET")
        stream = "\n".join(body).encode("cp1252")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def write_pdf(path: Path, pages: list[list[str]]) -> Path:
    """Write `pages` (lists of text lines) as a PDF file."""
    path.write_bytes(pdf_bytes(pages))
    return path


def paper_pages(n_pages: int, topic: str = "calcination") -> list[list[str]]:
    """A paper-like page set: title, numbered section headings, wrapped paragraphs, a table."""
    pages: list[list[str]] = []
    for page in range(1, n_pages + 1):
        lines: list[str] = []
        if page == 1:
            lines += ["Synthetic test paper on Ni-rich cathodes (generated for tests)", "", "Abstract", ""]
        if page % 5 == 1:
            lines += [f"{page // 5 + 1}. Results for series {page // 5 + 1}", ""]
        lines += [
            f"Page {page} reports that the {topic} of sample S{page} at {700 + page} degC in oxygen",
            f"gave a discharge capacity of {180 + page % 20} mAh/g. The lithium excess was {1.0 + (page % 5) / 100:.2f}",
            "and the dwell time was 12 h. Cation mixing stayed below three per cent.",
            "",
            f"A second paragraph on page {page} discusses residual lithium of {500 + 37 * page} ppm after",
            "washing and re-annealing, which lowered slurry gelation in the coating trials.",
            "",
            "Sample    Temp (degC)    Capacity (mAh/g)",
            f"S{page}a    {700 + page}    {181 + page % 17}",
            f"S{page}b    {710 + page}    {179 + page % 13}",
            "",
        ]
        pages.append(lines)
    return pages
