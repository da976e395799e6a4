"""One suite for every TextEncoder: shape, unit norm, determinism, batching, empty input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.config import MULTILINGUAL_MODEL, EncoderConfig, IndexConfig
from engine.encoder import EncoderUnavailable, HashingEncoder, HFTextEncoder, make_encoder
from engine.encoder_onnx import OnnxTransformerEncoder, UseMultilingualEncoder
from engine.types import TextEncoder
from stream_apps.settings import Settings

ROOT_DATA = Settings().data_path  # where the worker caches the ONNX export

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


REAL = {"HFTextEncoder": "hf_encoder", "OnnxTransformerEncoder": "onnx_encoder",
        "UseMultilingualEncoder": "use_encoder"}


# torch's encoder and USE multilingual take 10-30 s to load (the worker's default is the
# ONNX one): their rows of the suite run in `make test`, not in `make unit`.
SLOW_TO_LOAD = {"HFTextEncoder", "UseMultilingualEncoder"}


@pytest.fixture(params=[pytest.param(name, marks=pytest.mark.slow) if name in SLOW_TO_LOAD else name
                        for name in [*REAL, "HashingEncoder"]])
def encoder(request: pytest.FixtureRequest) -> TextEncoder:
    if request.param in REAL:
        return request.getfixturevalue(REAL[request.param])  # type: ignore[no-any-return]
    return HashingEncoder(dim=128)


def test_every_encoder_has_a_name(encoder: TextEncoder) -> None:
    assert isinstance(encoder.name, str) and encoder.name


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


def test_real_encoder_fits_the_default_index(onnx_encoder: OnnxTransformerEncoder) -> None:
    assert onnx_encoder.dim == IndexConfig().dim == 384


def test_real_encoder_query_cache(onnx_encoder: OnnxTransformerEncoder) -> None:
    first = onnx_encoder.encode_query("Waterproof  hiking BOOTS")
    hits = onnx_encoder.cache_hits
    again = onnx_encoder.encode_query("waterproof hiking boots")  # same after normalising
    assert onnx_encoder.cache_hits == hits + 1
    np.testing.assert_array_equal(first, again)


@pytest.mark.slow  # loads torch's model
def test_onnx_runtime_gives_the_torch_vectors(hf_encoder: HFTextEncoder,
                                              onnx_encoder: OnnxTransformerEncoder) -> None:
    """The default runs on onnxruntime: the export must not change a single vector."""
    cosines = np.sum(hf_encoder.encode(TEXTS) * onnx_encoder.encode(TEXTS), axis=1)
    assert cosines.min() > 0.9999
    assert onnx_encoder.name == hf_encoder.name and onnx_encoder.dim == hf_encoder.dim == 384


@pytest.mark.slow  # loads torch's model
def test_make_encoder_follows_the_settings(tmp_path: Path) -> None:
    assert isinstance(make_encoder(EncoderConfig(runtime="torch")), HFTextEncoder)
    onnx = make_encoder(Settings(data_dir=str(ROOT_DATA)).encoder_config())
    assert isinstance(onnx, OnnxTransformerEncoder) and onnx.dim == 384
    multilingual = make_encoder(EncoderConfig(model=MULTILINGUAL_MODEL))
    assert isinstance(multilingual, UseMultilingualEncoder) and multilingual.dim == 512
    with pytest.raises(EncoderUnavailable, match="no tokenizer.json"):
        make_encoder(EncoderConfig(model=str(tmp_path)))
