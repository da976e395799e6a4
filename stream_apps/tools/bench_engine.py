"""The engine part of ``streamrec bench``: the worker's own work on the drain's events with
no Kafka, no Faust and no event loop, the ceiling of what one worker can drain.

The same index (the catalogue's vectors and the synthetic ones around them) and the same
10,000 clicks of 500 users as the worker's drain, taken in the worker's micro-batches:
each event is parsed and applied to its user's state (:func:`engine.step.handle_event`),
taught to co-visitation, trending and category counts and the item model's log, and
each batch's pages (one per user with ``coalesce_user_events``) are ranked together
(:func:`engine.batch.recommend_batch`) by the scorer a worker serves before any model is
published. The item model is refit on the worker's schedule, between batches and off the
clock (the worker fits in a thread of its own). What the worker adds on top of this,
its plumbing, is the rest of its CPU per event.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import orjson
from tqdm import tqdm

from engine.batch import PageRequest, recommend_batch
from engine.catalog import Catalog
from engine.events import Interaction, ItemUpsert, parse_event
from engine.index import HnswIndex
from engine.interests import UserState
from engine.itemmodels import fit_item_model
from engine.recommend import learn_categories, learn_collaborative
from engine.step import handle_event
from stream_apps.settings import Settings


def bench_index_items(catalogue: list[dict[str, Any]], centres: np.ndarray, total: int,
                      ) -> Iterator[tuple[str, str, list[str], np.ndarray]]:
    """The bench's index, ``(item_id, title, categories, vector)``: the catalogue's items
    with their real vectors, then synthetic items around them
    (:func:`stream_apps.tools.bench_ann.realistic_vectors`, as the ANN part uses)."""
    from stream_apps.tools.bench_ann import realistic_vectors

    for item, vector in zip(catalogue, centres):
        yield str(item["item_id"]), str(item.get("title") or ""), list(item.get("categories") or []), vector
    rng = np.random.default_rng(5)
    extra = total - len(catalogue)
    for lo in range(0, extra, 20_000):
        chunk = realistic_vectors(centres, min(20_000, extra - lo), rng)
        for j, vector in enumerate(chunk):
            yield f"bench-item-{lo + j}", f"synthetic item {lo + j}", ["synthetic"], vector


def bench_engine_alone(settings: Settings, catalogue: list[dict[str, Any]], centres: np.ndarray, total: int,
                       events: list[bytes]) -> dict[str, Any]:
    """Events per second and CPU ms per event of the engine alone on ``events`` (the
    drain's click values), against an index of ``total`` items."""
    now = time.time()
    rows = list(bench_index_items(catalogue, centres, total))
    index = HnswIndex(settings.index_config(int(centres.shape[1])))
    index.build_threads = -1  # as the worker loads a catalogue
    catalog = Catalog(index)
    for lo in tqdm(range(0, len(rows), 20_000), desc="engine alone: index", unit="chunk", leave=False):
        chunk = rows[lo:lo + 20_000]
        catalog.upsert([ItemUpsert(item_id=i, title=t, categories=tuple(c)) for i, t, c, _ in chunk],
                       np.stack([v for *_, v in chunk]), now=now - 86400.0)
    interest, recommend = settings.interest_config(), settings.recommend_config()
    step = settings.step_config()
    collab = settings.new_collaborative()
    refits = settings.item_model_refits()
    scorer = settings.default_scorer()
    validation = settings.validation_config()
    states: dict[str, UserState] = {}
    size = settings.batch_max_events
    wall = cpu = 0.0
    pages = 0
    for lo in tqdm(range(0, len(events), size), desc="engine alone: events", unit="batch", leave=False):
        now = time.time()  # the worker's clock, once per batch here
        if refits.due(now):  # off the clock: the worker fits in its own thread
            model = fit_item_model(refits.snapshot(now), refits.config)
            if model is not None:
                collab = replace(collab, item_model=model)
        wall_0, cpu_0 = time.perf_counter(), time.process_time()
        asks: list[tuple[str, UserState, str | None]] = []  # (user, state, scene): the pages to rank
        ask_of: dict[str, int] = {}
        for raw in events[lo:lo + size]:
            event = parse_event("click", orjson.loads(raw), now, validation)
            assert isinstance(event, Interaction) and event.item_id is not None
            before = states.get(event.user_id)
            vector = index.vectors([event.item_id])[0] if event.item_id in catalog else None
            state, effects = handle_event(before, event, vector, None, index.dim, step, now)
            if effects.learn:
                learn_collaborative(collab, before, event, interest)
                refits.record(event.user_id, event.item_id, event.ts)
                info = catalog.get(event.item_id)
                if info is not None:
                    learn_categories(collab, info.categories, event, interest)
            if state is not None:
                states[event.user_id] = state
            if effects.serve and state is not None:  # one page per user (coalesced) or per event
                at = ask_of.get(event.user_id) if settings.coalesce_user_events else None
                if at is None:
                    ask_of[event.user_id] = len(asks)
                    asks.append((event.user_id, state, event.scene))
                else:
                    asks[at] = (event.user_id, state, event.scene)
        requests = [PageRequest(state, scene, None, {}, scorer, had=refits.had(user)) for user, state, scene in asks]
        recommend_batch(requests, catalog, now, interest, recommend, collaborative=collab,
                        rng=np.random.default_rng(lo))
        pages += len(requests)
        wall += time.perf_counter() - wall_0
        cpu += time.process_time() - cpu_0
    return {"events": len(events), "pages": pages, "eps": round(len(events) / wall, 1),
            "cpu_ms_per_event": round(1000 * cpu / len(events), 3), "batch_max": size}
