"""Forget a user on request, and evict users inactive beyond ``user_ttl_s``.

Both run on the ``control`` topic, which is keyed and partitioned like the events, so
the table change happens on the partition that owns the user (Faust writes the
changelog entry of a table change to the partition of the message being processed).
A sweep is a message sent to one partition; it evicts the stale users of that partition.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from kafka.partitioner.default import murmur2
from prometheus_client import Counter

from engine.interests import last_seen
from stream_apps.codecs import dumps, loads
from stream_apps.worker.context import WorkerContext
from stream_apps.worker.dead_letter import send_to_dead_letter

log = logging.getLogger(__name__)


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default (murmur2) partitioner gives ``key``, as every
    standard client does for keyed messages."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def register_control(app: Any, ctx: WorkerContext, control_topic: Any, user_state: Any,
                     recommendations_topic: Any, audit_topic: Any, dead_letter_topic: Any) -> Any:
    settings = ctx.settings
    forgotten = Counter("streamrec_forgotten_users_total", "Users forgotten on request",
                        registry=ctx.metrics.registry)
    evicted_total = Counter("streamrec_evicted_users_total",
                            "Users evicted after user_ttl_s without events", registry=ctx.metrics.registry)

    @app.agent(control_topic, name="control")
    async def control(stream: Any) -> None:
        async for event in stream.events():
            try:
                message = loads(event.value)
                op = message.get("op") if isinstance(message, dict) else None
                if op not in ("forget", "sweep"):
                    raise ValueError(f"control message needs op 'forget' or 'sweep', got {op!r}")
                if op == "forget" and not isinstance(message.get("user_id"), str):
                    raise ValueError("forget needs a user_id string")
            except ValueError as exc:
                await send_to_dead_letter(ctx, dead_letter_topic, event, str(exc))
                continue
            now = time.time()
            if op == "forget":
                user_id = message["user_id"]
                had_state = user_state.get(user_id) is not None
                if had_state:
                    del user_state[user_id]  # a tombstone on the changelog
                ctx.learning.feedback.forget_user(user_id)  # pages not yet labelled (fatigue is in the state)
                ctx.learning.next_event.forget_user(user_id)  # their last candidate set, and their
                ctx.learning.refits.log.forget_user(user_id)  # items in the item model's next fit
                # A tombstone for the user's recommendations, for compacted consumers.
                await recommendations_topic.send(key=user_id.encode(), value=None)
                # Make the forget durable before confirming it to anyone: flush the
                # tombstone and commit the events processed so far, so that a crash right
                # now cannot replay an older event of this user and bring them back.
                await app.producer.flush()
                await app.consumer.commit()
                await audit_topic.send(key=user_id.encode(), value=dumps({
                    "action": "forget", "user_id": user_id, "request_id": message.get("request_id"),
                    "had_state": had_state, "ts": now,
                    "requested_ts": message.get("ts"), "partition": event.message.partition}))
                forgotten.inc()
                log.info("forgot user %s (had state: %s)", user_id, had_state)
            else:
                evicted = sweep_partition(user_state, event.message.partition, settings.partitions,
                                          now, settings.user_ttl_s)
                if evicted:
                    evicted_total.inc(len(evicted))
                    await audit_topic.send(key=None, value=dumps({
                        "action": "evict", "users": len(evicted), "partition": event.message.partition,
                        "ttl_s": settings.user_ttl_s, "ts": now}))

    return control


def sweep_partition(user_state: Any, partition: int, partitions: int, now: float, ttl_s: float) -> list[str]:
    """Delete the users of ``partition`` the worker has not seen for ``ttl_s`` seconds.

    ``now`` and the state's ``last_seen`` are both processing time (the worker's clock):
    comparing the clock with an event's own ``ts`` would evict every user of a backfill
    (events from last year) at the first sweep."""
    stale = []
    for user_id, raw in list(user_state.items()):
        if raw is None or partition_of(user_id.encode(), partitions) != partition:
            continue
        if now - last_seen(raw) > ttl_s:
            stale.append(user_id)
    for user_id in stale:
        del user_state[user_id]
    return stale


async def send_sweeps(control_topic: Any, partitions: int) -> None:
    """Ask every partition's owner to evict its stale users."""
    for partition in range(partitions):
        await control_topic.send(value=dumps({"op": "sweep"}), partition=partition)
