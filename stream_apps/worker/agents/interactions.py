"""Clicks, searches, purchases and impressions -> user state -> recommendations.

Events arrive keyed by ``user_id``, so the user-state table is co-partitioned with
them and no repartition topic is needed. An event whose Kafka key is not its
``user_id`` is re-produced with the right key (so its state lands on the right
partition) instead of being processed on the wrong one.

Events are taken in micro-batches (``batch_max_events``, waiting at most
``batch_window_ms``; :func:`stream_apps.kafka.batches.take_batches` takes the next batch
while one is handled): each is applied to its user's state in arrival order, each changed
state is written to the table once, and the batch's pages are ranked together
(:func:`stream_apps.worker.serving.serve_pages`). A batch's events are acked once it was
handled, after their recommendations were sent, so a crash mid-batch
replays the batch and ``event_id`` dedup keeps the state exact.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from engine.errors import InvalidEvent
from engine.events import Impression, Interaction, parse_event
from engine.interests import UserState, deserialize_state, serialize_state
from engine.step import handle_event
from stream_apps.codecs import dumps, loads
from stream_apps.kafka.batches import take_batches
from stream_apps.kafka.patches.current_event import current_event_as
from stream_apps.worker.context import WorkerContext
from stream_apps.worker.dead_letter import send_to_dead_letter
from stream_apps.worker.learning import note_action
from stream_apps.worker.serving import PageAsk, serve_pages
from stream_apps.worker.signals import IncrementsOutbox, learn_signals

log = logging.getLogger(__name__)


def register_interactions(app: Any, ctx: WorkerContext, events_topic: Any, user_state: Any,
                          recommendations_topic: Any, dead_letter_topic: Any) -> Any:
    settings = ctx.settings
    rekey_topics = {name: app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                                    value_serializer="raw")
                    for name in events_topic.topics}

    @app.agent(events_topic, name="interactions")
    async def interactions(stream: Any) -> None:
        if ctx.catalogue.catalog_loaded is not None:
            await ctx.catalogue.catalog_loaded.wait()  # recommending from half a catalogue helps nobody
        async for events in take_batches(stream, settings.batch_max_events, settings.batch_window_ms / 1000):
            started = time.perf_counter()
            batch = UserBatch(user_state, settings.coalesce_user_events)
            outbox = IncrementsOutbox()
            # Learning writes the co-visitation and trending counts that a ranking job (an
            # HTTP request's page) reads in the ranking thread: not at the same time.
            async with ctx.catalogue.index_lock:
                for event in events:
                    await take_event(ctx, batch, event, rekey_topics, dead_letter_topic, outbox)
                if ctx.signalling.signals is not None:
                    outbox.flush(ctx.signalling.signals)
            batch.write_states()  # one changelog record per changed user, before their pages go out
            messages = await serve_pages(ctx, [p.ask() for p in batch.pages])
            for page, message in zip(batch.pages, messages):
                if message["items"]:
                    await recommendations_topic.send(key=page.user_id.encode(), value=dumps(message))
                    ctx.metrics.recommendations.labels(scene=page.scene or "none").inc()
                    for produced_at in page.produced_at:  # Kafka timestamps: the producer's clock
                        ctx.metrics.record_latency(max(time.time() - produced_at, 0.0))
            ctx.metrics.record_batch(len(events), len(messages), time.perf_counter() - started)

    return interactions


class PendingPage:
    """A page to serve for one user, and the events it answers (oldest first)."""

    def __init__(self, user_id: str, state: UserState, scene: str | None) -> None:
        self.user_id, self.state, self.scene = user_id, state, scene
        self.topics: list[str] = []
        self.event_ids: list[str | None] = []
        self.produced_at: list[float] = []

    def answers(self, topic: str, event_id: str | None, produced_at: float | None) -> None:
        self.topics.append(topic)
        self.event_ids.append(event_id)
        if produced_at:
            self.produced_at.append(produced_at)

    def ask(self) -> PageAsk:
        # The contract's trigger names the (last) event; event_ids lists every event the
        # page reflects, oldest first (one unless several of the user's were coalesced).
        trigger = {"topic": self.topics[-1], "event_id": self.event_ids[-1],
                   "event_ids": [e for e in self.event_ids if e is not None]}
        return PageAsk(self.user_id, self.state, self.scene, trigger)


class UserBatch:
    """The batch's user states, read from the table once per user and written back once,
    and the pages to serve: one per user (``coalesce``) or one per event, in order."""

    def __init__(self, table: Any, coalesce: bool) -> None:
        self.table, self.coalesce = table, coalesce
        self._states: dict[str, UserState | None] = {}
        self._raw: dict[str, Any] = {}  # the table's value when read
        self._event_of: dict[str, Any] = {}
        self._dirty: set[str] = set()
        self.pages: list[PendingPage] = []
        self._page_of: dict[str, PendingPage] = {}

    def get(self, user_id: str) -> UserState | None:
        if user_id not in self._states:
            raw = self.table.get(user_id)
            self._raw[user_id] = raw
            self._states[user_id] = deserialize_state(raw) if raw else None
        return self._states[user_id]

    def put(self, user_id: str, state: UserState, event: Any) -> None:
        self._states[user_id] = state
        self._dirty.add(user_id)
        self._event_of[user_id] = event  # the table writes to this event's partition

    def write_states(self) -> None:
        """Write each changed state back, unless the table's value changed since it was
        read (a forget or an eviction by the control agent while this batch awaited a
        send): writing would bring the forgotten history back, so that user's events of
        this batch are dropped with their pages."""
        for user_id in self._dirty:
            state = self._states[user_id]
            if self.table.get(user_id) != self._raw[user_id]:  # by value: a store may return copies
                log.warning("user %s was forgotten or evicted while a batch held their state: "
                            "their %d event(s) of this batch are dropped", user_id,
                            len(self._page_of[user_id].event_ids) if user_id in self._page_of else 0)
                self.pages = [p for p in self.pages if p.user_id != user_id]
            elif state is not None:
                with current_event_as(self._event_of[user_id]):
                    self.table[user_id] = serialize_state(state)
        self._dirty.clear()

    def serve(self, user_id: str, state: UserState, scene: str | None, topic: str,
              event_id: str | None, produced_at: float | None) -> None:
        page = self._page_of.get(user_id) if self.coalesce else None
        if page is None:
            page = PendingPage(user_id, state, scene)
            self.pages.append(page)
            self._page_of[user_id] = page
        page.state, page.scene = state, scene  # the page reflects the user's latest event
        page.answers(topic, event_id, produced_at)


async def take_event(ctx: WorkerContext, batch: UserBatch, event: Any, rekey_topics: dict[str, Any],
                     dead_letter_topic: Any, outbox: IncrementsOutbox | None = None) -> None:
    """Parse one event and apply it to its user's state in ``batch`` (bad input goes to
    dead-letter, a wrong key is re-produced), then carry out what
    :func:`engine.step.handle_event` decided."""
    now = time.time()  # one clock read per event
    kind = ctx.names.kind_of(event.message.topic)
    try:
        parsed = parse_event(kind or "?", loads(event.value), now, ctx.validation_config)
    except InvalidEvent as exc:
        await send_to_dead_letter(ctx, dead_letter_topic, event, str(exc))
        return
    if event.key != parsed.user_id.encode():
        await rekey_topics[event.message.topic].send(key=parsed.user_id.encode(), value=event.value)
        ctx.metrics.rekeyed.inc()
        return
    ctx.metrics.events.labels(type=kind).inc()
    ctx.metrics.record_event(kind or "?", parsed)  # trending items, click-through
    state = batch.get(parsed.user_id)
    item_vector = query_vector = None
    if isinstance(parsed, Interaction):
        item_vector = ctx.item_vector(parsed.item_id)
        if parsed.query and not (state is not None and state.has_seen(parsed.event_id)):
            query_vector = await ctx.encode_query(parsed.query)
    dim = ctx.catalogue.catalog.index.dim if ctx.catalogue.catalog is not None else None
    new_state, effects = handle_event(state, parsed, item_vector, query_vector, dim, ctx.step_config, now)
    if effects.duplicate:
        ctx.metrics.duplicates.inc()
        return
    if isinstance(parsed, Impression):
        if parsed.rec_id:  # toward its page's labels; fatigue is in the state
            ctx.learning.feedback.impression(parsed.rec_id, parsed.item_ids, now)
    else:
        if effects.feedback:
            ctx.learning.feedback.action(*effects.feedback, now)
        if effects.learn:  # against the state before the event: its recent items co-occur
            learn_signals(ctx, state, parsed, ctx.catalogue.interest_config, event.message, outbox)
            note_action(ctx, parsed)  # the item model's log, categories, next-event labels
    if new_state is not None:
        batch.put(parsed.user_id, new_state, event)
    if effects.serve and new_state is not None:
        batch.serve(parsed.user_id, new_state, parsed.scene, event.message.topic, parsed.event_id,
                    event.message.timestamp)
