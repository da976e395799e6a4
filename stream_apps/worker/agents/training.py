"""Feedback -> labelled pages -> the trainer -> a new model version on ``model-updates``.

Every worker closes its own pages' feedback windows (a timer) and sends the labelled rows
to ``ranker-examples``, with the next-event labels of its users' candidate sets
(:mod:`stream_apps.worker.learning`). That topic has one partition, so exactly one worker
of the group (its owner) trains: versions form one line with no merging, and a rebalance
moves the trainer, which then resumes from the newest published version.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from engine.trainer import Trainer
from stream_apps.worker.context import WorkerContext
from stream_apps.worker.learning import register_item_model_refits
from stream_apps.worker.model_updates import MODEL_NAME, example_from_wire, example_to_wire, model_message

log = logging.getLogger(__name__)


def register_training(app: Any, ctx: WorkerContext, examples_topic: Any, model_topic: Any) -> Any:
    register_item_model_refits(app, ctx)

    @app.timer(interval=1.0)
    async def send_closed_pages() -> None:
        examples = ctx.learning.feedback.due(time.time())
        next_event, ctx.learning.next_event_examples = ctx.learning.next_event_examples, []
        for source, batch in (("feedback", examples), ("next_event", next_event)):
            for example in batch:
                await examples_topic.send(key=example.rec_id.encode(), value=example_to_wire(example))
                for label in example.labels.tolist():
                    ctx.metrics.training_rows.labels(label="positive" if label > 0 else "negative").inc()
                ctx.metrics.training_examples.labels(source=source).inc()

    @app.agent(examples_topic, name="ranker-trainer")
    async def train(stream: Any) -> None:
        if ctx.learning.models_loaded is not None:
            await ctx.learning.models_loaded.wait()  # resume from the newest version, not from scratch
        trainer = Trainer(ctx.settings.ranker_config(), ctx.settings.ranker_publish_interval_s,
                          ctx.learning.model_state, default=ctx.learning.default_scorer)
        ctx.learning.trainer = trainer  # /metrics and /api/stats show what it does
        seen = ctx.learning.model_updates_seen
        async for value in stream:
            if ctx.learning.model_updates_seen != seen and ctx.learning.model_state is not None:
                seen = ctx.learning.model_updates_seen  # a version from elsewhere, or a rollback
                trainer.resume_from(ctx.learning.model_state)
            try:
                example = example_from_wire(value)
                trainer.add(example)
            except (ValueError, KeyError, TypeError) as exc:  # only streamrec writes this topic
                log.error("skipping a bad ranker-examples record: %s", exc)
                continue
            ctx.metrics.trainer_rows.inc(len(example.item_ids))
            published = trainer.maybe_publish(time.time())
            record_check(ctx, trainer)
            if published is not None:
                await model_topic.send(key=MODEL_NAME.encode(), value=model_message(published, time.time()))
                ctx.metrics.models_published.inc()
                ctx.metrics.model_holdout_auc.labels(model="published").set(published.metrics.auc)
                log.info("published ranking model version %d: holdout AUC %.3f (default %.3f) on %d rows",
                         published.version, published.metrics.auc, published.metrics.default_auc,
                         published.metrics.n)

    return train


def record_check(ctx: WorkerContext, trainer: Trainer) -> None:
    """The trainer's holdout, its candidate's AUC beside the default's at the last check,
    and why that check did (not) publish, as gauges."""
    m = ctx.metrics
    m.trainer_holdout.set(len(trainer.ranker.holdout))
    check = trainer.last_check
    if check is not None:
        for label, value in (("candidate", check.auc), ("default", check.default_auc)):
            if math.isfinite(value):
                m.model_holdout_auc.labels(model=label).set(value)
    m.set_trainer_reason(trainer_reason_kind(trainer.last_check_reason))


def trainer_reason_kind(reason: str) -> str:
    """A short, bounded label for the last check's reason (the full text is in /api/stats).

    >>> trainer_reason_kind("holdout 12 < 200 rows"), trainer_reason_kind("published version 3")
    ('holdout_too_small', 'published')
    """
    for prefix, kind in (("published", "published"), ("holdout AUC", "below_default"),
                         ("holdout NDCG", "below_default"),
                         ("holdout", "holdout_too_small"), ("not better", "not_better_than_in_service"),
                         ("waiting", "waiting_for_rows"), ("no training", "no_training_since_last"),
                         ("no check", "no_check_yet")):
        if reason.startswith(prefix):
            return kind
    return "other"


def trainer_status(ctx: WorkerContext) -> dict[str, Any] | None:
    """What /api/stats shows of the trainer (``None`` on a worker that does not own it)."""
    trainer: Trainer | None = ctx.learning.trainer
    if trainer is None:
        return None
    check = trainer.last_check

    def num(value: float | None) -> float | None:
        return round(value, 4) if value is not None and math.isfinite(value) else None

    return {"rows_received": trainer.examples, "holdout_rows": len(trainer.ranker.holdout),
            "steps": trainer.ranker.step, "version": trainer.version,
            "candidate_holdout_auc": num(check.auc) if check else None,
            "default_holdout_auc": num(check.default_auc) if check else None,
            "checked_on_rows": check.n if check else None,
            "last_check": trainer.last_check_reason}
