"""engine.interests: decay maths, order independence, idempotence, bounds, serialisation."""

from __future__ import annotations

import copy
import random
from dataclasses import replace

import numpy as np
import pytest

from engine.config import InterestConfig
from engine.errors import InvalidEvent
from engine.events import Interaction
from engine.interests import (
    DecayedVector,
    UserState,
    apply_interaction,
    deserialize_state,
    event_fingerprint,
    interest_at,
    serialize_state,
)

CFG = InterestConfig()
H_LONG = CFG.long_half_life_s
H_SHORT = CFG.short_half_life_s
T0 = 1_700_000_000.0


def unit(dim: int, i: int) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    v[i] = 1.0
    return v


def rand_unit(rng: np.random.Generator, dim: int) -> np.ndarray:
    v = rng.normal(size=dim).astype(np.float32)
    return (v / np.linalg.norm(v)).astype(np.float32)


def click(ts: float, item: str = "a", scene: str | None = None, event_id: str | None = None,
          kind: str = "click", query: str | None = None) -> Interaction:
    return Interaction(kind, "u1", ts=ts, item_id=item, scene=scene, event_id=event_id,
                       query=query)


def replay(events: list[tuple[Interaction, np.ndarray | None, np.ndarray | None]],
           dim: int, config: InterestConfig = CFG) -> UserState:
    state = UserState.new(dim)
    for event, item_vec, query_vec in events:
        state = apply_interaction(state, event, item_vec, query_vec, config)
    return state


def assert_same_vectors(a: UserState, b: UserState, tol: float = 1e-5) -> None:
    np.testing.assert_allclose(a.long.vector, b.long.vector, rtol=tol, atol=tol)
    np.testing.assert_allclose(a.short.vector, b.short.vector, rtol=tol, atol=tol)
    assert a.long.ts == b.long.ts and a.short.ts == b.short.ts
    assert set(a.scenes) == set(b.scenes)
    for name in a.scenes:
        np.testing.assert_allclose(a.scenes[name].vector, b.scenes[name].vector, rtol=tol, atol=tol)


# --- decay maths ---------------------------------------------------------------------

def test_two_clicks_one_half_life_apart_match_a_hand_computation() -> None:
    x1, x2 = unit(4, 0), unit(4, 1)
    state = replay([(click(0.0, "a"), x1, None), (click(H_LONG, "b"), x2, None)], dim=4)
    np.testing.assert_allclose(state.long.vector, 0.5 * x1 + x2, atol=1e-6)
    assert state.long.ts == H_LONG
    # The short-term vector forgets the first click almost entirely over a week.
    expected_short = 0.5 ** (H_LONG / H_SHORT) * x1 + x2
    np.testing.assert_allclose(state.short.vector, expected_short, atol=1e-6)


def test_event_weights_scale_contributions() -> None:
    x = unit(3, 2)
    bought = replay([(click(0.0, kind="purchase"), x, None)], dim=3)
    assert bought.long.vector[2] == pytest.approx(CFG.purchase_weight)
    three = apply_interaction(
        UserState.new(3), replace(click(0.0, kind="purchase"), quantity=4), x, None, CFG)
    assert three.long.vector[2] == pytest.approx(CFG.purchase_weight * 2.0)  # sqrt(4)
    many = apply_interaction(
        UserState.new(3), replace(click(0.0, kind="purchase"), quantity=1000), x, None, CFG)
    assert many.long.vector[2] == pytest.approx(CFG.purchase_weight * 5 ** 0.5)  # capped


def test_decay_is_lazy_and_follows_timestamps() -> None:
    x = unit(4, 0)
    state = replay([(click(T0), x, None)], dim=4)
    np.testing.assert_array_equal(state.long.vector, x)  # nothing decays at write time
    for halves in (0, 1, 2, 5):
        decayed = state.long.at(T0 + halves * H_LONG, H_LONG)
        np.testing.assert_allclose(decayed, x * 0.5 ** halves, rtol=1e-6)
    # Asking about the past never grows the vector.
    np.testing.assert_array_equal(state.long.at(T0 - H_LONG, H_LONG), x)


