"""What one worker holds besides its Faust tables: the encoder, the catalogue and index,
metrics and readiness. Built once in :func:`stream_apps.worker.app.create_app` and passed to
the agents and views explicitly (no module-level state)."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Sequence

import numpy as np

from engine.batch import PageRequest, recommend_batch
from engine.catalog import Catalog
from engine.covisit import Covisitation
from engine.encoder import make_encoder
from engine.feedback import Example, FeedbackJoin, NextEventJoin
from engine.index import HnswIndex
from engine.itemmodels import ItemModelRefits
from engine.ranker import DefaultScorer, OnlineRanker, Scorer, is_holdout
from engine.recommend import Collaborative, Page
from engine.step import StepConfig
from engine.trending import Trending
from engine.types import Matrix, TextEncoder, Vector
from stream_apps.kafka.topics import TopicNames
from stream_apps.settings import Settings
from stream_apps.worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)


@dataclass
class WorkerContext:
    settings: Settings
    names: TopicNames
    metrics: WorkerMetrics = field(default_factory=WorkerMetrics)
    catalog: Catalog | None = None
    started_at: float = field(default_factory=time.time)
    ready_at: float | None = None
    # One thread runs the transformer: the encoder is not safe for concurrent calls,
    # and the event loop must keep serving clicks while a batch of items is encoded.
    _executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="encoder"))
    _encoder: TextEncoder | None = None
    _encoder_future: Any = None
    catalog_loaded: asyncio.Event | None = None
    restart_requested: bool = False  # set when the broker lost our topics
    # Co-visitation and trending: with shared_signals a replica of the counts of all
    # workers (engine.item_signals); otherwise learned from the events this worker
    # processes (its users are a uniform hash sample of all users).
    collaborative: Collaborative = field(init=False)
    # With shared_signals: the plumbing that shares them with every worker
    # (stream_apps.worker.signals.SharedSignals) and whether item-signals has been read.
    signals: Any = None
    signals_loaded: asyncio.Event | None = None
    # The model in service (version 0: the hand-set default until one is published), the
    # bytes it was loaded from, and the pages waiting for feedback. Set in __post_init__.
    scorer: Scorer = field(init=False)
    model_state: bytes | None = None
    models_loaded: asyncio.Event | None = None
    model_updates_seen: int = 0  # versions read from model-updates (the trainer follows them)
    feedback: FeedbackJoin = field(init=False)
    # As evaluate's replay: the item model's log and schedule (refit by
    # stream_apps.worker.learning), each user's last candidate set waiting for a next-event
    # label, the labelled sets not yet sent to the trainer, and the trainer's state when
    # this worker owns it (for /metrics and /api/stats).
    refits: ItemModelRefits = field(init=False)
    next_event: NextEventJoin = field(init=False)
    next_event_examples: list[Example] = field(default_factory=list)
    last_event_ts: float = 0.0
    trainer: Any = None
    rng: np.random.Generator = field(default_factory=np.random.default_rng)
    # Ranking runs in one thread of its own, so heartbeats, the HTTP API and commits keep
    # the loop while a batch is ranked (hnswlib and numpy release the GIL). hnswlib's
    # add_items is not safe alongside knn_query: every index write (the item loader, on
    # the loop) and every ranking job hold ``index_lock``, so they never overlap; reads
    # on the loop (an event's item vector) only ever overlap with reads. The same lock
    # keeps the co-visitation and trending counts (learned by the interactions agent and
    # the item-signals loader, on the loop) still while a ranking job reads them.
    _ranker: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="ranking"))
    index_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Exploration draws in the ranking thread: a Generator of its own (not thread-safe).
    ranking_rng: np.random.Generator = field(default_factory=np.random.default_rng)

    def __post_init__(self) -> None:
        self.collaborative = Collaborative(Covisitation(self.settings.covisit_config()), Trending(),
                                           categories=Trending(self.settings.category_trending_config()))
        recommend_config = self.settings.recommend_config()
        self.default_scorer = DefaultScorer(recommend_config.covisit_weight, recommend_config.item_model_weight)
        self.scorer = self.default_scorer
        self.feedback = FeedbackJoin(self.settings.feedback_config(), self.settings.ranker_config())
        self.interest_config = self.settings.interest_config()
        self.recommend_config = self.settings.recommend_config()
        self.validation_config = self.settings.validation_config()
        feedback = self.settings.feedback_config()
        self.step_config = StepConfig(self.interest_config, feedback.shown_half_life_s,
                                      feedback.max_items_per_user)
        self.refits = self.settings.item_model_refits()
        self.next_event = NextEventJoin(self.settings.ranker_config(), max_users=self.settings.next_event_users)

    async def rank(self, requests: Sequence[PageRequest], now: float, k: int | None = None) -> list[Page]:
        """:func:`engine.batch.recommend_batch` in the ranking thread, under the index lock."""
        catalog = self.catalog
        if catalog is None or not requests:
            return [Page([]) for _ in requests]
        loop = asyncio.get_running_loop()
        async with self.index_lock:
            pages: list[Page] = await loop.run_in_executor(
                self._ranker, partial(recommend_batch, requests, catalog, now, self.interest_config,
                                      self.recommend_config, k=k, collaborative=self.collaborative,
                                      rng=self.ranking_rng))
        return pages

    def use_model(self, state: bytes) -> int:
        """Serve the published model ``state`` from now on; returns its version."""
        ranker = OnlineRanker(self.settings.ranker_config())
        ranker.load_state_dict(state)
        self.scorer, self.model_state = ranker, state
        self.metrics.model_version.set(ranker.version)
        return ranker.version

    def scorer_for(self, user_id: str) -> Scorer:
        """The default scorer for the control group, the model in service for everyone else."""
        if is_holdout(f"control/{user_id}", self.settings.control_share):
            return self.default_scorer
        return self.scorer

    def start_loading_encoder(self) -> None:
        """Load the encoder in the background (seconds) while the worker joins its group."""
        if self._encoder_future is None:
            self._encoder_future = self._executor.submit(make_encoder, self.settings.encoder_config())

    async def encoder(self) -> TextEncoder:
        if self._encoder is None:
            self.start_loading_encoder()
            self._encoder = await asyncio.wrap_future(self._encoder_future)
        return self._encoder

    async def encode_texts(self, texts: Sequence[str]) -> Matrix:
        encoder = await self.encoder()
        loop = asyncio.get_running_loop()
        result: Matrix = await loop.run_in_executor(self._executor, encoder.encode, list(texts))
        return result

    async def encode_query(self, query: str) -> Vector:
        encoder = await self.encoder()
        cached = encoder.cached_query(query) if hasattr(encoder, "cached_query") else None
        if cached is not None:
            return cached  # most queries repeat: no hop to the encoder thread
        loop = asyncio.get_running_loop()
        result: Vector = await loop.run_in_executor(self._executor, encoder.encode_query, query)
        return result

    def ensure_catalog(self, dim: int) -> Catalog:
        if self.catalog is None:
            index = HnswIndex(self.settings.index_config(dim))
            index.build_threads = -1  # a catalogue load builds on every core (while not yet ready)
            self.catalog = Catalog(index)
        return self.catalog

    def item_vector(self, item_id: str | None) -> Vector | None:
        if item_id is None or self.catalog is None or item_id not in self.catalog:
            return None
        vec: Vector = self.catalog.index.vectors([item_id])[0]
        return vec

    @property
    def ready(self) -> bool:
        return self.ready_at is not None

    def mark_ready(self) -> None:
        if self.ready_at is None:
            self.ready_at = time.time()
            self.metrics.ready.set(1)
            log.info("worker ready %.1fs after start (%d items in the index)",
                     self.ready_at - self.started_at, len(self.catalog) if self.catalog else 0)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._ranker.shutdown(wait=False, cancel_futures=True)


def vector_to_wire(vector: Vector) -> bytes:
    return np.asarray(vector, dtype=np.float16).tobytes()


def vector_from_wire(blob: bytes, dim: int | None = None) -> Vector:
    vec: Vector = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
    if dim is not None and vec.shape != (dim,):
        raise ValueError(f"vector has {vec.shape[0]} dimensions, expected {dim}")
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm > 0 else vec
