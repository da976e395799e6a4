"""Scale-out on one consumer group: three worker processes share the partitions of a
real Kafka-protocol broker; one is SIGKILLed and every user still gets recommendations.

This is the local stand-in for ``deploy/`` (several workers against a Kafka cluster):
the same ``streamrec worker`` processes, the same group protocol and rebalances, the
user-state table restored from its changelog on the surviving workers.
"""

from __future__ import annotations

import re
import time
import urllib.request
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream_apps.kafka.broker import free_port
from stream_apps.kafka.clients import producer
from stream_apps.kafka.topics import TopicNames
from stream_apps.settings import Settings, env_name
from stream_apps.tools.catalogue import load_builtin_catalogue
from stream_apps.tools.processes import get_json, spawn_worker, stop_process, wait_ready
from stream_apps.worker.run import wait_for_topics
from tests.integration.harness import TopicCollector

pytestmark = pytest.mark.integration

WORKERS = 3
# Six partitions: two per worker with three workers, three each once one is gone.
PARTITIONS = 6
USERS = 30
ITEMS_PER_CATEGORY = 40
STAGGER_S = 1.0
CATEGORIES = ("coffee & tea", "cycling", "gardening", "board games", "skincare")


def _catalogue() -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in load_builtin_catalogue():
        groups[item["categories"][0]].append(item)
    return [item for cat in CATEGORIES for item in groups[cat][:ITEMS_PER_CATEGORY]]


def _metrics_text(web_port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def _events_processed(web_port: int) -> float:
    """Sum of ``streamrec_events_total`` over event types, from the worker's /metrics."""
    text = _metrics_text(web_port)
    return sum(float(m.group(1)) for m in
               re.finditer(r"^streamrec_events_total\{[^}]*\} ([0-9.e+]+)$", text, re.MULTILINE))


def _stall_repairs(web_port: int) -> float:
    """``streamrec_partition_stall_repairs_total`` over actions (the metric must exist)."""
    text = _metrics_text(web_port)
    assert "# TYPE streamrec_partition_stall_repairs_total counter" in text
    return sum(float(m.group(1)) for m in re.finditer(
        r"^streamrec_partition_stall_repairs_total\{[^}]*\} ([0-9.e+]+)$", text, re.MULTILINE))


class PartitionStalled(AssertionError):
    """A surviving worker holds an event partition with unread messages and does not read it.

    Issue #7, seen in about half the runs before stream_apps.kafka.patches.faust_fixes: Faust dropped
    the events it fetched while handing the killed worker's partitions to the agents,
    with aiokafka's position already past them. The partition watchdog repairs any such
    stall within ``partition_stall_s`` (10 s), well inside the 45 s this test waits.
    """


def _event_partitions(procs: dict[int, Any], topics: set[str]) -> dict[tuple[int, str, int], Any]:
    """(worker port, topic, partition) -> (high watermark, position), from the dashboard API."""
    rows: dict[tuple[int, str, int], Any] = {}
    for port in procs:
        _, body = get_json(f"http://127.0.0.1:{port}/api/stats", timeout=5)
        assigned = ((body or {}).get("partitions") or {}).get("assigned") or [] if isinstance(body, dict) else []
        for row in assigned:
            if row.get("topic") in topics:
                rows[(port, row["topic"], row["partition"])] = (row.get("highwater"), row.get("position"))
    return rows


def _stalled_partitions(procs: dict[int, Any], topics: set[str]) -> dict[tuple[int, str, int], Any]:
    """Assigned event partitions nobody reads: never fetched (no high watermark known), or
    behind the high watermark without moving for a few seconds."""
    first = _event_partitions(procs, topics)
    time.sleep(3.0)  # an observation window on purpose: "not moving" is measured over time (diagnosis only)
    second = _event_partitions(procs, topics)
    return {key: row for key, row in second.items()
            if row[0] is None or (row[1] is not None and row[0] > row[1] and first.get(key) == row)}


def _wait_index(web_port: int, expected: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    body: Any = None
    while time.monotonic() < deadline:
        _, body = get_json(f"http://127.0.0.1:{web_port}/health")
        if isinstance(body, dict) and body.get("index_items", 0) >= expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"worker on {web_port} has not indexed {expected} items: {body}")


def _wait_known_user(web_port: int, user_id: str, deadline: float) -> None:
    while True:
        status, body = get_json(f"http://127.0.0.1:{web_port}/recommendations/{user_id}")
        if status == 200 and body.get("known_user") and body.get("items"):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"worker on {web_port} answers for {user_id}: {status} {body}")
        time.sleep(0.2)  # a 503 while a rebalance settles is an answer to retry


def _recommendations_for(collector: TopicCollector, topic: str, event_ids: set[str],
                         timeout: float) -> dict[str, dict[str, Any]]:
    """event_id -> the recommendation it triggered, for every id in ``event_ids``."""
    deadline = time.monotonic() + timeout
    found: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        for message in collector.snapshot(topic):
            trigger = (message or {}).get("trigger") or {}
            for event_id in trigger.get("event_ids") or [trigger.get("event_id")]:
                if event_id in event_ids:  # a page may answer several of a user's events
                    found[event_id] = message
        if len(found) == len(event_ids):
            return found
        time.sleep(0.1)
    missing = sorted(event_ids - set(found))
    raise AssertionError(f"{len(missing)} of {len(event_ids)} events got no recommendation "
                         f"within {timeout:.0f}s, e.g. {missing[:5]}")


