"""One page of recommendations for a user, the same for the stream and for HTTP: rank
with the model in service (or the control group's default), remember the page's feature
rows for the feedback join, and shape the contract's ``recommendations`` message."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import Any

import numpy as np

from engine.interests import UserState
from engine.reasons import localize_reason
from engine.recommend import Recommended, recommend_page
from stream_apps.worker.context import WorkerContext
from stream_apps.worker.learning import remember_candidates


async def serve_page(ctx: WorkerContext, user_id: str, state: UserState | None, scene: str | None,
                     k: int | None = None, trigger: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rank a page for ``user_id`` (``state`` ``None``: a user we know nothing about,
    who gets the cold-start answer, what is trending in the scene)."""
    now = time.time()
    scorer = ctx.scorer_for(user_id)
    items: list[Recommended] = []
    if ctx.catalog is not None and len(ctx.catalog):
        state = state or UserState.new(ctx.catalog.index.dim)
        query_vector = await ctx.encode_query(state.last_query) if state.last_query else None
        page = recommend_page(state, ctx.catalog, now, scene, ctx.settings.interest_config(),
                              ctx.settings.recommend_config(), k=k, query_vector=query_vector,
                              collaborative=ctx.collaborative, scorer=scorer,
                              shown=ctx.shown.counts(user_id, now), rng=ctx.rng,
                              had=ctx.refits.had(user_id))
        remember_candidates(ctx, user_id, page, scorer.version)
        items = page.items
        if ctx.settings.reason_language != "en":
            items = [replace(r, reason=localize_reason(r.reason, ctx.settings.reason_language)) for r in items]
    message = recommendation_message(user_id, now, scene, items, trigger, scorer.version)
    ranked = [r for r in items if r.features is not None]
    if ranked:  # cold-start pages were not ranked by the model: nothing for it to learn
        ctx.feedback.served(message["rec_id"], user_id, [r.item_id for r in ranked],
                            np.stack([r.features for r in ranked if r.features is not None]),
                            scorer.version, now)
    if items:
        ctx.metrics.record_recommendation(message["rec_id"], scene, [r.item_id for r in items],
                                          scorer.version)
    return message


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
