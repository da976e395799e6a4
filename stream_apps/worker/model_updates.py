"""Model versions on ``model-updates`` and labelled pages on ``ranker-examples``: their
wire formats, and the reader that puts the newest version into service on every worker.

A ``model-updates`` message (key: the model name, ``ranker``) is JSON::

    {"model": "ranker", "version": 7, "ts": 1732262400.1, "format": "streamrec-ranker/1",
     "step": 412, "examples": 26380,
     "metrics": {"holdout_rows": 2900, "logloss": 0.31, "auc": 0.71, "default_auc": 0.62,
                 "replaced_auc": 0.69, "replaced_logloss": 0.32},
     "weights": "<base64 of the ranker's state bytes>"}

The topic is compacted and every worker reads it whole, without a consumer group: the
last message is the version in service. Producing an older version's message again is
a rollback.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from contextlib import aclosing
from typing import Any

import numpy as np
import orjson

from engine.features import N_FEATURES
from engine.feedback import Example
from engine.trainer import Published
from stream_apps.kafka.whole_topic import read_whole
from stream_apps.worker.context import WorkerContext

log = logging.getLogger(__name__)

MODEL_NAME = "ranker"
MODEL_FORMAT = "streamrec-ranker/1"


def model_message(published: Published, now: float) -> bytes:
    m, old = published.metrics, published.replaced
    metrics = {"holdout_rows": m.n, "logloss": _num(m.logloss), "auc": _num(m.auc),
               "default_auc": _num(m.default_auc)}
    if old is not None:
        metrics |= {"replaced_auc": _num(old.auc), "replaced_logloss": _num(old.logloss)}
    return orjson.dumps({
        "model": MODEL_NAME, "version": published.version, "ts": round(now, 3), "format": MODEL_FORMAT,
        "step": published.step, "examples": published.examples, "metrics": metrics,
        "weights": base64.b64encode(published.state).decode(),
    })


def _num(value: float) -> float | None:
    return round(value, 5) if np.isfinite(value) else None


def parse_model_message(value: bytes) -> tuple[int, bytes]:
    """``(version, state bytes)`` of a ``model-updates`` message; ``ValueError`` if not one."""
    msg = orjson.loads(value)
    if not isinstance(msg, dict) or msg.get("format") != MODEL_FORMAT:
        raise ValueError(f"not a {MODEL_FORMAT} message")
    return int(msg["version"]), base64.b64decode(msg["weights"], validate=True)


def example_to_wire(example: Example) -> bytes:
    return orjson.dumps({
        # No user_id: the trainer does not need it, and a forgotten user must not linger here.
        "rec_id": example.rec_id, "model_version": example.model_version,
        "item_ids": list(example.item_ids),
        "features": base64.b64encode(np.asarray(example.features, "<f4").tobytes()).decode(),
        "labels": example.labels.tolist(), "weights": example.weights.tolist(),
        "ranked_list": example.ranked_list,
    })


def example_from_wire(value: bytes) -> Example:
    msg = orjson.loads(value)
    n = len(msg["item_ids"])
    features = np.frombuffer(base64.b64decode(msg["features"]), "<f4").reshape(n, N_FEATURES)
    return Example(str(msg["rec_id"]), "", int(msg["model_version"]),
                   tuple(msg["item_ids"]), features.astype(np.float32),
                   np.asarray(msg["labels"], np.float32), np.asarray(msg["weights"], np.float32),
                   ranked_list=bool(msg.get("ranked_list", False)))


async def run_model_loader(ctx: WorkerContext, consumer_factory: Any) -> None:
    """Read ``model-updates`` for ever; the last message is the model in service.
    Sets ``ctx.learning.models_loaded`` once the topic has been read to its end."""
    if ctx.learning.models_loaded is None:
        raise RuntimeError("create_app sets ctx.learning.models_loaded before tasks start")
    async with aclosing(read_whole(consumer_factory, ctx.names.model_updates, max_records=100)) as fetches:
        async for fetch in fetches:
            # One key, so one partition in order: its last record is the newest version.
            ours = [r for r in fetch.records if r.key == MODEL_NAME.encode()]
            if ours:
                _use(ctx, ours[-1])
            if not ctx.learning.models_loaded.is_set() and fetch.caught_up:
                ctx.learning.models_loaded.set()
                log.info("ranking model in service: version %d", ctx.learning.scorer.version)
            await asyncio.sleep(0)


def _use(ctx: WorkerContext, record: Any) -> None:
    try:
        version, state = parse_model_message(record.value)
        ctx.use_model(state)
    except (ValueError, KeyError, TypeError) as exc:
        # A bad version is skipped, not served: the previous one stays in service.
        log.error("skipping model-updates record at %s[%s]@%s: %s",
                  record.topic, record.partition, record.offset, exc)
        return
    ctx.learning.model_updates_seen += 1
    log.info("now serving ranking model version %d", version)
