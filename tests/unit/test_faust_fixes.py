"""stream_apps.kafka.patches.faust_fixes: the flush Faust runs before every offset commit really waits.

The broker side of the fixes (the recovery hand-over, the seek to committed offsets) is
exercised by tests/integration/test_crash_exactly_once.py and test_scale_out.py.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

from faust.transport.producer import ProducerBuffer
from faust.types import TP

from stream_apps.kafka.patches.faust_fixes import apply_faust_fixes, faust_fixes_applied


class SlowChannel:
    """Stands in for the topic a changelog write goes to: each send takes ``delay_s``."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.sent: list[int] = []

    async def publish_message(self, fut: Any, wait: bool = False) -> None:
        await asyncio.sleep(self.delay_s)
        self.sent.append(fut.n)


async def _flush_returns_after(messages: int, delay_s: float) -> tuple[float, list[int]]:
    buffer = ProducerBuffer()
    buffer.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))
    channel = SlowChannel(delay_s)
    await buffer.start()
    try:
        for n in range(messages):
            buffer.put(SimpleNamespace(n=n, message=SimpleNamespace(channel=channel)))
        started = time.monotonic()
        await buffer.flush()
        return time.monotonic() - started, list(channel.sent)
    finally:
        await buffer.stop()


def test_flush_waits_for_every_buffered_message_even_a_slow_one() -> None:
    apply_faust_fixes()
    apply_faust_fixes()  # idempotent
    assert faust_fixes_applied()
    # Faust's own flush gave up after 0.1 s without a send: with 0.25 s per send it
    # returned with all three messages still unsent, and the commit went out first.
    took, sent = asyncio.run(_flush_returns_after(3, 0.25))
    assert sent == [0, 1, 2], sent
    assert took >= 0.7


def test_flush_of_an_empty_buffer_returns_at_once() -> None:
    apply_faust_fixes()
    took, sent = asyncio.run(_flush_returns_after(0, 0.25))
    assert sent == [] and took < 0.1


TP0 = TP("events.click", 0)


def _offsets_state(committed: int | None, acked: list[int]) -> Any:
    """The bookkeeping ``Consumer._new_offset`` reads, for one partition ``TP0``."""
    from collections import defaultdict

    from intervaltree import IntervalTree

    return SimpleNamespace(_acked=defaultdict(list, {TP0: list(acked)}),
                           _acked_index=defaultdict(set, {TP0: set(acked)}),
                           _committed_offset=defaultdict(lambda: None, {TP0: committed}),
                           _gap=defaultdict(IntervalTree))


def test_no_commit_past_an_offset_that_was_never_processed() -> None:
    from faust.transport.consumer import Consumer

    apply_faust_fixes()
    # Offset 42 was dropped; 43.. were processed. Faust's own check let this through
    # (43 - 42 == 1, not > 1) and committed 46: event 42 lost.
    state = _offsets_state(42, [43, 44, 45])
    assert Consumer._new_offset(state, TP0) is None
    assert state._acked[TP0] == [43, 44, 45]  # kept, to commit once 42 is read again
    state._acked[TP0].insert(0, 42)
    state._acked_index[TP0].add(42)
    assert Consumer._new_offset(state, TP0) == 46
    # Contiguous acks, a known gap (compaction, transaction markers) or no commit yet
    # commit as before.
    assert Consumer._new_offset(_offsets_state(42, [42, 43]), TP0) == 44
    gapped = _offsets_state(42, [44, 45])
    gapped._gap[TP0].addi(43, 44)  # as Faust's fetch loop records one, from committed + 1
    assert Consumer._new_offset(gapped, TP0) == 46
    assert Consumer._new_offset(_offsets_state(None, [0, 1]), TP0) == 2
