"""The worker's HTTP API against a real broker and a real worker process, with a bearer
token set (STREAMREC_API_TOKEN): every endpoint, bad input and the token."""

from __future__ import annotations

import uuid
from typing import Any, Iterator

import pytest

from tests.integration.web_stack import WebStack, broker, small_catalogue

pytestmark = pytest.mark.integration

TOKEN = f"tok-{uuid.uuid4().hex}"
USER = f"u-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def catalogue() -> dict[str, dict[str, Any]]:
    return {item["item_id"]: item for item in small_catalogue(per_category=10, categories=3)}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, catalogue: dict[str, dict[str, Any]]) -> Iterator[WebStack]:
    log_dir = tmp_path_factory.mktemp("http-api")
    with broker(log_dir) as bootstrap:
        s = WebStack(bootstrap, log_dir, token=TOKEN)
        try:
            s.load_items(list(catalogue.values()))
            s.wait_ready()
            s.wait_for("/api/stats", lambda b: b["index"]["items"] >= len(catalogue), timeout=60)
            items = list(catalogue)
            for item_id in items[:3]:
                s.send_event("click", USER, item_id=item_id, scene="home")
            s.send_raw(s.names.click, b"bad", b"{not json")  # one dead letter
            s.wait_for(f"/recommendations/{USER}", lambda b: b["known_user"] and b["items"])
            yield s
        finally:
            s.close()


def test_health_answers_without_a_token(stack: WebStack) -> None:
    status, body, ctype = stack.get("/health")
    assert status == 200 and "json" in ctype
    assert body["ready"] is True and body["status"] == "ready" and body["index_items"] == 30


@pytest.mark.parametrize("path", ["/recommendations/u1", "/api/users/u1", "/api/stats", "/metrics",
                                  "/openapi.json", "/dashboard", "/"])
def test_every_other_endpoint_needs_the_token(stack: WebStack, path: str) -> None:
    status, body, ctype = stack.get(path)
    assert status == 401
    if "json" in ctype:
        assert "bearer token" in body["error"]
    else:  # the dashboard page explains itself to a person
        assert path in ("/", "/dashboard") and "?token=" in body
    assert stack.get(path, token="wrong")[0] == 401
    assert stack.get(path, token=TOKEN)[0] == 200


def test_the_dashboard_page_also_takes_the_token_in_the_query(stack: WebStack) -> None:
    status, body, ctype = stack.get(f"/dashboard?token={TOKEN}")
    assert status == 200 and ctype.startswith("text/html")
    assert "streamrec" in body and "/*__DASHBOARD_JS__*/" not in body  # script inlined
    assert stack.get("/dashboard?token=nope")[0] == 401


def test_recommendations_for_a_known_user(stack: WebStack, catalogue: dict[str, Any]) -> None:
    status, body, _ = stack.get(f"/recommendations/{USER}?k=5&scene=home", TOKEN)
    assert status == 200
    assert body["user_id"] == USER and body["known_user"] is True and body["scene"] == "home"
    assert body["rec_id"] and isinstance(body["model_version"], int)
    items = body["items"]
    assert 1 <= len(items) <= 5
    assert all(i["item_id"] in catalogue and i["reason"] for i in items)
    assert all(i["title"] == catalogue[i["item_id"]]["title"] for i in items)
    assert items[0]["score"] == max(i["score"] for i in items if not i.get("explored"))


def test_an_unknown_user_gets_the_cold_start_answer(stack: WebStack) -> None:
    status, body, _ = stack.get("/recommendations/nobody-at-all?scene=home", TOKEN)
    assert status == 200 and body["known_user"] is False
    # Nothing personal to go on: what is trending (the fixture's users clicked before).
    assert body["items"] and all(i["reason"].startswith("trending") for i in body["items"])
    assert body["model_version"] == 0 or isinstance(body["model_version"], int)


def test_the_user_summary_shows_the_events_behind_the_recommendations(
        stack: WebStack, catalogue: dict[str, Any]) -> None:
    status, body, _ = stack.get(f"/api/users/{USER}", TOKEN)
    assert status == 200 and body["known_user"] is True and body["events"] >= 3
    assert {i["item_id"] for i in body["recent_items"]} <= set(catalogue)
    assert all(i["title"] for i in body["recent_items"])


