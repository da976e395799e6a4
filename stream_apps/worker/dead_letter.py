"""Send a bad message to ``dead-letter`` with its original bytes and the reason."""

from __future__ import annotations

import logging
from typing import Any

from stream_apps.codecs import dead_letter_record
from stream_apps.worker.context import WorkerContext

log = logging.getLogger(__name__)


async def send_to_dead_letter(ctx: WorkerContext, dead_letter_topic: Any, event: Any, error: str) -> None:
    """Record ``event`` (a Faust event with raw key/value) as rejected, and log where it was."""
    msg = event.message  # the message keeps the original bytes, whatever the codecs did
    record = dead_letter_record(msg.topic, msg.partition, msg.offset, msg.key, msg.value, error)
    await dead_letter_topic.send(key=msg.key, value=record)
    ctx.metrics.record_dead_letter(msg.topic, msg.partition, msg.offset, error)
    log.warning("dead-letter %s[%s]@%s: %s", msg.topic, msg.partition, msg.offset, error[:200])
