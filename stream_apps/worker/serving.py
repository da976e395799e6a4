"""Pages of recommendations, the same for the stream and for HTTP: rank with the model in
service (or the control group's default), remember each page's feature rows for the
feedback join, and shape the contract's ``recommendations`` messages.

:func:`serve_pages` ranks many users at once (:func:`engine.batch.recommend_batch`) in
the worker's ranking thread (:meth:`WorkerContext.rank`): what needs the loop's state
(fatigue counts, query vectors, the scorer) is read before, the feedback join and the
metrics are written after, on the loop.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from engine.batch import PageRequest
from engine.interests import UserState
from engine.reasons import localize_reason
from engine.recommend import Recommended
from stream_apps.worker.context import WorkerContext
from stream_apps.worker.fatigue import shown_counts
from stream_apps.worker.learning import remember_candidates


@dataclass(frozen=True)
class PageAsk:
    """One page to serve: ``state`` ``None`` is a user we know nothing about, who gets
    the cold-start answer (what is trending in the scene)."""

    user_id: str
    state: UserState | None
    scene: str | None
    trigger: dict[str, Any] | None = None


async def serve_pages(ctx: WorkerContext, asks: list[PageAsk], k: int | None = None) -> list[dict[str, Any]]:
    """A ``recommendations`` message for each ask, in order (``items`` empty without a catalogue)."""
    now = time.time()
    scorers = [ctx.scorer_for(a.user_id) for a in asks]
    pages: list[list[Recommended]] = [[] for _ in asks]
    if ctx.catalogue.catalog is not None and len(ctx.catalogue.catalog):
        dim = ctx.catalogue.catalog.index.dim
        requests = []
        for ask, scorer in zip(asks, scorers):
            shown = shown_counts(ctx, ask.state, now)  # fatigue lives in the user state
            state = ask.state or UserState.new(dim)
            query_vector = await ctx.encode_query(state.last_query) if state.last_query else None
            requests.append(PageRequest(state, ask.scene, query_vector, shown, scorer,
                                        had=ctx.learning.refits.had(ask.user_id)))
        ranked = await ctx.rank(requests, now, k)
        for ask, scorer, page in zip(asks, scorers, ranked):
            remember_candidates(ctx, ask.user_id, page, scorer.version)  # for its next-event label
        pages = [p.items for p in ranked]
        if ctx.settings.reason_language != "en":
            language = ctx.settings.reason_language
            pages = [[replace(r, reason=localize_reason(r.reason, language)) for r in items] for items in pages]
    messages = []
    for ask, scorer, items in zip(asks, scorers, pages):
        message = recommendation_message(ask.user_id, now, ask.scene, items, ask.trigger, scorer.version)
        ranked_items = [r for r in items if r.features is not None]
        if ranked_items:  # cold-start pages were not ranked by the model: nothing for it to learn
            ctx.learning.feedback.served(message["rec_id"], ask.user_id, [r.item_id for r in ranked_items],
                                np.stack([r.features for r in ranked_items if r.features is not None]),
                                scorer.version, now)
        if items:
            ctx.metrics.record_recommendation(message["rec_id"], ask.scene, [r.item_id for r in items],
                                              scorer.version)
        messages.append(message)
    return messages


async def serve_page(ctx: WorkerContext, user_id: str, state: UserState | None, scene: str | None,
                     k: int | None = None, trigger: dict[str, Any] | None = None) -> dict[str, Any]:
    """:func:`serve_pages` for one user (the HTTP view)."""
    return (await serve_pages(ctx, [PageAsk(user_id, state, scene, trigger)], k))[0]


def recommendation_message(user_id: str, now: float, scene: str | None, items: list[Recommended],
                           trigger: dict[str, Any] | None, model_version: int = 0) -> dict[str, Any]:
    """A ``recommendations`` message as the contract describes it."""
    return {
        "rec_id": f"r-{uuid.uuid4().hex[:16]}", "user_id": user_id, "ts": round(now, 3),
        "scene": scene, "trigger": trigger, "model_version": model_version,
        "items": [_item(r) for r in items],
    }


def _item(r: Recommended) -> dict[str, Any]:
    item: dict[str, Any] = {"item_id": r.item_id, "score": r.score, "reason": r.reason}
    if r.explored:  # placed by exploration, not by its score: feedback on it is unbiased
        item["explored"] = True
    return item
