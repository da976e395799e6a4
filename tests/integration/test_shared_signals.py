"""Shared item signals on a real broker (issue 12): the same event stream through one
worker and through three gives the same co-visitation neighbours on every worker, equal
to the engine's own counts for that stream; after a SIGKILL and restart of every worker
the neighbours are unchanged and nothing is counted twice."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.config import InterestConfig
from engine.covisit import Covisitation, CovisitConfig
from engine.item_signals import RowIncrement, increments_message, partition_for
from stream_apps.kafka.broker import free_port
from stream_apps.kafka.clients import producer
from stream_apps.kafka.topics import TopicNames
from stream_apps.settings import Settings
from stream_apps.tools.catalogue import load_builtin_catalogue
from stream_apps.tools.evaluate_kafka import wait_group_settled, wait_signals_settled
from stream_apps.tools.processes import get_json, spawn_worker, stop_process, wait_ready
from stream_apps.worker.run import wait_for_topics
from tests.integration.harness import TopicCollector

pytestmark = pytest.mark.integration

ITEMS = load_builtin_catalogue()[:80]
USERS, CLICKS = 40, 7
T0 = time.time() - 3600.0
NOW = T0 + 7200.0  # neighbours are compared at one fixed time


def _events() -> list[dict[str, Any]]:
    """Each user clicks a run of items drawn from a small window of the catalogue, so
    items share many neighbours."""
    events = []
    for n in range(USERS):
        uid = f"u{n:02d}-{uuid.uuid4().hex[:4]}"
        for c in range(CLICKS):
            item = ITEMS[(n * 3 + c * (1 + n % 4)) % len(ITEMS)]["item_id"]
            events.append({"event_id": f"e-{n}-{c}-{uuid.uuid4().hex[:6]}", "user_id": uid,
                           "item_id": item, "ts": T0 + n + c * 60.0})
    return events


def _expected(events: list[dict[str, Any]]) -> Covisitation:
    """What one process learns from the stream: engine.covisit on each user's clicks in order."""
    cv = Covisitation(CovisitConfig(half_life_s=Settings().covisit_half_life_s))
    weight = InterestConfig().weight_of("click")
    recent: dict[str, list[str]] = {}
    for event in sorted(events, key=lambda e: e["ts"]):
        cv.update(recent.get(event["user_id"], []), event["item_id"], weight, event["ts"])
        recent.setdefault(event["user_id"], []).append(event["item_id"])
    return cv


def _neighbours(port: int, items: list[str]) -> dict[str, Any]:
    query = "&".join(f"item={i}" for i in items)
    status, body = get_json(f"http://127.0.0.1:{port}/internal/signals?k=100&now={NOW}&{query}", timeout=10)
    assert status == 200, body
    return {i: (dict(zip(v["ids"], v["scores"])), v["mass"]) for i, v in body["neighbours"].items()}


def _assert_same(got: dict[str, Any], want: dict[str, Any], where: str) -> None:
    for item, (neighbours, mass) in want.items():
        got_neighbours, got_mass = got[item]
        assert got_mass == pytest.approx(mass, rel=1e-6), (where, item)
        assert set(got_neighbours) == set(neighbours), (where, item)
        for other, score in neighbours.items():
            assert got_neighbours[other] == pytest.approx(score, rel=1e-4), (where, item, other)


def _metric(port: int, name: str) -> float:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
    return 0.0


def _wait_events_read(deployment: Deployment, timeout: float = 90.0) -> None:
    """Until the group owns every click partition and has read each to its high watermark."""
    wait_group_settled(list(deployment.procs), deployment.names.click, deployment.settings.partitions)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = []
        for port in deployment.procs:
            _, body = get_json(f"http://127.0.0.1:{port}/api/stats", timeout=5)
            rows += [r for r in ((body or {}).get("partitions") or {}).get("assigned") or []
                     if r.get("topic") == deployment.names.click]
        if len(rows) == deployment.settings.partitions and all(
                r.get("highwater") is not None and r.get("position") is not None
                and r["position"] >= r["highwater"] for r in rows):
            return
        time.sleep(0.3)
    raise AssertionError(f"the click partitions were not read to the end: {rows}")


