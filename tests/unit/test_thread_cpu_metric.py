"""streamrec_thread_cpu_seconds_total: the worker's CPU by thread role, from /proc."""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client import generate_latest

from stream_apps.worker.metrics import WorkerMetrics, thread_cpu_seconds, thread_role

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux /proc")


def _spin(seconds: float) -> None:
    import time

    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_thread_roles_name_what_a_thread_does() -> None:
    assert thread_role(threading.main_thread()) == "event-loop"
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ranking") as pool:
        assert pool.submit(lambda: thread_role(threading.current_thread())).result() == "ranking"

    class ConsumerService:  # what mode's WorkerThread carries as .service
        pass

    faust_like = threading.Thread(name="Thread-7")
    faust_like.service = ConsumerService()  # type: ignore[attr-defined]
    assert thread_role(faust_like) == "ConsumerService"


@linux_only
def test_a_busy_thread_shows_its_cpu_under_its_role() -> None:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ranking") as pool:
        before = pool.submit(thread_cpu_seconds).result()
        pool.submit(_spin, 0.3).result()
        after = thread_cpu_seconds()
    assert after["ranking"] - before.get("ranking", 0.0) >= 0.25
    assert "event-loop" in after


@linux_only
def test_the_worker_registry_exports_it() -> None:
    text = generate_latest(WorkerMetrics().registry).decode()
    assert 'streamrec_thread_cpu_seconds_total{thread="event-loop"}' in text
