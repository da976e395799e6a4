"""engine.item_signals: increments equal the local update, rows are exactly-once and
order-independent, replicas converge, and the setters they rely on."""

from __future__ import annotations

import random

import numpy as np
import orjson
import pytest
from kafka.partitioner.default import murmur2 as kafka_murmur2

from engine.config import InterestConfig
from engine.covisit import Covisitation, CovisitConfig
from engine.errors import InvalidEvent
from engine.events import Interaction
from engine.item_signals import (
    ItemRow,
    RowIncrement,
    SignalsReplica,
    SourcedIncrement,
    apply_increments,
    event_increments,
    increments,
    increments_message,
    murmur2,
    parse_increments_message,
    partition_for,
    row_from_dict,
    row_to_dict,
)
from engine.recommend import Collaborative, learn_collaborative
from engine.trending import GLOBAL, DecayedCounter, Trending, TrendingConfig

T0 = 1_732_262_400.0
# Rows large enough never to evict: eviction (the weakest at the time) depends on arrival order.
COVISIT = CovisitConfig(half_life_s=30 * 86400.0, window=3, position_decay=0.7, max_neighbours=40)
BOUNDED = CovisitConfig(half_life_s=30 * 86400.0, window=3, position_decay=0.7, max_neighbours=8)
TRENDING = TrendingConfig(half_life_s=3600.0)


# --- the setters -------------------------------------------------------------------------

def test_decayed_counter_set_replaces_the_value_and_decays_from_there() -> None:
    c = DecayedCounter(half_life_s=10.0, capacity=3, evict_fraction=0.0)
    c.add("a", 8.0, 0.0)
    c.add("b", 1.0, 0.0)
    c.set("a", 2.0, 10.0)
    assert c.get("a", 10.0) == pytest.approx(2.0) and c.get("a", 20.0) == pytest.approx(1.0)
    assert c.total(10.0) == pytest.approx(2.5)
    c.set("c", 5.0, 10.0)
    c.set("d", 3.0, 10.0)  # a fourth key: the weakest ("b", 0.5) goes
    assert sorted(c.keys()) == ["a", "c", "d"]
    with pytest.raises(InvalidEvent):
        c.set("a", float("nan"), 10.0)


def test_covisitation_set_row_replaces_a_row_and_keeps_the_strongest() -> None:
    cv = Covisitation(CovisitConfig(normalise=False, max_neighbours=2, half_life_s=10.0))
    cv.update(["x"], "a", 1.0, 0.0)
    cv.set_row("a", {"b": 4.0, "c": 1.0, "d": 2.0}, 3.0, 10.0)
    assert cv.count("a", "b", 20.0) == pytest.approx(2.0)
    assert cv.count("a", "d", 10.0) == pytest.approx(2.0)
    assert cv.count("a", "c", 10.0) == 0.0 and cv.count("a", "x", 10.0) == 0.0
    assert cv.mass("a", 10.0) == pytest.approx(3.0)
    cv.set_row("a", {}, 1.0, 10.0)
    assert "a" not in cv and cv.mass("a", 10.0) == pytest.approx(1.0)


def test_covisitation_set_row_breaks_ties_by_id_and_checks_every_weight() -> None:
    cv = Covisitation(CovisitConfig(normalise=False, max_neighbours=2, half_life_s=10.0))
    cv.set_row("a", {"z": 1.0, "m": 1.0, "b": 1.0, "y": 5.0}, 1.0, 0.0)
    assert [other for other in ("b", "m", "y", "z") if cv.count("a", other, 0.0) > 0] == ["b", "y"]
    with pytest.raises(InvalidEvent):  # a bad weight is an error even where it would be cut
        cv.set_row("a", {"y": 5.0, "b": 1.0, "m": float("nan")}, 1.0, 0.0)


