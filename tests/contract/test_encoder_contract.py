"""One suite for every TextEncoder: shape, unit norm, determinism, batching, empty input."""

from __future__ import annotations

import numpy as np
import pytest

from engine.config import IndexConfig
from engine.encoder import HashingEncoder, HFTextEncoder
from engine.types import TextEncoder

TEXTS = [
    "Trail running shoes. Grippy soles for mud. shoes, outdoor",
    "trail shoes",
    "Espresso machine with milk frother",
    "a",
    "Organic green tea, 100 bags. grocery",
    "Ein Wasserkocher aus Edelstahl",
    "🙂 emoji and ünïcödé",
    "x " * 300,  # longer than max_length tokens: truncated, still a unit vector
]


@pytest.fixture(params=["HFTextEncoder", "HashingEncoder"])
def encoder(request: pytest.FixtureRequest) -> TextEncoder:
    if request.param == "HFTextEncoder":
        return request.getfixturevalue("hf_encoder")  # type: ignore[no-any-return]
    return HashingEncoder(dim=128)


def test_shape_dtype_and_unit_norm(encoder: TextEncoder) -> None:
    assert isinstance(encoder.dim, int) and encoder.dim > 0
    out = encoder.encode(TEXTS)
    assert out.shape == (len(TEXTS), encoder.dim) and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_deterministic(encoder: TextEncoder) -> None:
    np.testing.assert_allclose(encoder.encode(TEXTS), encoder.encode(TEXTS), atol=1e-6)


def test_batch_equals_one_at_a_time(encoder: TextEncoder) -> None:
    batch = encoder.encode(TEXTS)
    single = np.stack([encoder.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(batch, single, atol=1e-5)
    # Order in, order out: reversing the batch reverses the rows.
    np.testing.assert_allclose(encoder.encode(TEXTS[::-1]), batch[::-1], atol=1e-5)


def test_empty_input(encoder: TextEncoder) -> None:
    empty = encoder.encode([])
    assert empty.shape == (0, encoder.dim) and empty.dtype == np.float32
    blank = encoder.encode(["", "   "])
    assert blank.shape == (2, encoder.dim)
    np.testing.assert_allclose(np.linalg.norm(blank, axis=1), 1.0, atol=1e-5)


def test_similar_texts_are_closer(encoder: TextEncoder) -> None:
    a, b, c = encoder.encode(["trail running shoes", "trail shoes", "espresso machine"])
    assert a @ b > a @ c + 0.1


def test_query_encoding_matches_item_encoding(encoder: TextEncoder) -> None:
    encode_query = encoder.encode_query
    q = encode_query("trail running shoes")
    assert q.shape == (encoder.dim,) and q.dtype == np.float32
    np.testing.assert_allclose(q, encoder.encode(["trail running shoes"])[0], atol=1e-5)


def test_inputs_are_not_mutated(encoder: TextEncoder) -> None:
    texts = list(TEXTS)
    encoder.encode(texts)
    assert texts == TEXTS


def test_real_encoder_fits_the_default_index(hf_encoder: HFTextEncoder) -> None:
    assert hf_encoder.dim == IndexConfig().dim == 384


def test_real_encoder_query_cache(hf_encoder: HFTextEncoder) -> None:
    first = hf_encoder.encode_query("Waterproof  hiking BOOTS")
    hits = hf_encoder.cache_hits
    again = hf_encoder.encode_query("waterproof hiking boots")  # same after normalising
    assert hf_encoder.cache_hits == hits + 1
    np.testing.assert_array_equal(first, again)
