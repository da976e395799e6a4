"""engine.index.HnswIndex: upsert, delete with slot reuse, growth, save/load, input checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.config import IndexConfig
from engine.errors import DimensionMismatch, IndexFull
from engine.index import HnswIndex

DIM = 16


def unit_rows(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def make(initial_capacity: int = 8, **kwargs: int) -> HnswIndex:
    return HnswIndex(IndexConfig(dim=DIM, initial_capacity=initial_capacity, **kwargs))


def test_each_item_is_its_own_nearest_neighbour() -> None:
    rng = np.random.default_rng(0)
    vectors = unit_rows(rng, 100)
    index = make()
    ids = [f"sku-{i:06d}" for i in range(100)]
    index.upsert(ids, vectors)
    assert len(index) == 100 and sorted(index.item_ids()) == ids
    for item_id, vec in zip(ids, vectors):
        found, sims = index.query(vec, k=3)
        assert found[0] == item_id and sims[0] == pytest.approx(1.0, abs=1e-5)
        assert list(sims) == sorted(sims, reverse=True)


def test_upsert_replaces_the_vector_of_a_known_item() -> None:
    rng = np.random.default_rng(1)
    vectors = unit_rows(rng, 20)
    index = make()
    index.upsert([f"i{i}" for i in range(20)], vectors)
    new_vec = unit_rows(rng, 1)
    index.upsert(["i3"], new_vec)
    assert len(index) == 20
    np.testing.assert_allclose(index.vectors(["i3"])[0], new_vec[0], atol=1e-6)
    assert index.query(new_vec[0], k=1)[0] == ["i3"]
    # The old vector no longer leads to i3 first.
    found, sims = index.query(vectors[3], k=20)
    assert found[0] != "i3" or sims[0] < 0.999


def test_last_write_wins_within_one_upsert() -> None:
    index = make()
    a, b = np.eye(DIM, dtype=np.float32)[:2]
    index.upsert(["x", "y", "x"], np.stack([a, b, b]))
    assert len(index) == 2
    np.testing.assert_allclose(index.vectors(["x"])[0], b, atol=1e-6)


def test_stored_vectors_are_unit_norm() -> None:
    index = make()
    index.upsert(["a"], np.full((1, DIM), 3.0, np.float32))
    assert np.linalg.norm(index.vectors(["a"])[0]) == pytest.approx(1.0, abs=1e-6)
    assert index.vectors([]).shape == (0, DIM)


def test_deleted_items_never_come_back_even_when_their_slots_are_reused() -> None:
    rng = np.random.default_rng(2)
    index = make(initial_capacity=4)
    first = unit_rows(rng, 60)
    index.upsert([f"old-{i}" for i in range(60)], first)
    deleted = [f"old-{i}" for i in range(0, 60, 2)]
    assert index.delete(deleted) == 30
    assert index.delete(deleted + ["never-existed"]) == 0
    capacity = index.capacity
    # 30 new items fill exactly the 30 freed slots: no growth.
    fresh = unit_rows(rng, 30)
    for i in range(0, 30, 7):  # several batches, so labels are reused in more than one call
        index.upsert([f"new-{j}" for j in range(i, min(i + 7, 30))], fresh[i:i + 7])
    assert index.capacity == capacity and len(index) == 60
    # Then many more, which must grow the index.
    index.upsert([f"more-{i}" for i in range(200)], unit_rows(rng, 200))
    assert len(index) == 260
    for gone, vec in zip(deleted, first[::2]):
        assert gone not in index
        found, _ = index.query(vec, k=len(index))
        assert gone not in found
    # Every reused slot holds the right item.
    for j, vec in enumerate(fresh):
        assert index.query(vec, k=1)[0] == [f"new-{j}"]
        np.testing.assert_allclose(index.vectors([f"new-{j}"])[0], vec, atol=1e-6)
    # And every live item can still be deleted.
    assert index.delete([f"new-{j}" for j in range(30)]) == 30


def test_a_deleted_id_can_be_added_again() -> None:
    rng = np.random.default_rng(3)
    index = make()
    vecs = unit_rows(rng, 3)
    index.upsert(["a", "b"], vecs[:2])
    index.delete(["a"])
    index.upsert(["a"], vecs[2:])
    assert "a" in index and len(index) == 2
    assert index.query(vecs[2], k=1)[0] == ["a"]


def test_capacity_grows_from_a_tiny_initial_capacity() -> None:
    rng = np.random.default_rng(4)
    index = make(initial_capacity=1)
    vectors = unit_rows(rng, 150)
    for i, vec in enumerate(vectors):
        index.upsert([f"i{i}"], vec[None, :])
    assert len(index) == 150 and index.capacity >= 150
    assert index.capacity < 150 * 4  # doubling, not unbounded growth
    hits = sum(index.query(vec, k=1)[0] == [f"i{i}"] for i, vec in enumerate(vectors))
    assert hits == 150


def test_growth_stops_at_max_capacity() -> None:
    index = make(initial_capacity=2, max_capacity=4)
    rng = np.random.default_rng(5)
    index.upsert(["a", "b", "c", "d"], unit_rows(rng, 4))
    with pytest.raises(IndexFull, match="max_capacity 4"):
        index.upsert(["e"], unit_rows(rng, 1))
    assert len(index) == 4 and "e" not in index
    index.delete(["a"])
    index.upsert(["e"], unit_rows(rng, 1))  # a freed slot is enough
    assert "e" in index and len(index) == 4


def test_query_edge_cases() -> None:
    index = make()
    ids, sims = index.query(np.ones(DIM, np.float32), k=5)
    assert ids == [] and sims.shape == (0,)
    rng = np.random.default_rng(6)
    index.upsert(["a", "b", "c"], unit_rows(rng, 3))
    ids, sims = index.query(np.ones(DIM, np.float32), k=10)
    assert sorted(ids) == ["a", "b", "c"] and sims.dtype == np.float32
    assert index.query(np.zeros(DIM, np.float32), k=3)[0] == []
    assert index.query(np.ones(DIM, np.float32), k=0)[0] == []
    index.delete(["a", "b"])
    assert index.query(np.ones(DIM, np.float32), k=10)[0] == ["c"]


def test_save_and_load_round_trip_with_the_id_map(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    config = IndexConfig(dim=DIM, initial_capacity=4)
    index = HnswIndex(config)
    vectors = unit_rows(rng, 80)
    ids = [f"sku-{i:06d}" for i in range(80)]
    index.upsert(ids, vectors)
    deleted, kept = ids[::2], ids[1::2]
    index.delete(deleted)
    path = tmp_path / "nested" / "items.hnsw"
    index.save(path)
    assert path.exists()
    meta = json.loads(Path(f"{path}.ids.json").read_text())
    assert meta["dim"] == DIM and len(meta["labels"]) == 40

    loaded = HnswIndex.load(path, config)
    assert len(loaded) == 40 and sorted(loaded.item_ids()) == sorted(kept)
    for vec in vectors[1::4]:
        assert loaded.query(vec, k=5)[0] == index.query(vec, k=5)[0]
    np.testing.assert_allclose(loaded.vectors(kept), index.vectors(kept), atol=1e-7)
    for vec in vectors[::2]:
        assert not set(deleted) & set(loaded.query(vec, k=40)[0])

    # The loaded index keeps working: freed slots are reused, and the id map stays right.
    capacity = loaded.capacity
    fresh = unit_rows(rng, 40)
    for j, vec in enumerate(fresh):
        loaded.upsert([f"new-{j}"], vec[None, :])
    assert loaded.capacity == capacity and len(loaded) == 80
    for j, vec in enumerate(fresh):
        assert loaded.query(vec, k=1)[0] == [f"new-{j}"]
        np.testing.assert_allclose(loaded.vectors([f"new-{j}"])[0], vec, atol=1e-6)
    assert loaded.delete([f"new-{j}" for j in range(40)]) == 40
    assert len(loaded) == 40


def test_load_rejects_a_different_dimension(tmp_path: Path) -> None:
    index = make()
    index.upsert(["a"], np.ones((1, DIM), np.float32))
    index.save(tmp_path / "i.hnsw")
    with pytest.raises(DimensionMismatch, match=f"dim {DIM}"):
        HnswIndex.load(tmp_path / "i.hnsw", IndexConfig(dim=DIM + 1))


@pytest.mark.parametrize(
    ("ids", "vectors"),
    [
        (["a"], np.ones((1, DIM + 1), np.float32)),
        (["a", "b"], np.ones((1, DIM), np.float32)),
        (["a"], np.ones(DIM, np.float32)),
        (["a"], np.ones((1, 1, DIM), np.float32)),
        (["a"], np.full((1, DIM), np.nan, np.float32)),
        (["a"], np.full((1, DIM), np.inf, np.float32)),
    ],
    ids=["wrong-dim", "count-mismatch", "1d", "3d", "nan", "inf"],
)
def test_bad_upserts_raise_dimension_mismatch_and_change_nothing(
    ids: list[str], vectors: np.ndarray,
) -> None:
    index = make()
    index.upsert(["keep"], np.ones((1, DIM), np.float32))
    with pytest.raises(DimensionMismatch):
        index.upsert(ids, vectors)
    assert index.item_ids() == ["keep"]
    assert issubclass(DimensionMismatch, ValueError)


@pytest.mark.parametrize(
    "vector",
    [np.ones(DIM + 1, np.float32), np.ones(DIM - 1, np.float32),
     np.full(DIM, np.nan, np.float32), np.ones((2, DIM), np.float32)],
    ids=["long", "short", "nan", "two-rows"],
)
def test_bad_queries_raise_dimension_mismatch(vector: np.ndarray) -> None:
    index = make()
    index.upsert(["a"], np.ones((1, DIM), np.float32))
    with pytest.raises(DimensionMismatch):
        index.query(vector, k=1)


def test_upsert_does_not_mutate_its_inputs() -> None:
    index = make()
    vectors = np.full((2, DIM), 2.0, np.float32)
    ids = ["a", "b"]
    index.upsert(ids, vectors)
    assert ids == ["a", "b"]
    np.testing.assert_array_equal(vectors, np.full((2, DIM), 2.0))