@pytest.mark.timeout(600)  # three worker starts and a takeover on two shared cores
def test_three_workers_share_the_partitions_and_survive_a_killed_one(
        bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Faust keeps a data directory in the working directory: keep it out of the checkout.
    monkeypatch.chdir(tmp_path)
    settings = Settings(bootstrap_servers=bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:8]}-scale-",
                        partitions=PARTITIONS)
    names = TopicNames.of(settings)
    wait_for_topics(settings, max_wait_s=10)
    items = _catalogue()
    by_category: dict[str, list[str]] = defaultdict(list)
    for item in items:
        by_category[item["categories"][0]].append(item["item_id"])

    prod = producer(settings, linger_ms=0)
    collector = TopicCollector(settings, names.recommendations)
    collector.start()
    procs: dict[int, Any] = {}
    try:
        # The catalogue is there before the workers, as in any restart: each item is encoded
        # by the worker that owns its ``items`` partition, and every worker indexes all of
        # ``item-vectors``.
        for item in items:
            prod.send(names.items, key=item["item_id"].encode(), value=orjson.dumps(item))
        prod.flush()
        # Started together (a second apart), so the joins fall into few rebalances; one
        # after the other, each join is a rebalance of its own and the start takes ~45 s.
        extra_env = {env_name("partitions"): str(PARTITIONS)}
        for n in range(WORKERS):
            port = free_port()
            procs[port] = spawn_worker(settings, port, tmp_path / f"worker-{n}.log", extra_env)
            time.sleep(STAGGER_S)
        for port, proc in procs.items():
            wait_ready(port, proc, timeout=90)
            _wait_index(port, len(items))

        # Thirty users, each with a favourite category: two clicks in it.
        users = {f"u-{n:02d}-{uuid.uuid4().hex[:6]}": CATEGORIES[n % len(CATEGORIES)]
                 for n in range(USERS)}
        clicked: dict[str, list[str]] = {}
        first_round: dict[str, str] = {}
        for n, (uid, category) in enumerate(users.items()):
            clicked[uid] = by_category[category][n % 7: n % 7 + 2]
            for item_id in clicked[uid]:
                event_id = f"e-{uuid.uuid4().hex[:12]}"
                body = {"event_id": event_id, "user_id": uid, "item_id": item_id, "ts": time.time()}
                prod.send(names.click, key=uid.encode(), value=orjson.dumps(body))
            first_round[event_id] = uid
        prod.flush()
        # The group is settled only once the last joiner is in; allow for one more rebalance.
        before = _recommendations_for(collector, names.recommendations, set(first_round), 45)
        assert all(rec["items"] for rec in before.values())

        # Every worker took a share of the users (the partitions are spread, not idle).
        processed = {port: _events_processed(port) for port in procs}
        assert all(count > 0 for count in processed.values()), processed
        assert sum(processed.values()) >= 2 * USERS, processed

        victim = max(processed, key=lambda port: processed[port])
        stop_process(procs.pop(victim), kill=True)
        killed_at = time.monotonic()

        # After the kill: one new click per user, each must bring a recommendation.
        second_round: dict[str, str] = {}
        for n, (uid, category) in enumerate(users.items()):
            item_id = by_category[category][n % 7 + 2]
            event_id = f"e-{uuid.uuid4().hex[:12]}"
            body = {"event_id": event_id, "user_id": uid, "item_id": item_id, "ts": time.time()}
            prod.send(names.click, key=uid.encode(), value=orjson.dumps(body))
            second_round[event_id] = uid
        prod.flush()
        try:
            after = _recommendations_for(collector, names.recommendations, set(second_round), 45)
        except AssertionError as exc:
            event_topics = {names.event_topic(kind) for kind in ("click", "search", "purchase", "impression")}
            stalled = _stalled_partitions(procs, event_topics)
            raise PartitionStalled(f"{exc}; unread and not moving (port, topic, partition): "
                                   f"{stalled}") from None
        recovered_s = time.monotonic() - killed_at
        for event_id, rec in after.items():
            uid = second_round[event_id]
            assert rec["user_id"] == uid and rec["items"], rec
            # The state from before the kill came back from the changelog: what the user
            # clicked earlier is still known, so it is still left out of the list.
            shown = {i["item_id"] for i in rec["items"]}
            assert not shown & set(clicked[uid]), (uid, clicked[uid], shown)

        # Any surviving worker answers for any user over HTTP: Faust forwards the request to
        # the worker that owns the user's partition, which has the user's state.
        deadline = time.monotonic() + 20
        for port in procs:
            for uid in users:
                _wait_known_user(port, uid, deadline)

        repairs = sum(_stall_repairs(port) for port in procs)
        print(f"\nrecommendations for all {USERS} users {recovered_s:.1f}s after the SIGKILL; "
              f"events per worker before it: {sorted(processed.values())}; "
              f"stalled partitions repaired by the watchdog: {repairs:.0f}")
    finally:
        for proc in procs.values():
            stop_process(proc)
        collector.stop()
        prod.close()
