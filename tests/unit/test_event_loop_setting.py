"""``event_loop``: the worker (and bench's pass-through agent) runs on uvloop by default,
on asyncio's own loop when asked; anything else is a clear settings error."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import uvloop

from stream_apps.settings import Settings, SettingsError, from_env
from stream_apps.worker.run import use_event_loop


@pytest.fixture
def restore_policy() -> Iterator[None]:
    before = asyncio.get_event_loop_policy()
    yield
    asyncio.set_event_loop_policy(before)


@pytest.mark.parametrize("name,loop_type", [("uvloop", uvloop.Loop), ("asyncio", asyncio.SelectorEventLoop)])
def test_new_loops_are_of_the_chosen_kind(name: str, loop_type: type, restore_policy: None) -> None:
    use_event_loop(name)
    loop = asyncio.new_event_loop()
    try:
        assert isinstance(loop, loop_type)
        assert loop.run_until_complete(asyncio.sleep(0, result="ran")) == "ran"
    finally:
        loop.close()


def test_default_is_uvloop_and_the_environment_can_choose() -> None:
    assert Settings().event_loop == "uvloop"
    assert from_env({"STREAMREC_EVENT_LOOP": "asyncio"}).event_loop == "asyncio"


def test_an_unknown_loop_is_a_clear_error() -> None:
    with pytest.raises(SettingsError, match="event_loop must be one of uvloop, asyncio, got 'tokio'"):
        Settings(event_loop="tokio")
