"""Fatigue counts in the user state (issue 12): how often each item was shown to a user
lately, kept in the user-state table instead of in the worker's memory.

Impressions are events keyed by ``user_id`` like clicks, so the user's state is on the
partition being processed: the counts are co-partitioned, written to the changelog,
recovered after a restart and moved with the user on a rebalance. The interactions
agent counts an impression through :func:`engine.step.handle_event` (a redelivered one,
same ``event_id``, once: :func:`engine.interests.record_shown`); serving reads them here.
"""

from __future__ import annotations

from typing import Mapping

from engine.interests import UserState, shown_at
from stream_apps.worker.context import WorkerContext


def shown_counts(ctx: WorkerContext, state: UserState | None, now: float) -> Mapping[str, float]:
    """The user's fatigue counts decayed to ``now`` (``{}`` without a state)."""
    if state is None:
        return {}
    return shown_at(state, now, ctx.settings.feedback_config().shown_half_life_s)
