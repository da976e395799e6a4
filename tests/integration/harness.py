"""Drive a real broker and real worker processes through the public topics only."""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

import orjson

from stream_apps.kafka.broker import free_port
from stream_apps.kafka.clients import consumer, producer
from stream_apps.kafka.topics import TopicNames
from stream_apps.settings import Settings
from stream_apps.tools.processes import spawn_worker, stop_process, wait_ready
from stream_apps.worker.run import wait_for_topics

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str | Callable[[], str],
               interval: float = 0.1) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that. Fails after
    ``timeout`` seconds with ``what`` (what was awaited; a callable is asked at the failure,
    so it can describe the state then) and the last value, instead of a fixed sleep that
    is too short on a loaded machine and too long elsewhere."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            described = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {described} (last: {result!r})")
        time.sleep(interval)


def fresh_settings(bootstrap: str) -> Settings:
    """A fresh topic prefix (and so consumer group and changelog) per test."""
    return Settings(bootstrap_servers=bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:8]}-")


class TopicCollector(threading.Thread):
    """Collects every message of some topics from the beginning, in a background thread."""

    def __init__(self, settings: Settings, *topics: str) -> None:
        super().__init__(daemon=True)
        self.settings, self.topics = settings, topics
        self.messages: list[tuple[str, bytes | None, Any]] = []
        self.lock = threading.Lock()
        self._stop_flag = threading.Event()
        self.assigned = threading.Event()

    def run(self) -> None:
        cons = consumer(self.settings, *self.topics, auto_offset_reset="earliest",
                        consumer_timeout_ms=100)
        try:
            while not self._stop_flag.is_set():
                for record in cons:
                    value = orjson.loads(record.value) if record.value is not None else None
                    with self.lock:
                        self.messages.append((record.topic, record.key, value))
                if cons.assignment():
                    self.assigned.set()
        finally:
            cons.close()

    def stop(self) -> None:
        self._stop_flag.set()
        self.join(timeout=5)

    def snapshot(self, topic: str | None = None) -> list[Any]:
        with self.lock:
            return [v for t, _, v in self.messages if topic is None or t == topic]

    def wait_for(self, predicate: Callable[[Any], bool], topic: str | None = None,
                 timeout: float = 60.0) -> Any:
        """The first message of ``topic`` (any topic when None) that ``predicate`` accepts."""
        def first_match() -> tuple[Any] | None:
            matches = [v for v in self.snapshot(topic) if predicate(v)]
            return (matches[0],) if matches else None  # a tuple: a falsy message still counts

        return wait_until(first_match, timeout, lambda: f"a matching message on {topic or self.topics} "
                          f"({len(self.snapshot(topic))} seen)", interval=0.05)[0]


