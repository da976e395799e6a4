"""Micro-batched serving through a real broker and worker: a user's events that arrive in
one batch give one recommendation that reflects all of them and lists every event id."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
import pytest

from stream_apps.tools.catalogue import load_builtin_catalogue
from stream_apps.tools.processes import get_json
from tests.integration.harness import Stack, answers, pick

pytestmark = pytest.mark.integration

CATEGORIES = ("coffee & tea", "cycling", "gardening")


@pytest.fixture(scope="module")
def catalogue() -> dict[str, dict[str, Any]]:
    return pick(load_builtin_catalogue(), CATEGORIES, 20)


@pytest.fixture(scope="module")
def worker_env() -> dict[str, str]:
    return {"STREAMREC_BATCH_WINDOW_MS": "300"}  # a wide window: events produced together surely share a batch


def _after_a_marker(stack: Stack, uid: str, item_id: str) -> str:
    """Send one more click of ``uid`` and wait for its page; return its event id.

    The same key on the same topic: one partition, read in order, so any page the earlier
    events could still cause comes before this one (a condition to wait for, where a fixed
    sleep would only guess how long a loaded machine takes)."""
    marker = stack.send_event("click", uid, item_id=item_id, scene="home")
    stack.recommendation_for(marker, timeout=60)
    return marker


def _pages_of(stack: Stack, uid: str, besides: str) -> list[dict[str, Any]]:
    return [m for m in stack.recs.snapshot(stack.names.recommendations)
            if isinstance(m, dict) and m.get("user_id") == uid and not answers(m, besides)]


def _recent(user: dict[str, Any]) -> list[str]:
    return [i["item_id"] if isinstance(i, dict) else i for i in user["recent_items"]]


def test_a_users_events_in_one_batch_give_one_recommendation_listing_them_all(
        stack: Stack, catalogue: dict[str, dict[str, Any]]) -> None:
    uid = f"u-{uuid.uuid4().hex[:8]}"
    cycling = [i for i, item in catalogue.items() if item["categories"][0] == "cycling"]
    clicked = cycling[:4]
    event_ids = [f"e-{uid}-{n}" for n in range(len(clicked))]
    for event_id, item_id in zip(event_ids, clicked):  # one produce request: one fetch, one batch
        body = {"event_id": event_id, "user_id": uid, "item_id": item_id, "ts": time.time(), "scene": "home"}
        stack.producer.send(stack.names.click, key=uid.encode(), value=orjson.dumps(body))
    stack.producer.flush()
    rec = stack.recommendation_for(event_ids[-1], timeout=60)
    marker = _after_a_marker(stack, uid, cycling[4])
    mine = _pages_of(stack, uid, besides=marker)
    assert len(mine) == 1, [m["trigger"] for m in mine]
    assert rec["trigger"] == {"topic": stack.names.click, "event_id": event_ids[-1], "event_ids": event_ids}
    assert all(answers(rec, e) for e in event_ids)
    # The page reflects every event: all four clicks are in the state, none is recommended
    # again, and the page is about cycling.
    status, user = get_json(f"http://127.0.0.1:{stack.web_port}/api/users/{uid}")
    assert status == 200
    assert set(clicked) <= set(_recent(user)), user
    page = [i["item_id"] for i in rec["items"]]
    assert len(page) == 10 and not set(page) & set(clicked)
    ranked = [i["item_id"] for i in rec["items"] if not i.get("explored")]
    assert sum(catalogue[i]["categories"][0] == "cycling" for i in ranked) >= len(ranked) - 2
    # The batch sizes the worker reports include a batch of at least these four events.
    status, stats = get_json(f"http://127.0.0.1:{stack.web_port}/api/stats")
    assert status == 200 and max(int(n) for n in stats["batches"]["sizes"]) >= len(clicked)


def test_a_replayed_batch_changes_nothing(stack: Stack, catalogue: dict[str, dict[str, Any]]) -> None:
    """Redelivery of a whole batch (what a crash mid-batch causes): dedup by event_id in
    the state, so no page and no change."""
    uid = f"u-{uuid.uuid4().hex[:8]}"
    items = list(catalogue)[:3]
    bodies = [{"event_id": f"r-{uid}-{n}", "user_id": uid, "item_id": i, "ts": time.time()}
              for n, i in enumerate(items)]
    for body in bodies:
        stack.producer.send(stack.names.click, key=uid.encode(), value=orjson.dumps(body))
    stack.producer.flush()
    stack.recommendation_for(bodies[-1]["event_id"], timeout=60)
    _, before = get_json(f"http://127.0.0.1:{stack.web_port}/api/users/{uid}")
    for body in bodies:  # the same batch again
        stack.producer.send(stack.names.click, key=uid.encode(), value=orjson.dumps(body))
    stack.producer.flush()
    marker_item = list(catalogue)[3]
    marker = _after_a_marker(stack, uid, marker_item)  # the replay was read before it
    mine = _pages_of(stack, uid, besides=marker)
    assert len(mine) == 1, [m["trigger"] for m in mine]
    _, after = get_json(f"http://127.0.0.1:{stack.web_port}/api/users/{uid}")
    assert before["events"] == 3 and after["events"] == 4  # the marker only
    assert [i for i in _recent(after) if i != marker_item] == _recent(before)