def test_short_term_strength_fades_with_its_half_life() -> None:
    state = replay([(click(T0), unit(4, 0), None)], dim=4)
    assert interest_at(state, T0, None, CFG).short_strength == pytest.approx(np.tanh(1.0), rel=1e-5)
    later = interest_at(state, T0 + H_SHORT, None, CFG)
    assert later.short_strength == pytest.approx(np.tanh(0.5), rel=1e-5)
    much_later = interest_at(state, T0 + 40 * H_SHORT, None, CFG)
    assert much_later.short_strength < 1e-9


def test_a_late_event_is_decayed_on_the_way_in() -> None:
    x1, x2 = unit(4, 0), unit(4, 1)
    state = replay([(click(H_LONG, "b"), x2, None), (click(0.0, "a"), x1, None)], dim=4)
    np.testing.assert_allclose(state.long.vector, 0.5 * x1 + x2, atol=1e-6)
    assert state.long.ts == H_LONG and state.last_ts == H_LONG


def test_blended_vector_is_unit_norm_and_zero_for_a_new_user() -> None:
    view = interest_at(UserState.new(8), T0, None, CFG)
    assert not np.any(view.blended)
    state = replay([(click(T0), unit(8, 3), None), (click(T0 + 60), unit(8, 5), None)], dim=8)
    view = interest_at(state, T0 + 120, None, CFG)
    assert np.linalg.norm(view.blended) == pytest.approx(1.0, abs=1e-6)
    assert view.blended[3] > 0 and view.blended[5] > view.blended[3]  # newer counts more


# --- order independence and idempotence -------------------------------------------------

def _random_history(seed: int, dim: int = 16, n: int = 30) -> list:
    rng = np.random.default_rng(seed)
    history = []
    for i in range(n):
        kind = ("click", "purchase", "search")[i % 3]
        ts = T0 + float(rng.uniform(0, 3 * 86400))
        scene = ("home", "cart", None)[int(rng.integers(3))]
        vec = rand_unit(rng, dim)
        if kind == "search":
            event = Interaction("search", "u1", ts=ts, query=f"q{i}", scene=scene, event_id=f"e{i}")
            history.append((event, None, vec))
        else:
            event = Interaction(kind, "u1", ts=ts, item_id=f"sku-{i % 7:06d}", scene=scene,
                                event_id=f"e{i}")
            history.append((event, vec, None))
    return history


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_state_does_not_depend_on_event_order(seed: int) -> None:
    history = _random_history(seed)
    reference = replay(history, dim=16)
    for shuffle_seed in range(5):
        shuffled = history[:]
        random.Random(shuffle_seed).shuffle(shuffled)
        state = replay(shuffled, dim=16)
        assert_same_vectors(state, reference)
        assert state.last_ts == reference.last_ts and state.events == reference.events
        assert state.last_query == reference.last_query
        assert state.last_query_ts == reference.last_query_ts
        assert set(state.purchased) == set(reference.purchased)
        assert set(state.recent_items) == set(reference.recent_items)
        for t in (reference.last_ts, reference.last_ts + 3600):
            for scene in (None, "home", "cart"):
                np.testing.assert_allclose(interest_at(state, t, scene, CFG).blended,
                                           interest_at(reference, t, scene, CFG).blended, atol=1e-5)


def test_replaying_any_event_with_the_same_event_id_changes_nothing() -> None:
    history = _random_history(7, n=20)
    state = replay(history, dim=16)
    for event, item_vec, query_vec in history:
        assert apply_interaction(state, event, item_vec, query_vec, CFG) is state
        # Even with a different payload: the event id is what identifies a redelivery.
        other = replace(event, ts=event.ts + 99)
        assert apply_interaction(state, other, item_vec, query_vec, CFG) is state


def test_events_without_an_id_are_all_counted() -> None:
    x = unit(4, 0)
    once = replay([(click(T0), x, None)], dim=4)
    twice = apply_interaction(once, click(T0), x, None, CFG)
    assert twice.events == 2
    np.testing.assert_allclose(twice.long.vector, 2 * x)


