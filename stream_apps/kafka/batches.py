"""Micro-batches of a Faust stream that keep filling while the previous batch is handled.

Faust's ``Stream.take_events`` stops taking events from the stream while the caller
handles a batch, and after it waits ``within`` for the next one: a backlog then comes
in batches of what the stream delivers in ``within`` (a few events on a loaded machine:
3 on average in one bench run, against up to 256 asked), so the fixed cost of a batch
(the ranking thread's hop, the sends) is paid every few events. :func:`take_batches`
goes on taking events into the next batch while the current one is handled, up to
``max_events`` (then the stream waits), so under a backlog each batch is as large as
what arrived meanwhile. Acks are the same as ``take_events``': an event is acked after
the batch it was yielded in was handled, never before.

An idle stream costs nothing: with no event pending it sleeps until the first one
arrives (waking every ``within`` instead cost an idle worker about a fifth of a core
across its two batched agents), and the window runs from that first event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from stream_apps.kafka.patches.passive_stream import drain_passively


async def take_batches(stream: Any, max_events: int, within_s: float) -> AsyncIterator[list[Any]]:
    """Lists of at most ``max_events`` events: as soon as one is full, otherwise the
    events taken within ``within_s`` of the first (or while the previous batch was handled)."""
    pending: list[Any] = []
    arrived = asyncio.Event()  # set while ``pending`` is not empty
    full = asyncio.Event()
    room = asyncio.Event()
    room.set()

    async def add(value: Any) -> Any:
        event = stream.current_event
        if event is None:
            raise RuntimeError("take_batches found no current event")
        pending.append(event)
        arrived.set()
        if len(pending) >= max_events:
            full.set()
            room.clear()
            await stream.wait(room)  # the next batch is full: hold the stream until it is taken
        return value

    drain_passively(stream, add)  # as take_events: into ``pending`` in the background, acked here
    while not stream.should_stop:
        if not pending:
            await stream.wait_for_stopped(arrived)  # no timeout: an idle stream sleeps
            if pending and len(pending) < max_events:
                await stream.wait_for_stopped(full, timeout=within_s)
        else:  # events came in while the last batch was handled: take what else comes meanwhile
            await asyncio.sleep(0)
        if not pending:
            continue
        batch = pending[:]
        del pending[:]
        arrived.clear()
        full.clear()
        room.set()
        try:
            yield batch
        finally:
            for event in batch:
                await stream.ack(event)
