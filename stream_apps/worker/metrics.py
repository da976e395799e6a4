"""The worker's counters: Prometheus metrics plus a few recent samples for the dashboard."""

from __future__ import annotations

import gc
import os
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)
GC_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class GcPauses:
    """Times each of the interpreter's garbage collections (a ``gc.callbacks`` entry) into
    ``histogram`` by generation: a collection stops every Python thread, and a full one
    walks every object the worker holds. :meth:`install` once per process."""

    def __init__(self, histogram: Histogram) -> None:
        self.histogram = histogram
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:  # collections do not nest: each "stop" ends the last "start"
            self.histogram.labels(generation=str(info["generation"])).observe(time.perf_counter() - self._started)

    def install(self) -> None:
        gc.callbacks.append(self)

    def uninstall(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)


def thread_role(thread: threading.Thread) -> str:
    """What a thread of the worker does, as a metric label: ``event-loop`` for the main
    thread, the class of the service a mode/Faust service thread runs (Faust's Kafka
    consumer), else its name without an executor's ``_0`` suffix (``ranking``)."""
    if thread is threading.main_thread():
        return "event-loop"
    service = getattr(thread, "service", None)  # mode.threads.WorkerThread
    if service is not None:
        return type(service).__name__
    return re.sub(r"_\d+$", "", thread.name)


def stat_cpu_seconds(stat_file: Path) -> float | None:
    """User + system CPU seconds in a Linux ``/proc/<pid>/stat`` (or a thread's
    ``/proc/<pid>/task/<tid>/stat``); None when it cannot be read."""
    try:
        fields = stat_file.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def thread_cpu_seconds(task_dir: str = "/proc/self/task") -> dict[str, float]:
    """User + system CPU seconds of this process's live threads, summed by
    :func:`thread_role`; ``native`` for threads Python does not know (hnswlib's, torch's).
    Empty without Linux's ``/proc``."""
    roles = {t.native_id: thread_role(t) for t in threading.enumerate() if t.native_id is not None}
    try:
        tids = os.listdir(task_dir)
    except OSError:
        return {}
    out: dict[str, float] = {}
    for tid in tids:
        seconds = stat_cpu_seconds(Path(task_dir, tid, "stat"))
        if seconds is None:
            continue  # the thread ended meanwhile
        role = roles.get(int(tid), "native")
        out[role] = out.get(role, 0.0) + seconds
    return out


