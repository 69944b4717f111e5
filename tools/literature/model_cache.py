"""Embedding models loaded once per process, by path (a model is tens of MB and takes seconds to load)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class ModelCache(Generic[T]):
    """Path -> loaded model. The first caller loads it; a concurrent caller waits for it instead of loading it twice."""

    def __init__(self) -> None:
        self._models: dict[str, T] = {}
        self._lock = threading.Lock()

    def get(self, path: Path, load: Callable[[Path], T]) -> T:
        """The model for `path`, loaded with `load(path)` on first use."""
        key = str(path)
        with self._lock:
            model = self._models.get(key)
            if model is None:
                model = load(path)
                self._models[key] = model
            return model

    def __contains__(self, path: object) -> bool:
        return str(path) in self._models


__all__ = ["ModelCache"]
