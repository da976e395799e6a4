"""The worker's counters: Prometheus metrics plus a few recent samples for the dashboard."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)


@dataclass
class WorkerMetrics:
    """One registry per worker (tests run several workers in one process tree)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    recent_errors: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=20))
    recent_latencies: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=5000))

    def __post_init__(self) -> None:
        r = self.registry
        self.events = Counter("streamrec_events_total", "Events consumed, by type", ["type"], registry=r)
        self.duplicates = Counter(
            "streamrec_duplicate_events_total", "Redelivered events ignored (same event_id)", registry=r)
        self.rekeyed = Counter(
            "streamrec_rekeyed_events_total",
            "Events whose Kafka key was not their user_id, re-produced with the right key", registry=r)
        self.recommendations = Counter(
            "streamrec_recommendations_total", "Recommendations published", ["scene"], registry=r)
        self.dead_letters = Counter(
            "streamrec_dead_letter_total", "Messages sent to dead-letter", ["source_topic"], registry=r)
        self.items = Counter("streamrec_item_updates_total", "Item upserts and deletes applied",
                             ["op"], registry=r)
        self.latency = Histogram(
            "streamrec_event_to_recommendation_seconds",
            "From the event's Kafka timestamp to its recommendation being sent",
            buckets=LATENCY_BUCKETS, registry=r)
        self.index_size = Gauge("streamrec_index_items", "Items in the vector index", registry=r)
        self.users = Gauge("streamrec_users_in_state", "Users in this worker's state", registry=r)
        self.last_item_upsert = Gauge(
            "streamrec_last_item_upsert_timestamp_seconds", "When the catalogue last changed", registry=r)
        self.ready = Gauge("streamrec_ready", "1 when recovered and the index is loaded", registry=r)

    def record_latency(self, seconds: float, now: float | None = None) -> None:
        self.latency.observe(seconds)
        self.recent_latencies.append((time.time() if now is None else now, seconds))

    def record_dead_letter(self, topic: str, partition: int, offset: int, error: str) -> None:
        self.dead_letters.labels(source_topic=topic).inc()
        self.recent_errors.append({"ts": time.time(), "topic": topic, "partition": partition,
                                   "offset": offset, "error": error[:300]})
