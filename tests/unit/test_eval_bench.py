"""The in-process parts of ``streamrec bench``: percentiles, ANN recall, state size, the table."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from stream_apps.settings import Settings
from stream_apps.tools.bench import (
    BenchOptions,
    _backlog,
    bytes_per_user,
    cpu_use,
    gc_between,
    parse_sizes,
    percentiles,
    table_rows,
    thread_shares,
    wait_caught_up,
)
from stream_apps.tools.bench_ann import bench_ann, realistic_vectors
from stream_apps.tools.bench_engine import bench_engine_alone, bench_index_items


def _base(count: int = 100, dim: int = 32) -> np.ndarray:
    base = np.random.default_rng(0).normal(size=(count, dim)).astype(np.float32)
    return base / np.linalg.norm(base, axis=1, keepdims=True)


def test_percentiles() -> None:
    assert percentiles([]) == {"p50": None, "p99": None, "p999": None}
    p = percentiles([float(v) for v in range(1, 101)])
    assert p["p50"] == 50.5 and p["p99"] == 99.01 and p["p999"] == 99.9


def test_realistic_vectors_are_unit_and_clustered() -> None:
    base = _base(50)
    vectors = realistic_vectors(base, 200, np.random.default_rng(1))
    assert vectors.shape == (200, 32) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Clustered: each is much closer to some real vector than random unit vectors are (~0.2 here).
    assert float(np.median((vectors @ base.T).max(axis=1))) > 0.5
    # Built in chunks (a last, partial one too): every row is filled.
    chunked = realistic_vectors(base, 200, np.random.default_rng(1), chunk=64)
    assert np.allclose(np.linalg.norm(chunked, axis=1), 1.0, atol=1e-5)


def test_more_noise_makes_neighbours_less_distinct() -> None:
    base = _base(50)
    tight = realistic_vectors(base, 300, np.random.default_rng(1), noise=0.1)
    loose = realistic_vectors(base, 300, np.random.default_rng(1), noise=3.0)
    assert (tight @ base.T).max(axis=1).mean() > (loose @ base.T).max(axis=1).mean() + 0.1


def test_bench_ann_reports_recall_against_brute_force() -> None:
    result = bench_ann(_base(), 2000, queries=30)
    assert result["items"] == 2000 and 0.5 <= result["recall"] <= 1.0
    sweep = result["recall_by_ef"]
    assert sweep[str(result["ef_search"])] == pytest.approx(result["recall"], abs=0.05)
    assert sweep["16"] <= sweep["256"]  # more search effort never finds less, on average
    assert result["speedup"] > 0 and result["hnsw_qps"] > 0 and result["brute_force_qps"] > 0
    assert result["bytes_per_item"] > 4 * 32


def test_bytes_per_user_is_a_few_kilobytes() -> None:
    assert 3000 < bytes_per_user(384) <= 4096


def test_sizes_and_options() -> None:
    assert parse_sizes("100k,1M") == (100_000, 1_000_000)
    assert parse_sizes("2500") == (2500,)
    with pytest.raises(ValueError, match="not a size"):
        parse_sizes("lots")
    with pytest.raises(ValueError):
        BenchOptions(ann_sizes=(10,))
    assert BenchOptions(quick=True).ann_items == (20_000,)
    assert BenchOptions(ann_sizes=(1_000_000,)).ann_items == (1_000_000,)


def test_table_puts_recall_and_speedup_side_by_side_and_flags_saturation() -> None:
    ann = {"items": 1000, "k": 10, "ef_search": 128, "recall": 0.97, "hnsw_qps": 3000.0,
           "brute_force_qps": 100.0, "speedup": 30.0, "build_s": 1.0, "brute_force_build_s": 0.1,
           "hnsw_query_ms": 0.33, "brute_force_query_ms": 10.0, "recall_by_ef": {"16": 0.8, "128": 0.97},
           "bytes_per_item": 1700}
    legs = {"p50": 1.0, "p99": 2.0, "p999": 3.0}
    rate = {"p50": 10.0, "p99": 20.0, "p999": 30.0, "sent": 100, "received": 50, "saturated": True,
            "to_worker_ms": legs, "to_reader_ms": legs}
    rows = table_rows({"quick": True, "dim": 384, "ann": [ann], "throughput_eps": 500.0, "passthrough_eps": 2000.0,
                       "latency_ms": rate, "latency_rate": 50, "latency_by_rate": {"50": rate}})
    by_name = {r[0]: r for r in rows}
    hnsw = by_name["HNSW 1,000: recall@10, qps"]
    assert "0.97" in hnsw[1] and hnsw[3] == "30.0x faster"
    assert by_name["worker throughput (events/s)"][3] == "0.25"
    assert "(behind)" in by_name["  at 50/s (received/sent)"][2]
    assert by_name["  caught up after the drain (all committed for 3 s)"][1] == "-"
    assert "  item-signals rows written per event (drain)" not in by_name  # shared signals off
    rows = table_rows({"quick": True, "dim": 384, "throughput_eps": 500.0, "passthrough_eps": 2000.0,
                       "latency_ms": rate, "latency_rate": 50, "latency_by_rate": {"50": rate},
                       "throughput_received": 1000, "signal_traffic": {"increments": 5250.0, "rows_written": 4410.0}})
    signals = {r[0]: r for r in rows}["  item-signals rows written per event (drain)"]
    assert signals[1:] == ("4.41", "increments per event 5.25", "0.84")
    assert "    CPU ms per event, busy share of a core" not in {r[0] for r in rows}  # not measured
    measured = {**rate, "cpu": cpu_use(100.0, 104.5, 5.0, 250)}
    rows = table_rows({"quick": True, "dim": 384, "throughput_eps": 500.0, "passthrough_eps": 2000.0,
                       "latency_ms": measured, "latency_rate": 50, "latency_by_rate": {"50": measured}})
    cpu = {r[0]: r for r in rows}["    CPU ms per event, busy share of a core"]
    assert cpu[1:3] == (18.0, "busy 90%")
    assert cpu_use(None, 1.0, 5.0, 250) is None and cpu_use(1.0, 2.0, 5.0, 0) is None
    assert "    its threads' share of a core" not in {r[0] for r in rows}  # not measured
    threads = thread_shares({"event-loop": 10.0, "ranking": 2.0}, {"event-loop": 13.0, "ranking": 4.0}, 5.0)
    rows = table_rows({"quick": True, "dim": 384, "throughput_eps": 500.0, "passthrough_eps": 2000.0,
                       "throughput_threads": threads, "latency_ms": measured, "latency_rate": 50,
                       "latency_by_rate": {"50": {**measured, "threads": threads}}})
    by_name = {r[0]: r for r in rows}
    assert "    garbage collections, full ones" not in by_name  # not measured
    assert by_name["  its threads' share of a core (drain)"][1] == "event-loop 60%, ranking 40%"
    assert by_name["    its threads' share of a core"][1] == "event-loop 60%, ranking 40%"
    assert thread_shares(None, threads, 5.0) is None
    paused = gc_between({"count": 4, "seconds": 0.01, "full_count": 0, "full_seconds": 0.0},
                        {"count": 9, "seconds": 0.31, "full_count": 1, "full_seconds": 0.25})
    rows = table_rows({"quick": True, "dim": 384, "throughput_eps": 500.0, "passthrough_eps": 2000.0,
                       "latency_ms": measured, "latency_rate": 50, "latency_by_rate": {"50": {**measured, "gc": paused}}})
    assert {r[0]: r for r in rows}["    garbage collections, full ones"][1:3] == ("5, 1", "300.0 ms stopped, 250.0 in full ones")
    assert gc_between(None, {"count": 1.0}) is None


def test_the_table_sets_the_engine_alone_beside_the_pass_through_and_the_worker() -> None:
    rate = {"p50": 10.0, "p99": 20.0, "p999": 30.0, "sent": 100, "received": 100, "saturated": False,
            "to_worker_ms": {"p50": 1.0, "p99": 2.0, "p999": 3.0}, "to_reader_ms": {"p50": 1.0, "p99": 2.0, "p999": 3.0}}
    result = {"quick": True, "dim": 384, "throughput_eps": 250.0, "passthrough_eps": 4000.0,
              "latency_ms": rate, "latency_rate": 50, "latency_by_rate": {"50": rate}}
    assert "  the engine alone, no Kafka (events/s)" not in {r[0] for r in table_rows(result)}  # not measured
    rows = {r[0]: r for r in table_rows({**result, "engine_alone": {"eps": 800.0, "cpu_ms_per_event": 1.5}})}
    assert rows["  the engine alone, no Kafka (events/s)"][1:] == (800.0, "pass-through 4000.0", "0.20")
    assert rows["    its CPU ms per event; the worker's share of it"][1:] == (1.5, "worker 250.0 events/s", "0.31")


def _catalogue(n: int) -> list[dict[str, object]]:
    return [{"item_id": f"c{i}", "title": f"thing {i}", "categories": [f"k{i % 4}"]} for i in range(n)]


def test_the_bench_index_is_the_catalogue_then_the_same_synthetic_items_every_time() -> None:
    base = _base(40)
    first = list(bench_index_items(_catalogue(40), base, 100))
    again = list(bench_index_items(_catalogue(40), base, 100))
    assert [row[0] for row in first[:40]] == [f"c{i}" for i in range(40)]
    assert first[0][2] == ["k0"] and np.array_equal(first[0][3], base[0])
    assert [row[0] for row in first[40:]] == [f"bench-item-{j}" for j in range(60)]
    assert all(np.array_equal(a[3], b[3]) for a, b in zip(first, again))


@pytest.mark.parametrize("coalesce", [True, False])
def test_the_engine_alone_ranks_the_drains_batches_one_page_per_user_or_per_event(coalesce: bool) -> None:
    catalogue = _catalogue(60)
    values = [value for _, value in _backlog(300, [str(i["item_id"]) for i in catalogue], "e")]
    settings = Settings(batch_max_events=64, coalesce_user_events=coalesce)
    out = bench_engine_alone(settings, catalogue, _base(60), 150, values)
    users = [orjson.loads(v)["user_id"] for v in values]
    distinct_per_batch = sum(len(set(users[lo:lo + 64])) for lo in range(0, 300, 64))
    assert out["events"] == 300 and out["batch_max"] == 64
    assert out["pages"] == (distinct_per_batch if coalesce else 300)
    assert distinct_per_batch < 300  # 500 users: some batch holds a user twice
    assert out["eps"] > 0 and out["cpu_ms_per_event"] > 0


def test_caught_up_needs_a_quiet_stretch_and_gives_up_at_the_cap() -> None:
    now = [0.0]

    def clock() -> float:
        return now[0]

    def sleep(s: float) -> None:
        now[0] += s

    # A lag that drops to 0 once, rises again (a commit's records), then stays at 0.
    lags = iter([40, 0, 7, 3, 0, 0, 0, 0, 0, 0, 0, 0])
    assert wait_caught_up(lambda: next(lags), quiet_s=3.0, poll_s=1.0, clock=clock, sleep=sleep) == 4.0
    now[0] = 0.0
    # Never quiet (or a worker that does not answer): None at the cap.
    assert wait_caught_up(lambda: None, quiet_s=3.0, cap_s=10.0, poll_s=1.0, clock=clock, sleep=sleep) is None


def test_paced_rates_reach_the_limit_and_include_half_of_it() -> None:
    assert BenchOptions().rates(2_000.0) == (50, 100, 200, 400, 800, 1000, 1600)
    assert BenchOptions(quick=True).rates(300.0) == (50, 150, 200)
    assert BenchOptions().rates(0.0) == (50,)  # nothing measured: still one point
    assert BenchOptions().index_items == 100_000 and BenchOptions(quick=True).index_items == 20_000
    with pytest.raises(ValueError, match="catalogue items"):
        BenchOptions(worker_items=10)


def test_a_coalesced_recommendation_answers_every_event_it_lists() -> None:
    from stream_apps.tools.bench import answered

    assert answered({"event_id": "e1", "user_id": "u"}) == ["e1"]  # the pass-through's forwarded event
    assert answered({"trigger": {"topic": "t", "event_id": "e3", "event_ids": ["e1", "e2", "e3"]}}) == [
        "e1", "e2", "e3"]
    assert answered({"trigger": {"topic": "t", "event_id": "e9"}}) == ["e9"]  # an older worker's trigger


def test_collector_wait_ends_on_count_or_stall() -> None:
    import threading
    import time

    from stream_apps.settings import Settings
    from stream_apps.tools.bench import Collector

    collector = Collector(Settings(), "unused")  # never started: we fill .times by hand
    feeder = threading.Thread(target=lambda: [collector.times.append(time.time()) or time.sleep(0.01)
                                              for _ in range(30)])
    started = time.monotonic()
    feeder.start()
    collector.wait_for(30, start_s=60, stall_s=60)
    assert len(collector.times) == 30 and time.monotonic() - started < 30  # the count ended it, not a limit
    feeder.join()
    started = time.monotonic()
    collector.wait_for(100, start_s=60, stall_s=0.3)  # nothing more comes: the stall ends it
    assert 0.3 <= time.monotonic() - started < 30


def test_one_build_measures_every_size() -> None:
    from stream_apps.tools.bench_ann import bench_ann_sizes

    seen: list[int] = []
    results = bench_ann_sizes(_base(), (1500, 500), queries=20, on_result=lambda r: seen.append(r["items"]))
    assert [r["items"] for r in results] == seen == [500, 1500]
    assert results[0]["build_s"] <= results[1]["build_s"]  # build time so far, growing
    assert all(0.5 <= r["recall"] <= 1.0 for r in results)
    # The saved index grows with the items it holds, not with its capacity.
    assert abs(results[0]["bytes_per_item"] - results[1]["bytes_per_item"]) < 0.2 * results[1]["bytes_per_item"]
