"""Clicks, searches, purchases and impressions -> user state -> a recommendation.

Events arrive keyed by ``user_id``, so the user-state table is co-partitioned with
them and no repartition topic is needed. An event whose Kafka key is not its
``user_id`` is re-produced with the right key (so its state lands on the right
partition) instead of being processed on the wrong one.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from engine.errors import InvalidEvent
from engine.events import Impression, Interaction, parse_event
from engine.interests import UserState, apply_interaction, deserialize_state, seen_at, serialize_state
from engine.recommend import learn_collaborative
from stream_apps.codecs import dumps, loads
from stream_apps.worker.context import WorkerContext
from stream_apps.worker.dead_letter import send_to_dead_letter
from stream_apps.worker.learning import note_action
from stream_apps.worker.serving import serve_page

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
                note_impression(ctx, parsed)
                continue  # feedback for the ranking model; interests are moved by actions
            new_state = update_user(ctx, user_state, parsed, interest_config,
                                    await ctx.encode_query(parsed.query) if parsed.query else None)
            if new_state is not None:
                trigger = {"topic": event.message.topic, "event_id": parsed.event_id}
                message = await serve_page(ctx, parsed.user_id, new_state, parsed.scene, trigger=trigger)
                if message["items"]:
                    await recommendations_topic.send(key=parsed.user_id.encode(), value=dumps(message))
                    ctx.metrics.recommendations.labels(scene=parsed.scene or "none").inc()
                    # Kafka timestamps are the producer's clock in ms: the whole event->recommendation path.
                    if event.message.timestamp:
                        ctx.metrics.record_latency(max(time.time() - event.message.timestamp, 0.0))

    return interactions


def note_impression(ctx: WorkerContext, impression: Impression) -> None:
    """Shown items count toward fatigue, and toward their page's labels."""
    ctx.shown.record(impression.user_id, impression.item_ids, impression.ts)
    if impression.rec_id:
        ctx.feedback.impression(impression.rec_id, impression.item_ids, time.time())


def update_user(ctx: WorkerContext, user_state: Any, parsed: Interaction, interest_config: Any,
                query_vector: Any) -> UserState | None:
    """Apply one action to the user's state (and the collaborative counts, and its page's
    feedback). Returns the new state when the user's interests moved, else ``None``."""
    raw_state = user_state.get(parsed.user_id)
    state = deserialize_state(raw_state) if raw_state else None
    if state is not None and state.has_seen(parsed.event_id):
        ctx.metrics.duplicates.inc()
        return None
    if parsed.rec_id and parsed.item_id:
        ctx.feedback.action(parsed.rec_id, parsed.item_id, parsed.kind, time.time())
    item_vector = ctx.item_vector(parsed.item_id)
    if item_vector is not None:  # unknown ids would only fill the counts with noise
        learn_collaborative(ctx.collaborative, state, parsed, interest_config)
        note_action(ctx, parsed)  # the item model's log, next-event labels
    if state is None:
        dim = next((v.shape[0] for v in (item_vector, query_vector) if v is not None), None)
        if dim is None:
            return None  # an unknown item for an unknown user: nothing to learn yet
        state = UserState.new(int(dim))
    new_state = seen_at(apply_interaction(state, parsed, item_vector, query_vector, interest_config),
                        time.time())  # eviction goes by processing time: backfills stay
    user_state[parsed.user_id] = serialize_state(new_state)
    if item_vector is None and query_vector is None:
        return None  # history changed, interests did not: no new recommendation
    return new_state
