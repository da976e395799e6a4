"""Item-to-item co-visitation learned online from click and purchase sequences.

When a user interacts with item ``j``, each of their last ``window`` items ``i`` gets
``c[i][j] += w * position_decay ** (distance - 1)`` and symmetrically ``c[j][i]``, where
``distance`` is 1 for the newest recent item. Counts decay with ``half_life_s``, as do
the item masses ``m[i]`` (the decayed weight of interactions with ``i``). The score of
``j`` for a user's recent items ``R`` is

    ``sum_{i in R} a_i * c[i][j] / sqrt((m[i] + s) * (m[j] + s))``

(``normalise=True``; ``s`` is ``smoothing``, which damps items seen once or twice), or
``sum a_i * c[i][j]`` without normalisation. Memory is bounded twice: each item keeps
at most ``max_neighbours`` neighbours and at most ``max_items`` items are kept, the
weakest evicted first.

Not thread-safe; the worker calls it from its event-loop thread.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter

import numpy as np
import orjson
from numpy.typing import NDArray

from engine.config import ConfigError
from engine.errors import InvalidEvent
from engine.trending import DecayedCounter, check_weights, decayed_items


@dataclass(frozen=True)
class CovisitConfig:
    """Co-visitation settings (see the module docstring for the formula)."""

    half_life_s: float = 365 * 86400.0  # item relations last: measured best on both datasets
    window: int = 5
    position_decay: float = 0.8
    max_neighbours: int = 50
    max_items: int = 100_000
    evict_fraction: float = 0.1
    normalise: bool = True
    smoothing: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.half_life_s) and self.half_life_s > 0):
            raise ConfigError(f"half_life_s must be a positive number, got {self.half_life_s!r}")
        for name in ("window", "max_neighbours", "max_items"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not 0.0 < self.position_decay <= 1.0:
            raise ConfigError(f"position_decay must be in (0, 1], got {self.position_decay!r}")
        if not 0.0 <= self.evict_fraction < 1.0:
            raise ConfigError(f"evict_fraction must be in [0, 1), got {self.evict_fraction!r}")
        if not (math.isfinite(self.smoothing) and self.smoothing >= 0):
            raise ConfigError(f"smoothing must be >= 0, got {self.smoothing!r}")


def previous_items(recent_items: Sequence[str], item_id: str, window: int) -> list[str]:
    """The items an interaction with ``item_id`` counts as co-visited: the user's recent
    items (before this one, newest last), newest first, each once, without ``item_id``
    itself, at most ``window`` of them. Their distance from ``item_id`` is their position.

    >>> previous_items(["a", "b", "a", "c", "x"], "x", window=2)
    ['c', 'a']
    """
    previous: list[str] = []
    for prev in reversed(recent_items):
        if prev != item_id and prev not in previous:
            previous.append(prev)
            if len(previous) == window:
                break
    return previous


def _check(weight: float, now: float) -> None:
    if not (math.isfinite(weight) and weight >= 0):
        raise InvalidEvent(f"weight must be finite and >= 0, got {weight!r}")
    if not math.isfinite(now):
        raise InvalidEvent(f"now must be finite, got {now!r}")


class Covisitation:
    """Decayed, bounded item-to-item co-visitation counts.

    >>> cv = Covisitation(CovisitConfig(normalise=False, position_decay=0.5))
    >>> cv.update(["tent"], "stove", 1.0, now=0.0)
    >>> cv.update(["tent", "stove"], "mat", 1.0, now=0.0)
    >>> ids, scores = cv.neighbours(["tent"], k=2, now=0.0)
    >>> ids, scores.tolist()
    (['stove', 'mat'], [1.0, 0.5])
    """

    def __init__(self, config: CovisitConfig = CovisitConfig()) -> None:
        self.config = config
        self._rows: dict[str, DecayedCounter] = {}
        # Item masses double as the item set: an item is kept exactly when it has a
        # mass, and the weakest mass is evicted first.
        self._mass = DecayedCounter(config.half_life_s, config.max_items, config.evict_fraction,
                                    track_evictions=True)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._rows

    @property
    def n_pairs(self) -> int:
        """Stored (item, neighbour) entries: the memory in use."""
        return sum(len(row) for row in self._rows.values())

    def _row(self, item_id: str) -> DecayedCounter:
        row = self._rows.get(item_id)
        if row is None:
            row = DecayedCounter(self.config.half_life_s, self.config.max_neighbours,
                                 self.config.evict_fraction)
            self._rows[item_id] = row
        return row

    def update(self, user_recent_items: Sequence[str], item_id: str, weight: float, now: float) -> None:
        """Learn from one interaction with ``item_id`` by a user whose recent items
        (before this one, newest last) are ``user_recent_items``.

        ``weight`` is the interaction's strength (a purchase more than a click). The
        inputs are not changed.
        """
        if not (math.isfinite(weight) and weight >= 0):
            raise InvalidEvent(f"weight must be finite and >= 0, got {weight!r}")
        if not math.isfinite(now):
            raise InvalidEvent(f"now must be finite, got {now!r}")
        cfg = self.config
        previous = previous_items(user_recent_items, item_id, cfg.window)
        self._mass.add(item_id, weight, now)
        for prev in previous:
            if prev not in self._mass:
                self._mass.add(prev, 0.0, now)  # known, so it is evictable
        for distance, prev in enumerate(previous):
            w = weight * cfg.position_decay ** distance
            self._row(prev).add(item_id, w, now)
            self._row(item_id).add(prev, w, now)
        self._drop_evicted()

    def add_row(self, item_id: str, neighbours: Mapping[str, float], mass: float, now: float) -> None:
        """Add one row's share of an update (see :func:`engine.item_signals.increments`):
        ``c[item_id][j] += neighbours[j]`` and ``m[item_id] += mass`` at ``now``."""
        _check(mass, now)
        self._mass.add(item_id, mass, now)
        if neighbours:
            row = self._row(item_id)
            for other, weight in neighbours.items():
                _check(weight, now)
                row.add(other, weight, now)
        self._drop_evicted()

    def set_row(self, item_id: str, neighbours: Mapping[str, float], mass: float, now: float) -> None:
        """Replace ``item_id``'s row and mass with values decayed to ``now`` (a copy of a
        row aggregated elsewhere); at most ``max_neighbours`` of the strongest are kept.

        >>> cv = Covisitation(CovisitConfig(normalise=False, half_life_s=10.0))
        >>> cv.update(["tent"], "stove", 1.0, now=0.0)
        >>> cv.set_row("stove", {"mat": 4.0}, 2.0, now=10.0)
        >>> cv.count("stove", "mat", now=20.0), cv.count("stove", "tent", now=20.0), cv.mass("stove", 20.0)
        (2.0, 0.0, 1.0)
        """
        _check(mass, now)
        check_weights(neighbours.values())
        cfg = self.config
        # Strongest first, ties by id: two stable C-level sorts instead of a key function.
        by_id = sorted(neighbours.items())
        kept = dict(sorted(by_id, key=itemgetter(1), reverse=True)[:cfg.max_neighbours])
        row = DecayedCounter(cfg.half_life_s, cfg.max_neighbours, cfg.evict_fraction)
        row.replace_all(kept, now)
        self._mass.set(item_id, mass, now)
        if kept:
            self._rows[item_id] = row
        else:
            self._rows.pop(item_id, None)
        self._drop_evicted()

    def _drop_evicted(self) -> None:
        evicted, self._mass.evicted = self._mass.evicted, []
        for item_id in evicted:
            self._drop_row(item_id)

    def _drop_row(self, item_id: str) -> None:
        row = self._rows.pop(item_id, None)
        if row is None:
            return
        # Counts are symmetric, so the rows naming this item are its own neighbours.
        for other in row.keys():
            other_row = self._rows.get(other)
            if other_row is not None:
                other_row.remove(item_id)
        # A row that had already evicted this item may still name it; such stale
        # entries are bounded by max_neighbours and fade, and retrieval drops ids
        # that are not in the catalogue.

    def forget(self, item_ids: Iterable[str]) -> None:
        """Drop deleted items and every count that names them."""
        for item_id in item_ids:
            self._mass.remove(item_id)
            self._drop_row(item_id)

    def count(self, a: str, b: str, now: float) -> float:
        """The decayed co-visitation count ``c[a][b]`` at ``now``."""
        row = self._rows.get(a)
        return row.get(b, now) if row is not None else 0.0

    def mass(self, item_id: str, now: float) -> float:
        """The decayed interaction weight of ``item_id`` at ``now``."""
        return self._mass.get(item_id, now)

    def masses(self, item_ids: Sequence[str], now: float) -> NDArray[np.float64]:
        """:meth:`mass` of each of ``item_ids``, shape ``(len(item_ids),)``."""
        return self._mass.scores(item_ids, now)

    def contributions(self, item_ids: Sequence[str], now: float,
                       weights: Sequence[float] | None) -> tuple[list[str], NDArray[np.float64]]:
        """Per (query item, neighbour) contributions: neighbour ids and a matrix
        ``(len(item_ids), n_neighbours)`` of scores before summing over query items."""
        if weights is not None and len(weights) != len(item_ids):
            raise InvalidEvent(f"weights has {len(weights)} entries for {len(item_ids)} item_ids")
        present = [(r, row) for r, item_id in enumerate(item_ids) if (row := self._rows.get(item_id)) is not None]
        # Every row's keys and decayed counts in a few passes (this runs for every page served).
        keys, values, lengths = decayed_items([row for _, row in present], now)
        # Neighbours in first-seen order, and each key's column, in C-level passes.
        ids = list(dict.fromkeys(keys))
        matrix = np.zeros((len(item_ids), len(ids)), dtype=np.float64)
        if not ids:
            return ids, matrix
        column = dict(zip(ids, range(len(ids))))
        cols_idx = np.fromiter(map(column.__getitem__, keys), dtype=np.intp, count=len(keys))
        rows_idx = np.repeat(np.fromiter((r for r, _ in present), dtype=np.intp, count=len(present)), lengths)
        matrix[rows_idx, cols_idx] = values
        if self.config.normalise:
            s = self.config.smoothing
            m_query = self._mass.scores(list(item_ids), now) + s
            m_cand = self._mass.scores(ids, now) + s
            denom = np.sqrt(np.outer(m_query, m_cand))
            matrix = np.divide(matrix, denom, out=np.zeros_like(matrix), where=denom > 0)
        if weights is not None:
            matrix *= np.asarray(weights, dtype=np.float64)[:, None]
        return ids, matrix

    def neighbours(self, item_ids: Sequence[str], k: int, now: float,
                   weights: Sequence[float] | None = None,
                   exclude: Iterable[str] = ()) -> tuple[list[str], NDArray[np.float32]]:
        """The ``k`` items most co-visited with ``item_ids`` (a user's recent items),
        best first, ties by id; the query items and ``exclude`` are left out.

        ``weights`` (one per query item, default 1) let newer recent items count more.
        Returns ``(ids, scores)`` with float32 scores, shape ``(<= k,)``.
        """
        if k < 0:
            raise InvalidEvent(f"k must be >= 0, got {k!r}")
        ids, matrix = self.contributions(item_ids, now, weights)
        skip = set(item_ids) | set(exclude)
        keep = [j for j, i in enumerate(ids) if i not in skip]
        if not keep or k == 0:
            return [], np.zeros(0, dtype=np.float32)
        scores = matrix[:, keep].sum(axis=0)
        names = np.array([ids[j] for j in keep], dtype=object)
        order = np.lexsort((names, -scores))[:k]
        return [str(names[j]) for j in order.tolist()], scores[order].astype(np.float32)

    def scores(self, item_ids: Sequence[str], candidates: Sequence[str], now: float,
               weights: Sequence[float] | None = None) -> NDArray[np.float32]:
        """The co-visitation score of each candidate for the query ``item_ids``, shape
        ``(len(candidates),)`` (0 for a candidate never co-visited): the ranker's feature."""
        ids, matrix = self.contributions(item_ids, now, weights)
        total = dict(zip(ids, matrix.sum(axis=0).tolist()))
        return np.array([total.get(c, 0.0) for c in candidates], dtype=np.float32)

    def strongest_source(self, item_ids: Sequence[str], candidate: str, now: float,
                         weights: Sequence[float] | None = None) -> tuple[str | None, float]:
        """Which query item contributes most to ``candidate``'s score, and how much
        (``(None, 0.0)`` if none): "bought together with X"."""
        ids, matrix = self.contributions(item_ids, now, weights)
        if candidate not in ids:
            return None, 0.0
        col = matrix[:, ids.index(candidate)]
        best = int(col.argmax())
        return (item_ids[best], float(col[best])) if col[best] > 0 else (None, 0.0)

    def to_bytes(self) -> bytes:
        """A JSON snapshot for a restart (no pickle)."""
        return orjson.dumps({"v": 1, "mass": self._mass.to_dict(),
                             "rows": {i: r.to_dict() for i, r in self._rows.items()}})

    @classmethod
    def from_bytes(cls, data: bytes, config: CovisitConfig = CovisitConfig()) -> Covisitation:
        snap = orjson.loads(data)
        cv = cls(config)
        cv._mass = DecayedCounter.from_dict(snap["mass"], track_evictions=True)
        cv._rows = {i: DecayedCounter.from_dict(r) for i, r in snap["rows"].items()}
        return cv
