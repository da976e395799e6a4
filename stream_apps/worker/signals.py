"""Shared item signals on the worker side: send this worker's increments, keep the replica.

:func:`learn_signals` is the one call the interactions agent makes per new interaction
(instead of :func:`engine.recommend.learn_collaborative`): with ``shared_signals`` it
applies the event's row increments to this worker's replica at once (its next
recommendation sees them) and sends them to ``item-signal-increments``, one message per
destination partition (the partition of the row's item, :func:`engine.item_signals.partition_for`);
without, it learns locally as before. The aggregator (:mod:`stream_apps.worker.agents.signals`)
and the reader (:mod:`stream_apps.worker.signals_loader`) do the rest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from engine.events import Interaction
from engine.interests import UserState
from engine.item_signals import (
    ItemRow,
    SignalsReplica,
    event_increments,
    increments_message,
    partition_for,
    row_from_dict,
)
from engine.recommend import learn_collaborative
from stream_apps.codecs import dumps

log = logging.getLogger(__name__)


class DecodedRows:
    """Item-signals rows as this worker last wrote them, with their bytes: the aggregator
    reads its own table value back for the next increments, and the reader gets the same
    bytes back from the changelog, so a row this worker wrote is decoded by neither (the
    bytes are compared, so another writer's row is always decoded). At most ``capacity``
    rows, the least recently written dropped first: only hot rows and the reader's echo of
    recent writes pay off. About 3.5 KB per 50-neighbour row: 14 MB at the default."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._rows: dict[str, tuple[bytes, ItemRow]] = {}

    def wrote(self, item_id: str, raw: bytes, row: ItemRow) -> None:
        self._rows.pop(item_id, None)  # re-insert: the dict's order is the write order
        self._rows[item_id] = (raw, row)
        if len(self._rows) > self.capacity:
            del self._rows[next(iter(self._rows))]

    def decode(self, item_id: str, raw: bytes) -> ItemRow:
        """The row in ``raw`` (``raw`` must be a row's JSON; raises :class:`InvalidEvent` or
        ``ValueError`` when it is not)."""
        known = self._rows.get(item_id)
        if known is not None and known[0] == raw:  # bytes == checks identity first
            return known[1]
        return row_from_dict(orjson.loads(raw))


@dataclass
class SharedSignals:
    """The worker's share of the shared-signals plumbing (set up in ``create_app``)."""

    replica: SignalsReplica
    increments_topic: Any
    partitions: int
    positions: dict[int, int] = field(default_factory=dict)  # item-signals partition -> next offset read
    highwaters: dict[int, int] = field(default_factory=dict)
    caught_up: bool = False
    sent: int = 0
    rows: DecodedRows = field(default_factory=DecodedRows)

    def status(self) -> dict[str, Any]:
        """What /health and the internal view report."""
        behind = sum(max(self.highwaters.get(p, 0) - o, 0) for p, o in self.positions.items())
        return {"rows": self.replica.rows_applied, "pending": self.replica.pending,
                "positions": {str(p): o for p, o in sorted(self.positions.items())},
                "behind": behind, "caught_up": self.caught_up, "messages_sent": self.sent}


class IncrementsOutbox:
    """A batch's increments by destination partition, sent as one message per partition
    (at most ``max_events`` events each) instead of one per event and partition: the
    aggregator then reads and writes each touched row once per message, not once per
    event. Entries keep their call order, so a source's offsets stay increasing."""

    def __init__(self, max_events: int = 64) -> None:
        self.max_events = max_events
        self._by_partition: dict[int, list[tuple[str, int, str | None, float, dict[str, Any]]]] = {}

    def add(self, partition: int, entry: tuple[str, int, str | None, float, dict[str, Any]]) -> None:
        self._by_partition.setdefault(partition, []).append(entry)

    def flush(self, shared: SharedSignals) -> None:
        for partition, entries in sorted(self._by_partition.items()):
            for start in range(0, len(entries), self.max_events):
                value = dumps(increments_message(entries[start:start + self.max_events]))
                shared.increments_topic.send_soon(key=None, value=value, partition=partition)
                shared.sent += 1
        self._by_partition.clear()


def learn_signals(ctx: Any, state: UserState | None, event: Interaction, interest_config: Any,
                  message: Any = None, outbox: IncrementsOutbox | None = None) -> None:
    """Learn one new interaction: shared (send increments) or local, per ``shared_signals``.

    ``message`` is the Kafka message the event came in (topic, partition, offset: what
    makes the increments exactly-once); default: Faust's current event's message. With
    ``outbox`` the increments wait there for the batch's :meth:`IncrementsOutbox.flush`.
    """
    shared: SharedSignals | None = ctx.signalling.signals
    if shared is None:
        learn_collaborative(ctx.catalogue.collaborative, state, event, interest_config)
        return
    rows = event_increments(state, event, interest_config, ctx.settings.covisit_config())
    if not rows:
        return
    if message is None:
        from faust import current_event

        current = current_event()
        if current is None:
            raise RuntimeError("learn_signals outside an agent needs the source message")
        message = current.message
    source, offset = f"{message.topic}[{message.partition}]", int(message.offset)
    shared.replica.apply_local(rows, source, offset, event.ts)
    by_partition: dict[int, dict[str, Any]] = {}
    for item_id, inc in rows.items():
        by_partition.setdefault(partition_for(item_id, shared.partitions), {})[item_id] = inc
    if outbox is not None:
        for partition, part in by_partition.items():
            outbox.add(partition, (source, offset, event.event_id, event.ts, part))
        return
    for partition, part in sorted(by_partition.items()):
        value = dumps(increments_message([(source, offset, event.event_id, event.ts, part)]))
        # send_soon: buffered like Faust's own changelog writes, in call order per partition.
        shared.increments_topic.send_soon(key=None, value=value, partition=partition)
        shared.sent += 1
