"""Garbage on every input topic goes to dead-letter with a reason; valid events in the same
stream all still produce their recommendations (hypothesis picks the garbage)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import InvalidEvent
from engine.events import parse_event
from stream_apps.codecs import loads
from stream_apps.kafka.broker import EmbeddedBroker, free_port
from stream_apps.tools.catalogue import load_builtin_catalogue
from tests.integration.harness import Stack

pytestmark = pytest.mark.integration

NOW = 1_790_000_000.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    log_dir = tmp_path_factory.mktemp("bad-input")
    with EmbeddedBroker(port=free_port(), log_path=log_dir / "tansu.log") as broker:
        s = Stack(external or broker.bootstrap_servers, log_dir)
        try:
            s.load_items(load_builtin_catalogue()[:40])
            s.start_worker()
            s.wait_index_size(40)
            yield s
        finally:
            s.close()


def _bad_event_bodies() -> st.SearchStrategy[bytes]:
    """Values that are not a valid event, each for a reason the worker must name."""
    user = st.text(min_size=1, max_size=8).filter(str.strip)
    wrong_types = st.fixed_dictionaries({
        "user_id": st.one_of(st.integers().map(lambda i: [i]), st.booleans(), st.floats(), st.just("")),
        "item_id": st.text(max_size=5),
    })
    missing = st.fixed_dictionaries({"user_id": user})  # click and purchase need item_id
    bad_ts = st.fixed_dictionaries({
        "user_id": user, "item_id": st.just("sku-00001"),
        # No infinities: orjson writes them as null, and a null ts is a valid "now".
        "ts": st.one_of(st.floats(max_value=-1, allow_infinity=False),
                        st.floats(min_value=NOW * 10, allow_infinity=False),
                        st.text(min_size=1, max_size=10).filter(lambda s: not s.strip().isdigit()),
                        st.booleans()),
    })
    return st.one_of(
        st.binary(min_size=1, max_size=64).filter(lambda b: _not_json_object(b)),
        st.sampled_from([b"\xff\xfe\xfa", b'{"user_id": "u", "item_id": "x", "ts": NaN}',
                         b'{"user_id": "u", "item_id": "x", "ts": Infinity}', b"[1, 2, 3]", b"null",
                         b'{"user_id": "' + b"x" * 100_000 + b'", "item_id": "a"}']),
        wrong_types.map(orjson.dumps), missing.map(orjson.dumps),
        bad_ts.map(lambda d: orjson.dumps(d, option=orjson.OPT_NON_STR_KEYS)),
    )


def _rejected_by_the_worker(kind: str, raw: bytes) -> bool:
    """What the worker does with it, decided by the same decoder and validator: only a
    value they reject is expected in dead-letter (a valid one is re-keyed and served)."""
    try:
        parse_event(kind, loads(raw), NOW)
    except InvalidEvent:
        return True
    return False


def _not_json_object(raw: bytes) -> bool:
    try:
        return not isinstance(orjson.loads(raw), dict)
    except orjson.JSONDecodeError:
        return True


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(bad=st.lists(st.tuples(st.sampled_from(["click", "purchase", "search"]), _bad_event_bodies())
                    .filter(lambda pair: _rejected_by_the_worker(*pair)), min_size=5, max_size=25))
def test_garbage_goes_to_dead_letter_and_valid_events_are_not_lost(
        stack: Stack, bad: list[tuple[str, bytes]]) -> None:
    tag = uuid.uuid4().hex[:8]
    items = [f"sku-{n:05d}" for n in range(1, 11)]
    valid_ids = []
    for n, (kind, body) in enumerate(bad):
        # A bad message, then a valid one for a user on the same partitions.
        stack.send_raw(getattr(stack.names, kind), f"bad-{tag}-{n}".encode(), body)
        valid_ids.append(stack.send_event("click", f"ok-{tag}-{n % 4}", item_id=items[n % len(items)]))
    for event_id in valid_ids:
        assert stack.recommendation_for(event_id, timeout=60)["items"]
    for n in range(len(bad)):
        key = f"bad-{tag}-{n}"
        dead = stack.recs.wait_for(lambda m, k=key: isinstance(m, dict) and m.get("key") == k,
                                   stack.names.dead_letter, timeout=60)
        assert dead["error"] and dead["source_topic"].endswith(bad[n][0])


def test_a_10_mb_value_and_bad_items_are_dead_lettered_without_stopping_the_worker(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:8]
    huge = b'{"user_id": "u", "query": "' + b"a" * (10 * 1024 * 1024) + b'"}'
    stack.send_raw(stack.names.search, f"huge-{tag}".encode(), huge)
    stack.send_raw(stack.names.items, f"item-{tag}".encode(), b'{"item_id": "x", "categories": 5}')
    stack.send_raw(stack.names.items, f"unknown-{tag}".encode(),
                   orjson.dumps({"item_id": f"never-{tag}", "deleted": True}))  # valid: a no-op
    dead = stack.recs.wait_for(lambda m: isinstance(m, dict) and m.get("key") == f"huge-{tag}",
                               stack.names.dead_letter, timeout=60)
    assert dead["truncated"] and dead["value_bytes"] == len(huge)
    bad_item = stack.recs.wait_for(lambda m: isinstance(m, dict) and m.get("key") == f"item-{tag}",
                                   stack.names.dead_letter, timeout=60)
    assert "categories" in bad_item["error"] or "title" in bad_item["error"]
    rec = stack.recommendation_for(stack.send_event("click", f"after-{tag}", item_id="sku-00002"))
    assert rec["items"]


def test_unknown_items_are_accepted_without_a_recommendation(stack: Stack, tmp_path: Path) -> None:
    uid = f"unknown-{uuid.uuid4().hex[:6]}"
    stack.send_event("click", uid, item_id="does-not-exist")
    known = stack.send_event("click", uid, item_id="sku-00003")
    rec = stack.recommendation_for(known)
    assert rec["items"] and rec["user_id"] == uid
    dead = [m for m in stack.recs.snapshot(stack.names.dead_letter) if uid in str(m.get("key"))]
    assert dead == []
