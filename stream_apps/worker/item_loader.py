"""Every worker reads all of ``item-vectors`` into its index, from the beginning.

Read whole (:func:`stream_apps.kafka.whole_topic.read_whole`): each worker needs every
partition, not a share, and is ready once this has caught up.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
from contextlib import aclosing
from typing import Any

import numpy as np
import orjson

from engine.events import ItemUpsert
from stream_apps.kafka.whole_topic import read_whole
from stream_apps.worker.context import WorkerContext, vector_from_wire

log = logging.getLogger(__name__)

FATAL_EXIT_AFTER_S = 15.0


class EncoderMismatch(RuntimeError):
    """``item-vectors`` holds vectors of another encoder than this worker's: fatal."""


def check_encoder(msg: dict[str, Any], vector: np.ndarray, name: str, dim: int, where: str) -> None:
    """Refuse a vector that another encoder made (by its name, or its dimension for
    records written before the name was carried): the spaces do not mix."""
    written_by = msg.get("encoder")
    if (written_by is not None and written_by != name) or vector.shape != (dim,):
        raise EncoderMismatch(
            f"{where} was written by encoder {written_by or 'unknown'!r} ({vector.shape[0]}-d) but this "
            f"worker's encoder is {name!r} ({dim}-d): the vectors cannot share an index. Use a new "
            f"topic prefix (STREAMREC_TOPIC_PREFIX) for the other model and load the catalogue "
            f"again there, or set STREAMREC_MODEL={written_by or '<the old model>'}.")


def _apply_batch(ctx: WorkerContext, records: list[Any], now: float,
                 encoder: tuple[str, int] | None = None) -> None:
    """Apply upserts and deletes in order, upserting runs of consecutive upserts at once."""
    pending: list[tuple[ItemUpsert, np.ndarray]] = []

    def flush() -> None:
        if pending:
            catalog = ctx.ensure_catalog(int(pending[0][1].shape[0]))
            catalog.upsert([p[0] for p in pending], np.stack([p[1] for p in pending]), now)
            ctx.metrics.items.labels(op="upsert").inc(len(pending))
            pending.clear()

    for record in records:
        try:
            msg = orjson.loads(record.value)
            if msg.get("deleted"):
                flush()
                if ctx.catalogue.catalog is not None:
                    ctx.catalogue.catalog.delete([msg["item_id"]])
                ctx.metrics.items.labels(op="delete").inc()
                continue
            vector = vector_from_wire(base64.b64decode(msg["vector"]))
            if encoder is not None:
                check_encoder(msg, vector, *encoder, f"{record.topic}[{record.partition}]@{record.offset}")
            item = ItemUpsert(
                item_id=msg["item_id"], title=msg.get("title") or "",
                categories=tuple(msg.get("categories") or ()), available=bool(msg.get("available", True)),
                price=msg.get("price"), ts=msg.get("ts"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            # Only streamrec writes this internal topic: a bad record is a bug, but one
            # bad record must not take the catalogue down with it.
            log.error("skipping bad item-vectors record at %s[%s]@%s: %s",
                      record.topic, record.partition, record.offset, exc)
            continue
        if pending and pending[0][1].shape != vector.shape:
            flush()
        pending.append((item, vector))
    flush()
    if ctx.catalogue.catalog is not None:
        ctx.metrics.index_size.set(len(ctx.catalogue.catalog))
        ctx.metrics.last_item_upsert.set(ctx.catalogue.catalog.last_upsert_ts)


async def run_item_loader(ctx: WorkerContext, consumer_factory: Any) -> None:
    """Consume ``item-vectors`` for ever; sets ``ctx.catalogue.catalog_loaded`` once caught up."""
    if ctx.catalogue.catalog_loaded is None:
        raise RuntimeError("create_app sets ctx.catalogue.catalog_loaded before tasks start")
    loaded = await ctx.encoder()  # its name and dimension are what the topic must hold
    encoder = (loaded.name, loaded.dim)
    async with aclosing(read_whole(consumer_factory, ctx.names.item_vectors)) as fetches:
        async for fetch in fetches:
            if fetch.records:
                try:
                    async with ctx.catalogue.index_lock:  # never while the ranking thread reads the index
                        _apply_batch(ctx, fetch.records, time.time(), encoder)
                except EncoderMismatch as exc:
                    log.critical("%s", exc)
                    # The worker stops: serving from a mixed or empty index is worse. Faust's
                    # crash path stops it in order; if a join or recovery in progress holds
                    # that up (seen in CI: still running after 180 s), exit regardless.
                    asyncio.get_running_loop().call_later(FATAL_EXIT_AFTER_S, os._exit, 2)
                    raise
            if not ctx.catalogue.catalog_loaded.is_set() and fetch.caught_up:
                ctx.catalogue.catalog_loaded.set()
                log.info("catalogue loaded: %d items", len(ctx.catalogue.catalog) if ctx.catalogue.catalog else 0)