def test_dedup_window_is_bounded_and_fingerprints_are_stable() -> None:
    cfg = InterestConfig(dedup_window=4)
    history = [(click(T0 + i, event_id=f"e{i}"), unit(4, 0), None) for i in range(10)]
    state = replay(history, dim=4, config=cfg)
    assert state.seen_events == tuple(event_fingerprint(f"e{i}") for i in range(6, 10))
    assert state.has_seen("e9") and not state.has_seen("e0") and not state.has_seen(None)
    assert event_fingerprint("e1") == event_fingerprint("e1") != event_fingerprint("e2")


# --- search, scenes, bounds -----------------------------------------------------------

def test_search_pulls_the_short_term_vector_toward_the_query() -> None:
    rng = np.random.default_rng(3)
    clicks = [(click(T0 + i, f"sku-{i}"), rand_unit(rng, 32), None) for i in range(5)]
    before = replay(clicks, dim=32)
    query = rand_unit(rng, 32)
    search = Interaction("search", "u1", ts=T0 + 10, query="espresso machine")
    after = apply_interaction(before, search, None, query, CFG)

    def cos(a: np.ndarray, b: np.ndarray) -> float:
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    assert cos(after.short.vector, query) > cos(before.short.vector, query) + 0.3
    # Intent: the short-term vector moves more than the long-term one.
    assert cos(after.short.vector, query) > cos(after.long.vector, query)
    view_before = interest_at(before, T0 + 10, None, CFG)
    view_after = interest_at(after, T0 + 10, None, CFG)
    assert float(view_after.blended @ query) > float(view_before.blended @ query)
    assert (after.last_query, after.last_query_ts) == ("espresso machine", T0 + 10)
    assert after.recent_items == before.recent_items  # a search without a click adds no item


def test_an_older_search_does_not_replace_the_last_query() -> None:
    q = unit(4, 1)
    state = replay([
        (Interaction("search", "u1", ts=T0 + 5, query="new"), None, q),
        (Interaction("search", "u1", ts=T0, query="old"), None, q),
    ], dim=4)
    assert (state.last_query, state.last_query_ts) == ("new", T0 + 5)


def test_a_scene_changes_the_blended_vector_toward_its_signal() -> None:
    home, cart = unit(8, 0), unit(8, 1)
    state = replay([
        (click(T0, "a", scene="home"), home, None),
        (click(T0 + 1, "b", scene="cart"), cart, None),
    ], dim=8)
    plain = interest_at(state, T0 + 2, None, CFG).blended
    in_home = interest_at(state, T0 + 2, "home", CFG)
    in_cart = interest_at(state, T0 + 2, "cart", CFG)
    assert in_home.scene is not None and in_home.scene_strength > 0.5
    assert not np.allclose(in_home.blended, plain, atol=1e-3)
    assert in_home.blended @ home > plain @ home
    assert in_cart.blended @ cart > plain @ cart
    unknown = interest_at(state, T0 + 2, "video", CFG)
    assert unknown.scene is None and unknown.scene_strength == 0.0
    np.testing.assert_allclose(unknown.blended, plain)


def test_scenes_are_bounded_and_the_stalest_goes() -> None:
    history = [(click(T0 + i, f"i{i}", scene=f"s{i}"), unit(8, i), None) for i in range(5)]
    state = replay(history, dim=8)
    assert set(state.scenes) == {"s3", "s4"}
    assert len(replay(history, dim=8, config=InterestConfig(max_scenes=0)).scenes) == 0


def test_a_late_event_for_an_old_scene_does_not_evict_a_current_scene() -> None:
    state = replay([
        (click(T0 + 100, "a", scene="home"), unit(4, 0), None),
        (click(T0 + 200, "b", scene="cart"), unit(4, 1), None),
        (click(T0, "c", scene="video"), unit(4, 2), None),  # delayed delivery
    ], dim=4)
    assert set(state.scenes) == {"home", "cart"}
    np.testing.assert_allclose(state.long.vector[2], 0.5 ** (200 / H_LONG), rtol=1e-6)


