"""Clicks, searches, purchases and impressions -> user state -> a recommendation.

Events arrive keyed by ``user_id``, so the user-state table is co-partitioned with
them and no repartition topic is needed. An event whose Kafka key is not its
``user_id`` is re-produced with the right key (so its state lands on the right
partition) instead of being processed on the wrong one.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from engine.errors import InvalidEvent
from engine.events import Impression, Interaction, parse_event
from engine.interests import UserState, apply_interaction, deserialize_state, serialize_state
from engine.recommend import Recommended, learn_collaborative, recommend
from stream_apps.codecs import dumps, loads
from stream_apps.dead_letter import send_to_dead_letter
from stream_apps.runtime import WorkerContext

log = logging.getLogger(__name__)


def register_interactions(app: Any, ctx: WorkerContext, events_topic: Any, user_state: Any,
                          recommendations_topic: Any, dead_letter_topic: Any) -> Any:
    validation = ctx.settings.validation_config()
    interest_config = ctx.settings.interest_config()
    rekey_topics = {name: app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                                    value_serializer="raw")
                    for name in events_topic.topics}

    @app.agent(events_topic, name="interactions")
    async def interactions(stream: Any) -> None:
        if ctx.catalog_loaded is not None:
            await ctx.catalog_loaded.wait()  # recommending from half a catalogue helps nobody
        async for event in stream.events():
            kind = ctx.names.kind_of(event.message.topic)
            try:
                parsed = parse_event(kind or "?", loads(event.value), time.time(), validation)
            except InvalidEvent as exc:
                await send_to_dead_letter(ctx, dead_letter_topic, event, str(exc))
                continue
            if event.key != parsed.user_id.encode():
                await rekey_topics[event.message.topic].send(key=parsed.user_id.encode(), value=event.value)
                ctx.metrics.rekeyed.inc()
                continue
            ctx.metrics.events.labels(type=kind).inc()
            ctx.metrics.record_event(kind or "?", parsed)  # trending items, click-through
            if isinstance(parsed, Impression):
                continue  # feedback for the ranking model; interests are moved by actions
            raw_state = user_state.get(parsed.user_id)
            state = deserialize_state(raw_state) if raw_state else None
            if state is not None and state.has_seen(parsed.event_id):
                ctx.metrics.duplicates.inc()
                continue
            item_vector = ctx.item_vector(parsed.item_id)
            if item_vector is not None:  # unknown ids would only fill the counts with noise
                learn_collaborative(ctx.collaborative, state, parsed, interest_config)
            query_vector = await ctx.encode_query(parsed.query) if parsed.query else None
            if state is None:
                dim = next((v.shape[0] for v in (item_vector, query_vector) if v is not None), None)
                if dim is None:
                    continue  # an unknown item for an unknown user: nothing to learn yet
                state = UserState.new(int(dim))
            new_state = apply_interaction(state, parsed, item_vector, query_vector, interest_config)
            user_state[parsed.user_id] = serialize_state(new_state)
            if item_vector is None and query_vector is None:
                continue  # history changed, interests did not: no new recommendation
            await publish(ctx, recommendations_topic, new_state, parsed, event)

    return interactions


async def publish(ctx: WorkerContext, topic: Any, state: UserState, parsed: Interaction, event: Any) -> None:
    now = time.time()
    scene = parsed.scene
    query_vector = await ctx.encode_query(state.last_query) if state.last_query else None
    if ctx.catalog is None:
        return
    items = recommend(state, ctx.catalog, now, scene, ctx.settings.interest_config(),
                      ctx.settings.recommend_config(), query_vector=query_vector,
                      collaborative=ctx.collaborative)
    if not items:
        return
    message = recommendation_message(parsed.user_id, now, scene, items,
                                     trigger={"topic": event.message.topic, "event_id": parsed.event_id})
    await topic.send(key=parsed.user_id.encode(), value=dumps(message))
    ctx.metrics.recommendations.labels(scene=scene or "none").inc()
    ctx.metrics.record_recommendation(message["rec_id"], scene, [r.item_id for r in items],
                                      message["model_version"])
    # Kafka timestamps are the producer's clock in ms: the whole event->recommendation path.
    produced = event.message.timestamp
    if produced:
        ctx.metrics.record_latency(max(time.time() - produced, 0.0))


def recommendation_message(user_id: str, now: float, scene: str | None, items: list[Recommended],
                           trigger: dict[str, Any] | None, model_version: int = 0) -> dict[str, Any]:
    """A ``recommendations`` message as the contract describes it."""
    return {
        "rec_id": f"r-{uuid.uuid4().hex[:16]}", "user_id": user_id, "ts": round(now, 3),
        "scene": scene, "trigger": trigger, "model_version": model_version,
        "items": [{"item_id": r.item_id, "score": r.score, "reason": r.reason} for r in items],
    }
