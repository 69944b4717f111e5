"""tools.literature.model_cache: one load per path, even when threads ask at once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tools.literature.model_cache import ModelCache


def test_each_path_is_loaded_once_and_shared(tmp_path: Path) -> None:
    cache: ModelCache[dict[str, str]] = ModelCache()
    loads: list[str] = []

    def load(path: Path) -> dict[str, str]:
        loads.append(path.name)
        time.sleep(0.05)  # a slow load: the other threads must wait for it, not start their own
        return {"path": str(path)}

    results: list[dict[str, str]] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(tmp_path / "a", load))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == ["a"] and len(results) == 4 and all(r is results[0] for r in results)
    assert tmp_path / "a" in cache and str(tmp_path / "a") in cache and tmp_path / "b" not in cache
    other = cache.get(tmp_path / "b", load)
    assert loads == ["a", "b"] and other == {"path": str(tmp_path / "b")}