@pytest.mark.parametrize(("query", "parameter", "words"), [
    ("?k=abc", "k", "integer"),
    ("?k=0", "k", "between 1 and 100"),
    ("?k=101", "k", "between 1 and 100"),
    ("?k=2.5", "k", "integer"),
    ("?scene=" + "s" * 65, "scene", "limit is 64"),
])
def test_bad_parameters_get_400_with_a_clear_message(stack: WebStack, query: str, parameter: str,
                                                     words: str) -> None:
    status, body, _ = stack.get(f"/recommendations/{USER}{query}", TOKEN)
    assert status == 400
    assert body["parameter"] == parameter and words in body["error"]


def test_a_too_long_user_id_gets_400(stack: WebStack) -> None:
    for path in (f"/recommendations/{'u' * 300}", f"/api/users/{'u' * 300}"):
        status, body, _ = stack.get(path, TOKEN)
        assert status == 400 and body["parameter"] == "user_id" and "limit is 256" in body["error"]


def test_metrics_are_prometheus_text(stack: WebStack) -> None:
    status, text, ctype = stack.get("/metrics", TOKEN)
    assert status == 200 and ctype.startswith("text/plain")
    assert 'streamrec_events_total{type="click"} 3.0' in text
    assert "streamrec_event_to_recommendation_seconds_bucket" in text
    assert 'streamrec_dead_letter_total{source_topic="' in text
    assert "streamrec_index_items 30.0" in text
    assert f'streamrec_consumer_lag_messages{{partition="0",topic="{stack.names.click}"}}' in text
    assert "process_resident_memory_bytes" in text


def test_api_stats_has_what_the_dashboard_shows(stack: WebStack, catalogue: dict[str, Any]) -> None:
    # The charts' series needs two one-second samples: wait for them, not only for traffic.
    body = stack.wait_for("/api/stats", lambda b: b["totals"]["recommendations"] >= 1
                          and b["recent_errors"] and len(b["series"]["ts"]) >= 2, timeout=60)
    assert body["worker"]["ready"] is True and body["worker"]["rss_bytes"] > 10_000_000
    assert body["totals"]["events_by_type"]["click"] == 3
    assert body["index"]["items"] == len(catalogue) and body["index"]["last_upsert_age_s"] >= 0
    assert body["users_in_state"] >= 1
    assert body["latency_ms"]["n"] >= 1 and body["latency_ms"]["p50_ms"] > 0
    assert set(body["rates"]["events_per_s_by_type"]) >= {"click", "search", "purchase", "impression"}
    error = body["recent_errors"][0]
    assert error["topic"] == stack.names.click and error["offset"] >= 0 and error["error"]
    topics = {row["topic"] for row in body["partitions"]["assigned"]}
    assert stack.names.click in topics
    assert body["partitions"]["owners"] and body["partitions"]["owners"][0]["this_worker"]
    home = body["trending"]["home"]
    assert home and all(t["title"] == catalogue[t["item_id"]]["title"] for t in home)
    assert USER in body["recent_users"]
    assert len(body["series"]["ts"]) >= 2
    # No feedback yet: the default scorer serves; the pages wait for feedback, or were dropped
    # without any once their window closed.
    model = body["model"]
    assert model["version"] == 0 and model["pending_pages"] + model["unseen_pages_dropped"] >= 1


def test_openapi_describes_every_path(stack: WebStack) -> None:
    status, spec, _ = stack.get("/openapi.json", TOKEN)
    assert status == 200 and spec["openapi"].startswith("3.")
    assert set(spec["paths"]) >= {"/recommendations/{user_id}", "/health", "/metrics", "/api/stats",
                                  "/openapi.json", "/dashboard"}
    params = {p["name"]: p for p in spec["paths"]["/recommendations/{user_id}"]["get"]["parameters"]}
    assert params["k"]["schema"]["maximum"] == 100
    assert spec["security"] == [{"bearer": []}]
    assert spec["paths"]["/health"]["get"]["security"] == []
