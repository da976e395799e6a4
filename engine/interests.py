"""A user's rolling interests: decayed sums of item and query embeddings.

Each vector is ``sum_i w_i * x_i * 2 ** (-(T - t_i) / half_life)`` where ``T`` is the
newest event time seen. Decay is applied lazily from timestamps, and an event older
than ``T`` is decayed on the way in, so the state after a set of events does not
depend on the order they arrived in: replaying history gives the state living it gave.
Redelivered events (same ``event_id``) are recognised and ignored.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

import numpy as np
import orjson

from engine.config import InterestConfig
from engine.errors import InvalidEvent
from engine.events import Interaction
from engine.types import Vector


@dataclass(frozen=True)
class DecayedVector:
    """A decayed sum, valid as of ``ts`` (its newest contribution)."""

    vector: Vector
    ts: float

    def at(self, now: float, half_life: float) -> Vector:
        """The sum decayed to ``now`` (no growth if ``now`` is earlier than ``ts``)."""
        factor = 0.5 ** (max(now - self.ts, 0.0) / half_life)
        out: Vector = (self.vector * np.float32(factor)).astype(np.float32)
        return out

    def add(self, x: Vector, weight: float, ts: float, half_life: float) -> DecayedVector:
        if ts >= self.ts:
            base = self.at(ts, half_life)
            return DecayedVector((base + np.float32(weight) * x).astype(np.float32), ts)
        late = weight * 0.5 ** ((self.ts - ts) / half_life)
        return DecayedVector((self.vector + np.float32(late) * x).astype(np.float32), self.ts)


def _empty(dim: int) -> DecayedVector:
    return DecayedVector(np.zeros(dim, dtype=np.float32), 0.0)


def event_fingerprint(event_id: str) -> int:
    """A 64-bit hash of an event id: 8 bytes of state per remembered event."""
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "little")


@dataclass(frozen=True)
class UserState:
    """Everything streamrec keeps about one user (a few KB when serialised)."""

    long: DecayedVector
    short: DecayedVector
    scenes: Mapping[str, DecayedVector] = field(default_factory=dict)
    recent_items: tuple[str, ...] = ()  # newest last
    purchased: tuple[str, ...] = ()  # newest last
    last_query: str | None = None
    last_query_ts: float = 0.0
    last_ts: float = 0.0
    events: int = 0
    seen_events: tuple[int, ...] = ()  # fingerprints of recent event ids, newest last
    # Processing time (the worker's clock) of the newest event applied: eviction goes by
    # this, so a backfill of year-old events is not evicted at the next sweep.
    last_seen: float = 0.0
    # Fatigue: how often each item was shown to the user lately, decayed counts as of
    # ``shown_ts`` (in the state, so it is co-partitioned and survives restarts).
    shown: Mapping[str, float] = field(default_factory=dict)
    shown_ts: float = 0.0

    @classmethod
    def new(cls, dim: int) -> UserState:
        return cls(long=_empty(dim), short=_empty(dim))

    @property
    def dim(self) -> int:
        return int(self.long.vector.shape[0])

    def has_seen(self, event_id: str | None) -> bool:
        return event_id is not None and event_fingerprint(event_id) in self.seen_events


def seen_at(state: UserState, now: float) -> UserState:
    """``state`` stamped as seen by the worker at processing time ``now`` (never moves back)."""
    return replace(state, last_seen=max(state.last_seen, now))


def record_shown(state: UserState, item_ids: Sequence[str], ts: float, event_id: str | None,
                 half_life_s: float, max_items: int, config: InterestConfig) -> UserState:
    """``state`` after an impression of ``item_ids`` at event time ``ts``: each shown item's
    fatigue count grows by one. A late impression is decayed on the way in; counts under
    0.05 are dropped and the ``max_items`` largest kept. A redelivered impression (same
    ``event_id``) returns ``state`` itself.

    >>> s = record_shown(UserState.new(2), ["a", "b"], 0.0, "i1", 100.0, 64, InterestConfig())
    >>> s = record_shown(s, ["a"], 100.0, "i2", 100.0, 64, InterestConfig())
    >>> {k: round(v, 2) for k, v in shown_at(s, 100.0, 100.0).items()}
    {'a': 1.5, 'b': 0.5}
    """
    if state.has_seen(event_id):
        return state
    ref = state.shown_ts
    counts = dict(state.shown)
    if ts > ref:
        factor = 0.5 ** ((ts - ref) / half_life_s)
        counts = {i: c * factor for i, c in counts.items()}
        ref = ts
    late = 0.5 ** ((ref - ts) / half_life_s)
    for item_id in item_ids:
        counts[item_id] = counts.get(item_id, 0.0) + late
    counts = {i: c for i, c in counts.items() if c > 0.05}
    if len(counts) > max_items:
        counts = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:max_items])
    seen = state.seen_events
    if event_id is not None and config.dedup_window:
        seen = (seen + (event_fingerprint(event_id),))[-config.dedup_window:]
    return replace(state, shown=counts, shown_ts=ref, seen_events=seen)


def shown_at(state: UserState, now: float, half_life_s: float) -> dict[str, float]:
    """The user's fatigue counts decayed to ``now`` (item -> times shown lately)."""
    factor = 0.5 ** (max(now - state.shown_ts, 0.0) / half_life_s)
    return {i: c * factor for i, c in state.shown.items()}


