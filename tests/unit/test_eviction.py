"""Eviction goes by processing time (when the worker last saw a user), never by the
wall clock against an event's own ``ts``: a backfill of old history must survive."""

from __future__ import annotations

import numpy as np

from engine.config import InterestConfig
from engine.events import Interaction
from engine.interests import (
    UserState,
    apply_interaction,
    deserialize_state,
    is_inactive,
    last_seen,
    seen_at,
    serialize_state,
)
from stream_apps.worker.agents.control import partition_of, sweep_partition

YEAR = 365 * 86400.0
NOW = 1_800_000_000.0


def _state(event_ts: float, seen: float | None) -> bytes:
    state = apply_interaction(UserState.new(2), Interaction("click", "u", ts=event_ts, item_id="a"),
                              np.array([1, 0], np.float32), None, InterestConfig())
    return serialize_state(seen_at(state, seen) if seen is not None else state)


def test_last_seen_survives_serialisation_and_never_moves_back() -> None:
    raw = _state(NOW - YEAR, NOW)
    assert last_seen(raw) == NOW
    state = deserialize_state(raw)
    assert state.last_seen == NOW and state.last_ts == NOW - YEAR
    assert seen_at(state, NOW - 10).last_seen == NOW
    assert not is_inactive(state, NOW + 100, ttl_s=3600)
    assert is_inactive(state, NOW + 7200, ttl_s=3600)


def test_a_state_from_before_last_seen_falls_back_to_its_event_time() -> None:
    raw = _state(NOW - 100, None)
    assert last_seen(raw) == NOW - 100


def test_sweep_keeps_backfilled_users_and_evicts_unseen_ones() -> None:
    partitions = 4
    users = [f"u{n}" for n in range(40)]
    mine = [u for u in users if partition_of(u.encode(), partitions) == 1]
    assert len(mine) >= 4
    table: dict[str, bytes | None] = {}
    backfilled, stale = mine[: len(mine) // 2], mine[len(mine) // 2:]
    for user in backfilled:  # events from a year ago, applied a minute ago
        table[user] = _state(NOW - YEAR, NOW - 60)
    for user in stale:  # recent-looking events, but not seen for two hours
        table[user] = _state(NOW - 7200, NOW - 7200)
    other = next(u for u in users if partition_of(u.encode(), partitions) != 1)
    table[other] = _state(NOW - 7200, NOW - 7200)
    evicted = sweep_partition(table, 1, partitions, NOW, ttl_s=3600)
    assert sorted(evicted) == sorted(stale)
    assert set(table) == set(backfilled) | {other}  # another partition's user is not ours to evict
