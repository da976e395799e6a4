"""stream_apps.kafka.patches.passive_stream: the background drain ``take_batches`` starts
through Faust's private ``Stream._enable_passive``, on Faust's own channel and stream (the
app is never started, so no broker), and the start-up check that the attribute is there."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
import pytest
from faust import Stream

from stream_apps.kafka import patches
from stream_apps.kafka.patches import passive_stream
from stream_apps.kafka.patches.passive_stream import drain_passively


async def _drain(values: list[int]) -> tuple[Any, list[tuple[int, Any]]]:
    app = faust.App("streamrec-passive-stream-test", broker="kafka://127.0.0.1:9", store="memory://",
                    autodiscover=False)  # never connected
    app.flow_control.resume()  # what a partition assignment does; until then a channel's put waits
    channel = app.channel()
    stream = channel.stream()
    seen: list[tuple[int, Any]] = []

    async def processor(value: int) -> int:
        seen.append((value, stream.current_event))
        return value

    drain_passively(stream, processor)
    assert stream.enable_acks is False  # the caller acks, once its batch was handled
    for value in values:
        await channel.send(value=value)
    for _ in range(1000):  # the drain is a task of the stream: let it run, no clock involved
        if len(seen) == len(values):
            break
        await asyncio.sleep(0)
    await asyncio.wait_for(stream.stop(), 10)
    return stream, seen


def test_every_event_reaches_the_processor_in_the_background_with_acks_left_to_the_caller() -> None:
    stream, seen = asyncio.run(_drain([3, 1, 2]))
    assert [value for value, _ in seen] == [3, 1, 2]
    # The processor sees each value with its event current: what take_batches keeps to ack.
    assert [event.value for _, event in seen] == [3, 1, 2]
    assert stream.enable_acks is False


def test_the_pinned_faust_has_every_private_attribute_used() -> None:
    assert passive_stream.missing_attributes() == []
    patches.check_attributes()


def test_a_missing_private_attribute_stops_the_worker_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passive_stream, "PRIVATE_ATTRIBUTES",
                        passive_stream.PRIVATE_ATTRIBUTES + ((Stream, "_enable_passive_renamed"),))
    assert passive_stream.missing_attributes() == ["Stream._enable_passive_renamed"]
    with pytest.raises(patches.UnsupportedLibraryVersion, match=r"Stream\._enable_passive_renamed"):
        patches.apply_patches(fetch_max_wait_ms=50)


def test_every_listed_private_attribute_is_checked_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from faust import streams as faust_streams

    from stream_apps.kafka.patches import current_event, partition_watchdog

    assert patches.missing_attributes() == []
    monkeypatch.setattr(current_event, "PRIVATE_ATTRIBUTES", ((faust_streams, "_current_event_renamed"),))
    monkeypatch.setattr(partition_watchdog, "PRIVATE_ATTRIBUTES",
                        ((partition_watchdog.FaustConsumer, "_commit_fut_renamed"),))
    assert patches.missing_attributes() == ["faust.streams._current_event_renamed",
                                            "Consumer._commit_fut_renamed"]
    with pytest.raises(patches.UnsupportedLibraryVersion, match="_current_event_renamed"):
        patches.apply_patches(fetch_max_wait_ms=50)
