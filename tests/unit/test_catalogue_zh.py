"""The Chinese demo: its catalogue, Chinese searches from the simulator, Chinese reasons."""

from __future__ import annotations

import re

import numpy as np

from engine.explain_sources import CovisitSource, RecentItem, SearchQuery, explain_items
from engine.reasons import localize_reason
from stream_apps.settings import Settings
from stream_apps.tools.catalogue_zh import generate_catalogue_zh, load_builtin_catalogue_zh
from stream_apps.tools.demo import _chinese
from stream_apps.tools.simulate import TrafficSimulator

HAN = re.compile(r"[\u4e00-\u9fff]")


def test_the_shipped_file_is_the_generator_output() -> None:
    shipped = load_builtin_catalogue_zh()
    assert shipped == generate_catalogue_zh()
    assert len({i["title"] for i in shipped}) == len(shipped)  # titles unique
    assert all(HAN.search(i["title"]) and HAN.search(i["description"]) for i in shipped)
    assert len({i["categories"][0] for i in shipped}) == 8


def test_simulated_searches_are_chinese_and_name_a_product_kind() -> None:
    items = load_builtin_catalogue_zh()
    kinds = {i["categories"][1] for i in items}
    sim = TrafficSimulator(items, n_users=40, seed=3)
    queries = [e["query"] for e in sim.next_events(1_700_000_000.0, 600) if e["type"] == "search"]
    assert len(queries) > 30
    assert all(HAN.search(q) for q in queries)
    # Every search contains the kind of product it was drawn for (the sub category).
    assert all(any(k.lower() in q for k in kinds) for q in queries), queries[:20]
    assert any(" " in q for q in queries)  # "防水 越野跑鞋": attribute + kind, as people type


def test_every_reason_the_engine_writes_has_a_chinese_form() -> None:
    e = np.eye(4, dtype=np.float32)
    recent = [RecentItem("a", "踏峰 防水 越野跑鞋", e[0])]
    reasons = [x.text for x in explain_items(
        e, recent=recent, query=SearchQuery("跑鞋", e[1], 300.0),
        covisit=[None, None, CovisitSource("电饭煲", 0.5, purchased=True), None])]
    reasons += [x.text for x in explain_items(e[:1], covisit=[CovisitSource("电饭煲", 0.5)])]
    reasons += [x.text for x in explain_items(e[:1], trending_scene="home", from_trending=np.array([True]))]
    reasons += [x.text for x in explain_items(e[:1], from_trending=np.array([True]))]
    reasons += [x.text for x in explain_items(e[3:4])]  # nothing to name: the generic one
    localized = [localize_reason(r, "zh") for r in reasons]
    assert localized == ["与「踏峰 防水 越野跑鞋」相似", "因为你5分钟前搜索了「跑鞋」", "常与「电饭煲」一起购买",
                         "符合你的兴趣", "常与「电饭煲」一起浏览", "首页热门", "当前热门", "符合你的兴趣"]


def test_the_chinese_demo_runs_the_multilingual_encoder_on_its_own_topics() -> None:
    settings, env = _chinese(Settings())
    assert settings.model == "use-multilingual-v3" and settings.reason_language == "zh"
    assert settings.topic_prefix == "zh-"
    assert env == {"STREAMREC_MODEL": "use-multilingual-v3", "STREAMREC_REASON_LANGUAGE": "zh"}
    assert _chinese(Settings(topic_prefix="mine-"))[0].topic_prefix == "mine-"
