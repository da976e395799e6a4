"""Item indexes: :class:`HnswIndex` (hnswlib, cosine) and :class:`BruteForceIndex` (the oracle).

Thread-safety: reads (``query``, ``query_many``, ``vectors``, ``len``, ``in``) may run
concurrently with each other, but no write (``upsert``, ``delete``) may run alongside
anything else (hnswlib's ``add_items`` is not safe alongside ``knn_query``). The worker
writes from its event loop thread while holding its index lock, and ranks in one ranking
thread while holding the same lock (:class:`stream_apps.worker.context.WorkerContext`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
from numpy.typing import NDArray

from engine.config import IndexConfig
from engine.errors import DimensionMismatch, IndexFull
from engine.types import Matrix, Vector


def _check_vectors(vectors: Matrix, n: int, dim: int) -> Matrix:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2 or array.shape != (n, dim):
        raise DimensionMismatch(f"expected vectors of shape ({n}, {dim}), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise DimensionMismatch("vectors contain NaN or infinity")
    return array


PARALLEL_ADD_MIN = 1000
"""Upserts of at least this many items build with ``HnswIndex.build_threads`` threads."""


class HnswIndex:
    """An HNSW index over external item ids, with upsert, delete, growth and save/load.

    Labels are hnswlib's integer ids; the index keeps the map from item ids to labels
    and saves it next to the index file. A deleted item is marked deleted (never
    returned again) and its slot is reused by later inserts.

    >>> idx = HnswIndex(IndexConfig(dim=2, initial_capacity=4))
    >>> idx.upsert(["a", "b"], np.array([[1, 0], [0, 1]], np.float32))
    >>> idx.query(np.array([1, 0.1], np.float32), k=1)[0]
    ['a']
    """

    def __init__(self, config: IndexConfig = IndexConfig()) -> None:
        import hnswlib

        self.config = config
        self._index = hnswlib.Index(space="cosine", dim=config.dim)
        self._index.init_index(
            max_elements=config.initial_capacity, ef_construction=config.ef_construction,
            M=config.m, allow_replace_deleted=True,
        )
        self._index.set_ef(config.ef_search)
        self._label_of: dict[str, int] = {}
        self._id_of: dict[int, str] = {}
        self._free_labels: list[int] = []
        self._next_label = 0
        # A copy of the unit vectors by label: hnswlib's get_items costs ~0.5 ms for 60
        # items, a numpy gather a few microseconds, and the hot path needs candidates'
        # vectors on every event. It costs 4 bytes per dimension per item.
        self._mirror = np.zeros((config.initial_capacity, config.dim), dtype=np.float32)
        self.build_threads = 1  # threads for upserts of PARALLEL_ADD_MIN items or more (-1: all cores)

    @property
    def dim(self) -> int:
        return self.config.dim

    @property
    def capacity(self) -> int:
        return int(self._index.get_max_elements())

    def __len__(self) -> int:
        return len(self._label_of)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._label_of

    def item_ids(self) -> list[str]:
        return list(self._label_of)

    def _grow_for(self, extra: int) -> None:
        needed = self._next_label + extra
        if needed <= self.capacity:
            return
        if needed > self.config.max_capacity:
            raise IndexFull(f"index would hold {needed} items, max_capacity {self.config.max_capacity}")
        new_capacity = min(max(needed, 2 * self.capacity), self.config.max_capacity)
        self._index.resize_index(new_capacity)
        self._resize_mirror(new_capacity)

    def _resize_mirror(self, capacity: int) -> None:
        grown = np.zeros((capacity, self.dim), dtype=np.float32)
        keep = min(capacity, len(self._mirror))
        grown[:keep] = self._mirror[:keep]
        self._mirror = grown

    def upsert(self, item_ids: Sequence[str], vectors: Matrix) -> None:
        """Insert new items and replace the vectors of known ones (re-embedding)."""
        array = _check_vectors(vectors, len(item_ids), self.dim)
        if not len(item_ids):
            return
        # Last write wins within one call, like a compacted topic.
        latest = {item_id: row for row, item_id in enumerate(item_ids)}
        rows = list(latest.values())
        labels: list[int] = []
        reuse: list[bool] = []
        fresh = [i for i in latest if i not in self._label_of]
        self._grow_for(max(len(fresh) - len(self._free_labels), 0))
        for item_id in latest:
            label = self._label_of.get(item_id)
            if label is not None:
                labels.append(label)
                reuse.append(False)
            elif self._free_labels:
                labels.append(self._free_labels.pop())
                reuse.append(True)
            else:
                labels.append(self._next_label)
                self._next_label += 1
                reuse.append(False)
        # Revive each reused label's own slot, then write it like an update.
        # (replace_deleted=True would let hnswlib fill an arbitrary deleted slot and drop
        # *that* slot's label from its map, so our map and hnswlib's drift apart.)
        for label, reused in zip(labels, reuse):
            if reused:
                self._index.unmark_deleted(label)
        # A catalogue load (thousands of items at once) may build on several threads; the
        # few items of a live update are not worth the threads' start-up. Off by default:
        # a parallel build inserts in no fixed order, so the graph (and an evaluation
        # replay) would differ from run to run.
        threads = self.build_threads if len(rows) >= PARALLEL_ADD_MIN else 1
        self._index.add_items(array[rows], np.asarray(labels, dtype=np.int64), num_threads=threads)
        norms = np.maximum(np.linalg.norm(array[rows], axis=1, keepdims=True), 1e-12)
        self._mirror[labels] = array[rows] / norms
        for item_id, label in zip(latest, labels):
            self._label_of[item_id] = label
            self._id_of[label] = item_id

    def delete(self, item_ids: Sequence[str]) -> int:
        """Remove items; unknown ids are ignored. Returns how many were removed."""
        removed = 0
        for item_id in item_ids:
            label = self._label_of.pop(item_id, None)
            if label is None:
                continue
            del self._id_of[label]
            self._index.mark_deleted(label)
            self._free_labels.append(label)
            removed += 1
        return removed

    def vectors(self, item_ids: Sequence[str]) -> Matrix:
        """The stored (unit-norm) vectors of known items, shape ``(len(item_ids), dim)``."""
        if not item_ids:
            return np.zeros((0, self.dim), dtype=np.float32)
        labels = np.fromiter(map(self._label_of.__getitem__, item_ids), dtype=np.intp, count=len(item_ids))
        out: Matrix = self._mirror[labels]
        return out

    def query(self, vector: Vector, k: int) -> tuple[list[str], NDArray[np.float32]]:
        """The ``k`` nearest items by cosine similarity, best first: ``(ids, similarities)``."""
        vec = _check_vectors(np.asarray(vector, np.float32).reshape(1, -1), 1, self.dim)
        k = min(k, len(self))
        if k <= 0 or not np.any(vec):
            return [], np.zeros(0, dtype=np.float32)
        self._index.set_ef(max(self.config.ef_search, k))
        try:
            labels, distances = self._index.knn_query(vec, k=k, num_threads=1)
        except RuntimeError:
            # hnswlib raises when deleted slots leave fewer than k reachable items.
            return self.query(vector, k // 2) if k > 1 else ([], np.zeros(0, dtype=np.float32))
        ids = [self._id_of[int(label)] for label in labels[0]]
        return ids, (1.0 - distances[0]).astype(np.float32)

    def query_many(self, vectors: Matrix, ks: Sequence[int],
                   num_threads: int = -1) -> list[tuple[list[str], NDArray[np.float32]]]:
        """:meth:`query` for each row of ``vectors`` ``(n, dim)`` with its own ``ks[i]``,
        in as few ``knn_query`` calls as give the same answers (hnswlib spreads one call
        over ``num_threads`` threads and releases the GIL).

        A query's answer depends on ``k`` only through ``ef = max(ef_search, k)``: every
        row whose ``k`` is at most ``ef_search`` shares one call (the top ``k`` of a
        deeper list from the same search), the others are grouped by their ``k``.

        >>> idx = HnswIndex(IndexConfig(dim=2, initial_capacity=4))
        >>> idx.upsert(["a", "b", "c"], np.array([[1, 0], [0, 1], [1, 1]], np.float32))
        >>> [ids for ids, _ in idx.query_many(np.array([[1, 0.1], [0, 1]], np.float32), [1, 2])]
        [['a'], ['b', 'c']]
        """
        array = _check_vectors(np.asarray(vectors, np.float32).reshape(len(ks), -1), len(ks), self.dim)
        out: list[tuple[list[str], NDArray[np.float32]]] = [([], np.zeros(0, dtype=np.float32))] * len(ks)
        size = len(self)
        groups: dict[int, list[int]] = {}
        for row, k in enumerate(ks):
            k = min(int(k), size)
            if k > 0 and np.any(array[row]):
                groups.setdefault(max(k, self.config.ef_search) if k > self.config.ef_search else 0,
                                  []).append(row)
        for rows in groups.values():
            k_max = min(max(int(ks[r]) for r in rows), size)
            self._index.set_ef(max(self.config.ef_search, k_max))
            try:
                labels, distances = self._index.knn_query(array[rows], k=k_max, num_threads=num_threads)
            except RuntimeError:
                # Too few reachable items for k (deleted slots): one at a time, as query() does.
                for r in rows:
                    out[r] = self.query(array[r], int(ks[r]))
                continue
            for i, r in enumerate(rows):
                k = min(int(ks[r]), size)
                ids = [self._id_of[int(label)] for label in labels[i][:k]]
                out[r] = (ids, (1.0 - distances[i][:k]).astype(np.float32))
        return out

    def save(self, path: Path) -> None:
        """Write the index and, beside it, its id map (``<path>.ids.json``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._index.save_index(str(path))
        meta = {
            "dim": self.dim, "labels": self._label_of, "free": self._free_labels,
            "next": self._next_label,
        }
        Path(f"{path}.ids.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, path: Path, config: IndexConfig) -> HnswIndex:
        meta = json.loads(Path(f"{path}.ids.json").read_text())
        if int(meta["dim"]) != config.dim:
            raise DimensionMismatch(f"saved index has dim {meta['dim']}, config says {config.dim}")
        index = cls(config)
        index._index.load_index(str(path), max_elements=0, allow_replace_deleted=True)
        index._index.set_ef(config.ef_search)
        index._label_of = {k: int(v) for k, v in meta["labels"].items()}
        index._id_of = {v: k for k, v in index._label_of.items()}
        index._free_labels = [int(x) for x in meta["free"]]
        index._next_label = int(meta["next"])
        index._resize_mirror(index.capacity)
        if index._label_of:
            labels = list(index._label_of.values())
            index._mirror[labels] = np.asarray(index._index.get_items(labels), np.float32)
        return index


class BruteForceIndex:
    """Exact cosine search with numpy: the oracle HNSW recall is measured against.

    >>> idx = BruteForceIndex(dim=2)
    >>> idx.upsert(["a", "b"], np.array([[1, 0], [0, 1]], np.float32))
    >>> idx.delete(["a"])
    1
    >>> idx.query(np.array([1, 0.1], np.float32), k=2)[0]
    ['b']
    """

    def __init__(self, dim: int) -> None:
        self._dim = dim
        self._rows: dict[str, int] = {}
        self._ids: list[str] = []  # row -> item id
        self._matrix = np.zeros((0, dim), dtype=np.float32)
        self._alive = np.zeros(0, dtype=bool)

    @property
    def dim(self) -> int:
        return self._dim

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._rows

    def upsert(self, item_ids: Sequence[str], vectors: Matrix) -> None:
        array = _check_vectors(vectors, len(item_ids), self.dim)
        norms = np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-12)
        array = array / norms
        new_rows = []
        for item_id, vec in zip(item_ids, array):
            row = self._rows.get(item_id)
            if row is None:
                self._rows[item_id] = len(self._ids)
                self._ids.append(item_id)
                new_rows.append(vec)
            elif row >= len(self._matrix):  # repeated within this call: last write wins
                new_rows[row - len(self._matrix)] = vec
            else:
                self._matrix[row] = vec
        if new_rows:
            self._matrix = np.vstack([self._matrix, np.asarray(new_rows, np.float32)])
            self._alive = np.concatenate([self._alive, np.ones(len(new_rows), dtype=bool)])

    def delete(self, item_ids: Sequence[str]) -> int:
        removed = 0
        for item_id in item_ids:
            row = self._rows.pop(item_id, None)
            if row is not None:
                self._alive[row] = False
                removed += 1
        return removed

    def vectors(self, item_ids: Sequence[str]) -> Matrix:
        out: Matrix = self._matrix[[self._rows[i] for i in item_ids]].reshape(-1, self.dim)
        return out

    def query_many(self, vectors: Matrix, ks: Sequence[int],
                   num_threads: int = -1) -> list[tuple[list[str], NDArray[np.float32]]]:
        """:meth:`query` for each row of ``vectors`` with its own ``ks[i]``."""
        return [self.query(v, int(k)) for v, k in zip(np.asarray(vectors, np.float32), ks)]

    def query(self, vector: Vector, k: int) -> tuple[list[str], NDArray[np.float32]]:
        vec = _check_vectors(np.asarray(vector, np.float32).reshape(1, -1), 1, self.dim)[0]
        norm = float(np.linalg.norm(vec))
        if norm == 0 or not len(self):
            return [], np.zeros(0, dtype=np.float32)
        sims = np.where(self._alive, self._matrix @ (vec / norm), -np.inf)
        k = min(k, len(self))
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top])]
        return [self._ids[int(r)] for r in top], sims[top].astype(np.float32)