def test_covisitation_add_row_is_one_rows_share_of_update() -> None:
    whole, rows = Covisitation(COVISIT), Covisitation(COVISIT)
    whole.update(["p", "q"], "b", 2.0, T0)
    for item_id, inc in increments(["p", "q"], "b", 2.0, None, COVISIT).items():
        rows.add_row(item_id, inc.neighbours, inc.mass, T0)
    for a in ("p", "q", "b"):
        for b in ("p", "q", "b"):
            assert rows.count(a, b, T0) == whole.count(a, b, T0)
        assert rows.mass(a, T0) == whole.mass(a, T0)


def test_trending_set_counts_and_add_counts_per_scene() -> None:
    t = Trending(TRENDING)
    t.add_counts("mug", {GLOBAL: 2.0, "home": 2.0}, T0)
    t.set_counts("mug", {"home": 1.0}, T0 + 3600.0)
    assert float(t.scores(["mug"], "home", T0 + 3600.0)[0]) == pytest.approx(1.0)
    assert float(t.scores(["mug"], None, T0 + 3600.0)[0]) == pytest.approx(1.0)  # 2 halved
    assert t.top("home", 1, T0 + 3600.0)[0] == ["mug"]


# --- partitioning --------------------------------------------------------------------------

def test_murmur2_is_kafkas() -> None:
    rng = random.Random(7)
    for data in [b"", b"a", b"ab", b"abc", b"abcd"] + [rng.randbytes(rng.randint(0, 40)) for _ in range(500)]:
        assert murmur2(data) & 0xFFFFFFFF == kafka_murmur2(data) & 0xFFFFFFFF, data
    assert [partition_for(i, 12) for i in ("sku-1", "sku-2")] == [
        (kafka_murmur2(i.encode()) & 0x7FFFFFFF) % 12 for i in ("sku-1", "sku-2")]


# --- increments and rows -----------------------------------------------------------------

def _stream(n: int, seed: int) -> list[tuple[str, str, float, str | None, float]]:
    """Random (user, item, weight, scene, ts) interactions, in time order."""
    rng = random.Random(seed)
    users, items = [f"u{i}" for i in range(15)], [f"i{i}" for i in range(30)]
    return [(rng.choice(users), rng.choice(items), rng.choice([1.0, 3.0]), rng.choice([None, "home", "cart"]),
             T0 + 60.0 * k + rng.random()) for k in range(n)]


