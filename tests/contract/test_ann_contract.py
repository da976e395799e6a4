"""One suite for every AnnIndex: recall against brute force on real embeddings, hidden
deletes, re-embedding, and (for HnswIndex) save/load."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from engine.config import IndexConfig
from engine.encoder_onnx import OnnxTransformerEncoder
from engine.index import BruteForceIndex, HnswIndex
from engine.types import AnnIndex

K = 10
MakeIndex = Callable[[int], AnnIndex]
Embedded = tuple[list[str], np.ndarray]
MIN_RECALL = 0.95

QUERY_TEXTS = [
    f"{adj} {noun}"
    for adj in ("cheap", "gift", "durable", "small", "premium")
    for noun in ("mug for coffee", "shoes for running", "lamp", "bag for school", "tea",
                 "mat for yoga", "speaker", "frying pan", "warm jumper", "bottle",
                 "paper journal", "cover for my phone", "kitchen knife", "shades",
                 "family game", "lead for a puppy", "coffee", "boots", "cushion", "tea pot")
]


def _hnsw(dim: int) -> AnnIndex:
    # A small initial capacity, so building the suite's index also exercises growth.
    return HnswIndex(IndexConfig(dim=dim, initial_capacity=64))


def _brute(dim: int) -> AnnIndex:
    return BruteForceIndex(dim)


@pytest.fixture(params=[_hnsw, _brute], ids=["HnswIndex", "BruteForceIndex"])
def make_index(request: pytest.FixtureRequest) -> MakeIndex:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def queries(onnx_encoder: OnnxTransformerEncoder) -> np.ndarray:
    return onnx_encoder.encode(QUERY_TEXTS)


def recall_at_k(index: AnnIndex, oracle: AnnIndex, queries: np.ndarray, k: int = K) -> float:
    hits = 0
    for q in queries:
        got, _ = index.query(q, k)
        want, _ = oracle.query(q, k)
        assert len(got) == len(want) == k
        hits += len(set(got) & set(want))
    return hits / (k * len(queries))


def test_recall_at_10_against_brute_force(
    make_index: MakeIndex, real_item_embeddings: Embedded, queries: np.ndarray,
) -> None:
    ids, vectors = real_item_embeddings
    index, oracle = make_index(vectors.shape[1]), BruteForceIndex(vectors.shape[1])
    for start in range(0, len(ids), 500):  # in batches, like the items agent
        index.upsert(ids[start:start + 500], vectors[start:start + 500])
    oracle.upsert(ids, vectors)
    assert len(index) == len(ids) == 2000
    item_queries = vectors[::20]
    assert recall_at_k(index, oracle, queries) >= MIN_RECALL
    assert recall_at_k(index, oracle, item_queries) >= MIN_RECALL


def test_results_are_best_first_with_cosine_scores(
    make_index: MakeIndex, real_item_embeddings: Embedded, queries: np.ndarray,
) -> None:
    ids, vectors = real_item_embeddings
    index = make_index(vectors.shape[1])
    index.upsert(ids, vectors)
    for q in queries[:20]:
        found, sims = index.query(q, K)
        assert len(set(found)) == len(found) == K
        assert np.all(np.diff(sims) <= 1e-6)
        np.testing.assert_allclose(sims, index.vectors(found) @ q, atol=1e-4)
    for i in (0, 777, 1999):
        found, sims = index.query(vectors[i], 1)
        assert found == [ids[i]] and sims[0] == pytest.approx(1.0, abs=1e-4)


def test_deleted_items_are_hidden_and_recall_holds(
    make_index: MakeIndex, real_item_embeddings: Embedded, queries: np.ndarray,
) -> None:
    ids, vectors = real_item_embeddings
    index, oracle = make_index(vectors.shape[1]), BruteForceIndex(vectors.shape[1])
    index.upsert(ids, vectors)
    oracle.upsert(ids, vectors)
    deleted = ids[::10]
    assert index.delete(deleted) == len(deleted) == oracle.delete(deleted)
    # Half the freed slots go to re-embedded copies under new ids.
    reborn = [f"new-{i}" for i in range(100)]
    index.upsert(reborn, vectors[1:200:2])
    oracle.upsert(reborn, vectors[1:200:2])
    assert len(index) == len(oracle) == 2000 - 200 + 100
    gone = set(deleted)
    for q in (*queries, *vectors[::10]):  # including each deleted item's own vector
        found, _ = index.query(q, 50)
        assert not gone & set(found)
        assert all(item_id in index for item_id in found)
    assert not any(item_id in index for item_id in deleted)
    assert recall_at_k(index, oracle, queries) >= MIN_RECALL


def test_re_embedding_replaces_an_items_vector(
    make_index: MakeIndex, real_item_embeddings: Embedded,
) -> None:
    ids, vectors = real_item_embeddings
    index = make_index(vectors.shape[1])
    index.upsert(ids[:300], vectors[:300])
    index.upsert([ids[5]], vectors[1500:1501])  # item 5 now has item 1500's text
    assert len(index) == 300
    np.testing.assert_allclose(index.vectors([ids[5]])[0], vectors[1500], atol=1e-5)
    assert index.query(vectors[1500], 1)[0] == [ids[5]]


def test_duplicate_ids_in_one_upsert_keep_the_last_vector(
    make_index: MakeIndex, real_item_embeddings: Embedded,
) -> None:
    _, vectors = real_item_embeddings
    index = make_index(vectors.shape[1])
    index.upsert(["a", "b", "a"], vectors[[0, 1, 2]])
    assert len(index) == 2
    np.testing.assert_allclose(index.vectors(["a"])[0], vectors[2], atol=1e-5)
    assert index.query(vectors[2], 1)[0] == ["a"]


def test_empty_index_and_k_larger_than_the_index(
    make_index: MakeIndex, real_item_embeddings: Embedded,
) -> None:
    _, vectors = real_item_embeddings
    index = make_index(vectors.shape[1])
    assert index.query(vectors[0], K)[0] == []
    index.upsert(["a", "b", "c"], vectors[:3])
    found, sims = index.query(vectors[0], 100)
    assert sorted(found) == ["a", "b", "c"] and len(sims) == 3


def test_hnsw_save_and_load_answers_the_same(
    tmp_path: Path, real_item_embeddings: Embedded, queries: np.ndarray,
) -> None:
    ids, vectors = real_item_embeddings
    config = IndexConfig(dim=vectors.shape[1], initial_capacity=64)
    index = HnswIndex(config)
    index.upsert(ids, vectors)
    index.delete(ids[:100])
    index.save(tmp_path / "items.hnsw")
    loaded = HnswIndex.load(tmp_path / "items.hnsw", config)
    assert len(loaded) == len(index) == 1900
    for q in queries:
        assert loaded.query(q, K)[0] == index.query(q, K)[0]
    oracle = BruteForceIndex(vectors.shape[1])
    oracle.upsert(ids[100:], vectors[100:])
    assert recall_at_k(loaded, oracle, queries) >= MIN_RECALL
    for q in vectors[:100]:
        assert not set(ids[:100]) & set(loaded.query(q, 20)[0])