def test_recent_and_purchased_lists_are_bounded_newest_last_without_duplicates() -> None:
    cfg = InterestConfig()
    history = [(click(T0 + i, f"sku-{i:06d}", kind="purchase"), unit(4, 0), None)
               for i in range(cfg.max_purchased + 10)]
    # Buying sku-000020 again moves it to the end instead of listing it twice.
    history.append((click(T0 + 999, "sku-000020", kind="purchase"), unit(4, 0), None))
    state = replay(history, dim=4)
    assert len(state.purchased) == cfg.max_purchased
    assert len(state.recent_items) == cfg.recent_items
    assert state.purchased[-2:] == (f"sku-{cfg.max_purchased + 9:06d}", "sku-000020")
    assert state.recent_items[-2:] == (f"sku-{cfg.max_purchased + 9:06d}", "sku-000020")
    assert len(set(state.purchased)) == len(state.purchased)
    assert state.purchased[0] == "sku-000010"  # the ten oldest fell out


def test_unknown_item_counts_in_history_but_moves_no_vector() -> None:
    state = apply_interaction(UserState.new(4), click(T0, "ghost"), None, None, CFG)
    assert state.recent_items == ("ghost",) and state.events == 1
    assert not np.any(state.long.vector)


@pytest.mark.parametrize(
    "bad",
    [np.ones(5, np.float32), np.ones((1, 4), np.float32),
     np.array([1, np.nan, 0, 0], np.float32), np.array([np.inf, 0, 0, 0], np.float32)],
    ids=["wrong-dim", "2d", "nan", "inf"],
)
def test_bad_vectors_are_rejected(bad: np.ndarray) -> None:
    with pytest.raises(InvalidEvent, match="item_vector"):
        apply_interaction(UserState.new(4), click(T0), bad, None, CFG)
    with pytest.raises(InvalidEvent, match="query_vector"):
        search = Interaction("search", "u", T0, query="q")
        apply_interaction(UserState.new(4), search, None, bad, CFG)


# --- purity ---------------------------------------------------------------------------

def test_inputs_are_not_mutated() -> None:
    history = _random_history(11, n=12)
    state = replay(history, dim=16)
    snapshot = copy.deepcopy(state)
    item_vec = np.full(16, 0.25, dtype=np.float32)
    query_vec = item_vec.copy()
    vec_before = item_vec.copy()
    event = Interaction("search", "u1", ts=T0 - 5000, item_id="sku-x", query="q", scene="home")
    new = apply_interaction(state, event, item_vec, query_vec, CFG)
    interest_at(state, T0 + 10, "home", CFG)
    np.testing.assert_array_equal(item_vec, vec_before)
    np.testing.assert_array_equal(query_vec, vec_before)
    assert new is not state
    np.testing.assert_array_equal(state.long.vector, snapshot.long.vector)
    np.testing.assert_array_equal(state.short.vector, snapshot.short.vector)
    assert state.scenes.keys() == snapshot.scenes.keys()
    for name in snapshot.scenes:
        np.testing.assert_array_equal(state.scenes[name].vector, snapshot.scenes[name].vector)
    assert (state.recent_items, state.purchased, state.seen_events, state.events) == (
        snapshot.recent_items, snapshot.purchased, snapshot.seen_events, snapshot.events)


def test_decayed_vector_add_returns_new_objects() -> None:
    dv = DecayedVector(np.ones(3, np.float32), 10.0)
    x = np.ones(3, np.float32)
    for ts in (5.0, 10.0, 20.0):
        out = dv.add(x, 1.0, ts, 10.0)
        assert out.vector is not dv.vector
        np.testing.assert_array_equal(dv.vector, np.ones(3))


# --- serialisation --------------------------------------------------------------------

