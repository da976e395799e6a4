"""Feedback -> labelled pages -> the trainer -> a new model version on ``model-updates``.

Every worker closes its own pages' feedback windows (a timer) and sends the labelled rows
to ``ranker-examples``. That topic has one partition, so exactly one worker of the group
(its owner) trains: versions form one line with no merging, and a rebalance moves the
trainer, which then resumes from the newest published version.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from engine.trainer import Trainer
from stream_apps.worker.context import WorkerContext
from stream_apps.worker.model_updates import MODEL_NAME, example_from_wire, example_to_wire, model_message

log = logging.getLogger(__name__)


def register_training(app: Any, ctx: WorkerContext, examples_topic: Any, model_topic: Any) -> Any:
    @app.timer(interval=1.0)
    async def send_closed_pages() -> None:
        for example in ctx.feedback.due(time.time()):
            await examples_topic.send(key=example.rec_id.encode(), value=example_to_wire(example))
            for label in example.labels.tolist():
                ctx.metrics.training_rows.labels(label="positive" if label > 0 else "negative").inc()

    @app.agent(examples_topic, name="ranker-trainer")
    async def train(stream: Any) -> None:
        if ctx.models_loaded is not None:
            await ctx.models_loaded.wait()  # resume from the newest version, not from scratch
        trainer = Trainer(ctx.settings.ranker_config(), ctx.settings.ranker_publish_interval_s,
                          ctx.model_state)
        seen = ctx.model_updates_seen
        async for value in stream:
            if ctx.model_updates_seen != seen and ctx.model_state is not None:
                seen = ctx.model_updates_seen  # a version from elsewhere, or a rollback
                trainer.resume_from(ctx.model_state)
            try:
                trainer.add(example_from_wire(value))
            except (ValueError, KeyError, TypeError) as exc:  # only streamrec writes this topic
                log.error("skipping a bad ranker-examples record: %s", exc)
                continue
            published = trainer.maybe_publish(time.time())
            if published is not None:
                await model_topic.send(key=MODEL_NAME.encode(), value=model_message(published, time.time()))
                ctx.metrics.models_published.inc()
                ctx.metrics.model_holdout_auc.labels(model="published").set(published.metrics.auc)
                ctx.metrics.model_holdout_auc.labels(model="default").set(published.metrics.default_auc)
                log.info("published ranking model version %d: holdout AUC %.3f (default %.3f) on %d rows",
                         published.version, published.metrics.auc, published.metrics.default_auc,
                         published.metrics.n)

    return train
