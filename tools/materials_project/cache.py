"""Materials Project answers on disk, so repeated questions are instant and work offline."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel

from tools.materials_project.results import ResultT

CACHE_FORMAT = 1
"""Bumped whenever the cached result layout changes; older files are then ignored."""


class ResponseCache:
    """Answers on disk, one JSON file per (kind, endpoint, query); written atomically."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def path_for(self, kind: str, endpoint: str, query: BaseModel) -> Path:
        """The cache file of one question."""
        digest = hashlib.sha256(self._request_text(kind, endpoint, query).encode()).hexdigest()[:20]
        return self.folder / f"{kind}-{digest}.json"

    @staticmethod
    def _request_text(kind: str, endpoint: str, query: BaseModel) -> str:
        return json.dumps({"kind": kind, "endpoint": endpoint, "query": query.model_dump(mode="json")}, sort_keys=True)

    def load(self, kind: str, endpoint: str, query: BaseModel, result_type: type[ResultT]) -> tuple[ResultT | None, str | None]:
        """The cached answer (or None) and a warning when an unreadable cache file was found."""
        path = self.path_for(kind, endpoint, query)
        if not path.exists():
            return None, None
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            if stored.get("format") != CACHE_FORMAT or stored.get("request") != json.loads(
                self._request_text(kind, endpoint, query)
            ):
                return None, None
            result = result_type.model_validate(stored["result"])
        except (OSError, ValueError, KeyError, AttributeError) as err:
            return None, f"ignored unreadable cache file {path} ({type(err).__name__})"
        provenance = result.provenance.model_copy(update={"from_cache": True, "cache_file": str(path)})
        return result.model_copy(update={"provenance": provenance}), None

    def save(self, kind: str, endpoint: str, query: BaseModel, result: BaseModel) -> Path:
        """Store an answer; returns its file."""
        from tools.domain.fileio import atomic_write_text

        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path_for(kind, endpoint, query)
        payload = {
            "format": CACHE_FORMAT,
            "request": json.loads(self._request_text(kind, endpoint, query)),
            "result": result.model_dump(mode="json"),
        }
        atomic_write_text(path, json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
        return path

