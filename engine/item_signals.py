"""Item-level collaborative signals shared by every worker: increments, rows, replicas.

With N workers each one sees the events of its own users only. Instead of learning
co-visitation and trending from that 1/N, every worker splits what an interaction
teaches into per-item *row increments* (:func:`increments`), the owner of each item's
partition aggregates them into an :class:`ItemRow` (:func:`apply_increments`, exactly
once per source event thanks to ``seen``), and every worker keeps a copy of all rows
(:class:`SignalsReplica`) that it reads back into its :class:`engine.recommend.Collaborative`.

The increments of one interaction are exactly what :meth:`Covisitation.update` and
:meth:`Trending.record` would add: the item ``b`` gets ``{a_d: w * decay ** d}`` and mass
``w`` and trending ``w`` (scene and global); each previous item ``a_d`` gets ``{b: w * decay ** d}``.

A row holds its values decayed to ``t`` (the newest increment's event time): an increment
at an earlier time is decayed on the way in, so a row does not depend on the order in
which increments arrive (up to rounding). Bounded: at most ``max_neighbours``
neighbours (the weakest evicted in bulk, like :class:`DecayedCounter`) and one trending
count per scene, at most ``max_scenes`` scenes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.config import InterestConfig
from engine.covisit import CovisitConfig, previous_items
from engine.errors import InvalidEvent
from engine.events import Interaction
from engine.interests import UserState
from engine.recommend import Collaborative
from engine.trending import GLOBAL, TrendingConfig

__all__ = ["ItemRow", "RowIncrement", "SignalsReplica", "SourcedIncrement", "apply_increments",
           "increment_from_dict", "increment_to_dict", "increments_message", "parse_increments_message",
           "event_increments", "increments", "murmur2", "partition_for", "row_from_dict", "row_to_dict"]

ROW_VERSION = 1


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash (the Java client's default partitioner), as a signed int32.

    >>> murmur2(b"21")
    -973932308
    """
    length = len(data)
    seed, m, r = 0x9747B28C, 0x5BD1E995, 24
    h = (seed ^ length) & 0xFFFFFFFF
    n4 = length // 4
    for i in range(n4):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    extra = length & 3
    if extra >= 3:
        h ^= data[n4 * 4 + 2] << 16
    if extra >= 2:
        h ^= data[n4 * 4 + 1] << 8
    if extra >= 1:
        h ^= data[n4 * 4]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(item_id: str, partitions: int) -> int:
    """The partition of ``item_id``'s row among ``partitions``: Kafka's default
    partitioner for the UTF-8 key, so a keyed send lands there too.

    >>> [partition_for(i, 4) for i in ("a", "b", "sku-9")]
    [0, 0, 1]
    """
    if partitions < 1:
        raise InvalidEvent(f"partitions must be >= 1, got {partitions!r}")
    return (murmur2(item_id.encode()) & 0x7FFFFFFF) % partitions


@dataclass(frozen=True)
class RowIncrement:
    """What one interaction adds to one item's row (weights at the event's time)."""

    neighbours: Mapping[str, float] = field(default_factory=dict)
    mass: float = 0.0
    trending: Mapping[str, float] = field(default_factory=dict)  # scene -> weight, GLOBAL too


def increments(recent_items: Sequence[str], item_id: str, weight: float, scene: str | None,
               config: CovisitConfig) -> dict[str, RowIncrement]:
    """Split one interaction into per-row increments, keyed by row item: the same update
    as :meth:`engine.covisit.Covisitation.update` plus :meth:`engine.trending.Trending.record`.

    ``recent_items`` are the user's items before this one, newest last.

    >>> incs = increments(["tent", "stove"], "mat", 1.0, "home", CovisitConfig(position_decay=0.5))
    >>> dict(incs["mat"].neighbours), incs["mat"].trending, dict(incs["tent"].neighbours)
    ({'stove': 1.0, 'tent': 0.5}, {'*': 1.0, 'home': 1.0}, {'mat': 0.5})
    """
    if not (math.isfinite(weight) and weight >= 0):
        raise InvalidEvent(f"weight must be finite and >= 0, got {weight!r}")
    previous = previous_items(recent_items, item_id, config.window)
    own: dict[str, float] = {}
    out: dict[str, RowIncrement] = {}
    for distance, prev in enumerate(previous):
        w = weight * config.position_decay ** distance
        own[prev] = w
        out[prev] = RowIncrement({item_id: w}, 0.0, {})
    trending = {GLOBAL: weight}
    if scene is not None and scene != GLOBAL:
        trending[scene] = weight
    out[item_id] = RowIncrement(own, weight, trending)
    return out


