"""Every worker reads all of ``item-signals`` (the aggregator table's changelog) into its
replica of the shared co-visitation and trending counts, from the beginning.

Read whole, like :mod:`stream_apps.worker.item_loader`
(:func:`stream_apps.kafka.whole_topic.read_whole`): ready (``ctx.signalling.signals_loaded``) once
caught up. A row replaces the worker's copy of that item's row
(:meth:`engine.item_signals.SignalsReplica.apply_row`); a bad record is logged and skipped.
"""

from __future__ import annotations

import logging
from contextlib import aclosing
from typing import Any

from engine.errors import InvalidEvent
from stream_apps.kafka.whole_topic import read_whole
from stream_apps.worker.context import WorkerContext

log = logging.getLogger(__name__)


def apply_records(ctx: WorkerContext, records: list[Any]) -> int:
    """Apply changelog records in order; returns how many rows were applied."""
    shared = ctx.signalling.signals
    if shared is None:
        return 0
    applied = 0
    for record in records:
        shared.positions[record.partition] = record.offset + 1
        if record.key is None or record.value is None:
            continue  # a tombstone: the aggregator never deletes rows today
        try:
            item_id = record.key.decode() if isinstance(record.key, bytes) else str(record.key)
            row = shared.rows.decode(item_id, record.value)
        except (InvalidEvent, ValueError, UnicodeDecodeError) as exc:
            log.error("skipping bad item-signals record at %s[%s]@%s: %s",
                      record.topic, record.partition, record.offset, exc)
            continue
        shared.replica.apply_row(item_id, row)
        applied += 1
    return applied


async def run_signals_loader(ctx: WorkerContext, consumer_factory: Any) -> None:
    """Consume ``item-signals`` for ever; sets ``ctx.signalling.signals_loaded`` once caught up."""
    shared = ctx.signalling.signals
    if shared is None or ctx.signalling.signals_loaded is None:
        raise RuntimeError("create_app sets ctx.signalling.signals and .signals_loaded before tasks start")
    async with aclosing(read_whole(consumer_factory, ctx.names.item_signals)) as fetches:
        async for fetch in fetches:
            for partition in fetch.partitions:
                shared.positions.setdefault(partition, 0)
            if fetch.records:
                async with ctx.catalogue.index_lock:  # the ranking thread reads these counts
                    apply_records(ctx, fetch.records)
            shared.highwaters.update(fetch.highwaters)
            if not ctx.signalling.signals_loaded.is_set() and fetch.caught_up:
                shared.caught_up = True
                ctx.signalling.signals_loaded.set()
                log.info("shared item signals loaded: %d rows", shared.replica.rows_applied)
