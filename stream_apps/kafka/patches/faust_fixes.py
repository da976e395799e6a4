"""Faust/aiokafka bugs that drop events or commit past them on failover, fixed client-side.

Both show after a failover (a worker SIGKILLed, its partitions moved): the survivor reads
the dead worker's changelogs, and when Faust hands the stream partitions back to the
agents it throws away events it had already taken from aiokafka. Issue #7 (a partition
"assigned but never processed") and issue #6 (events lost across a failover) are the two
faces of it:

* **Queues cleared after the stream partitions are resumed.** Faust's recovery resumes
  ``app.flow_control`` to read the changelogs and leaves it resumed. At the end
  (``Recovery.on_recovery_completed``) it resumes the stream partitions, seeks them to
  their committed offsets, and *then* calls ``app.flow_control.resume()``, which clears
  every stream queue (``FlowControlEvent.resume`` -> ``clear()``). Events the fetch loop
  delivered in between (the seek is an await on the consumer thread, so it has time)
  are dropped unacked, while aiokafka's position is already past them. If nothing else
  arrives the partition looks stalled forever (#7); when the next event comes Faust sees
  an offset gap, records it as a "gap" (meant for compacted or transactional logs) and
  commits past the dropped events: they are lost (#6). We suspend flow control first,
  so nothing enters a stream queue until the queues are cleared and flow resumes.
* **No rewind for partitions without a committed offset.** Whenever Faust drops fetched
  records (flow stopped or generation changed mid-batch) it relies on
  ``perform_seek`` -> aiokafka's ``seek_to_committed`` to read them again. aiokafka only
  seeks when the committed offset is > 0 (``if offset and offset > 0``), so a partition
  never committed (or committed at 0) stays past the dropped records. We seek those
  partitions to 0, or reset them with the consumer's ``auto_offset_reset``.
* **Flush before commit that does not wait.** Faust flushes its producer before it
  commits offsets, so that the changelog writes of the committed events are durable.
  But ``ProducerBuffer.flush`` gives up after 0.1 s without a message going out, and
  does not count the message its sender task has taken from the buffer and not yet
  handed to aiokafka. On a busy machine the commit can then go out ahead of changelog
  writes; a SIGKILL right after loses them while the offsets say "done". We flush
  until the buffer is empty and nothing is in transit.
* **A commit past one unread offset.** Faust refuses to commit over a hole at the head
  of the acked offsets only when it is two or more wide (``min(acked) - committed > 1``):
  an event dropped right at the committed offset is committed past and lost (seen in
  our failover runs: the committed offset's event dropped in the hand-over, the next
  commit jumped over it). We do not commit over any hole; the partition then reads on
  uncommitted, and the partition watchdog seeks it back to the committed offset once it
  stops moving, which reads the missing event.

Replays are harmless here (``event_id`` dedup), losses are not: both fixes only ever
make the worker read again, or wait a little longer before a commit. Call
:func:`apply_faust_fixes` once, before the worker starts (``stream_apps.worker.app.create_app``
does).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from aiokafka.consumer.fetcher import OffsetResetStrategy
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.producer import ProducerBuffer
from faust.types import TP

log = logging.getLogger(__name__)

__all__ = ["apply_faust_fixes", "faust_fixes_applied"]

_MARKER = "_streamrec_faust_fix"

#: Set on a ProducerBuffer while its sender task holds a message not yet in aiokafka.
_IN_TRANSIT = "_streamrec_in_transit"


def faust_fixes_applied() -> bool:
    """True once :func:`apply_faust_fixes` has patched Faust in this process."""
    return all(getattr(f, _MARKER, False) for f in (
        Recovery.on_recovery_completed,
        faust_aiokafka.AIOKafkaConsumerThread.seek_to_committed,
        ProducerBuffer.flush,
        ProducerBuffer._send_pending,
        Consumer._new_offset,
    ))


def apply_faust_fixes() -> None:
    """Patch Faust's recovery hand-over, seek-to-committed, flush and commit (idempotent)."""
    _patch_recovery_hand_over()
    _patch_seek_to_committed()
    _patch_producer_flush()
    _patch_no_commit_past_a_hole()


def _mark(func: Any) -> Any:
    setattr(func, _MARKER, True)
    return func