def event_increments(state: UserState | None, event: Interaction, interest_config: InterestConfig,
                     config: CovisitConfig) -> dict[str, RowIncrement]:
    """The row increments of one interaction (``{}`` for one without an item or already in
    ``state``, the user's state before it): :func:`engine.recommend.learn_collaborative`'s rule."""
    if event.item_id is None or (state is not None and state.has_seen(event.event_id)):
        return {}
    recent = state.recent_items if state is not None else ()
    return increments(recent, event.item_id, interest_config.weight_of(event.kind), event.scene, config)


@dataclass(frozen=True)
class SourcedIncrement:
    """A row increment with where it came from: the source event's ``topic[partition]``
    and ``offset`` (exactly-once), and its time ``ts``."""

    source: str
    offset: int
    ts: float
    increment: RowIncrement


@dataclass(frozen=True)
class ItemRow:
    """One item's aggregated signals, decayed to time ``t`` (``None``: empty).

    ``seen`` maps each source ``topic[partition]`` to the newest offset applied: a
    replayed increment (offset not newer) is skipped, so nothing is counted twice.
    """

    t: float | None = None
    mass: float = 0.0
    neighbours: Mapping[str, float] = field(default_factory=dict)
    trending: Mapping[str, float] = field(default_factory=dict)
    seen: Mapping[str, int] = field(default_factory=dict)


def _decay(values: Mapping[str, float], factor: float) -> dict[str, float]:
    return {k: v * factor for k, v in values.items()}


def _bound(values: dict[str, float], capacity: int, evict_fraction: float,
           keep: str | None = None) -> dict[str, float]:
    """Evict the weakest down to ``capacity - int(capacity * evict_fraction)`` once past
    ``capacity``, ties to the key inserted first (as :class:`DecayedCounter`)."""
    extra = 1 if keep is not None and keep in values else 0
    if len(values) - extra <= capacity:
        return values
    keys = [k for k in values if k != keep]
    weights = np.fromiter((values[k] for k in keys), dtype=np.float64, count=len(keys))
    target = capacity - int(capacity * evict_fraction)
    drop = {keys[i] for i in np.argsort(weights, kind="stable")[:len(keys) - target].tolist()}
    return {k: v for k, v in values.items() if k not in drop}


def apply_increments(row: ItemRow, updates: Sequence[SourcedIncrement], covisit: CovisitConfig,
                     trending: TrendingConfig) -> tuple[ItemRow, int]:
    """``row`` with ``updates`` applied in order, and how many were applied: an update
    whose offset is not newer than ``row.seen`` for its source is skipped.

    >>> inc = RowIncrement({"b": 1.0}, 1.0, {"*": 1.0})
    >>> row, n = apply_increments(ItemRow(), [SourcedIncrement("ev[0]", 5, 0.0, inc)] * 2,
    ...                           CovisitConfig(), TrendingConfig())
    >>> n, dict(row.neighbours), row.mass, dict(row.seen)
    (1, {'b': 1.0}, 1.0, {'ev[0]': 5})
    """
    t, mass = row.t, row.mass
    neighbours, counts, seen = dict(row.neighbours), dict(row.trending), dict(row.seen)
    applied = 0
    for update in updates:
        if update.offset <= seen.get(update.source, -1):
            continue
        if not math.isfinite(update.ts):
            raise InvalidEvent(f"increment ts must be finite, got {update.ts!r}")
        inc = update.increment
        if t is None:
            t = update.ts
        if update.ts > t:  # move the row forward: everything decays to the new time
            cv = 0.5 ** ((update.ts - t) / covisit.half_life_s)
            tr = 0.5 ** ((update.ts - t) / trending.half_life_s)
            neighbours, mass, counts = _decay(neighbours, cv), mass * cv, _decay(counts, tr)
            t = update.ts
        cv = 0.5 ** ((t - update.ts) / covisit.half_life_s)  # 1.0 unless the update is late
        tr = 0.5 ** ((t - update.ts) / trending.half_life_s)
        mass += inc.mass * cv
        for key, w in inc.neighbours.items():
            neighbours[key] = neighbours.get(key, 0.0) + w * cv
        for scene, w in inc.trending.items():
            counts[scene] = counts.get(scene, 0.0) + w * tr
        neighbours = _bound(neighbours, covisit.max_neighbours, covisit.evict_fraction)
        counts = _bound(counts, trending.max_scenes, 0.0, keep=GLOBAL)
        seen[update.source] = update.offset
        applied += 1
    if not applied:
        return row, 0
    return ItemRow(t, mass, neighbours, counts, seen), applied


