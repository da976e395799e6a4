"""Shared engine fixtures: the real encoder and real embeddings, loaded once per session."""

from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path

import numpy as np
import pytest

from engine.config import MULTILINGUAL_MODEL, EncoderConfig
from engine.encoder import HFTextEncoder, resolve_model_path  # cheap: torch loads in the constructor
from engine.encoder_onnx import OnnxTransformerEncoder, UseMultilingualEncoder, export_fingerprint
from stream_apps.settings import Settings

_ADJECTIVES = ("red", "black", "organic", "vintage", "wireless", "stainless steel",
               "handmade", "compact", "waterproof", "lightweight")
_NOUNS = ("coffee mug", "running shoes", "desk lamp", "backpack", "green tea",
          "yoga mat", "bluetooth speaker", "cast iron pan", "wool sweater", "water bottle",
          "notebook", "phone case", "chef knife", "sunglasses", "board game",
          "dog leash", "espresso beans", "hiking boots", "throw pillow", "kettle")
_CATEGORIES = ("kitchen", "sports", "home", "electronics", "outdoor",
               "fashion", "office", "pets", "toys", "grocery")


def product_texts(n: int = 2000) -> list[str]:
    """``n`` distinct product-like texts: adjective, noun and category combinations."""
    combos = itertools.product(_ADJECTIVES, _NOUNS, _CATEGORIES)
    return [f"{adj} {noun}. {cat}" for adj, noun, cat in itertools.islice(combos, n)]


@pytest.fixture(scope="session")
def hf_encoder() -> HFTextEncoder:
    """The real packaged all-MiniLM-L6-v2 encoder on torch (5-20 s to load, so once, and
    only in tests marked slow)."""
    return HFTextEncoder()


def _encoder_config(**changes: object) -> EncoderConfig:
    """The worker's encoder config (so the ONNX export is cached where the worker keeps it)."""
    from dataclasses import replace

    return replace(Settings().encoder_config(), torch_threads=0, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def onnx_encoder() -> OnnxTransformerEncoder:
    """The default encoder: all-MiniLM-L6-v2 on onnxruntime (exported on first use, then cached)."""
    return OnnxTransformerEncoder(_encoder_config())


@pytest.fixture(scope="session")
def use_encoder() -> UseMultilingualEncoder:
    """The real multilingual encoder (USE multilingual v3, the ``multilingual`` extra)."""
    return UseMultilingualEncoder(_encoder_config(model=MULTILINGUAL_MODEL))


def _embeddings_cache(encoder: OnnxTransformerEncoder, texts: list[str]) -> Path:
    """Where the embeddings of ``texts`` are kept between runs, next to the ONNX export:
    named after the model files, the encoder's code and settings, and the texts, so any
    change to them computes them again."""
    import engine.encoder_onnx

    digest = hashlib.sha256()
    digest.update(export_fingerprint(Path(resolve_model_path(encoder.config.model))).encode())
    digest.update(Path(engine.encoder_onnx.__file__).read_bytes())
    digest.update(f"{encoder.config.max_length}\n".encode())
    digest.update("\n".join(texts).encode())
    return Path(encoder.config.cache_dir) / f"test-embeddings-{digest.hexdigest()[:16]}.npy"


@pytest.fixture(scope="session")
def real_item_embeddings(onnx_encoder: OnnxTransformerEncoder) -> tuple[list[str], np.ndarray]:
    """(item ids, unit-norm float32 embeddings of 2,000 product texts).

    On onnxruntime, the worker's default: torch's vectors (the encoder contract checks it)
    about four times faster, and `make unit` never loads torch's model. Encoding them
    takes 10-40 s on a busy machine, so they are kept between runs (the encoder itself is
    tested by the encoder contract; these are the ANN contract's inputs)."""
    texts = product_texts(2000)
    cache = _embeddings_cache(onnx_encoder, texts)
    try:
        vectors = np.load(cache)
    except (OSError, ValueError):  # not there yet, or a half-written file of a killed run
        vectors = onnx_encoder.encode(texts)
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(partial, vectors)
        partial.replace(cache)  # atomic: a concurrent run never reads half of it
    if vectors.shape != (len(texts), onnx_encoder.dim) or vectors.dtype != np.float32:
        raise ValueError(f"cached embeddings {cache} have shape {vectors.shape} {vectors.dtype}")
    vectors.setflags(write=False)  # shared across tests: nobody may change it
    return [f"sku-{i:06d}" for i in range(len(texts))], vectors