def _patch_recovery_hand_over() -> None:
    orig = Recovery.on_recovery_completed
    if getattr(orig, _MARKER, False):
        return

    async def on_recovery_completed(self: Recovery, generation_id: int = 0) -> None:
        # Faust resumed flow control for the changelog reads. Until the stream
        # partitions are sought back and flow_control.resume() has cleared the stream
        # queues (both in the original below), an event delivered would be thrown away:
        # hold deliveries at the conductor instead (it waits on flow control).
        self.app.flow_control.suspend()
        await orig(self, generation_id)

    Recovery.on_recovery_completed = _mark(on_recovery_completed)  # type: ignore[method-assign]


def _patch_seek_to_committed() -> None:
    cls = faust_aiokafka.AIOKafkaConsumerThread
    orig = cls.seek_to_committed
    if getattr(orig, _MARKER, False):
        return

    async def seek_to_committed(self: faust_aiokafka.AIOKafkaConsumerThread) -> Mapping[TP, int]:
        """Seek every assigned partition to its committed offset, including 0 and none."""
        return await self.call_thread(_seek_all_to_committed, self._ensure_consumer())

    cls.seek_to_committed = _mark(seek_to_committed)  # type: ignore[method-assign]


async def _seek_all_to_committed(consumer: Any) -> Mapping[TP, int]:
    # On the consumer thread (call_thread): aiokafka is not thread-safe.
    committed: dict[Any, Any] = await consumer.seek_to_committed()
    fetcher = consumer._fetcher
    unset = [tp for tp, offset in committed.items() if offset is None]
    for tp, offset in committed.items():
        if offset == 0:
            fetcher.seek_to(tp, 0)  # aiokafka skips 0: "if offset and offset > 0"
    strategy = fetcher._default_reset_strategy
    if unset and strategy != OffsetResetStrategy.NONE:
        # Never committed: where a fresh consumer would start (auto_offset_reset).
        reset = fetcher.request_offset_reset(unset, strategy)
        assignment = consumer._subscription.subscription.assignment
        await asyncio.wait([reset, assignment.unassign_future],
                           timeout=consumer._request_timeout_ms / 1000,
                           return_when=asyncio.FIRST_COMPLETED)
        if not reset.done():
            reset.cancel()
            log.warning("no reset offset for %s yet; they start where aiokafka puts them", unset)
    return committed


def _patch_producer_flush() -> None:
    orig_send = ProducerBuffer._send_pending
    if not getattr(orig_send, _MARKER, False):
        async def _send_pending(self: ProducerBuffer, fut: Any) -> None:
            # Between the sender's get() and aiokafka's accumulator the message is in
            # neither: count it, so flush() waits for it too.
            setattr(self, _IN_TRANSIT, getattr(self, _IN_TRANSIT, 0) + 1)
            try:
                await orig_send(self, fut)
            finally:
                setattr(self, _IN_TRANSIT, getattr(self, _IN_TRANSIT, 0) - 1)

        ProducerBuffer._send_pending = _mark(_send_pending)  # type: ignore[method-assign]

    orig_flush = ProducerBuffer.flush
    if getattr(orig_flush, _MARKER, False):
        return

    async def flush(self: ProducerBuffer) -> None:
        """Until the buffer is empty and the sender holds nothing (or the buffer stops)."""
        while True:
            await orig_flush(self)  # returns after 0.1 s without a send, empty or not
            if (self.size == 0 and not getattr(self, _IN_TRANSIT, 0)) or self.should_stop:
                return
            await asyncio.sleep(0.005)

    ProducerBuffer.flush = _mark(flush)  # type: ignore[method-assign]


def _patch_no_commit_past_a_hole() -> None:
    orig = Consumer._new_offset
    if getattr(orig, _MARKER, False):
        return

    def _new_offset(self: Consumer, tp: TP) -> int | None:
        acked = self._acked[tp]
        committed = self._committed_offset[tp]
        gaps = self._gap[tp]
        if (acked and committed is not None and min(acked) > committed
                and committed not in self._acked_index[tp]
                and not gaps.at(committed) and not gaps.at(committed + 1)):
            # The event at ``committed`` was never acked, and the fetch loop saw no offset
            # gap there (compaction, a reset after retention: Faust records those from
            # committed + 1 on): committing over it would lose it. Faust lets a hole of
            # exactly one through.
            warned: set[Any] = self.__dict__.setdefault("_streamrec_hole_warned", set())
            if (tp, committed) not in warned:
                warned.add((tp, committed))
                log.warning("not committing %s[%d] past offset %d: it was never processed "
                            "(next processed: %d); the partition watchdog will read it again",
                            tp.topic, tp.partition, committed, min(acked))
            return None
        return orig(self, tp)

    Consumer._new_offset = _mark(_new_offset)  # type: ignore[method-assign]
