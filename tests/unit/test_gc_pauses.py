"""The worker times its garbage collections, and keeps what it loaded before it was ready
out of them (a full collection then walks only what came after)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from stream_apps.kafka.topics import TopicNames
from stream_apps.settings import Settings
from stream_apps.worker.context import WorkerContext
from stream_apps.worker.metrics import GcPauses, WorkerMetrics


def _count(metrics: WorkerMetrics, generation: str) -> float:
    value = metrics.registry.get_sample_value("streamrec_gc_pause_seconds_count", {"generation": generation})
    return value or 0.0


def test_each_collection_is_timed_under_its_generation_until_uninstalled() -> None:
    metrics = WorkerMetrics()
    pauses = GcPauses(metrics.gc_pauses)
    pauses.install()
    try:
        gc.collect(2)
        gc.collect(0)
        assert _count(metrics, "2") == 1 and _count(metrics, "0") >= 1
        total = metrics.registry.get_sample_value("streamrec_gc_pause_seconds_sum", {"generation": "2"})
        assert total is not None and total > 0
    finally:
        pauses.uninstall()
    gc.collect(2)
    assert _count(metrics, "2") == 1 and pauses not in gc.callbacks


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()  # the test process: whatever an earlier test froze goes back
    yield
    gc.unfreeze()


def test_ready_freezes_what_was_loaded_once(unfrozen: None) -> None:
    ctx = WorkerContext(Settings(), TopicNames.of(Settings()))
    loaded = [{"row": n} for n in range(10_000)]  # stands for the index and tables
    assert gc.get_freeze_count() == 0
    ctx.mark_ready()
    frozen = gc.get_freeze_count()
    assert frozen >= len(loaded)
    later = [{"row": n} for n in range(100)]
    ctx.mark_ready()  # once only: not a second freeze of what came later
    assert gc.get_freeze_count() == frozen and ctx.ready and later