def row_to_dict(row: ItemRow) -> dict[str, Any]:
    """The row as JSON-able values (the table's value, written with orjson)."""
    return {"v": ROW_VERSION, "t": row.t, "m": row.mass, "n": dict(row.neighbours),
            "tr": dict(row.trending), "seen": dict(row.seen)}


def _float_map(value: Any, name: str) -> dict[str, float]:
    if not isinstance(value, dict):
        raise InvalidEvent(f"{name} must be an object, got {type(value).__name__}")
    out = {}
    for k, v in value.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
            raise InvalidEvent(f"{name}[{k!r}] must be a finite number >= 0, got {v!r}")
        out[str(k)] = float(v)
    return out


def row_from_dict(data: Any) -> ItemRow:
    """Inverse of :func:`row_to_dict`; raises :class:`InvalidEvent` on anything else."""
    if not isinstance(data, dict) or data.get("v") != ROW_VERSION:
        raise InvalidEvent(f"not an item-signals row of version {ROW_VERSION}: {str(data)[:80]}")
    t = data.get("t")
    if t is not None and not (isinstance(t, (int, float)) and math.isfinite(t)):
        raise InvalidEvent(f"row t must be a finite number or null, got {t!r}")
    mass = data.get("m", 0.0)
    if not isinstance(mass, (int, float)) or not math.isfinite(mass) or mass < 0:
        raise InvalidEvent(f"row mass must be a finite number >= 0, got {mass!r}")
    seen = data.get("seen", {})
    if not isinstance(seen, dict) or not all(isinstance(o, int) for o in seen.values()):
        raise InvalidEvent(f"row seen must map sources to offsets, got {str(seen)[:80]}")
    return ItemRow(None if t is None else float(t), float(mass), _float_map(data.get("n", {}), "n"),
                   _float_map(data.get("tr", {}), "tr"), dict(seen))


def increment_from_dict(data: Any) -> RowIncrement:
    """A row increment from its wire form ``{"n": {...}, "m": w, "tr": {...}}``."""
    if not isinstance(data, dict):
        raise InvalidEvent(f"an increment must be an object, got {type(data).__name__}")
    mass = data.get("m", 0.0)
    if not isinstance(mass, (int, float)) or not math.isfinite(mass) or mass < 0:
        raise InvalidEvent(f"increment mass must be a finite number >= 0, got {mass!r}")
    return RowIncrement(_float_map(data.get("n", {}), "n"), float(mass), _float_map(data.get("tr", {}), "tr"))


def increment_to_dict(inc: RowIncrement) -> dict[str, Any]:
    return {"n": dict(inc.neighbours), "m": inc.mass, "tr": dict(inc.trending)}


