"""What one worker holds besides its Faust tables, in four parts by concern, and the
:class:`WorkerContext` that carries them. Built once in
:func:`stream_apps.worker.app.create_app` and passed to the agents and views explicitly
(no module-level state).

- :class:`EncoderService`: the text encoder, loaded in the background, on a thread of its own.
- :class:`CatalogueService`: the catalogue and its index, the co-visitation and trending
  counts, the ranking thread, and the lock that keeps the index and counts still for it.
- :class:`LearningState`: the model in service, the feedback and next-event joins, the
  item model's refits, the trainer.
- :class:`SignalsPlumbing`: with ``shared_signals``, what shares those counts with every worker.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Sequence

import numpy as np

from engine.batch import PageRequest, recommend_batch
from engine.catalog import Catalog
from engine.config import EncoderConfig, IndexConfig, InterestConfig, RecommendConfig
from engine.encoder import make_encoder
from engine.feedback import Example, FeedbackJoin, NextEventJoin
from engine.index import HnswIndex
from engine.itemmodels import ItemModelRefits
from engine.ranker import DefaultScorer, OnlineRanker, RankerConfig, Scorer, is_holdout
from engine.recommend import Collaborative, Page
from engine.types import Matrix, TextEncoder, Vector
from stream_apps.kafka.topics import TopicNames
from stream_apps.settings import Settings
from stream_apps.worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)


class EncoderService:
    """The text encoder: loaded in the background (seconds) while the worker joins its
    group, and run on one thread of its own, because the encoder is not safe for
    concurrent calls and the event loop must keep serving clicks while a batch of items
    is encoded."""

    def __init__(self, config: EncoderConfig) -> None:
        self.config = config
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encoder")
        self._encoder: TextEncoder | None = None
        self._future: Any = None

    def start_loading(self) -> None:
        if self._future is None:
            self._future = self._executor.submit(make_encoder, self.config)

    async def encoder(self) -> TextEncoder:
        if self._encoder is not None:
            return self._encoder
        self.start_loading()
        encoder: TextEncoder = await asyncio.wrap_future(self._future)
        self._encoder = encoder
        return encoder

    async def encode_texts(self, texts: Sequence[str]) -> Matrix:
        encoder = await self.encoder()
        loop = asyncio.get_running_loop()
        result: Matrix = await loop.run_in_executor(self._executor, encoder.encode, list(texts))
        return result

    async def encode_query(self, query: str) -> Vector:
        encoder = await self.encoder()
        cached: Vector | None = encoder.cached_query(query) if hasattr(encoder, "cached_query") else None
        if cached is not None:
            return cached  # most queries repeat: no hop to the encoder thread
        loop = asyncio.get_running_loop()
        result: Vector = await loop.run_in_executor(self._executor, encoder.encode_query, query)
        return result

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


@dataclass
class CatalogueService:
    """The catalogue and its index (``catalog``, None until the first item vector;
    ``catalog_loaded`` once ``item-vectors`` was read to its end), the co-visitation and
    trending counts, and the ranking thread.

    Co-visitation and trending: with shared_signals a replica of the counts of all
    workers (engine.item_signals); otherwise learned from the events this worker
    processes (its users are a uniform hash sample of all users).

    Ranking runs in one thread of its own, so heartbeats, the HTTP API and commits keep
    the loop while a batch is ranked (hnswlib and numpy release the GIL); a batch of at
    most ``inline_max_pages`` pages (a few ms each) is ranked on the loop, where it costs
    less CPU than the hop to the thread and the GIL hand-offs while it runs there. hnswlib's
    add_items is not safe alongside knn_query: every index write (the item loader, on
    the loop) and every ranking job hold ``index_lock``, so they never overlap; reads
    on the loop (an event's item vector) only ever overlap with reads. The same lock
    keeps the co-visitation and trending counts (learned by the interactions agent and
    the item-signals loader, on the loop) still while a ranking job reads them.
    """

    index_config: Callable[[int], IndexConfig]  # the index's config for the encoder's dimension
    interest_config: InterestConfig
    recommend_config: RecommendConfig
    collaborative: Collaborative
    catalog: Catalog | None = None
    catalog_loaded: asyncio.Event | None = None
    index_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Exploration draws of the ranking jobs, one job at a time (the index lock): a
    # Generator of its own, as it is not thread-safe.
    ranking_rng: np.random.Generator = field(default_factory=np.random.default_rng)
    inline_max_pages: int = 0
    _ranker: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="ranking"))

    async def rank(self, requests: Sequence[PageRequest], now: float, k: int | None = None) -> list[Page]:
        """:func:`engine.batch.recommend_batch` under the index lock: in the ranking thread,
        or on the loop for a batch of at most ``inline_max_pages``."""
        catalog = self.catalog
        if catalog is None or not requests:
            return [Page([]) for _ in requests]
        job = partial(recommend_batch, requests, catalog, now, self.interest_config, self.recommend_config,
                      k=k, collaborative=self.collaborative, rng=self.ranking_rng)
        async with self.index_lock:
            if len(requests) <= self.inline_max_pages:
                return job()
            pages: list[Page] = await asyncio.get_running_loop().run_in_executor(self._ranker, job)
        return pages

    def ensure_catalog(self, dim: int) -> Catalog:
        if self.catalog is None:
            index = HnswIndex(self.index_config(dim))
            index.build_threads = -1  # a catalogue load builds on every core (while not yet ready)
            self.catalog = Catalog(index)
        return self.catalog

    def item_vector(self, item_id: str | None) -> Vector | None:
        if item_id is None or self.catalog is None or item_id not in self.catalog:
            return None
        vec: Vector = self.catalog.index.vectors([item_id])[0]
        return vec

    def shutdown(self) -> None:
        self._ranker.shutdown(wait=False, cancel_futures=True)


@dataclass
class LearningState:
    """The ranking model in service and what trains it.

    ``scorer`` is the model in service (version 0: the hand-set ``default_scorer`` until
    one is published), ``model_state`` the bytes it was loaded from, ``models_loaded``
    set once ``model-updates`` was read to its end, ``model_updates_seen`` the versions
    read there (the trainer follows them). ``feedback`` holds the pages waiting for
    feedback. As evaluate's replay: ``refits`` is the item model's log and schedule
    (refit by stream_apps.worker.learning), ``next_event`` each user's last candidate set
    waiting for a next-event label, ``next_event_examples`` the labelled sets not yet sent
    to the trainer; ``trainer`` the trainer's state when this worker owns it (for
    /metrics and /api/stats).
    """

    ranker_config: RankerConfig
    control_share: float
    default_scorer: DefaultScorer
    feedback: FeedbackJoin
    refits: ItemModelRefits
    next_event: NextEventJoin
    scorer: Scorer = field(init=False)
    model_state: bytes | None = None
    models_loaded: asyncio.Event | None = None
    model_updates_seen: int = 0
    next_event_examples: list[Example] = field(default_factory=list)
    last_event_ts: float = 0.0
    trainer: Any = None

    def __post_init__(self) -> None:
        self.scorer = self.default_scorer

    def use_model(self, state: bytes) -> int:
        """Serve the published model ``state`` from now on; returns its version."""
        ranker = OnlineRanker(self.ranker_config)
        ranker.load_state_dict(state)
        self.scorer, self.model_state = ranker, state
        return ranker.version

    def scorer_for(self, user_id: str) -> Scorer:
        """The default scorer for the control group, the model in service for everyone else."""
        if is_holdout(f"control/{user_id}", self.control_share):
            return self.default_scorer
        return self.scorer


@dataclass
class SignalsPlumbing:
    """With shared_signals: what shares the co-visitation and trending counts with every
    worker (stream_apps.worker.signals.SharedSignals), and whether ``item-signals`` has
    been read to its end. Both None without shared_signals."""

    signals: Any = None
    signals_loaded: asyncio.Event | None = None


@dataclass
class WorkerContext:
    """One worker's settings, topic names, metrics and readiness, and its four parts
    (see the module's docstring)."""

    settings: Settings
    names: TopicNames
    metrics: WorkerMetrics = field(default_factory=WorkerMetrics)
    started_at: float = field(default_factory=time.time)
    ready_at: float | None = None
    restart_requested: bool = False  # set when the broker lost our topics
    rng: np.random.Generator = field(default_factory=np.random.default_rng)
    encoding: EncoderService = field(init=False)
    catalogue: CatalogueService = field(init=False)
    learning: LearningState = field(init=False)
    signalling: SignalsPlumbing = field(default_factory=SignalsPlumbing)

    def __post_init__(self) -> None:
        settings = self.settings
        recommend_config = settings.recommend_config()
        self.encoding = EncoderService(settings.encoder_config())
        self.catalogue = CatalogueService(
            settings.index_config, settings.interest_config(), recommend_config,
            settings.new_collaborative(), inline_max_pages=settings.inline_ranking_max_pages)
        self.learning = LearningState(
            settings.ranker_config(), settings.control_share, settings.default_scorer(),
            FeedbackJoin(settings.feedback_config(), settings.ranker_config()),
            settings.item_model_refits(),
            NextEventJoin(settings.ranker_config(), max_users=settings.next_event_users))
        self.validation_config = settings.validation_config()
        self.step_config = settings.step_config()

    # The parts' methods under the names the agents and views use.
    async def rank(self, requests: Sequence[PageRequest], now: float, k: int | None = None) -> list[Page]:
        return await self.catalogue.rank(requests, now, k)

    def ensure_catalog(self, dim: int) -> Catalog:
        return self.catalogue.ensure_catalog(dim)

    def item_vector(self, item_id: str | None) -> Vector | None:
        return self.catalogue.item_vector(item_id)

    def use_model(self, state: bytes) -> int:
        """Serve the published model ``state`` from now on; returns its version."""
        version = self.learning.use_model(state)
        self.metrics.model_version.set(version)
        return version

    def scorer_for(self, user_id: str) -> Scorer:
        return self.learning.scorer_for(user_id)

    def start_loading_encoder(self) -> None:
        self.encoding.start_loading()

    async def encoder(self) -> TextEncoder:
        return await self.encoding.encoder()

    async def encode_texts(self, texts: Sequence[str]) -> Matrix:
        return await self.encoding.encode_texts(texts)

    async def encode_query(self, query: str) -> Vector:
        return await self.encoding.encode_query(query)

    @property
    def ready(self) -> bool:
        return self.ready_at is not None

    def mark_ready(self) -> None:
        if self.ready_at is None:
            self.ready_at = time.time()
            self.metrics.ready.set(1)
            # What is loaded by now (the index, recovered tables, the libraries) lives as long
            # as the worker: out of the collector's sight, a full collection walks only what
            # came after, not the hundreds of thousands that will never be garbage (every
            # thread stopped 220 ms per full collection in a 20,000-item drain, 40 ms after).
            gc.freeze()
            log.info("worker ready %.1fs after start (%d items in the index; %d objects kept out of "
                     "garbage collection)", self.ready_at - self.started_at,
                     len(self.catalogue.catalog) if self.catalogue.catalog else 0, gc.get_freeze_count())

    def shutdown(self) -> None:
        self.encoding.shutdown()
        self.catalogue.shutdown()


def vector_to_wire(vector: Vector) -> bytes:
    return np.asarray(vector, dtype=np.float16).tobytes()


def vector_from_wire(blob: bytes, dim: int | None = None) -> Vector:
    vec: Vector = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
    if dim is not None and vec.shape != (dim,):
        raise ValueError(f"vector has {vec.shape[0]} dimensions, expected {dim}")
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm > 0 else vec
