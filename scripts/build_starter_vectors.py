"""Rebuild knowledge/literature/starter-vectors.npz: the vectors of the starter passages.

Run after editing the starter notes (knowledge/literature/*.md, references.bib); the test
test_shipped_starter_vectors_match_the_notes_and_the_model says when it is needed.
Usage: PYTHONPATH=. .venv/bin/python scripts/build_starter_vectors.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.literature.embeddings import MiniLMEmbedder  # noqa: E402
from tools.literature.starter import write_starter_vectors  # noqa: E402

if __name__ == "__main__":
    print(write_starter_vectors(MiniLMEmbedder()))  # noqa: T201
