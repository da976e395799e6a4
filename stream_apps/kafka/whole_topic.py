"""Read a topic whole: every partition from the beginning, for ever, without a group.

What ``item-vectors``, ``model-updates`` and ``item-signals`` need: every worker holds all
of them (not a share), and is ready once it has caught up with the high watermarks the
broker reports in fetch responses (Tansu's ListOffsets answer is wrong, see
``patches.tansu_compat``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

# With no high watermark known by then (nothing fetched: an empty topic), a reader counts
# as caught up.
EMPTY_AFTER_S = 3.0


@dataclass
class Fetch:
    """One fetch of a whole-topic read."""

    partitions: tuple[int, ...]  # all of the topic's
    records: list[Any]  # each partition's in offset order, partition after partition
    caught_up: bool  # at the high watermark on every partition, once these records are applied
    highwaters: dict[int, int]  # partition -> high watermark, where a fetch has told it


async def read_whole(consumer_factory: Callable[[], Any], topic: str,
                     max_records: int = 5000) -> AsyncIterator[Fetch]:
    """Every record of ``topic`` from the beginning, fetch by fetch, for ever.

    ``consumer_factory`` makes an aiokafka consumer without a group; it is started here
    and stopped when the reader is closed (wrap the loop in ``contextlib.aclosing``, so
    a cancelled task closes it at once).
    """
    from aiokafka.structs import TopicPartition

    consumer = consumer_factory()
    await consumer.start()
    try:
        partitions = tuple(await partitions_of(consumer, topic))
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        started = time.monotonic()
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=max_records)
            records = [r for tp in tps for r in batches.get(tp, [])]
            highwaters = {tp.partition: h for tp in tps if (h := consumer.highwater(tp)) is not None}
            yield Fetch(partitions, records, await caught_up(consumer, tps, started), highwaters)
    finally:
        await consumer.stop()


async def partitions_of(consumer: Any, topic: str) -> list[int]:
    """The topic's partitions, waiting for metadata until the topic exists."""
    while True:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return sorted(partitions)
        await asyncio.sleep(0.5)


async def caught_up(consumer: Any, tps: list[Any], started: float) -> bool:
    """At the high watermark on every partition (known from a fetch), or none known after
    ``EMPTY_AFTER_S``."""
    highwaters = [consumer.highwater(tp) for tp in tps]
    if all(h is not None for h in highwaters):
        positions = [await consumer.position(tp) for tp in tps]
        return all(pos >= h for pos, h in zip(positions, highwaters))
    return time.monotonic() - started > EMPTY_AFTER_S
