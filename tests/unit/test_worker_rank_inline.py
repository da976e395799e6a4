"""CatalogueService.rank: a small batch is ranked on the event loop, a larger one in the
ranking thread, and both give the same pages."""

from __future__ import annotations

import asyncio
import threading
from typing import Any
from unittest.mock import patch

import numpy as np

from engine.batch import PageRequest, recommend_batch
from engine.catalog import Catalog
from engine.config import IndexConfig, InterestConfig, RecommendConfig
from engine.events import ItemUpsert, parse_event
from engine.index import HnswIndex
from engine.recommend import Collaborative
from engine.step import StepConfig, handle_event
from engine.trending import Trending
from stream_apps.worker.context import CatalogueService

NOW = 1_760_000_000.0
DIM = 8


def _service(inline_max_pages: int) -> CatalogueService:
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(40, DIM)).astype(np.float32)
    catalog = Catalog(HnswIndex(IndexConfig(dim=DIM, initial_capacity=64)))
    catalog.upsert([ItemUpsert(item_id=f"i{n}", title=f"item {n}") for n in range(40)], vectors, NOW - 3600)
    trending = Trending()
    for n in range(40):
        trending.record(f"i{n}", None, 1.0 + n % 3, NOW - 60)
    return CatalogueService(lambda dim: IndexConfig(dim=dim), InterestConfig(), RecommendConfig(),
                            Collaborative(trending=trending), catalog=catalog,
                            ranking_rng=np.random.default_rng(1), inline_max_pages=inline_max_pages)


def _requests(service: CatalogueService, users: int) -> list[PageRequest]:
    assert service.catalog is not None
    out = []
    for u in range(users):
        state = None
        for n in range(3):
            item = f"i{(7 * u + n) % 40}"
            event = parse_event("click", {"event_id": f"e{u}-{n}", "user_id": f"u{u}", "item_id": item,
                                          "ts": NOW - 30 + n}, NOW)
            state, _ = handle_event(state, event, service.catalog.index.vectors([item])[0], None, DIM,
                                    StepConfig(), NOW - 30 + n)
        assert state is not None
        out.append(PageRequest(state))
    return out


def _rank_recording_threads(service: CatalogueService, users: int) -> tuple[list[Any], set[int], int]:
    threads: set[int] = set()

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.add(threading.get_ident())
        return recommend_batch(*args, **kwargs)

    async def run() -> tuple[list[Any], int]:
        with patch("stream_apps.worker.context.recommend_batch", recording):
            return await service.rank(_requests(service, users), NOW), threading.get_ident()

    pages, loop_thread = asyncio.run(run())
    service.shutdown()
    return pages, threads, loop_thread


def _items(pages: list[Any]) -> list[list[tuple[str, float, str]]]:
    return [[(r.item_id, r.score, r.reason) for r in page.items] for page in pages]


def test_a_small_batch_is_ranked_on_the_loop_a_larger_one_in_the_thread() -> None:
    inline, inline_threads, loop_thread = _rank_recording_threads(_service(inline_max_pages=3), users=3)
    assert inline_threads == {loop_thread}
    threaded, threaded_threads, loop_thread = _rank_recording_threads(_service(inline_max_pages=2), users=3)
    assert threaded_threads and loop_thread not in threaded_threads
    assert all(page.items for page in inline)
    assert _items(inline) == _items(threaded)
