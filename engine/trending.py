"""Decayed popularity per scene (and overall): what is hot right now.

A :class:`DecayedCounter` keeps ``key -> sum_i w_i * 2 ** (-(now - t_i) / half_life)``
in O(1) per update: values are stored grown to a shared reference time instead of
decayed per entry, so decaying the whole counter is one scalar factor and the ranking
of keys never needs a pass over the entries. :class:`Trending` holds one counter per
scene plus a global one; it is the cold-start answer for a user with no history.

Neither class is thread-safe; the worker calls them from its event-loop thread.
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_left, insort
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from itertools import chain, repeat
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from engine.config import ConfigError
from engine.errors import InvalidEvent

GLOBAL = "*"
"""The scene name of the all-scenes counter."""

# Stored values grow by 2 ** ((t - t_ref) / half_life); rebasing before 2 ** 64 keeps
# them far from float64 overflow (about 2 ** 1023) without touching entries often.
_REBASE_HALF_LIVES = 64.0

# The shortest ranking a counter keeps for :meth:`DecayedCounter.top`: a page asks for a
# few dozen keys plus the user's excluded ones.
_MIN_RANKED = 256


def _check_weight(weight: float, now: float) -> None:
    if not (math.isfinite(weight) and weight >= 0):
        raise InvalidEvent(f"weight must be finite and >= 0, got {weight!r}")
    if not math.isfinite(now):
        raise InvalidEvent(f"now must be finite, got {now!r}")


def check_weights(weights: Collection[float]) -> np.ndarray:
    """``weights`` as a float64 array; raises :class:`InvalidEvent` unless every one is
    finite and >= 0 (one vectorised pass: rows copied in hold up to hundreds)."""
    array = np.fromiter(weights, dtype=np.float64, count=len(weights))
    if not (np.isfinite(array).all() and (array >= 0).all()):
        bad = next(w for w in weights if not (math.isfinite(w) and w >= 0))
        raise InvalidEvent(f"weight must be finite and >= 0, got {bad!r}")
    return array


class DecayedCounter:
    """Exponentially decayed counts per key, at most ``capacity`` keys.

    When a new key pushes the size past ``capacity``, the weakest keys are evicted
    down to ``capacity - int(capacity * evict_fraction)``: evicting in bulk keeps the
    cost of finding the weakest amortised O(1) per update. A late update (``now``
    earlier than the newest seen) is decayed on the way in, so the counts after a set
    of updates do not depend on their arrival order.

    >>> c = DecayedCounter(half_life_s=10.0, capacity=2, evict_fraction=0.0)
    >>> c.add("a", 4.0, now=0.0); c.add("b", 1.0, now=10.0)
    >>> c.get("a", now=10.0), c.get("b", now=10.0)
    (2.0, 1.0)
    >>> c.add("c", 1.5, now=10.0)  # "b" is now the weakest and goes
    >>> sorted(c.keys())
    ['a', 'c']
    """

    def __init__(self, half_life_s: float, capacity: int, evict_fraction: float = 0.1,
                 track_evictions: bool = False) -> None:
        if not (math.isfinite(half_life_s) and half_life_s > 0):
            raise ConfigError(f"half_life_s must be a positive number, got {half_life_s!r}")
        if capacity < 1:
            raise ConfigError(f"capacity must be >= 1, got {capacity!r}")
        if not 0.0 <= evict_fraction < 1.0:
            raise ConfigError(f"evict_fraction must be in [0, 1), got {evict_fraction!r}")
        self.half_life_s = float(half_life_s)
        self.capacity = int(capacity)
        self.evict_fraction = float(evict_fraction)
        self._values: dict[str, float] = {}
        self._t_ref: float | None = None
        self._total = 0.0  # sum of stored values, same scale
        self._track = track_evictions
        self.evicted: list[str] = []
        """Evicted keys, oldest first, when ``track_evictions``; the owner drains it."""
        # The strongest keys as (-stored value, key), ascending: always an exact prefix
        # of the order :meth:`top` uses (every key when ``_ranked_all``), at most
        # ``_ranked_width`` long unless it holds every key. Kept up to date as values
        # grow, fall or go: a key that falls past the prefix's end just leaves it, so
        # the prefix can shorten, and it is rebuilt when shorter than a top() needs.
        # ``None`` after an eviction, rebase or replace_all (rebuilt on demand). Decay
        # scales every value alike, so the order does not depend on time.
        self._ranked: list[tuple[float, str]] | None = None
        self._ranked_width = 0
        self._ranked_all = False

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def keys(self) -> list[str]:
        return list(self._values)

    def items_at(self, now: float) -> tuple[list[str], NDArray[np.float64]]:
        """Every key and its decayed count at ``now`` (``scores(keys(), now)`` in one pass)."""
        keys, values, _ = decayed_items([self], now)
        return keys, values

    def _factor(self, now: float) -> float:
        """Stored value -> value decayed to ``now``."""
        if self._t_ref is None:
            return 0.0
        return float(0.5 ** ((now - self._t_ref) / self.half_life_s))

    def add(self, key: str, weight: float, now: float) -> None:
        """Add ``weight`` to ``key`` at time ``now`` (epoch seconds)."""
        _check_weight(weight, now)
        if self._t_ref is None:
            self._t_ref = now
        elif (now - self._t_ref) / self.half_life_s > _REBASE_HALF_LIVES:
            self._rebase(now)
        grown = weight * 2.0 ** ((now - self._t_ref) / self.half_life_s)
        old = self._values.get(key)
        self._values[key] = new = (0.0 if old is None else old) + grown
        self._total += grown
        if self._ranked is not None:
            self._rank_moved(key, old, new)
        if len(self._values) > self.capacity:
            self._evict(self.capacity - int(self.capacity * self.evict_fraction))

    def set(self, key: str, value: float, now: float) -> None:
        """Make ``key``'s count at ``now`` exactly ``value`` (a copy of a count kept
        elsewhere, decayed to ``now``), whatever it was; may evict like :meth:`add`.

        >>> c = DecayedCounter(half_life_s=10.0, capacity=5)
        >>> c.add("a", 4.0, now=0.0); c.set("a", 1.0, now=10.0)
        >>> c.get("a", now=10.0), c.get("a", now=20.0)
        (1.0, 0.5)
        """
        _check_weight(value, now)
        if self._t_ref is None:
            self._t_ref = now
        elif (now - self._t_ref) / self.half_life_s > _REBASE_HALF_LIVES:
            self._rebase(now)
        grown = value * 2.0 ** ((now - self._t_ref) / self.half_life_s)
        old = self._values.get(key)
        self._total += grown - (0.0 if old is None else old)
        self._values[key] = grown
        if self._ranked is not None:
            self._rank_moved(key, old, grown)
        if len(self._values) > self.capacity:
            self._evict(self.capacity - int(self.capacity * self.evict_fraction))

    def replace_all(self, values: Mapping[str, float], now: float) -> None:
        """Make the counts exactly ``values`` at ``now`` (finite, >= 0, at most ``capacity``
        of them), dropping every other key: what :meth:`set` for each key of an emptied
        counter gives, in one pass (a shared row copied in replaces a whole row).

        >>> c = DecayedCounter(half_life_s=10.0, capacity=5)
        >>> c.add("a", 4.0, now=0.0); c.replace_all({"b": 1.0, "c": 2.0}, now=10.0)
        >>> c.keys(), c.get("c", now=20.0), c.total(now=10.0)
        (['b', 'c'], 1.0, 3.0)
        """
        if not math.isfinite(now):
            raise InvalidEvent(f"now must be finite, got {now!r}")
        if len(values) > self.capacity:
            raise InvalidEvent(f"{len(values)} values for a counter of capacity {self.capacity}")
        weights = check_weights(values.values())
        # t_ref = now stores each value as it is (the factor is 1); the total is the same
        # left-to-right sum that one set() per key accumulates.
        stored = dict(zip(values.keys(), weights.tolist()))
        self._values, self._t_ref = stored, now
        self._total = reduce(operator.add, stored.values(), 0.0)
        self._ranked = None

    def _rebase(self, now: float) -> None:
        scale = self._factor(now)
        self._values = {k: v * scale for k, v in self._values.items()}
        self._total = math.fsum(self._values.values())
        self._t_ref = now
        self._ranked = None  # rescaled values may round into a different order of ties

    def _evict(self, target: int) -> None:
        keys = list(self._values)
        values = np.fromiter(self._values.values(), dtype=np.float64, count=len(keys))
        drop = len(keys) - target
        self._ranked = None
        # Weakest first; ties go to the key inserted first, so eviction is deterministic.
        weakest = np.argsort(values, kind="stable")[:drop]
        for i in weakest.tolist():
            self._total -= self._values.pop(keys[i])
            if self._track:
                self.evicted.append(keys[i])
        self._total = max(self._total, 0.0)

    def remove(self, key: str) -> bool:
        """Forget ``key``; returns whether it was there."""
        value = self._values.pop(key, None)
        if value is None:
            return False
        self._total = max(self._total - value, 0.0)
        if self._ranked is not None:
            self._rank_moved(key, value, None)
        return True

    def _rank_of(self, key: str, stored: float) -> int | None:
        """Where ``key`` (stored value ``stored``) is in the kept ranking, if it is."""
        ranked = self._ranked
        if ranked is None:
            return None
        at = bisect_left(ranked, (-stored, key))
        return at if at < len(ranked) and ranked[at][1] == key else None

    def _rank_moved(self, key: str, old: float | None, new: float | None) -> None:
        """Keep the ranking an exact prefix after ``key``'s stored value went from ``old``
        (``None``: a new key) to ``new`` (``None``: removed)."""
        ranked = self._ranked
        if ranked is None:
            return
        at = None if old is None else self._rank_of(key, old)
        if at is not None:
            del ranked[at]  # what is left is still a prefix: every key after it is weaker
        if new is None:
            return
        entry = (-new, key)
        # It belongs in the prefix when the prefix holds every key, when it was in it and
        # did not fall (every key outside is weaker than it was), or when it sorts before
        # the prefix's last key. Otherwise it is outside, as a key that fell there should be.
        if (self._ranked_all or (at is not None and old is not None and new >= old)
                or (ranked and entry < ranked[-1])):
            insort(ranked, entry)
            if not self._ranked_all and len(ranked) > self._ranked_width:
                ranked.pop()

    def _ranking(self, width: int) -> list[tuple[float, str]]:
        """The kept ranking, at least ``width`` long when there are that many keys."""
        ranked = self._ranked
        if ranked is not None and (len(ranked) >= width or self._ranked_all):
            return ranked
        # A wider request doubles the width (so growing requests rebuild rarely); a prefix
        # that shortened is rebuilt at its width.
        kept = self._ranked_width
        width = max(width, _MIN_RANKED, 2 * kept if width > kept else kept)
        # Vectorised over every key (no Python loop per key): the strongest ``width`` by
        # a partial sort, widened to every key tied with the last one, then ordered.
        keys = list(self._values)
        values = np.fromiter(self._values.values(), dtype=np.float64, count=len(keys))
        if width < len(keys):
            part = np.argpartition(-values, width - 1)[:width]
            # argpartition does not order ties; widen to every key tied with the last one.
            part = np.nonzero(values >= values[part].min())[0]
        else:
            part = np.arange(len(keys))
        names = np.array([keys[i] for i in part.tolist()], dtype=object)
        chosen = part[np.lexsort((names, -values[part]))[:width]].tolist()
        self._ranked = [(-value, keys[i]) for i, value in zip(chosen, values[chosen].tolist())]
        self._ranked_width = width
        self._ranked_all = len(self._ranked) == len(keys)
        return self._ranked

    def get(self, key: str, now: float) -> float:
        """The decayed count of ``key`` at ``now`` (0.0 for an unknown key)."""
        return self._values.get(key, 0.0) * self._factor(now)

    def scores(self, keys: Sequence[str], now: float) -> NDArray[np.float64]:
        """Decayed counts of ``keys`` at ``now``, shape ``(len(keys),)``."""
        # One C-level pass (this runs per candidate list of every page); the same products.
        values = np.fromiter(map(self._values.get, keys, repeat(0.0, len(keys))), dtype=np.float64, count=len(keys))
        return values * self._factor(now)

    def total(self, now: float) -> float:
        """Sum of all decayed counts at ``now``."""
        return self._total * self._factor(now)

    def top(self, k: int, now: float, exclude: Iterable[str] = ()) -> tuple[list[str], NDArray[np.float32]]:
        """The ``k`` strongest keys not in ``exclude``, strongest first (ties by key).

        Served from a kept ranking (this runs for every batch of pages): the excluded
        keys are dropped among the strongest ``k + len(exclude)`` only.
        """
        if k < 0:
            raise InvalidEvent(f"k must be >= 0, got {k!r}")
        skip = set(exclude)
        if not self._values or k == 0:
            return [], np.zeros(0, dtype=np.float32)
        ids: list[str] = []
        stored: list[float] = []
        for negative, key in self._ranking(k + len(skip)):
            if key not in skip:
                ids.append(key)
                stored.append(-negative)
                if len(ids) == k:
                    break
        return ids, (np.array(stored, dtype=np.float64) * self._factor(now)).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able snapshot (see :meth:`from_dict`)."""
        return {"half_life_s": self.half_life_s, "capacity": self.capacity,
                "evict_fraction": self.evict_fraction, "t_ref": self._t_ref,
                "keys": list(self._values), "values": list(self._values.values())}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], track_evictions: bool = False) -> DecayedCounter:
        counter = cls(data["half_life_s"], data["capacity"], data["evict_fraction"], track_evictions)
        counter._t_ref = data["t_ref"]
        counter._values = dict(zip(data["keys"], (float(v) for v in data["values"])))
        counter._total = math.fsum(counter._values.values())
        return counter