class Stack:
    """One worker process on a broker with a fresh topic prefix, plus clients."""

    def __init__(self, bootstrap: str, log_dir: Path, settings: Settings | None = None) -> None:
        self.settings = settings or fresh_settings(bootstrap)
        self.names = TopicNames.of(self.settings)
        self.log_dir = log_dir
        wait_for_topics(self.settings, max_wait_s=10)
        self.producer = producer(self.settings, linger_ms=0)
        self.recs = TopicCollector(self.settings, self.names.recommendations, self.names.dead_letter)
        self.recs.start()
        self.worker: Any = None
        self.web_port = 0
        self._event_counter = 0

    def start_worker(self, timeout: float = 120.0, env: dict[str, str] | None = None) -> dict[str, Any]:
        self.web_port = free_port()
        self.worker = spawn_worker(self.settings, self.web_port,
                                   self.log_dir / f"worker-{self.web_port}.log", env)
        return wait_ready(self.web_port, self.worker, timeout=timeout)

    def user(self, user_id: str) -> dict[str, Any]:
        """The worker's HTTP answer for ``user_id`` (recommendations and ``known_user``)."""
        from stream_apps.tools.processes import get_json

        status, body = get_json(f"http://127.0.0.1:{self.web_port}/recommendations/{user_id}")
        if status != 200 or not isinstance(body, dict):
            raise AssertionError(f"GET /recommendations/{user_id} answered {status}: {body}")
        return body

    def stop_worker(self, kill: bool = False) -> None:
        if self.worker is not None:
            stop_process(self.worker, kill=kill)
            self.worker = None

    def load_items(self, items: Iterable[dict[str, Any]]) -> None:
        for item in items:
            self.producer.send(self.names.items, key=str(item["item_id"]).encode(), value=orjson.dumps(item))
        self.producer.flush()

    def delete_item(self, item_id: str) -> None:
        self.producer.send(self.names.items, key=item_id.encode(),
                           value=orjson.dumps({"item_id": item_id, "deleted": True}))
        self.producer.flush()

    def send_event(self, kind: str, user_id: str, **fields: Any) -> str:
        self._event_counter += 1
        event_id = fields.pop("event_id", None) or f"e-{uuid.uuid4().hex[:10]}-{self._event_counter}"
        body = {"event_id": event_id, "user_id": user_id, "ts": time.time(), **fields}
        self.producer.send(self.names.event_topic(kind), key=user_id.encode(), value=orjson.dumps(body))
        self.producer.flush()
        return event_id

    def send_raw(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        self.producer.send(topic, key=key, value=value)
        self.producer.flush()

    def recommendation_for(self, event_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The recommendation the event ``event_id`` triggered (alone, or with the user's
        other events of one micro-batch: ``trigger.event_ids`` lists them all)."""
        result: dict[str, Any] = self.recs.wait_for(
            lambda m: isinstance(m, dict) and answers(m, event_id), self.names.recommendations, timeout)
        return result

    def index_size(self) -> int:
        from stream_apps.tools.processes import get_json

        _, body = get_json(f"http://127.0.0.1:{self.web_port}/health")
        return int(body.get("index_items", 0)) if isinstance(body, dict) else 0

    def wait_index_size(self, expected: int, timeout: float = 120.0, exact: bool = False) -> None:
        """Wait until the worker's index holds ``expected`` items. ``timeout`` counts from the
        last growth: encoding a catalogue on a machine loaded by other work is slow, not stuck
        (at a load average of 10 a worker encoded 1,091 of 1,200 items in 120 s)."""
        last_size, last_growth = -1, time.monotonic()
        while True:
            size, now = self.index_size(), time.monotonic()
            if size == expected or (size > expected and not exact):
                return
            if size > last_size:
                last_size, last_growth = size, now
            elif now - last_growth > timeout:
                raise AssertionError(f"{'exactly ' if exact else ''}{expected} items in the index: "
                                     f"has {size}, no growth for {timeout:.0f}s")
            time.sleep(0.2)

    def close(self) -> None:
        self.stop_worker()
        self.recs.stop()
        self.producer.close()


def answers(recommendation: dict[str, Any], event_id: str) -> bool:
    """Whether a recommendation answers the event ``event_id``."""
    trigger = recommendation.get("trigger") or {}
    return trigger.get("event_id") == event_id or event_id in (trigger.get("event_ids") or ())


def categories_of(recommendation: dict[str, Any], catalogue: dict[str, dict[str, Any]]) -> list[str]:
    # An item another test of the module added (a fresh item, reachable by the "fresh"
    # source or exploration) is in no test's category.
    return [catalogue[i["item_id"]]["categories"][0] if i["item_id"] in catalogue else "(other test)"
            for i in recommendation["items"]]


def pick(items: list[dict[str, Any]], categories: Iterable[str], per_category: int) -> dict[str, dict[str, Any]]:
    """The first ``per_category`` items of each of ``categories``, by item id."""
    groups = by_category(items)
    return {item["item_id"]: item for category in categories for item in groups[category][:per_category]}


def by_category(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        groups[item["categories"][0]].append(item)
    return groups
