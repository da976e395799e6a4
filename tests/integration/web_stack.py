"""A real broker and one real worker process for the HTTP and dashboard tests.

Fresh topic prefix per stack; everything goes through the public topics and HTTP.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import orjson

from stream_apps.kafka.broker import EmbeddedBroker, free_port
from stream_apps.kafka.clients import producer
from stream_apps.kafka.topics import TopicNames
from stream_apps.settings import Settings
from stream_apps.tools.catalogue import load_builtin_catalogue
from stream_apps.tools.processes import spawn_worker, stop_process, wait_ready
from stream_apps.worker.run import wait_for_topics


@contextmanager
def broker(log_dir: Path) -> Iterator[str]:
    """``KAFKA_BOOTSTRAP_SERVERS`` when set, else an embedded broker on a free port."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    with EmbeddedBroker(port=free_port(), log_path=log_dir / "tansu.log") as b:
        yield b.bootstrap_servers


def small_catalogue(per_category: int = 12, categories: int = 3) -> list[dict[str, Any]]:
    """A few items from the built-in catalogue, ``per_category`` from each of the first categories."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in load_builtin_catalogue():
        groups.setdefault(item["categories"][0], []).append(item)
    chosen = sorted(groups)[:categories]
    return [item for cat in chosen for item in groups[cat][:per_category]]


class WebStack:
    """One worker on ``bootstrap`` with its own topic prefix; a producer; HTTP helpers."""

    def __init__(self, bootstrap: str, log_dir: Path, token: str = "") -> None:
        self.settings = Settings(bootstrap_servers=bootstrap, topic_prefix=f"t-{uuid.uuid4().hex[:8]}-")
        self.names = TopicNames.of(self.settings)
        self.token = token
        wait_for_topics(self.settings, max_wait_s=10)
        self.producer = producer(self.settings, linger_ms=0)
        self.web_port = free_port()
        extra = {"STREAMREC_API_TOKEN": token} if token else {}
        self.worker = spawn_worker(self.settings, self.web_port, log_dir / f"worker-{self.web_port}.log",
                                   extra_env=extra)
        self.lock = threading.Lock()  # kafka-python's producer is thread-safe; flush order is not

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def wait_ready(self, timeout: float = 90.0) -> dict[str, Any]:
        return wait_ready(self.web_port, self.worker, timeout=timeout)

    def load_items(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            self.producer.send(self.names.items, key=str(item["item_id"]).encode(), value=orjson.dumps(item))
        self.producer.flush()

    def send_event(self, kind: str, user_id: str, **fields: Any) -> str:
        event_id = fields.pop("event_id", None) or f"e-{uuid.uuid4().hex[:12]}"
        body = {"event_id": event_id, "user_id": user_id, "ts": time.time(), **fields}
        with self.lock:
            self.producer.send(self.names.event_topic(kind), key=user_id.encode(), value=orjson.dumps(body))
            self.producer.flush()
        return event_id

    def send_raw(self, topic: str, key: bytes, value: bytes) -> None:
        with self.lock:
            self.producer.send(topic, key=key, value=value)
            self.producer.flush()

    def get(self, path: str, token: str | None = None, timeout: float = 5.0) -> tuple[int, Any, str]:
        """(status, parsed JSON or text, content type) of ``GET path``; ``token`` as a bearer."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(self.base_url + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, body, ctype = response.status, response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            status, body, ctype = exc.code, exc.read(), exc.headers.get("Content-Type", "")
        text = body.decode("utf-8", "replace")
        return status, (json.loads(text) if "json" in ctype else text), ctype

    def wait_for(self, path: str, predicate: Any, timeout: float = 30.0) -> Any:
        """Poll ``GET path`` (with this stack's token) until ``predicate(body)`` holds."""
        deadline = time.monotonic() + timeout
        body: Any = None
        while time.monotonic() < deadline:
            status, body, _ = self.get(path, self.token or None)
            if status == 200 and predicate(body):
                return body
            time.sleep(0.2)
        raise AssertionError(f"GET {path} never satisfied the condition in {timeout}s; last body: "
                             f"{str(body)[:500]}")

    def close(self) -> None:
        stop_process(self.worker)
        self.producer.close()