def _shared_rows(stream: list[tuple[str, str, float, str | None, float]], order_seed: int | None,
                 replay: bool = False, config: CovisitConfig = COVISIT) -> dict[str, ItemRow]:
    """Aggregate the stream's increments; users are spread over 3 source partitions, and with
    ``order_seed`` the sources' messages are interleaved in a random order (each source in order)."""
    recent: dict[str, list[str]] = {}
    per_source: dict[str, list[tuple[str, SourcedIncrement]]] = {}
    offsets: dict[str, int] = {}
    for user, item, weight, scene, ts in stream:
        source = f"events.click[{int(user[1:]) % 3}]"
        offset = offsets[source] = offsets.get(source, -1) + 1
        for row_item, inc in increments(recent.get(user, []), item, weight, scene, COVISIT).items():
            per_source.setdefault(source, []).append((row_item, SourcedIncrement(source, offset, ts, inc)))
        recent.setdefault(user, []).append(item)
        recent[user] = recent[user][-10:]
    queues = {s: list(q) + (list(q[: len(q) // 2]) if replay else []) for s, q in per_source.items()}
    rng = random.Random(order_seed)
    rows: dict[str, ItemRow] = {}
    while queues:
        source = rng.choice(sorted(queues)) if order_seed is not None else sorted(queues)[0]
        row_item, update = queues[source].pop(0)
        if not queues[source]:
            del queues[source]
        rows[row_item], _ = apply_increments(rows.get(row_item, ItemRow()), [update], config, TRENDING)
    return rows


def _local(stream: list[tuple[str, str, float, str | None, float]]) -> Collaborative:
    collab = Collaborative(Covisitation(COVISIT), Trending(TRENDING))
    recent: dict[str, list[str]] = {}
    for user, item, weight, scene, ts in stream:
        collab.covisit.update(recent.get(user, []), item, weight, ts)  # type: ignore[union-attr]
        collab.trending.record(item, scene, weight, ts)  # type: ignore[union-attr]
        recent.setdefault(user, []).append(item)
        recent[user] = recent[user][-10:]
    return collab


def _replica_of(rows: dict[str, ItemRow]) -> Collaborative:
    collab = Collaborative(Covisitation(COVISIT), Trending(TRENDING))
    replica = SignalsReplica(collab)
    for item_id, row in rows.items():
        replica.apply_row(item_id, row)
    return collab


def test_shared_rows_give_the_local_counts_whatever_the_arrival_order() -> None:
    stream = _stream(400, seed=1)
    local = _local(stream)
    now = stream[-1][4] + 10.0
    items = sorted({s[1] for s in stream})
    for order_seed in (None, 3, 4):
        shared = _replica_of(_shared_rows(stream, order_seed))
        assert shared.covisit is not None and local.covisit is not None
        for item in items:
            assert shared.covisit.mass(item, now) == pytest.approx(local.covisit.mass(item, now), rel=1e-9)
            ids, scores = shared.covisit.neighbours([item], 5, now)
            want_ids, want_scores = local.covisit.neighbours([item], 5, now)
            np.testing.assert_allclose(scores, want_scores, rtol=1e-5)
            assert ids == want_ids, item
        for scene in (None, "home", "cart"):
            np.testing.assert_allclose(shared.trending.scores(items, scene, now),  # type: ignore[union-attr]
                                       local.trending.scores(items, scene, now), rtol=1e-5)  # type: ignore[union-attr]


def test_replayed_increments_are_not_counted_twice() -> None:
    stream = _stream(200, seed=2)
    once, replayed = _shared_rows(stream, 5), _shared_rows(stream, 5, replay=True)
    assert once.keys() == replayed.keys()
    for item, row in once.items():
        assert replayed[item].mass == pytest.approx(row.mass, rel=1e-12)
        assert replayed[item].neighbours == pytest.approx(dict(row.neighbours), rel=1e-12)
        assert replayed[item].seen == row.seen


def test_rows_are_bounded() -> None:
    rows = _shared_rows(_stream(600, seed=3), None, config=BOUNDED)
    assert max(len(r.neighbours) for r in rows.values()) <= BOUNDED.max_neighbours
    many_scenes = [SourcedIncrement("s[0]", k, T0, RowIncrement({}, 1.0, {GLOBAL: 1.0, f"scene{k}": 1.0 + k}))
                   for k in range(50)]
    row, applied = apply_increments(ItemRow(), many_scenes, COVISIT, TRENDING)
    assert applied == 50 and len(row.trending) <= TRENDING.max_scenes + 1 and GLOBAL in row.trending


def test_late_increments_decay_on_the_way_in() -> None:
    inc = RowIncrement({"b": 1.0}, 1.0, {GLOBAL: 1.0})
    ahead, _ = apply_increments(ItemRow(), [SourcedIncrement("s[0]", 0, T0 + 3600.0, inc),
                                            SourcedIncrement("s[1]", 0, T0, inc)], COVISIT, TRENDING)
    assert ahead.t == T0 + 3600.0 and ahead.trending[GLOBAL] == pytest.approx(1.5)
    behind, _ = apply_increments(ItemRow(), [SourcedIncrement("s[1]", 0, T0, inc),
                                             SourcedIncrement("s[0]", 0, T0 + 3600.0, inc)], COVISIT, TRENDING)
    assert behind.trending[GLOBAL] == pytest.approx(1.5) and behind.mass == pytest.approx(ahead.mass)


def test_event_increments_follow_learn_collaborative() -> None:
    config = InterestConfig()
    event = Interaction(kind="purchase", user_id="u1", item_id="b", ts=T0, event_id="e1", scene="home")
    assert event_increments(None, Interaction(kind="click", user_id="u1", item_id=None, ts=T0), config,
                            COVISIT) == {}
    rows = event_increments(None, event, config, COVISIT)
    collab = Collaborative(Covisitation(COVISIT), Trending(TRENDING))
    learn_collaborative(collab, None, event, config)
    assert rows["b"].mass == pytest.approx(collab.covisit.mass("b", T0))  # type: ignore[union-attr]
    assert rows["b"].trending == {GLOBAL: config.weight_of("purchase"), "home": config.weight_of("purchase")}


# --- wire forms ------------------------------------------------------------------------------

def test_rows_and_messages_round_trip_through_json() -> None:
    row = ItemRow(T0, 2.5, {"b": 1.25}, {GLOBAL: 1.0, "home": 0.5}, {"events.click[3]": 17})
    assert row_from_dict(orjson.loads(orjson.dumps(row_to_dict(row)))) == row
    inc = RowIncrement({"a": 0.5}, 1.0, {GLOBAL: 1.0})
    message = orjson.loads(orjson.dumps(increments_message([("events.click[1]", 9, "e9", T0, {"b": inc})])))
    assert parse_increments_message(message) == {"b": [SourcedIncrement("events.click[1]", 9, T0, inc)]}


@pytest.mark.parametrize("bad", [
    None, [], {"v": 2, "events": []}, {"v": 1},
    {"v": 1, "events": [{"source": "", "offset": 1, "ts": 0.0, "rows": {}}]},
    {"v": 1, "events": [{"source": "t[0]", "offset": -1, "ts": 0.0, "rows": {}}]},
    {"v": 1, "events": [{"source": "t[0]", "offset": 1, "ts": "x", "rows": {}}]},
    {"v": 1, "events": [{"source": "t[0]", "offset": 1, "ts": 0.0, "rows": {"a": {"m": -1}}}]},
    {"v": 1, "events": [{"source": "t[0]", "offset": 1, "ts": 0.0, "rows": {"a": {"n": {"b": "x"}}}}]},
])
def test_bad_increments_messages_are_invalid_events(bad: object) -> None:
    with pytest.raises(InvalidEvent):
        parse_increments_message(bad)


@pytest.mark.parametrize("bad", [None, {"v": 9}, {"v": 1, "t": "x"}, {"v": 1, "m": float("inf")},
                                 {"v": 1, "seen": {"t[0]": "x"}}, {"v": 1, "n": []}])
def test_bad_rows_are_invalid_events(bad: object) -> None:
    with pytest.raises(InvalidEvent):
        row_from_dict(bad)


# --- the replica ----------------------------------------------------------------------------

def test_replica_keeps_own_increments_until_a_row_covers_them() -> None:
    collab = Collaborative(Covisitation(COVISIT), Trending(TRENDING))
    replica = SignalsReplica(collab)
    first = increments(["a"], "b", 1.0, None, COVISIT)
    replica.apply_local(first, "ev[0]", 10, T0)
    assert collab.covisit.count("b", "a", T0) == pytest.approx(1.0)  # type: ignore[union-attr]
    assert replica.pending == 2
    # A shared row from before this event: the own increment stays on top of it.
    replica.apply_row("b", ItemRow(T0, 3.0, {"c": 2.0}, {GLOBAL: 3.0}, {"ev[0]": 9}))
    assert collab.covisit.count("b", "c", T0) == pytest.approx(2.0)  # type: ignore[union-attr]
    assert collab.covisit.count("b", "a", T0) == pytest.approx(1.0)  # type: ignore[union-attr]
    assert collab.covisit.mass("b", T0) == pytest.approx(4.0)  # type: ignore[union-attr]
    assert replica.pending == 2
    # The row that includes it: replaced, not added again.
    replica.apply_row("b", ItemRow(T0, 4.0, {"c": 2.0, "a": 1.0}, {GLOBAL: 4.0}, {"ev[0]": 10}))
    assert collab.covisit.count("b", "a", T0) == pytest.approx(1.0)  # type: ignore[union-attr]
    assert collab.covisit.mass("b", T0) == pytest.approx(4.0)  # type: ignore[union-attr]
    assert float(collab.trending.scores(["b"], None, T0)[0]) == pytest.approx(4.0)  # type: ignore[union-attr]
    assert replica.pending == 1  # row "a" has not come back yet


def test_replica_ignores_a_replayed_event_its_shared_row_already_counts() -> None:
    """After a restart the worker re-learns an event whose state write was lost; the
    aggregator skips the resent increments, so no newer row comes to replace the local
    one: the replica must not add them on top of the row that counts them."""
    collab = Collaborative(Covisitation(COVISIT), Trending(TRENDING))
    replica = SignalsReplica(collab)
    replica.apply_row("b", ItemRow(T0, 1.0, {"a": 1.0}, {GLOBAL: 1.0}, {"ev[0]": 10}))
    replica.apply_local(increments(["a"], "b", 1.0, None, COVISIT), "ev[0]", 10, T0)
    assert collab.covisit.count("b", "a", T0) == pytest.approx(1.0)  # type: ignore[union-attr]
    assert replica.pending == 1  # only row "a", which no shared row has counted yet
    replica.apply_local(increments(["a"], "b", 1.0, None, COVISIT), "ev[0]", 11, T0)  # a new event
    assert collab.covisit.count("b", "a", T0) == pytest.approx(2.0)  # type: ignore[union-attr]


def test_replica_bounds_its_pending_increments() -> None:
    replica = SignalsReplica(Collaborative(Covisitation(COVISIT), Trending(TRENDING)), max_pending=10)
    for k in range(20):
        replica.apply_local(increments([f"x{k}"], f"y{k}", 1.0, None, COVISIT), "ev[0]", k, T0)
    assert replica.pending <= 10


def test_one_call_on_merged_messages_is_one_call_per_message_through_the_table() -> None:
    """The aggregator merges a partition's messages of a batch: bit for bit the rows that
    applying message after message, each row written to the table and read back, give
    (also with replays, late increments and rows past their bound)."""
    config = CovisitConfig(half_life_s=600.0, max_neighbours=6, evict_fraction=0.5)
    trending = TrendingConfig(half_life_s=300.0, max_scenes=3)
    rng = random.Random(11)
    messages: list[list[SourcedIncrement]] = []
    offsets = {"ev[0]": 0, "ev[1]": 0}
    for _ in range(12):
        message = []
        for _ in range(rng.randrange(1, 5)):
            source = rng.choice(list(offsets))
            offsets[source] += rng.choice([1, 1, 2])
            offset = offsets[source] - (3 if rng.random() < 0.15 else 0)  # now and then a replay
            inc = RowIncrement({f"n{rng.randrange(15)}": rng.uniform(0.1, 3.0) for _ in range(3)},
                               rng.uniform(0.0, 2.0), {rng.choice(["*", "home", "cart", "mail"]): 1.0})
            message.append(SourcedIncrement(source, offset, T0 + rng.uniform(-60.0, 600.0), inc))
        messages.append(message)
    one_by_one = ItemRow()
    for message in messages:
        one_by_one, _ = apply_increments(one_by_one, message, config, trending)
        one_by_one = row_from_dict(orjson.loads(orjson.dumps(row_to_dict(one_by_one))))
    merged, applied = apply_increments(ItemRow(), [u for m in messages for u in m], config, trending)
    assert applied > 12 and len(one_by_one.neighbours) <= 6
    assert row_to_dict(merged) == row_to_dict(one_by_one)
    assert list(merged.neighbours) == list(one_by_one.neighbours)  # the order too: it breaks eviction ties
