"""The interactions agent's micro-batch (UserBatch): states read once and written once per
user, pages coalesced per user (or one per event), and a state forgotten mid-batch is
not written back. The table is a plain dict here; through the broker it is a Faust
table (tests/integration/test_batching.py)."""

from __future__ import annotations

import numpy as np

from engine.config import InterestConfig
from engine.events import Interaction
from engine.interests import UserState, apply_interaction, deserialize_state, serialize_state
from stream_apps.worker.agents.interactions import UserBatch


class Event:
    """What UserBatch keeps of a Faust event: only handed to Faust's current-event hook."""


def click(state: UserState | None, user: str, item: str, n: int) -> UserState:
    vec = np.zeros(4, np.float32)
    vec[n % 4] = 1.0
    return apply_interaction(state or UserState.new(4), Interaction("click", user, ts=100.0 + n, item_id=item,
                                                                    event_id=f"{user}-{n}"),
                             vec, None, InterestConfig())


def run(batch: UserBatch, events: list[tuple[str, str]]) -> None:
    for n, (user, item) in enumerate(events):
        state = click(batch.get(user), user, item, n)
        batch.put(user, state, Event())
        batch.serve(user, state, "home", "events.click", f"{user}-{n}", 1.0 + n)


def test_a_users_events_in_one_batch_give_one_page_listing_them_all() -> None:
    table: dict[str, bytes] = {"u1": serialize_state(click(None, "u1", "old", 9))}
    batch = UserBatch(table, coalesce=True)
    run(batch, [("u1", "a"), ("u2", "b"), ("u1", "c"), ("u1", "d")])
    assert [p.user_id for p in batch.pages] == ["u1", "u2"]
    ask = batch.pages[0].ask()
    assert ask.trigger == {"topic": "events.click", "event_id": "u1-3", "event_ids": ["u1-0", "u1-2", "u1-3"]}
    assert ask.state is not None and ask.state.recent_items[-3:] == ("a", "c", "d")  # every event applied
    assert batch.pages[0].produced_at == [1.0, 3.0, 4.0]
    batch.write_states()
    assert deserialize_state(table["u1"]).recent_items == ("old", "a", "c", "d")  # one write, all events
    assert deserialize_state(table["u2"]).recent_items == ("b",)


def test_without_coalescing_each_event_gets_its_own_page_in_order() -> None:
    batch = UserBatch({}, coalesce=False)
    run(batch, [("u1", "a"), ("u1", "b")])
    asks = [p.ask() for p in batch.pages]
    assert [a.trigger["event_ids"] for a in asks if a.trigger] == [["u1-0"], ["u1-1"]]
    assert [a.state.recent_items for a in asks if a.state] == [("a",), ("a", "b")]


def test_a_user_forgotten_while_the_batch_held_their_state_stays_forgotten() -> None:
    table: dict[str, bytes] = {"u1": serialize_state(click(None, "u1", "old", 9))}
    batch = UserBatch(table, coalesce=True)
    run(batch, [("u1", "a"), ("u2", "b")])
    del table["u1"]  # the control agent's forget, while this batch awaited a send
    batch.write_states()
    assert "u1" not in table and [p.user_id for p in batch.pages] == ["u2"]
    assert "u2" in table