def _full_state(dim: int = 384) -> UserState:
    """Every list at its limit, two scenes, realistic ids and timestamps."""
    rng = np.random.default_rng(5)
    state = UserState.new(dim)
    for i in range(max(CFG.max_purchased + CFG.recent_items, CFG.dedup_window)):
        kind = "purchase" if i < CFG.max_purchased else "click"
        event = Interaction(kind, "user-000042", ts=T0 + i * 37.3, item_id=f"sku-{i:06d}",
                            scene=("home", "cart", "video")[i % 3], event_id=f"evt-{i:012d}")
        state = apply_interaction(state, event, rand_unit(rng, dim), None, CFG)
    search = Interaction("search", "user-000042", ts=T0 + 9999.5, query="dark roast coffee beans",
                         scene="home", event_id="evt-search-0001")
    return apply_interaction(state, search, None, rand_unit(rng, dim), CFG)


def test_full_state_really_is_full() -> None:
    state = _full_state()
    assert len(state.scenes) == CFG.max_scenes
    assert len(state.purchased) == CFG.max_purchased
    assert len(state.recent_items) == CFG.recent_items
    assert len(state.seen_events) == CFG.dedup_window


def _assert_round_trip(state: UserState) -> UserState:
    back = deserialize_state(serialize_state(state))
    for a, b in [(state.long, back.long), (state.short, back.short),
                 *[(state.scenes[s], back.scenes[s]) for s in state.scenes]]:
        assert b.vector.dtype == np.float32 and b.ts == a.ts
        scale = max(float(np.linalg.norm(a.vector)), 1e-30)
        # float16 carries ~3 significant digits of the direction; the norm is exact-ish.
        np.testing.assert_allclose(b.vector, a.vector, atol=1e-3 * scale)
        assert np.linalg.norm(b.vector) == pytest.approx(np.linalg.norm(a.vector), rel=1e-3)
    assert list(back.scenes) == list(state.scenes)
    assert (back.recent_items, back.purchased, back.last_query, back.last_query_ts,
            back.last_ts, back.events, back.seen_events) == (
        state.recent_items, state.purchased, state.last_query, state.last_query_ts,
        state.last_ts, state.events, state.seen_events)
    return back


def test_serialise_round_trip_of_a_full_state() -> None:
    state = _full_state()
    back = _assert_round_trip(state)
    for scene in (None, "home", "cart"):
        np.testing.assert_allclose(interest_at(back, T0 + 1e4, scene, CFG).blended,
                                   interest_at(state, T0 + 1e4, scene, CFG).blended, atol=2e-3)
    assert back.has_seen("evt-search-0001")


def test_serialise_round_trip_of_empty_and_tiny_states() -> None:
    back = _assert_round_trip(UserState.new(384))
    assert not np.any(back.long.vector) and back.scenes == {}
    # Decayed over 100 days: the tiny magnitude survives (the norm is stored apart).
    old = replay([(click(0.0), unit(4, 0) * 3, None),
                  (click(100 * 86400.0, "b"), unit(4, 1), None)], dim=4)
    _assert_round_trip(old)


def _size_budget(state: UserState) -> int:
    """float16 vectors + 8 bytes per dedup fingerprint + the JSON id lists, plus 400 bytes
    for the rest of the header (scene names, norms, timestamps, query, counters)."""
    vectors = 2 * state.dim * (2 + len(state.scenes))
    ids = sum(len(i) + 3 for i in (*state.recent_items, *state.purchased))
    return vectors + 8 * len(state.seen_events) + ids + 400


def test_serialised_full_state_stays_within_its_byte_budget() -> None:
    state = _full_state()
    size = len(serialize_state(state))
    assert size <= _size_budget(state)
    assert size < 4608


def test_serialised_full_state_is_under_4096_bytes() -> None:
    assert len(serialize_state(_full_state())) < 4096


@pytest.mark.parametrize("blend", [1e-12, 1e-10])
def test_a_vanishing_blend_gives_a_zero_vector_not_a_tiny_one(blend: float) -> None:
    state = replay([(click(T0), unit(4, 0), None)], dim=4)
    cfg = InterestConfig(long_blend=blend, short_blend=0.0)
    view = interest_at(state, T0, None, cfg)
    assert not np.any(view.blended)
    view = interest_at(state, T0, None, InterestConfig(long_blend=1e-3, short_blend=0.0))
    assert np.linalg.norm(view.blended) == pytest.approx(1.0, abs=1e-6)
