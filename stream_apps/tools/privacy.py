"""``streamrec forget USER_ID``: remove a user's state everywhere and show the audit record."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from stream_apps.kafka.topics import TopicNames
from stream_apps.settings import Settings


class ForgetTimeout(RuntimeError):
    """No worker confirmed the forget request in time."""


def forget_user(settings: Settings, user_id: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """Send a forget request and wait for the worker's audit record; returns it with the
    measured ``confirmed_after_ms``."""
    from kafka import TopicPartition

    from stream_apps.kafka.clients import consumer, producer
    from stream_apps.worker.run import wait_for_topics

    if not user_id.strip():
        raise ValueError("user_id must not be empty")
    wait_for_topics(settings, max_wait_s=5)
    names = TopicNames.of(settings)
    audit = consumer(settings)
    partitions = audit.partitions_for_topic(names.audit) or {0}
    tps = [TopicPartition(names.audit, p) for p in partitions]
    audit.assign(tps)
    audit.seek_to_end(*tps)
    for tp in tps:
        audit.position(tp)  # resolve "end" now, before the request goes out
    request_id = f"forget-{uuid.uuid4().hex[:12]}"
    prod = producer(settings)
    sent = time.time()
    prod.send(names.control, key=user_id.encode(), value=orjson.dumps(
        {"op": "forget", "user_id": user_id, "request_id": request_id, "ts": sent}))
    prod.flush()
    prod.close()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            for records in audit.poll(timeout_ms=100).values():
                for record in records:
                    body = orjson.loads(record.value)
                    if body.get("request_id") == request_id:
                        body["confirmed_after_ms"] = round((time.time() - sent) * 1000, 1)
                        return dict(body)
    finally:
        audit.close()
    raise ForgetTimeout(f"no worker confirmed forgetting {user_id!r} within {timeout_s:.0f}s "
                        f"(request {request_id} is on {names.control}; a worker will apply it when it runs)")
