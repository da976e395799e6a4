"""The only place a ``faust.App`` is built: topics, tables, agents, tasks and views."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import faust

from stream_apps.kafka.patches import apply_patches, faust_broker_settings
from stream_apps.kafka.patches.partition_watchdog import register_partition_watchdog
from stream_apps.kafka.security import aiokafka_kwargs, faust_credentials
from stream_apps.kafka.topic_watch import restart_self, watch_topics
from stream_apps.kafka.topics import TopicNames
from stream_apps.settings import Settings, faust_datadir
from stream_apps.worker.agents.control import register_control, send_sweeps
from stream_apps.worker.agents.interactions import register_interactions
from stream_apps.worker.agents.items import register_item_encoder
from stream_apps.worker.agents.signals import register_signal_aggregator
from stream_apps.worker.agents.training import register_training
from stream_apps.worker.context import WorkerContext
from stream_apps.worker.item_loader import run_item_loader
from stream_apps.worker.model_updates import run_model_loader
from stream_apps.worker.signals import SharedSignals
from stream_apps.worker.signals_loader import run_signals_loader
from stream_apps.worker.views import register_views

log = logging.getLogger(__name__)


@dataclass
class Worker:
    app: Any
    ctx: WorkerContext
    user_state: Any


def create_app(settings: Settings) -> Worker:
    """Build the worker's Faust app for ``settings`` (nothing connects until it starts)."""
    apply_patches(fetch_max_wait_ms=settings.fetch_max_wait_ms)
    names = TopicNames.of(settings)
    ctx = WorkerContext(settings=settings, names=names)
    app = faust.App(
        settings.faust_id,
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers.split(",")],
        store="memory://",
        # Faust's own files under the data dir, not "<app id>-data" in the current directory.
        datadir=faust_datadir(settings),
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        # Our own topics are created explicitly (topics.ensure_topics); internal ones by Faust.
        consumer_auto_offset_reset="earliest",
        autodiscover=False,
        broker_credentials=faust_credentials(settings),
        **faust_broker_settings(settings.producer_linger_ms / 1000),
    )

    def raw_topic(name: str, *more: str) -> Any:
        return app.topic(name, *more, key_type=bytes, value_type=bytes, key_serializer="raw",
                         value_serializer="raw", partitions=settings.partitions)

    events_topic = raw_topic(names.click, names.search, names.purchase, names.impression)
    items_topic = raw_topic(names.items)
    vectors_topic = raw_topic(names.item_vectors)
    recommendations_topic = raw_topic(names.recommendations)
    dead_letter_topic = raw_topic(names.dead_letter)
    control_topic = raw_topic(names.control)
    audit_topic = raw_topic(names.audit)
    model_topic = raw_topic(names.model_updates)
    examples_topic = app.topic(names.ranker_examples, key_type=bytes, value_type=bytes,
                               key_serializer="raw", value_serializer="raw", partitions=1)
    user_state = app.Table(
        "user-state", default=None, key_type=str, value_type=bytes,
        partitions=settings.partitions,
        help="Per-user interest vectors and history (engine.interests.UserState bytes)",
    )
    # Faust serialises str table keys as JSON ('"u42"'), so HTTP routing would hash other
    # bytes than the producers did and ask the wrong worker. Raw UTF-8 keys hash like the
    # events' keys; str keys still come back as str on recovery.
    user_state.key_serializer = "raw"
    user_state.changelog_topic.key_serializer = "raw"  # made in the constructor: set it too

    if settings.shared_signals:
        _shared_signals(app, ctx, raw_topic(names.item_signal_increments), dead_letter_topic)
    register_interactions(app, ctx, events_topic, user_state, recommendations_topic, dead_letter_topic)
    register_item_encoder(app, ctx, items_topic, vectors_topic, dead_letter_topic)
    register_control(app, ctx, control_topic, user_state, recommendations_topic, audit_topic,
                     dead_letter_topic)
    register_views(app, ctx, user_state)
    register_partition_watchdog(app, lambda: ctx.ready, ctx.metrics.partition_stall_repairs,
                                settings.partition_stall_s, busy_in_hand=2 * settings.batch_max_events)
    register_training(app, ctx, examples_topic, model_topic)

    @app.task
    async def watch_for_lost_topics() -> None:
        def lost() -> None:
            ctx.restart_requested = True
            restart_self("the broker lost streamrec's topics (they came back with new ids: an "
                         "in-memory embedded broker restarted?)")

        await watch_topics(settings, [names.click, names.item_vectors], lost)

    @app.timer(interval=settings.sweep_interval_s)
    async def evict_inactive_users() -> None:
        await send_sweeps(control_topic, settings.partitions)

    @app.task
    async def load_items() -> None:
        await run_item_loader(ctx, lambda: _groupless_consumer(settings, "items"))

    @app.task
    async def load_models() -> None:
        await run_model_loader(ctx, lambda: _groupless_consumer(settings, "models"))

    @app.task
    async def readiness() -> None:
        ctx.start_loading_encoder()
        for loaded in (ctx.catalogue.catalog_loaded, ctx.learning.models_loaded, ctx.signalling.signals_loaded):
            if loaded is not None:
                await loaded.wait()
        await ctx.encoder()
        await app.tables.recovery.completed.wait()
        ctx.mark_ready()

    ctx.catalogue.catalog_loaded = asyncio.Event()
    ctx.learning.models_loaded = asyncio.Event()
    return Worker(app=app, ctx=ctx, user_state=user_state)


def _shared_signals(app: Any, ctx: WorkerContext, increments_topic: Any, dead_letter_topic: Any) -> None:
    """The aggregator of item-signal-increments, its table (changelog: item-signals, named
    so every worker can read it whole) and the task that reads it into this worker's replica."""
    from engine.item_signals import SignalsReplica

    settings, names = ctx.settings, ctx.names
    # key_type str: the memory store takes recovered keys as the changelog topic decodes
    # them, so bytes keys would come back as b"sku-9" and miss every lookup by "sku-9".
    changelog = app.topic(names.item_signals, key_type=str, value_type=bytes, key_serializer="raw",
                          value_serializer="raw", partitions=settings.partitions, compacting=True,
                          acks=False)  # as Faust's own changelogs
    table = app.Table(
        "item-signals", default=None, key_type=str, value_type=bytes, partitions=settings.partitions,
        changelog_topic=changelog,
        help="Shared co-visitation and trending per item (engine.item_signals.ItemRow as JSON)",
    )
    table.key_serializer = table.value_serializer = "raw"  # item ids hash like the sender's
    ctx.signalling.signals = SharedSignals(SignalsReplica(ctx.catalogue.collaborative), increments_topic,
                                           settings.partitions)
    ctx.signalling.signals_loaded = asyncio.Event()
    register_signal_aggregator(app, ctx, increments_topic, table, dead_letter_topic)

    @app.task
    async def load_signals() -> None:
        await run_signals_loader(ctx, lambda: _groupless_consumer(settings, "signals"))


def _groupless_consumer(settings: Settings, purpose: str) -> Any:
    from aiokafka import AIOKafkaConsumer

    return AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers.split(","),
        group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
        # Catalogue and model updates can wait a little; a fetch answered every 20 ms on
        # the loop costs the event path measurably (Tansu holds a fetch its full wait).
        fetch_max_wait_ms=settings.loader_fetch_max_wait_ms, client_id=f"{settings.faust_id}-{purpose}",
        **aiokafka_kwargs(settings),
    )
