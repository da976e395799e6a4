"""The dashboard's numbers from WorkerMetrics, with an injected clock (no broker, no Faust)."""

from __future__ import annotations

from stream_apps.worker.dashboard_data import feedback, rates, series
from stream_apps.worker.metrics import WorkerMetrics, latency_percentiles, scene_label_of
from stream_apps.worker.openapi import openapi_spec


def test_latency_percentiles_cover_only_the_window() -> None:
    samples = [(100.0, 0.5)] + [(200.0 + i / 100, (i + 1) / 1000) for i in range(100)]
    result = latency_percentiles(samples, now=201.0, window_s=60.0)
    assert result["n"] == 100  # the 0.5 s sample is 100 s old
    assert result["p50_ms"] == 51.0 and result["p99_ms"] == 100.0 and result["max_ms"] == 100.0
    assert latency_percentiles([], now=1.0, window_s=60.0)["p50_ms"] is None


def test_rates_and_series_come_from_per_second_samples() -> None:
    m = WorkerMetrics()
    for t in range(10):
        m.events.labels(type="click").inc(10)
        m.events.labels(type="search").inc(2)
        m.recommendations.labels(scene="home").inc(5)
        m.record_latency(0.02, now=1000.0 + t)
        m.sample(now=1000.0 + t)
    r = rates(m, now=1009.0)
    assert r["events_per_s_by_type"]["click"] == 10.0 and r["events_per_s"] == 12.0
    assert r["recommendations_per_s"] == 5.0 and r["dead_letters_per_s"] == 0.0
    s = series(list(m.samples))
    assert len(s["ts"]) == 9 and set(s["events_per_s"]) == {12.0} and s["p50_ms"][-1] == 20.0


def test_feedback_is_credited_to_the_recommendations_scene_and_model_version() -> None:
    m = WorkerMetrics()
    m.recommendations.labels(scene="home").inc()
    m.record_recommendation("r-1", "home", ["a", "b"], model_version=3, now=10.0)
    m.record_action("impression", "home", "r-1", ["a", "b"], now=11.0)
    m.record_action("click", "search", "r-1", ["a"], now=12.0)  # clicked elsewhere: still home's
    m.record_action("click", "home", None, ["b"], now=12.0)  # organic: trending, not CTR
    f = feedback(m)
    home = next(r for r in f["by_scene"] if r["key"] == "home")
    assert (home["recommendations"], home["impressions"], home["clicks"], home["ctr"]) == (1, 1, 1, 1.0)
    assert f["by_model_version"][0]["key"] == "3"
    assert f["model_timeline"] == [{"model_version": "3", "first_seen": 10.0}]
    assert len(m.recent_actions) == 2


def test_scene_labels_are_capped() -> None:
    assert scene_label_of(None) == "none" and len(scene_label_of("x" * 500)) == 40


def test_openapi_reports_the_real_limits() -> None:
    spec = openapi_spec(max_k=50, default_k=7, max_id_length=128, token_required=False)
    params = {p["name"]: p["schema"] for p in spec["paths"]["/recommendations/{user_id}"]["get"]["parameters"]}
    assert params["k"]["maximum"] == 50 and params["k"]["default"] == 7
    assert params["user_id"]["maxLength"] == 128 and "security" not in spec
