"""Shared engine fixtures: the real encoder and real embeddings, loaded once per session."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from engine.config import MULTILINGUAL_MODEL, EncoderConfig
from engine.encoder import HFTextEncoder  # cheap: torch loads in the constructor
from engine.encoder_onnx import OnnxTransformerEncoder, UseMultilingualEncoder
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


@pytest.fixture(scope="session")
def real_item_embeddings(onnx_encoder: OnnxTransformerEncoder) -> tuple[list[str], np.ndarray]:
    """(item ids, unit-norm float32 embeddings of 2,000 product texts).

    On onnxruntime, the worker's default: torch's vectors (the encoder contract checks it)
    about four times faster, and `make unit` never loads torch's model."""
    texts = product_texts(2000)
    vectors = onnx_encoder.encode(texts)
    vectors.setflags(write=False)  # shared across tests: nobody may change it
    return [f"sku-{i:06d}" for i in range(len(texts))], vectors
