"""Shared engine fixtures: the real encoder and real embeddings, loaded once per session."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from engine.encoder import HFTextEncoder  # cheap: torch loads in the constructor

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
    """The real packaged all-MiniLM-L6-v2 encoder (about 5 s to load, so once)."""
    return HFTextEncoder()


@pytest.fixture(scope="session")
def real_item_embeddings(hf_encoder: HFTextEncoder) -> tuple[list[str], np.ndarray]:
    """(item ids, unit-norm float32 embeddings of 2,000 product texts)."""
    texts = product_texts(2000)
    vectors = hf_encoder.encode(texts)
    vectors.setflags(write=False)  # shared across tests: nobody may change it
    return [f"sku-{i:06d}" for i in range(len(texts))], vectors
