"""Kill a worker in the middle of a stream: every event is reflected in user state exactly
once. Kafka redelivers what the dead worker had not committed; ``event_id`` makes the
replay idempotent, and the survivor recovers the dead worker's partitions from the
changelog (exactly, thanks to the end-offset correction for the embedded broker)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from stream_apps.kafka.broker import EmbeddedBroker, free_port
from stream_apps.tools.catalogue import load_builtin_catalogue
from stream_apps.tools.evaluate_kafka import wait_group_settled
from stream_apps.tools.processes import get_json, spawn_worker, stop_process, wait_ready
from tests.integration.harness import Stack, wait_until

pytestmark = pytest.mark.integration

USERS = [f"user-{n:03d}" for n in range(40)]
EVENTS_PER_USER = 20  # within the 32 remembered event ids per user
RATE = 120.0  # events per second


def _events_in_state(web_port: int, user_id: str) -> int | None:
    """Events reflected in the user's state; None while the owner cannot answer (rebalancing)."""
    status, body = get_json(f"http://127.0.0.1:{web_port}/api/users/{user_id}", timeout=5)
    if status != 200 or not isinstance(body, dict):
        return None
    return int(body.get("events", 0)) if body.get("known_user") else 0


class ExactlyOnceViolated(AssertionError):
    """Events lost or counted twice across the failover."""


# Issue #6: one CI run lost 6 of 800 events (one each for six users) on the survivor.
# Before stream_apps.kafka.patches.faust_fixes, 3 of 4 instrumented runs here showed the survivor drop
# events in Faust's recovery hand-over and commit past them (as an offset gap, or over a
# hole of one); dedup by event_id hid it unless the dead worker's changelog write of one
# of them had not landed. None of it after the fixes.
def test_killing_one_of_two_workers_loses_nothing_and_counts_nothing_twice(tmp_path: Path) -> None:
    items = load_builtin_catalogue()[:50]
    with EmbeddedBroker(port=free_port(), log_path=tmp_path / "tansu.log") as broker:
        s = Stack(broker.bootstrap_servers, tmp_path)
        second = None
        try:
            s.load_items(items)
            s.start_worker()
            s.wait_index_size(len(items))
            worker_a = s.worker
            port_b = free_port()
            second = spawn_worker(s.settings, port_b, tmp_path / "worker-b.log")
            wait_ready(port_b, second, timeout=120)
            # The kill must hit a worker that owns partitions mid-stream: wait for the
            # rebalance that gives both members their share.
            wait_group_settled([s.web_port, port_b], s.names.click, s.settings.partitions, timeout=120)

            produced: Counter[str] = Counter()
            sent = [0]  # read by the main thread: summing the Counter races with its inserts

            def stream() -> None:
                start = time.monotonic()
                for n in range(len(USERS) * EVENTS_PER_USER):
                    delay = start + n / RATE - time.monotonic()  # paced on purpose: a stream, not a burst
                    if delay > 0:
                        time.sleep(delay)
                    uid = USERS[n % len(USERS)]
                    s.send_event("click", uid, item_id=items[n % len(items)]["item_id"],
                                 event_id=f"crash-{n}")
                    produced[uid] += 1
                    sent[0] += 1

            producer_thread = threading.Thread(target=stream)
            producer_thread.start()
            total_events = len(USERS) * EVENTS_PER_USER
            # A third of the stream sent (about 2 s at RATE): the kill lands mid-stream.
            wait_until(lambda: sent[0] >= total_events // 3, 60, "a third of the events sent",
                       interval=0.02)
            stop_process(worker_a, kill=True)  # mid-stream, no goodbye
            s.worker = None
            producer_thread.join()

            counts: dict[str, int | None] = {}

            def all_reflected(port: int) -> bool:
                counts.update({u: _events_in_state(port, u) for u in USERS})
                return counts == dict(produced)

            try:
                wait_until(lambda: all_reflected(port_b), 120, "every event in the survivor's state",
                           interval=1.0)
            except AssertionError:
                pass  # reported below with the counts
            total = sum(produced.values())
            print(f"produced {total} events; reflected {sum(c or 0 for c in counts.values())}; "
                  f"users off: {[(u, counts[u], produced[u]) for u in USERS if counts[u] != produced[u]]}")
            if counts != dict(produced):
                raise ExactlyOnceViolated(f"lost or double-counted events after the kill: {counts}")

            # The killed worker comes back: partitions move again, the counts stay exact.
            s.start_worker()
            for port in (s.web_port, port_b):
                try:
                    wait_until(lambda port=port: all_reflected(port), 90, f"every event on port {port}",
                               interval=1.0)
                except AssertionError:
                    pass  # reported below with the counts
                if counts != dict(produced):
                    raise ExactlyOnceViolated(str((port, {u: (counts[u], produced[u]) for u in USERS
                                                          if counts[u] != produced[u]})))
        finally:
            if second is not None:
                stop_process(second)
            s.close()
