"""The aggregator of shared item signals: ``item-signal-increments`` -> the ``item-signals`` table.

Each message carries the row increments of one or more events for items of the
message's partition (the sender picks the partition of the row's item), so the table
change goes to the right changelog partition (Faust writes a table change to the
partition of the message being processed). Exactly once: a row skips increments from a
source ``topic[partition]`` at or below the newest offset it applied
(:func:`engine.item_signals.apply_increments`), which drops both this agent's replays
after a crash and an interactions worker re-sending what it replays.

Messages are taken in micro-batches (:func:`stream_apps.kafka.batches.take_batches`): a
batch's messages of one partition are merged, in offset order, and each touched row is
read and written once per batch and partition instead of once per message (replays
included, see below). :func:`engine.item_signals.apply_increments` bounds a row after
every increment, so one call on the merged list gives exactly the rows that one call
per message gives, with fewer changelog records for every worker to read back.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from prometheus_client import Counter

from engine.errors import InvalidEvent
from engine.item_signals import (
    ItemRow,
    SourcedIncrement,
    apply_increments,
    parse_increments_message,
    partition_for,
    row_to_dict,
)
from engine.trending import TrendingConfig
from stream_apps.codecs import loads
from stream_apps.kafka.batches import take_batches
from stream_apps.kafka.patches.current_event import current_event_as
from stream_apps.worker.context import WorkerContext
from stream_apps.worker.dead_letter import send_to_dead_letter

log = logging.getLogger(__name__)

#: Increments messages merged at most (each holds up to 64 events' rows of a partition):
#: enough to write a hot row once per many messages under a backlog, little enough that
#: one batch does not hold the event loop for long.
MAX_MESSAGES_PER_BATCH = 32


def register_signal_aggregator(app: Any, ctx: WorkerContext, increments_topic: Any, signals_table: Any,
                               dead_letter_topic: Any) -> Any:
    covisit, trending = ctx.settings.covisit_config(), TrendingConfig()
    partitions = ctx.settings.partitions
    shared = ctx.signalling.signals
    if shared is None:
        raise RuntimeError("create_app sets ctx.signalling.signals before the aggregator")
    increments = Counter("streamrec_signal_increments_total",
                         "Row increments received by this worker's aggregator: applied, or skipped "
                         "as replays (source offset already in the row)", ["result"],
                         registry=ctx.metrics.registry)
    rows_written = Counter("streamrec_signal_rows_written_total",
                           "Item-signals rows this worker's aggregator wrote (changelog records that "
                           "every worker reads back): one per touched row per batch and partition",
                           registry=ctx.metrics.registry)

    @app.agent(increments_topic, name="item-signals")
    async def aggregate(stream: Any) -> None:
        async for events in take_batches(stream, MAX_MESSAGES_PER_BATCH, ctx.settings.batch_window_ms / 1000):
            by_partition: dict[int, list[Any]] = {}
            for event in events:
                by_partition.setdefault(event.message.partition, []).append(event)
            for partition, partition_events in by_partition.items():
                merged = await merge_messages(partition, partition_events)
                # A table change goes to the partition of the current event: this partition's.
                with current_event_as(partition_events[-1]):
                    write_rows(merged)

    async def merge_messages(partition: int, events: list[Any]) -> dict[str, list[SourcedIncrement]]:
        """Each item's increments over ``events`` (one partition's, in offset order);
        a message that does not parse, or its rows of other partitions, to dead-letter."""
        merged: dict[str, list[SourcedIncrement]] = {}
        for event in events:
            try:
                updates = parse_increments_message(loads(event.value))
            except (InvalidEvent, ValueError) as exc:
                await send_to_dead_letter(ctx, dead_letter_topic, event, str(exc))
                continue
            misplaced = [item for item in updates if partition_for(item, partitions) != partition]
            for item_id, item_updates in updates.items():
                if item_id not in misplaced:
                    merged.setdefault(item_id, []).extend(item_updates)
            if misplaced:  # the rest of the message was applied; these rows belong elsewhere
                await send_to_dead_letter(ctx, dead_letter_topic, event,
                                          f"rows for items of other partitions than {partition}: "
                                          f"{', '.join(misplaced[:5])}")
        return merged

    applied_increments = increments.labels(result="applied")
    skipped_increments = increments.labels(result="skipped")

    def write_rows(merged: dict[str, list[SourcedIncrement]]) -> None:
        n_applied = n_skipped = n_written = 0  # counted once per call: a metric update costs microseconds
        for item_id, item_updates in merged.items():
            raw = signals_table.get(item_id)
            try:
                row = shared.rows.decode(item_id, raw) if raw else ItemRow()
            except (InvalidEvent, ValueError) as exc:  # only we write it: a bug, not fatal
                log.error("item-signals row %r unreadable, left as it is: %s", item_id, exc)
                continue
            new_row, applied = apply_increments(row, item_updates, covisit, trending)
            n_applied += applied
            n_skipped += len(item_updates) - applied
            # Written even when every increment was a replay: the row's ``seen`` then
            # tells the sender's replica that its re-sent increments are already in,
            # so it drops them instead of keeping them on top of the row for ever.
            new_raw = orjson.dumps(row_to_dict(new_row))
            shared.rows.wrote(item_id, new_raw, new_row)
            signals_table[item_id] = new_raw
            n_written += 1
        applied_increments.inc(n_applied)
        skipped_increments.inc(n_skipped)
        rows_written.inc(n_written)

    return aggregate
