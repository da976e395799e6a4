"""engine.step.handle_event on hand-made examples: what each kind of event stores and
which effects it asks for."""

from __future__ import annotations

import numpy as np
import pytest

from engine.events import Impression, Interaction
from engine.interests import UserState, serialize_state, shown_at
from engine.step import Effects, StepConfig, handle_event

CONFIG = StepConfig()
MUG = np.array([1.0, 0.0], dtype=np.float32)
QUERY = np.array([0.0, 1.0], dtype=np.float32)


def click(item: str | None = "mug", event_id: str = "e1", rec_id: str | None = None,
          kind: str = "click", query: str | None = None) -> Interaction:
    return Interaction(kind, "u1", 100.0, item_id=item, query=query, event_id=event_id, rec_id=rec_id)


def test_a_known_item_moves_interests_teaches_counts_and_asks_for_a_page() -> None:
    state, fx = handle_event(None, click(), MUG, None, 2, CONFIG, now=500.0)
    assert fx == Effects(learn=True, serve=True)
    assert state is not None and state.recent_items == ("mug",) and state.events == 1
    assert state.last_seen == 500.0  # processing time, not the event's ts
    np.testing.assert_allclose(state.long.vector, MUG)


def test_a_redelivered_event_is_a_duplicate_and_changes_nothing() -> None:
    state, _ = handle_event(None, click(), MUG, None, 2, CONFIG, now=500.0)
    again, fx = handle_event(state, click(), MUG, None, 2, CONFIG, now=600.0)
    assert again is None and fx == Effects(duplicate=True)


def test_an_unknown_item_for_an_unknown_user_keeps_nothing_but_its_feedback() -> None:
    state, fx = handle_event(None, click("nope", rec_id="r9"), None, None, 2, CONFIG, now=1.0)
    assert state is None and fx == Effects(feedback=("r9", "nope", "click"))


def test_an_unknown_item_for_a_known_user_is_history_without_a_page() -> None:
    known, _ = handle_event(None, click(), MUG, None, 2, CONFIG, now=1.0)
    state, fx = handle_event(known, click("nope", event_id="e2"), None, None, 2, CONFIG, now=2.0)
    assert fx == Effects()  # no vector moved: no page, and nothing to learn from
    assert state is not None and state.recent_items == ("mug", "nope")
    np.testing.assert_allclose(state.long.vector, known.long.vector)


def test_a_search_moves_interests_without_learning_counts() -> None:
    search = click(None, kind="search", query="tea")
    state, fx = handle_event(None, search, None, QUERY, 2, CONFIG, now=1.0)
    assert fx == Effects(serve=True)
    assert state is not None and state.last_query == "tea"


def test_a_purchase_on_a_page_is_joined_to_its_feedback() -> None:
    _, fx = handle_event(None, click(kind="purchase", rec_id="r1"), MUG, None, 2, CONFIG, now=1.0)
    assert fx.feedback == ("r1", "mug", "purchase") and fx.learn and fx.serve


def test_an_impression_counts_fatigue_in_the_state_once() -> None:
    shown = Impression("u1", 100.0, "r1", ("mug", "tea"), event_id="i1")
    state, fx = handle_event(None, shown, None, None, 2, CONFIG, now=5.0)
    assert fx == Effects() and state is not None
    assert shown_at(state, 100.0, CONFIG.shown_half_life_s) == pytest.approx({"mug": 1.0, "tea": 1.0})
    assert state.events == 0 and state.last_seen == 5.0  # interests did not move
    again, fx = handle_event(state, shown, None, None, 2, CONFIG, now=6.0)
    assert again is None and fx.duplicate


def test_an_impression_before_any_catalogue_keeps_nothing() -> None:
    state, fx = handle_event(None, Impression("u1", 1.0, None, ("a",)), None, None, None, CONFIG, 1.0)
    assert state is None and fx == Effects()


def test_the_inputs_are_not_changed() -> None:
    before = UserState.new(2)
    event, vector = click(), MUG.copy()
    handle_event(before, event, vector, None, 2, CONFIG, now=1.0)
    assert serialize_state(before) == serialize_state(UserState.new(2))
    assert event == click() and np.array_equal(vector, MUG)
