"""Notice when the broker has lost our topics, and start over once instead of stalling.

The embedded broker keeps everything in memory: after it restarts, the topics come back
empty under new topic ids while the worker still holds offsets into the old ones, and
would wait for ever for offsets that no longer exist. A real Kafka cluster keeps topics
and offsets across broker restarts, so there this never fires.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any

from stream_apps.settings import Settings

log = logging.getLogger(__name__)


def topic_ids(settings: Settings, topics: list[str]) -> dict[str, str] | None:
    """Topic name -> topic id, or None when the broker cannot say right now."""
    from kafka.errors import KafkaError

    from stream_apps.kafka.clients import BrokerUnreachable, admin_client

    try:
        admin = admin_client(settings, timeout_s=5)
    except (BrokerUnreachable, KafkaError, OSError):
        return None
    try:
        described = admin.describe_topics(topics)
        ids = {t["name"]: str(t.get("topic_id")) for t in described if not t.get("error_code")}
        return ids if len(ids) == len(topics) else None
    except (KafkaError, OSError, ValueError):
        return None
    finally:
        admin.close()


async def watch_topics(settings: Settings, topics: list[str], on_lost: Any, interval_s: float = 5.0) -> None:
    """Call ``on_lost()`` once if any of ``topics`` is recreated (its id changes)."""
    loop = asyncio.get_running_loop()
    known: dict[str, str] | None = None
    while known is None:
        known = await loop.run_in_executor(None, topic_ids, settings, topics)
        if known is None:
            await asyncio.sleep(interval_s)
    while True:
        await asyncio.sleep(interval_s)
        current = await loop.run_in_executor(None, topic_ids, settings, topics)
        if current is not None and current != known:
            on_lost()
            return


def restart_self(reason: str) -> None:
    log.warning("%s; restarting this worker so it starts over from the new topics", reason)
    os.kill(os.getpid(), signal.SIGTERM)


def reset_group_offsets(settings: Settings, topics: list[str]) -> None:
    """Point the worker group's committed offsets at the start of ``topics``.

    After the broker lost its topics, the old process may already have committed its old
    (now meaningless) positions into the new topics before it noticed; the restarted
    worker must read the new topics from their beginning instead.
    """
    from kafka import TopicPartition
    from kafka.structs import OffsetAndMetadata

    from stream_apps.kafka.clients import consumer

    cons = consumer(settings, group_id=settings.faust_id)
    try:
        offsets = {}
        for topic in topics:
            for partition in cons.partitions_for_topic(topic) or ():
                offsets[TopicPartition(topic, partition)] = OffsetAndMetadata(0, "", -1)
        if offsets:
            cons.commit(offsets)
            log.warning("reset %d committed offsets of group %s to the start of the new topics",
                        len(offsets), settings.faust_id)
    finally:
        cons.close()