def decayed_items(counters: Sequence[DecayedCounter], now: float,
                  ) -> tuple[list[str], NDArray[np.float64], NDArray[np.intp]]:
    """:meth:`DecayedCounter.items_at` of each counter, concatenated in counter order, in
    a few passes over all of them (co-visitation reads a dozen rows for every page), and
    each counter's number of keys.

    >>> a, b = DecayedCounter(half_life_s=10.0, capacity=5), DecayedCounter(half_life_s=10.0, capacity=5)
    >>> a.add("x", 2.0, now=0.0); b.add("y", 1.0, now=10.0); b.add("z", 3.0, now=10.0)
    >>> keys, values, lengths = decayed_items([a, b], now=10.0)
    >>> keys, values.tolist(), lengths.tolist()
    (['x', 'y', 'z'], [1.0, 1.0, 3.0], [1, 2])
    """
    lengths = np.fromiter(map(len, counters), dtype=np.intp, count=len(counters))
    keys = list(chain.from_iterable(c._values for c in counters))
    stored = np.fromiter(chain.from_iterable(c._values.values() for c in counters), dtype=np.float64,
                         count=len(keys))
    factors = np.fromiter((c._factor(now) for c in counters), dtype=np.float64, count=len(counters))
    return keys, stored * np.repeat(factors, lengths), lengths