class SignalsReplica:
    """A worker's copy of the shared rows inside its :class:`Collaborative`, plus its own
    increments that the shared rows do not include yet.

    The worker applies its own increments at once (:meth:`apply_local`), so its next
    recommendation sees them as before; when a shared row arrives (:meth:`apply_row`) it
    replaces the local one, and the local increments it does not cover yet (by ``seen``)
    are added on top again. At most ``max_pending`` increments wait (the oldest row's are
    dropped first: its shared copy is then only late, never wrong).

    Not thread-safe; the worker calls it from its event-loop thread.
    """

    def __init__(self, collaborative: Collaborative, max_pending: int = 100_000) -> None:
        self.collaborative = collaborative
        self.max_pending = max_pending
        self._pending: dict[str, list[SourcedIncrement]] = {}
        self._n_pending = 0
        self.rows_applied = 0
        # The newest shared row's ``seen`` per item: an event replayed after a restart
        # whose increments that row already counts must not be added on top of it (the
        # aggregator skips the resent increments, so no newer row would ever replace it).
        self._row_seen: dict[str, Mapping[str, int]] = {}

    @property
    def pending(self) -> int:
        """Own increments not yet in a shared row."""
        return self._n_pending

    def _add(self, item_id: str, update: SourcedIncrement) -> None:
        collab, inc = self.collaborative, update.increment
        if collab.covisit is not None:
            collab.covisit.add_row(item_id, inc.neighbours, inc.mass, update.ts)
        if collab.trending is not None and inc.trending:
            collab.trending.add_counts(item_id, inc.trending, update.ts)

    def apply_local(self, rows: Mapping[str, RowIncrement], source: str, offset: int, ts: float) -> None:
        """Apply this worker's own increments of one event (source ``topic[partition]``
        at ``offset``, event time ``ts``) now, and remember them until confirmed."""
        for item_id, inc in rows.items():
            if offset <= self._row_seen.get(item_id, {}).get(source, -1):
                continue  # already in the shared row: a replay of a counted event
            update = SourcedIncrement(source, offset, ts, inc)
            self._add(item_id, update)
            self._pending.setdefault(item_id, []).append(update)
            self._n_pending += 1
        while self._n_pending > self.max_pending and self._pending:
            oldest = next(iter(self._pending))
            self._n_pending -= len(self._pending.pop(oldest))

    def apply_row(self, item_id: str, row: ItemRow) -> None:
        """Replace ``item_id``'s signals by the shared ``row``, keeping own increments it
        does not include yet."""
        waiting = self._pending.pop(item_id, [])
        self._n_pending -= len(waiting)
        still = [u for u in waiting if u.offset > row.seen.get(u.source, -1)]
        self._row_seen[item_id] = row.seen
        collab = self.collaborative
        if row.t is not None:
            if collab.covisit is not None:
                collab.covisit.set_row(item_id, row.neighbours, row.mass, row.t)
            if collab.trending is not None and row.trending:
                collab.trending.set_counts(item_id, row.trending, row.t)
        for update in still:
            self._add(item_id, update)
        if still:
            self._pending[item_id] = still
            self._n_pending += len(still)
        self.rows_applied += 1


def increments_message(events: Sequence[tuple[str, int, str | None, float, Mapping[str, RowIncrement]]],
                       ) -> dict[str, Any]:
    """The wire form (a JSON-able dict) of the row increments of some events, each
    ``(source "topic[partition]", offset, event_id, ts, {row item: increment})``."""
    return {"v": ROW_VERSION, "events": [
        {"source": source, "offset": offset, "event_id": event_id, "ts": ts,
         "rows": {item: increment_to_dict(inc) for item, inc in rows.items()}}
        for source, offset, event_id, ts, rows in events]}


def parse_increments_message(data: Any) -> dict[str, list[SourcedIncrement]]:
    """Row item -> its increments in message order, from :func:`increments_message`'s
    form; raises :class:`InvalidEvent` naming what is wrong."""
    if not isinstance(data, dict) or data.get("v") != ROW_VERSION or not isinstance(data.get("events"), list):
        raise InvalidEvent(f"not an item-signal increments message of version {ROW_VERSION}: {str(data)[:80]}")
    out: dict[str, list[SourcedIncrement]] = {}
    for event in data["events"]:
        if not isinstance(event, dict):
            raise InvalidEvent(f"an increments event must be an object, got {str(event)[:80]}")
        source, offset, ts, rows = event.get("source"), event.get("offset"), event.get("ts"), event.get("rows")
        if not isinstance(source, str) or not source:
            raise InvalidEvent(f"increments source must be a 'topic[partition]' string, got {source!r}")
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise InvalidEvent(f"increments offset must be an integer >= 0, got {offset!r}")
        if not isinstance(ts, (int, float)) or isinstance(ts, bool) or not math.isfinite(ts):
            raise InvalidEvent(f"increments ts must be a finite number, got {ts!r}")
        if not isinstance(rows, dict):
            raise InvalidEvent(f"increments rows must be an object, got {str(rows)[:80]}")
        for item, inc in rows.items():
            out.setdefault(str(item), []).append(SourcedIncrement(source, offset, float(ts),
                                                                  increment_from_dict(inc)))
    return out