def is_inactive(state: UserState, now: float, ttl_s: float) -> bool:
    """True when the worker has not seen the user for more than ``ttl_s`` seconds of
    processing time (``now`` is the worker's clock, not an event time). A state never
    stamped (written before ``last_seen`` existed) falls back to its newest event time.

    >>> is_inactive(UserState.new(2), now=100.0, ttl_s=50.0)
    True
    >>> is_inactive(replace(UserState.new(2), last_ts=0.0, last_seen=90.0), now=100.0, ttl_s=50.0)
    False
    """
    return now - (state.last_seen or state.last_ts) > ttl_s


def _append_bounded(items: tuple[str, ...], item: str, limit: int) -> tuple[str, ...]:
    kept = tuple(i for i in items if i != item) + (item,)
    return kept[-limit:] if limit else ()


def apply_interaction(
    state: UserState,
    event: Interaction,
    item_vector: Vector | None,
    query_vector: Vector | None,
    config: InterestConfig,
) -> UserState:
    """Return the state after ``event``; the input state is not changed.

    ``item_vector`` is the embedding of ``event.item_id`` (``None`` if the item is not
    in the index: the event still counts for history, but moves no vector).
    ``query_vector`` is the embedding of a search query. A redelivered event returns
    ``state`` itself.
    """
    if state.has_seen(event.event_id):
        return state
    for name, vec in (("item_vector", item_vector), ("query_vector", query_vector)):
        if vec is not None and (vec.shape != (state.dim,) or not np.all(np.isfinite(vec))):
            raise InvalidEvent(f"{name} must be finite with shape ({state.dim},), got {vec.shape}")
    weight = config.weight_of(event.kind)
    if event.kind == "purchase":
        weight *= min(event.quantity, 5) ** 0.5  # more units, more interest, with diminishing returns
    long, short, scenes = state.long, state.short, dict(state.scenes)
    signal = item_vector if item_vector is not None else query_vector
    if signal is not None:
        long = long.add(signal, weight, event.ts, config.long_half_life_s)
        short = short.add(signal, weight, event.ts, config.short_half_life_s)
        if event.scene is not None and config.max_scenes:
            scene = scenes.get(event.scene, _empty(state.dim))
            scenes[event.scene] = scene.add(signal, weight, event.ts, config.scene_half_life_s)
            if len(scenes) > config.max_scenes:
                # The stalest scene goes, even the event's own: a late event for an old
                # scene must not evict a scene the user is in now.
                stale = min(scenes, key=lambda s: scenes[s].ts)
                del scenes[stale]
    last_query, last_query_ts = state.last_query, state.last_query_ts
    if event.kind == "search" and query_vector is not None:
        # Intent: a query pulls the session vector toward what the user asked for.
        short = short.add(query_vector, config.search_intent_weight, event.ts, config.short_half_life_s)
        if event.ts >= state.last_query_ts:
            last_query, last_query_ts = event.query, event.ts
    recent, purchased = state.recent_items, state.purchased
    if event.item_id is not None:
        recent = _append_bounded(recent, event.item_id, config.recent_items)
        if event.kind == "purchase":
            purchased = _append_bounded(purchased, event.item_id, config.max_purchased)
    seen = state.seen_events
    if event.event_id is not None and config.dedup_window:
        seen = (seen + (event_fingerprint(event.event_id),))[-config.dedup_window:]
    return replace(
        state, long=long, short=short, scenes=scenes, recent_items=recent, purchased=purchased,
        last_query=last_query, last_query_ts=last_query_ts, last_ts=max(state.last_ts, event.ts),
        events=state.events + 1, seen_events=seen,
    )


def _unit(vector: Vector) -> tuple[Vector, float]:
    norm = float(np.linalg.norm(vector))
    if norm < 1e-9:
        # No signal: zero, never a tiny un-normalised vector posing as a direction.
        return np.zeros_like(vector), 0.0
    return (vector / norm).astype(np.float32), norm


@dataclass(frozen=True)
class InterestView:
    """The user's vectors as of ``now``, unit-norm, with their strength in [0, 1)."""

    blended: Vector  # what retrieval queries with; zero when the user has no signal
    long: Vector
    short: Vector
    scene: Vector | None
    short_strength: float
    scene_strength: float