class Deployment:
    def __init__(self, bootstrap: str, tmp_path: Path, workers: int) -> None:
        self.settings = Settings(bootstrap_servers=bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:8]}-sig-")
        self.names = TopicNames.of(self.settings)
        self.tmp_path, self.workers = tmp_path, workers
        wait_for_topics(self.settings, max_wait_s=10)
        self.producer = producer(self.settings, linger_ms=0)
        self.recs = TopicCollector(self.settings, self.names.recommendations)
        self.recs.start()
        self.procs: dict[int, Any] = {}
        for item in ITEMS:  # the catalogue is there before the workers, as in any restart
            self.producer.send(self.names.items, key=item["item_id"].encode(), value=orjson.dumps(item))
        self.producer.flush()

    def start(self) -> None:
        for n in range(self.workers):
            port = free_port()
            self.procs[port] = spawn_worker(self.settings, port, self.tmp_path / f"{self.settings.topic_prefix}{n}.log")
            time.sleep(1.0)  # staggered on purpose (like test_scale_out): the joins fall into few rebalances
        for port, proc in self.procs.items():
            body = wait_ready(port, proc, timeout=120)
            deadline = time.monotonic() + 180
            while body.get("index_items", 0) < len(ITEMS):
                assert time.monotonic() < deadline, f"catalogue not indexed: {body}"
                time.sleep(0.3)
                body = wait_ready(port, proc, timeout=30)
            assert body["signals"] is not None and body["signals"]["caught_up"], body

    def kill_all(self) -> None:
        for proc in self.procs.values():
            stop_process(proc, kill=True)
        self.procs.clear()

    def send(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.producer.send(self.names.click, key=event["user_id"].encode(), value=orjson.dumps(event))
        self.producer.flush()

    def wait_processed(self, events: list[dict[str, Any]], timeout: float = 180.0) -> None:
        want = {e["event_id"] for e in events}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # A page lists every event of the user's it answers (micro-batches coalesce them).
            seen = {e for m in self.recs.snapshot()
                    for e in ((m.get("trigger") or {}).get("event_ids") or [(m.get("trigger") or {}).get("event_id")])}
            if want <= seen:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"{len(want - seen)} of {len(want)} events got no recommendation")
        assert wait_signals_settled(list(self.procs), time.monotonic() + 60), "signals did not settle"

    def close(self) -> None:
        for proc in self.procs.values():
            stop_process(proc)
        self.recs.stop()
        self.producer.close()


def _bad_increments_go_to_dead_letter(deployment: Deployment, port: int) -> None:
    """An increments message that does not parse, and one with a row of another partition
    than the one it was sent to: both to dead-letter with a reason; the rest of the second
    message is applied, and the aggregator goes on."""
    partitions = deployment.settings.partitions
    ids = (f"zz-probe-{n}" for n in range(1000))
    here = next(i for i in ids if partition_for(i, partitions) == 0)
    elsewhere = next(i for i in ids if partition_for(i, partitions) != 0)
    dead = TopicCollector(deployment.settings, deployment.names.dead_letter)
    dead.start()
    try:
        topic = deployment.names.item_signal_increments
        deployment.producer.send(topic, value=b"not json", partition=0)
        rows = {here: RowIncrement({"zz-neighbour": 1.0}, 2.0, {}), elsewhere: RowIncrement({}, 1.0, {})}
        message = increments_message([("probe[0]", 0, "probe-event", NOW, rows)])
        deployment.producer.send(topic, value=orjson.dumps(message), partition=0)
        deployment.producer.flush()
        deadline = time.monotonic() + 60
        while len(errors := [m["error"] for m in dead.snapshot() if m["source_topic"] == topic]) < 2:
            assert time.monotonic() < deadline, f"dead-letter has {errors}"
            time.sleep(0.2)
        assert any("not valid UTF-8 JSON" in e for e in errors), errors
        assert any(f"other partitions than 0: {elsewhere}" in e for e in errors), errors
        # Scores come back normalised by the masses: the neighbour and the mass say it all.
        while (got := _neighbours(port, [here])[here])[1] != pytest.approx(2.0) or set(got[0]) != {"zz-neighbour"}:
            assert time.monotonic() < deadline, f"the message's valid row was not applied: {got}"
            time.sleep(0.2)
    finally:
        dead.stop()


@pytest.mark.timeout(900)  # seven worker starts on two shared cores
def test_one_and_three_workers_learn_the_same_and_survive_sigkill(bootstrap: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    events = _events()
    expected = _expected(events)
    sample = sorted({e["item_id"] for e in events})[:25]
    want = {i: (dict(zip(*[list(x) for x in expected.neighbours([i], 100, NOW)])), expected.mass(i, NOW))
            for i in sample}
    assert sum(len(n) for n, _ in want.values()) > 50  # a sample with real neighbours

    one = Deployment(bootstrap, tmp_path, workers=1)
    try:
        one.start()
        one.send(events)
        one.wait_processed(events)
        (port,) = one.procs
        _assert_same(_neighbours(port, sample), want, "one worker")
        _bad_increments_go_to_dead_letter(one, port)
    finally:
        one.close()

    three = Deployment(bootstrap, tmp_path, workers=3)
    try:
        three.start()
        three.send(events)
        three.wait_processed(events)
        for port in three.procs:  # each learned from all events, not its third
            _assert_same(_neighbours(port, sample), want, f"worker {port} of three")
        # SIGKILL all within a second of the last event: Faust commits every ~3 s, so the
        # restarted workers replay events and increments; nothing may count twice.
        three.kill_all()
        three.start()
        _wait_events_read(three)  # the replayed events are processed...
        three.wait_processed(events)  # ...and their signals settled
        for port in three.procs:
            _assert_same(_neighbours(port, sample), want, f"worker {port} after SIGKILL and restart")
        skipped = sum(_metric(port, 'streamrec_signal_increments_total{result="skipped"}') for port in three.procs)
        print(f"\nafter the restart: {skipped:.0f} replayed increments skipped by the aggregators")
    finally:
        three.close()
