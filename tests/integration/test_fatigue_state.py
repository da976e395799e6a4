"""Fatigue counts live in the user state (issue 12): an item shown too often is left out
of the user's recommendations, also after the worker is SIGKILLed and restarted."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stream_apps.settings import Settings
from stream_apps.tools.catalogue import load_builtin_catalogue
from tests.integration.harness import Stack

pytestmark = pytest.mark.integration

ITEMS = load_builtin_catalogue()[:40]
SHOWN = int(Settings().max_shown) + 1  # decayed counts: one more than the cap to be over it


def _ids(stack: Stack, uid: str) -> list[str]:
    return [i["item_id"] for i in stack.user(uid)["items"]]


def _wait_without(stack: Stack, uid: str, item_id: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while item_id in (ids := _ids(stack, uid)):
        assert time.monotonic() < deadline, f"{item_id} still recommended to {uid}: {ids}"
        time.sleep(0.3)


def test_fatigue_is_in_the_user_state_and_survives_a_crash(bootstrap: str, tmp_path: Path) -> None:
    s = Stack(bootstrap, tmp_path)
    try:
        s.load_items(ITEMS)
        s.start_worker()
        s.wait_index_size(len(ITEMS))
        uid = "fatigued"
        first = s.recommendation_for(s.send_event("click", uid, item_id=ITEMS[0]["item_id"]))
        top = first["items"][0]["item_id"]
        assert top in _ids(s, uid)
        for _ in range(SHOWN):
            s.send_event("impression", uid, rec_id=first["rec_id"], item_ids=[top])
        _wait_without(s, uid, top)
        s.stop_worker(kill=True)
        s.start_worker()
        s.wait_index_size(len(ITEMS))
        body = s.user(uid)
        assert body["known_user"] and body["items"], body
        assert top not in [i["item_id"] for i in body["items"]]
    finally:
        s.close()