class ThreadCpuCollector:
    """``streamrec_thread_cpu_seconds_total{thread}`` at each scrape: where the worker's
    CPU goes (its threads share one GIL, so their sum is about one core at most, apart
    from native threads), without a profiler. A thread that ended is no longer counted."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("streamrec_thread_cpu_seconds",
                                     "CPU seconds of the worker's threads, by what they do", labels=["thread"])
        for role, seconds in sorted(thread_cpu_seconds().items()):
            family.add_metric([role], seconds)
        yield family


@dataclass
class WorkerMetrics:
    """One registry per worker (tests run several workers in one process tree)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    recent_errors: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=20))
    recent_latencies: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=5000))
    # For the dashboard: what was recommended and what users did, a few minutes' worth.
    recent_recommendations: deque[tuple[float, str, tuple[str, ...]]] = field(
        default_factory=lambda: deque(maxlen=3000))
    recent_actions: deque[tuple[float, str, str, str]] = field(default_factory=lambda: deque(maxlen=5000))
    # rec_id -> (scene, model version) of recommendations this worker published, so a click
    # that names its rec_id is credited to the right scene and model version.
    rec_origin: OrderedDict[str, tuple[str, str]] = field(default_factory=OrderedDict)
    model_timeline: dict[str, float] = field(default_factory=dict)  # version -> first seen
    samples: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=180))
    recent_users: OrderedDict[str, float] = field(default_factory=OrderedDict)  # user -> last seen
    batch_sizes: dict[int, int] = field(default_factory=dict)  # events per batch -> batches (exact)

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
        self.batch_events = Histogram(
            "streamrec_batch_events", "Events per micro-batch of the interactions agent",
            buckets=BATCH_BUCKETS, registry=r)
        self.batch_pages = Counter("streamrec_batch_pages_total", "Pages ranked in micro-batches", registry=r)
        self.batch_seconds = Histogram(
            "streamrec_batch_seconds", "Time to apply, rank and send one micro-batch",
            buckets=LATENCY_BUCKETS, registry=r)
        self.gc_pauses = Histogram(
            "streamrec_gc_pause_seconds", "Garbage collections of the worker's interpreter (every thread "
            "stops), by generation (2: a full collection)", ["generation"], buckets=GC_BUCKETS, registry=r)
        self.index_size = Gauge("streamrec_index_items", "Items in the vector index", registry=r)
        self.users = Gauge("streamrec_users_in_state", "Users in this worker's state", registry=r)
        self.last_item_upsert = Gauge(
            "streamrec_last_item_upsert_timestamp_seconds", "When the catalogue last changed", registry=r)
        self.ready = Gauge("streamrec_ready", "1 when recovered and the index is loaded", registry=r)
        self.consumer_lag = Gauge(
            "streamrec_consumer_lag_messages", "Messages not yet read, per assigned topic-partition",
            ["topic", "partition"], registry=r)
        self.partition_stall_repairs = Counter(
            "streamrec_partition_stall_repairs_total",
            "Assigned partitions found unread and not moving, by repair (seek, rejoin)",
            ["action"], registry=r)
        ProcessCollector(registry=r)  # process_resident_memory_bytes, CPU seconds, open fds
        r.register(ThreadCpuCollector())
        self.feedback = Counter(
            "streamrec_recommendation_feedback_total",
            "Impressions, clicks and purchases that name a recommendation (rec_id), by scene "
            "and model version", ["type", "scene", "model_version"], registry=r)
        self.model_version = Gauge(
            "streamrec_model_version", "Version of the ranking model in service (0: default)", registry=r)
        self.training_rows = Counter(
            "streamrec_training_rows_total",
            "Labelled rows of served pages sent to the trainer, by label", ["label"], registry=r)
        self.models_published = Counter(
            "streamrec_models_published_total", "Model versions this worker's trainer published",
            registry=r)
        self.model_holdout_auc = Gauge(
            "streamrec_model_holdout_auc", "Holdout AUC at the trainer's last check: of the candidate "
            "version (model=candidate), of the default scorer on the same rows (model=default), and of "
            "the last published version (model=published)", ["model"], registry=r)
        self.training_examples = Counter(
            "streamrec_training_examples_total", "Labelled sets sent to the trainer, by source: served "
            "pages with feedback, or next-event labels of candidate sets", ["source"], registry=r)
        self.trainer_rows = Counter(
            "streamrec_trainer_rows_received_total", "Rows the trainer (on the worker that owns it) "
            "received", registry=r)
        self.trainer_holdout = Gauge(
            "streamrec_trainer_holdout_rows", "Rows held back to check versions before publishing", registry=r)
        self.trainer_last_check = Gauge(
            "streamrec_trainer_last_check", "1 for why the trainer's last check did (not) publish "
            "(the full reason is in /api/stats)", ["reason"], registry=r)
        self.item_model_refits = Counter(
            "streamrec_item_model_refits_total", "Refits of the item-item model (EASE)", registry=r)
        self.item_model_items = Gauge(
            "streamrec_item_model_items", "Items the item-item model in service covers", registry=r)
        self._trainer_reason: str | None = None

    def set_trainer_reason(self, reason: str) -> None:
        """The last check's reason as the one label at 1 (the previous one is removed)."""
        if reason == self._trainer_reason:
            return
        if self._trainer_reason is not None:
            self.trainer_last_check.remove(self._trainer_reason)
        self.trainer_last_check.labels(reason=reason).set(1)
        self._trainer_reason = reason

    def record_latency(self, seconds: float, now: float | None = None) -> None:
        self.latency.observe(seconds)
        self.recent_latencies.append((time.time() if now is None else now, seconds))

    def record_batch(self, events: int, pages: int, seconds: float) -> None:
        self.batch_events.observe(events)
        self.batch_pages.inc(pages)
        self.batch_seconds.observe(seconds)
        self.batch_sizes[events] = self.batch_sizes.get(events, 0) + 1

    def record_dead_letter(self, topic: str, partition: int, offset: int, error: str) -> None:
        self.dead_letters.labels(source_topic=topic).inc()
        self.recent_errors.append({"ts": time.time(), "topic": topic, "partition": partition,
                                   "offset": offset, "error": error[:300]})

    def record_recommendation(self, rec_id: str, scene: str | None, item_ids: Iterable[str],
                              model_version: int | str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        scene_label, version = scene_label_of(scene), str(model_version)
        self.recent_recommendations.append((now, scene_label, tuple(item_ids)))
        self.rec_origin[rec_id] = (scene_label, version)
        while len(self.rec_origin) > MAX_TRACKED_RECS:
            self.rec_origin.popitem(last=False)
        if version not in self.model_timeline and len(self.model_timeline) < 1000:
            self.model_timeline[version] = now

    def record_action(self, kind: str, scene: str | None, rec_id: str | None,
                      item_ids: Iterable[str], now: float | None = None) -> None:
        """A valid event: kept for trending items, and credited to its recommendation."""
        now = time.time() if now is None else now
        scene_label = scene_label_of(scene)
        if kind in ("click", "purchase"):
            for item_id in item_ids:
                self.recent_actions.append((now, kind, scene_label, item_id))
        if rec_id and kind in ("impression", "click", "purchase"):
            origin_scene, version = self.rec_origin.get(rec_id, (scene_label, "unknown"))
            self.feedback.labels(type=kind, scene=origin_scene, model_version=version).inc()

    def record_event(self, kind: str, event: Any) -> None:
        """:meth:`record_action` for a parsed event (an Interaction or an Impression)."""
        item_ids = getattr(event, "item_ids", None)
        if item_ids is None:
            item_id = getattr(event, "item_id", None)
            item_ids = (item_id,) if item_id else ()
        self.record_action(kind, getattr(event, "scene", None), getattr(event, "rec_id", None), item_ids)
        user_id = getattr(event, "user_id", None)
        if user_id:  # the dashboard offers recently active users for its user box
            self.recent_users.pop(user_id, None)
            self.recent_users[user_id] = time.time()
            while len(self.recent_users) > 50:
                self.recent_users.popitem(last=False)

    def sample(self, now: float | None = None) -> dict[str, Any]:
        """Counter totals and recent latency percentiles at ``now`` (called once a second)."""
        now = time.time() if now is None else now
        sample = {
            "ts": now,
            "events": counter_totals(self.events, "type"),
            "recommendations": sum(counter_totals(self.recommendations, "scene").values()),
            "dead_letters": sum(counter_totals(self.dead_letters, "source_topic").values()),
            "latency": latency_percentiles(self.recent_latencies, now, window_s=5.0),
        }
        self.samples.append(sample)
        return sample


MAX_TRACKED_RECS = 20_000
MAX_SCENE_LABEL = 40


def scene_label_of(scene: str | None) -> str:
    # Scenes come from producers: cap the label so one odd value cannot bloat /metrics.
    return (scene or "none")[:MAX_SCENE_LABEL]


def counter_totals(counter: Counter, label: str) -> dict[str, float]:
    """``{label value: total}`` of a labelled prometheus counter."""
    totals: dict[str, float] = {}
    for metric in counter.collect():
        for s in metric.samples:
            if s.name.endswith("_total"):
                key = s.labels.get(label, "")
                totals[key] = totals.get(key, 0.0) + s.value
    return totals


def latency_percentiles(latencies: Iterable[tuple[float, float]], now: float,
                        window_s: float) -> dict[str, float | int | None]:
    """p50/p99 (milliseconds) of the latencies recorded in the last ``window_s`` seconds."""
    values = sorted(v for ts, v in latencies if now - window_s <= ts <= now)
    if not values:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None, "n": 0}

    def pct(q: float) -> float:
        return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 2)

    return {"p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": round(values[-1] * 1000, 2),
            "n": len(values)}