@dataclass(frozen=True)
class TrendingConfig:
    """Decayed popularity settings.

    ``half_life_s``: how fast popularity fades (hours: "trending", not "best-selling").
    ``max_items_per_scene`` bounds each scene's counter, ``max_scenes`` the number of
    scenes (the least active scene goes first); the global counter is always kept.
    """

    half_life_s: float = 6 * 3600.0
    max_items_per_scene: int = 2000
    max_items_global: int = 10_000
    max_scenes: int = 32
    evict_fraction: float = 0.1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.half_life_s) and self.half_life_s > 0):
            raise ConfigError(f"half_life_s must be a positive number, got {self.half_life_s!r}")
        for name in ("max_items_per_scene", "max_items_global", "max_scenes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not 0.0 <= self.evict_fraction < 1.0:
            raise ConfigError(f"evict_fraction must be in [0, 1), got {self.evict_fraction!r}")


class Trending:
    """Decayed item popularity per scene and over all scenes.

    >>> t = Trending(TrendingConfig(half_life_s=3600.0))
    >>> t.record("mug", "home", 1.0, now=0.0); t.record("kettle", "home", 3.0, now=0.0)
    >>> t.record("mug", "cart", 3.0, now=0.0)
    >>> t.top("home", 2, now=3600.0)[0], t.top(None, 1, now=0.0)[0]
    (['kettle', 'mug'], ['mug'])
    """

    def __init__(self, config: TrendingConfig = TrendingConfig()) -> None:
        self.config = config
        self._global = DecayedCounter(config.half_life_s, config.max_items_global, config.evict_fraction)
        self._scenes: dict[str, DecayedCounter] = {}
        self._scene_ts: dict[str, float] = {}

    @property
    def scenes(self) -> list[str]:
        return list(self._scenes)

    @property
    def n_entries(self) -> int:
        """Stored (scene, item) counts, the global counter's included: the memory in use,
        at most ``max_items_global + max_scenes * max_items_per_scene``."""
        return len(self._global) + sum(len(c) for c in self._scenes.values())

    def record(self, item_id: str, scene: str | None, weight: float, now: float) -> None:
        """Count an interaction with ``item_id`` in ``scene`` (``None``: global only)."""
        _check_weight(weight, now)
        self._global.add(item_id, weight, now)
        if scene is None or scene == GLOBAL:
            return
        self._counter(scene, now).add(item_id, weight, now)

    def _counter(self, scene: str, now: float) -> DecayedCounter:
        """The counter of ``scene`` (``GLOBAL``: the global one), made if missing."""
        if scene == GLOBAL:
            return self._global
        counter = self._scenes.get(scene)
        if counter is None:
            if len(self._scenes) >= self.config.max_scenes:
                # The scene nobody has used for longest makes room.
                stale = min(self._scenes, key=lambda s: (self._scene_ts[s], s))
                del self._scenes[stale], self._scene_ts[stale]
            counter = DecayedCounter(self.config.half_life_s, self.config.max_items_per_scene,
                                     self.config.evict_fraction)
            self._scenes[scene] = counter
        self._scene_ts[scene] = max(self._scene_ts.get(scene, now), now)
        return counter

    def add_counts(self, item_id: str, counts: Mapping[str, float], now: float) -> None:
        """Add ``counts`` (scene -> weight, ``GLOBAL`` for the global counter) to ``item_id``:
        :meth:`record` for a weight already split by scene."""
        for scene, weight in counts.items():
            _check_weight(weight, now)
            self._counter(scene, now).add(item_id, weight, now)

    def set_counts(self, item_id: str, counts: Mapping[str, float], now: float) -> None:
        """Make ``item_id``'s count in each scene of ``counts`` (``GLOBAL``: overall)
        exactly that value at ``now``: a copy of counts aggregated elsewhere.

        >>> t = Trending(TrendingConfig(half_life_s=3600.0))
        >>> t.record("mug", "home", 5.0, now=0.0)
        >>> t.set_counts("mug", {"home": 2.0, GLOBAL: 3.0}, now=3600.0)
        >>> float(t.scores(["mug"], "home", 3600.0)[0]), float(t.scores(["mug"], None, 7200.0)[0])
        (2.0, 1.5)
        """
        for scene, value in counts.items():
            _check_weight(value, now)
            self._counter(scene, now).set(item_id, value, now)

    def forget(self, item_id: str) -> None:
        """Drop a deleted item everywhere."""
        self._global.remove(item_id)
        for counter in self._scenes.values():
            counter.remove(item_id)

    def top(self, scene: str | None, k: int, now: float, exclude: Iterable[str] = (),
            fill_global: bool = True) -> tuple[list[str], NDArray[np.float32]]:
        """The ``k`` most popular items in ``scene`` at ``now``, most popular first.

        With ``fill_global``, a scene with fewer than ``k`` items is topped up from the
        global counter (with the global scores), so a cold start never comes back short.
        """
        skip = set(exclude)
        counter = self._global if scene is None or scene == GLOBAL else self._scenes.get(scene)
        ids: list[str] = []
        scores = np.zeros(0, dtype=np.float32)
        if counter is not None:
            ids, scores = counter.top(k, now, skip)
        if fill_global and len(ids) < k and counter is not self._global:
            more_ids, more = self._global.top(k - len(ids), now, skip | set(ids))
            ids, scores = ids + more_ids, np.concatenate([scores, more]).astype(np.float32)
        return ids, scores

    def top_many(self, scene: str | None, k: int, now: float,
                 excludes: Sequence[Collection[str]]) -> list[list[str]]:
        """The ids of :meth:`top` (``fill_global``) for each of ``excludes``, from one
        ranking of the scene and one of the global counter instead of one per request:
        the top ``k`` not excluded are the first ``k`` not excluded of a list ``k + |exclude|``
        long (the order, by count then id, is total).

        >>> t = Trending()
        >>> for item, n in (("a", 3), ("b", 2), ("c", 1)):
        ...     for _ in range(n):
        ...         t.record(item, "home", 1.0, 0.0)
        >>> t.top_many("home", 2, 0.0, [(), {"a"}])
        [['a', 'b'], ['b', 'c']]
        """
        if not excludes:
            return []
        width = k + max(len(e) for e in excludes)
        counter = self._global if scene is None or scene == GLOBAL else self._scenes.get(scene)
        ranked = counter.top(width, now)[0] if counter is not None else []
        fill: list[str] | None = None
        out: list[list[str]] = []
        for exclude in excludes:
            skip = set(exclude)
            ids = [i for i in ranked if i not in skip][:k]
            if len(ids) < k and counter is not self._global:
                if fill is None:  # the global ranking deep enough for any request's top-up
                    fill = self._global.top(width + k, now)[0]
                skip.update(ids)
                ids += [i for i in fill if i not in skip][:k - len(ids)]
            out.append(ids)
        return out

    def scores(self, item_ids: Sequence[str], scene: str | None, now: float) -> NDArray[np.float32]:
        """Popularity of ``item_ids`` in ``scene`` (global if ``None`` or unknown), shape ``(n,)``."""
        counter = self._scenes.get(scene, self._global) if scene is not None else self._global
        return counter.scores(item_ids, now).astype(np.float32)

    def to_bytes(self) -> bytes:
        """A JSON snapshot for a changelog or a restart (no pickle)."""
        return orjson.dumps({"v": 1, "global": self._global.to_dict(),
                             "scenes": {s: c.to_dict() for s, c in self._scenes.items()},
                             "scene_ts": self._scene_ts})

    @classmethod
    def from_bytes(cls, data: bytes, config: TrendingConfig = TrendingConfig()) -> Trending:
        snap = orjson.loads(data)
        trending = cls(config)
        trending._global = DecayedCounter.from_dict(snap["global"])
        trending._scenes = {s: DecayedCounter.from_dict(c) for s, c in snap["scenes"].items()}
        trending._scene_ts = {s: float(t) for s, t in snap["scene_ts"].items()}
        return trending
