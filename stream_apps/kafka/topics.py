"""Topic names and their explicit creation.

Tansu auto-creates any topic a client names, with 4 partitions; a real cluster may not
auto-create at all. So streamrec creates its topics itself, with the partition count
and cleanup policy it needs, before any worker or producer touches them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from stream_apps.settings import Settings

log = logging.getLogger(__name__)

EVENT_TOPICS = {
    "click": "events.click",
    "search": "events.search",
    "purchase": "events.purchase",
    "impression": "events.impression",
}
ITEMS = "items"
ITEM_VECTORS = "item-vectors"  # internal: items with their embedding, read by every worker
RECOMMENDATIONS = "recommendations"
MODEL_UPDATES = "model-updates"
DEAD_LETTER = "dead-letter"
CONTROL = "control"  # keyed by user_id like the events: forget requests, eviction sweeps
AUDIT = "audit"  # a record of every forget and eviction
# internal: labelled pages for the trainer. One partition, so one worker (its owner in
# the consumer group) trains and model versions form a single line.
RANKER_EXAMPLES = "ranker-examples"
# internal: shared item signals (engine.item_signals). Workers send per-item row increments
# to the partition of the row's item; its owner aggregates them in a table whose changelog,
# item-signals, every worker reads whole (like item-vectors).
ITEM_SIGNAL_INCREMENTS = "item-signal-increments"
ITEM_SIGNALS = "item-signals"
COMPACTED = {ITEMS, ITEM_VECTORS, MODEL_UPDATES, ITEM_SIGNALS}
SINGLE_PARTITION = {RANKER_EXAMPLES}


@dataclass(frozen=True)
class TopicNames:
    """The full (prefixed) name of every topic of one deployment."""

    click: str
    search: str
    purchase: str
    impression: str
    items: str
    item_vectors: str
    recommendations: str
    model_updates: str
    dead_letter: str
    control: str
    audit: str
    ranker_examples: str
    item_signal_increments: str
    item_signals: str

    @classmethod
    def of(cls, settings: Settings) -> TopicNames:
        t = settings.topic
        return cls(
            click=t(EVENT_TOPICS["click"]), search=t(EVENT_TOPICS["search"]),
            purchase=t(EVENT_TOPICS["purchase"]), impression=t(EVENT_TOPICS["impression"]),
            items=t(ITEMS), item_vectors=t(ITEM_VECTORS), recommendations=t(RECOMMENDATIONS),
            model_updates=t(MODEL_UPDATES), dead_letter=t(DEAD_LETTER),
            control=t(CONTROL), audit=t(AUDIT), ranker_examples=t(RANKER_EXAMPLES),
            item_signal_increments=t(ITEM_SIGNAL_INCREMENTS), item_signals=t(ITEM_SIGNALS),
        )

    def event_topic(self, kind: str) -> str:
        if kind not in EVENT_TOPICS:
            raise ValueError(f"unknown event type {kind!r}; expected one of {', '.join(EVENT_TOPICS)}")
        name: str = getattr(self, kind)
        return name

    def kind_of(self, topic: str) -> str | None:
        return {getattr(self, kind): kind for kind in EVENT_TOPICS}.get(topic)

    def all(self) -> list[str]:
        return [getattr(self, f) for f in self.__dataclass_fields__]


def ensure_topics(settings: Settings, timeout_s: float = 15.0) -> list[str]:
    """Create any missing streamrec topic; returns the names created."""
    from kafka.admin import NewTopic

    from stream_apps.kafka.clients import admin_client

    names = TopicNames.of(settings)
    admin = admin_client(settings, timeout_s)
    try:
        existing = set(admin.list_topics())
        wanted = []
        for full in names.all():
            if full in existing:
                continue
            short = full[len(settings.topic_prefix):]
            configs = {"cleanup.policy": "compact"} if short in COMPACTED else {}
            partitions = 1 if short in SINGLE_PARTITION else settings.partitions
            wanted.append(NewTopic(full, partitions, settings.replication_factor, topic_configs=configs))
        if wanted:
            try:
                admin.create_topics(wanted, timeout_ms=int(timeout_s * 1000))
            except Exception as exc:  # another worker may have created them meanwhile
                if "TopicAlreadyExists" not in type(exc).__name__ + str(exc):
                    raise
            log.info("created topics: %s", ", ".join(t.name for t in wanted))
        return [t.name for t in wanted]
    finally:
        admin.close()
