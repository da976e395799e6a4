"""Fatigue counts in the user state (issue 12): how often each item was shown to a user
lately, kept in the user-state table instead of in the worker's memory.

Impressions are events keyed by ``user_id`` like clicks, so the user's state is on the
partition being processed: the counts are co-partitioned, written to the changelog,
recovered after a restart and moved with the user on a rebalance. A redelivered
impression (same ``event_id``) is counted once (:func:`engine.interests.record_shown`).
"""

from __future__ import annotations

import time
from typing import Any, Mapping

from engine.events import Impression
from engine.interests import (
    UserState,
    deserialize_state,
    record_shown,
    seen_at,
    serialize_state,
    shown_at,
)
from stream_apps.worker.context import WorkerContext


def record_impression(ctx: WorkerContext, user_state: Any, impression: Impression) -> bool:
    """Count ``impression``'s items in its user's state; returns whether the state changed
    (``False`` for a redelivered impression, or before any catalogue is loaded)."""
    raw = user_state.get(impression.user_id)
    state = deserialize_state(raw) if raw else None
    if state is None:
        if ctx.catalog is None:
            return False
        state = UserState.new(ctx.catalog.index.dim)  # shown before any action: still counts
    config = ctx.settings.feedback_config()
    new_state = record_shown(state, impression.item_ids, impression.ts, impression.event_id,
                             config.shown_half_life_s, config.max_items_per_user,
                             ctx.settings.interest_config())
    if new_state is state:
        return False
    user_state[impression.user_id] = serialize_state(seen_at(new_state, time.time()))
    return True


def shown_counts(ctx: WorkerContext, state: UserState | None, now: float) -> Mapping[str, float]:
    """The user's fatigue counts decayed to ``now`` (``{}`` without a state)."""
    if state is None:
        return {}
    return shown_at(state, now, ctx.settings.feedback_config().shown_half_life_s)