def interest_at(state: UserState, now: float, scene: str | None, config: InterestConfig) -> InterestView:
    """Blend long-term, short-term and scene interests into one query vector.

    A component's weight is its blend setting times ``tanh`` of its decayed mass, so a
    stale session or an unseen scene fades out instead of switching off abruptly.

    >>> cfg = InterestConfig()
    >>> s = UserState.new(2)
    >>> e = Interaction("click", "u", ts=0.0, item_id="a")
    >>> s = apply_interaction(s, e, np.array([1, 0], np.float32), None, cfg)
    >>> interest_at(s, 0.0, None, cfg).blended.round(3).tolist()
    [1.0, 0.0]
    """
    long_unit, long_mass = _unit(state.long.at(now, config.long_half_life_s))
    short_unit, short_mass = _unit(state.short.at(now, config.short_half_life_s))
    scene_unit: Vector | None = None
    scene_mass = 0.0
    if scene is not None and scene in state.scenes:
        scene_unit, scene_mass = _unit(state.scenes[scene].at(now, config.scene_half_life_s))
    short_strength = float(np.tanh(short_mass))
    scene_strength = float(np.tanh(scene_mass))
    blended = config.long_blend * float(np.tanh(long_mass)) * long_unit
    blended = blended + config.short_blend * short_strength * short_unit
    if scene_unit is not None:
        blended = blended + config.scene_blend * scene_strength * scene_unit
    blended_unit, _ = _unit(blended.astype(np.float32))
    return InterestView(blended_unit, long_unit, short_unit, scene_unit, short_strength, scene_strength)


# --- compact serialisation: a JSON header plus raw float16 vectors -----------------

_HEADER = struct.Struct("<I")


def _pack_vector(dv: DecayedVector) -> tuple[bytes, list[float]]:
    """float16 of the direction plus a float32 norm: float16's relative precision holds
    at any magnitude, and its range is not a limit on the (unbounded) decayed sum."""
    unit, norm = _unit(dv.vector)
    return unit.astype(np.float16).tobytes(), [norm, dv.ts]


def serialize_state(state: UserState) -> bytes:
    """Bytes for a table or changelog (no pickle): about 3.5 KB for 384-d vectors."""
    blobs: list[bytes] = []
    meta: list[list[float]] = []
    for dv in (state.long, state.short, *state.scenes.values()):
        blob, m = _pack_vector(dv)
        blobs.append(blob)
        meta.append(m)
    header = orjson.dumps({
        "v": 1, "dim": state.dim, "vec": meta, "scenes": list(state.scenes),
        "recent": state.recent_items, "bought": state.purchased, "q": state.last_query,
        "qts": state.last_query_ts, "ts": state.last_ts, "n": state.events, "seen": state.last_seen,
        "shown": list(state.shown.items()), "sts": state.shown_ts,
    })
    seen = np.asarray(state.seen_events, dtype=np.uint64).tobytes()
    return _HEADER.pack(len(header)) + header + _HEADER.pack(len(seen)) + seen + b"".join(blobs)


def last_event_ts(data: bytes) -> float:
    """The newest event time of a serialised state, reading only its small header."""
    (hlen,) = _HEADER.unpack_from(data, 0)
    return float(orjson.loads(data[4:4 + hlen])["ts"])


def last_seen(data: bytes) -> float:
    """When the worker last saw the user (processing time) in a serialised state, from its
    header only; the newest event time for a state written before that was recorded."""
    (hlen,) = _HEADER.unpack_from(data, 0)
    header = orjson.loads(data[4:4 + hlen])
    return float(header.get("seen") or header["ts"])


def deserialize_state(data: bytes) -> UserState:
    """Inverse of :func:`serialize_state` (vectors come back float32, within float16 precision)."""
    (hlen,) = _HEADER.unpack_from(data, 0)
    header = orjson.loads(data[4:4 + hlen])
    pos = 4 + hlen
    (slen,) = _HEADER.unpack_from(data, pos)
    pos += 4
    seen = tuple(int(x) for x in np.frombuffer(data[pos:pos + slen], dtype=np.uint64))
    pos += slen
    dim = int(header["dim"])
    vectors: list[DecayedVector] = []
    for norm, ts in header["vec"]:
        unit = np.frombuffer(data[pos:pos + 2 * dim], dtype=np.float16).astype(np.float32)
        pos += 2 * dim
        vectors.append(DecayedVector((unit * np.float32(norm)).astype(np.float32), float(ts)))
    return UserState(
        long=vectors[0], short=vectors[1], scenes=dict(zip(header["scenes"], vectors[2:])),
        recent_items=tuple(header["recent"]), purchased=tuple(header["bought"]),
        last_query=header["q"], last_query_ts=float(header["qts"]), last_ts=float(header["ts"]),
        events=int(header["n"]), seen_events=seen, last_seen=float(header.get("seen", 0.0)),
        shown={str(i): float(c) for i, c in header.get("shown") or ()},
        shown_ts=float(header.get("sts", 0.0)),
    )
