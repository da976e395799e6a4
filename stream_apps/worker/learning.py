"""What the worker learns from actions besides the user state, as evaluate's replay does
(:class:`engine.baselines.StreamrecReplay`): the item-item model (EASE) refit in the
background on its schedule, and next-event labels (an action on an item of the user's
last candidate set) for the ranker's trainer."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from threadpoolctl import threadpool_limits

from engine.events import Interaction
from engine.itemmodels import ItemItemModel, ItemModelConfig, fit_item_model
from engine.recommend import Page, learn_categories
from stream_apps.worker.context import WorkerContext

log = logging.getLogger(__name__)


def note_action(ctx: WorkerContext, parsed: Interaction) -> None:
    """A click or purchase of a known item: into the item model's log, and a next-event
    label when the item was among the user's last candidate set."""
    if parsed.item_id is None:
        return
    ctx.learning.refits.record(parsed.user_id, parsed.item_id, parsed.ts)
    info = ctx.catalogue.catalog.get(parsed.item_id) if ctx.catalogue.catalog is not None else None
    if info is not None:
        learn_categories(ctx.catalogue.collaborative, info.categories, parsed, ctx.catalogue.interest_config)
    ctx.learning.last_event_ts = max(ctx.learning.last_event_ts, parsed.ts)
    # Next-event labels are for deployments without impressions: once impressions arrive,
    # the pages' own feedback is the label (mixing both cost the closed-loop test its lift:
    # -20 % click-through against the control group instead of +52 %).
    if not ctx.settings.next_event_labels or ctx.learning.feedback.impressions > 0:
        return
    kind = "purchase" if parsed.kind == "purchase" else "click"  # a search that led to the item: a click
    example = ctx.learning.next_event.action(parsed.user_id, parsed.item_id, kind,
                                    example_id=parsed.event_id or f"{parsed.user_id}@{parsed.ts}")
    if example is not None:
        ctx.learning.next_event_examples.append(example)
        del ctx.learning.next_event_examples[:-1000]  # bounded: the timer drains it every second


def remember_candidates(ctx: WorkerContext, user_id: str, page: Page, model_version: int) -> None:
    """The page's candidate set waits for the user's next action (its label)."""
    if ctx.settings.next_event_labels and page.features is not None and page.candidates:
        ctx.learning.next_event.served(user_id, page.candidates, page.features, [r.item_id for r in page.items],
                              model_version)


#: The refit thread's niceness (Linux; 0 is the worker's): it takes what serving leaves.
BACKGROUND_NICENESS = 10


def lower_thread_priority(niceness: int = BACKGROUND_NICENESS) -> None:
    """Let the calling thread yield the CPU to the event loop, the ranking thread and the
    broker (Linux schedules each thread by its own niceness); never raises it, and where
    it cannot (another OS, a sandbox) the thread just competes as before."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(niceness, os.getpriority(os.PRIO_PROCESS, tid)))
    except (AttributeError, OSError):
        pass


def fit_in_background(histories: Sequence[Sequence[str]], config: ItemModelConfig) -> ItemItemModel | None:
    """:func:`engine.itemmodels.fit_item_model` on one BLAS thread: on two, OpenBLAS
    inverts a 3,000-item Gram matrix in 1.7 s with 2.5 s of CPU on both cores (the loop's
    and the broker's too), on one in 1.6 s with 1.6 s of CPU."""
    with threadpool_limits(limits=1, user_api="blas"):
        return fit_item_model(histories, config)


def register_item_model_refits(app: Any, ctx: WorkerContext) -> Any:
    """Check the refit schedule every second; fit in a thread of its own at a lower
    priority (a fit of 5,000 items takes seconds) and swap the model in when it is done."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="item-model", initializer=lower_thread_priority)
    running: list[bool] = [False]

    @app.timer(interval=1.0)
    async def refit_item_model() -> None:
        if running[0] or not ctx.learning.refits.due(ctx.learning.last_event_ts):
            return
        histories = ctx.learning.refits.snapshot(ctx.learning.last_event_ts)
        running[0] = True
        started = time.monotonic()
        try:
            model = await asyncio.get_running_loop().run_in_executor(
                executor, fit_in_background, histories, ctx.learning.refits.config)
        finally:
            running[0] = False
        if model is not None:
            ctx.catalogue.collaborative = replace(ctx.catalogue.collaborative, item_model=model)
            ctx.metrics.item_model_items.set(len(model))
        ctx.metrics.item_model_refits.inc()
        log.info("item model refit on %d users: %d items in %.1fs", len(histories),
                 len(model) if model is not None else 0, time.monotonic() - started)

    return refit_item_model
