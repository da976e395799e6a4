"""stream_apps.kafka.batches.take_batches on Faust's own channel and stream (the app is
never started, so no broker): batches keep order and size, and an idle stream sleeps
instead of waking every window."""

from __future__ import annotations

import asyncio
from typing import Any

import faust

from stream_apps.kafka.batches import take_batches


def _stream() -> tuple[Any, Any]:
    app = faust.App("streamrec-take-batches-test", broker="kafka://127.0.0.1:9", store="memory://",
                    autodiscover=False)  # never connected
    app.flow_control.resume()  # what a partition assignment does; until then a channel's put waits
    channel = app.channel()
    return channel, channel.stream()


async def _batches_of(values: list[int], max_events: int, idle_s: float) -> tuple[list[list[int]], int]:
    """The batches ``values`` came in, and how often the batching loop waited during the
    ``idle_s`` before the first was sent."""
    channel, stream = _stream()
    waits = [0]
    real_wait = stream.wait_for_stopped

    async def counted_wait(*args: Any, **kwargs: Any) -> Any:
        waits[0] += 1
        return await real_wait(*args, **kwargs)

    stream.wait_for_stopped = counted_wait
    got: list[list[int]] = []

    async def consume() -> None:
        async for batch in take_batches(stream, max_events, within_s=0.001):
            got.append([event.value for event in batch])

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(idle_s)  # nothing sent yet: an idle stream
    idle_waits = waits[0]
    for value in values:
        await channel.send(value=value)
    for _ in range(200):
        if sum(map(len, got)) == len(values):
            break
        await asyncio.sleep(0.005)
    await asyncio.wait_for(stream.stop(), 10)
    task.cancel()
    return got, idle_waits


def test_batches_keep_arrival_order_and_never_exceed_the_maximum() -> None:
    got, _ = asyncio.run(_batches_of(list(range(7)), max_events=3, idle_s=0.01))
    assert [v for batch in got for v in batch] == list(range(7))
    assert got and all(1 <= len(batch) <= 3 for batch in got)


def test_an_idle_stream_sleeps_until_the_first_event() -> None:
    # 0.2 s idle with a 1 ms window: waking every window would be about 200 waits.
    got, idle_waits = asyncio.run(_batches_of([1, 2], max_events=8, idle_s=0.2))
    assert idle_waits <= 2
    assert [v for batch in got for v in batch] == [1, 2]
