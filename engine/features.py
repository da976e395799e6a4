"""Ranking features per (user, candidate), shared by serving and training.

Feature columns (``FEATURE_NAMES``, float32, shape ``(n_candidates, N_FEATURES)``):

==================  =========================================================
cos_long            cosine of the item to the user's long-term vector
cos_short           ... to the short-term (session, search intent) vector
cos_scene           ... to the vector of the request's scene (0 if none)
cos_blended         ... to the blended vector retrieval uses
cos_query           ... to the last search query's embedding (0 if none)
query_intent        weight of that query now (:func:`search_intent`)
intent_x_cos_query  ``query_intent * cos_query``
short_strength      short-term interest strength in [0, 1)
scene_strength      scene interest strength in [0, 1)
covisit             co-visitation score with the user's recent items, relative to the
                    best candidate's (so in [0, 1] whatever the traffic)
log_trending        ``log1p`` of the decayed popularity in the scene
log_age_h           ``log1p`` of the item's age in hours, divided by 8
category_affinity   share of the user's recent items in the candidate's categories
log_fatigue         ``log1p`` of how often the item was shown to the user recently
scene_*             one-hot of home, search, product, cart, other (None is other)
hour_sin, hour_cos  hour of day (UTC plus ``utc_offset_s``) on the unit circle
dow_sin, dow_cos    day of week (Monday 0) on the unit circle
src_*               candidate source flags: semantic, covisit, trending, fresh, itemmodel,
                    category
item_model          the item-item model's score (:mod:`engine.itemmodels`, EASE) of the
                    user's recency-weighted recent items, relative to the best candidate's
log_popularity      ``log1p`` of the item's decayed interaction mass (all time, all scenes)
category_pop        popularity in the user's categories: the largest, over the user's top
                    categories the item is in, of the category's share of the user's recent
                    items times the item's popularity in it relative to the category's best
last_category_pop   popularity in the last category of the user's newest item (the most
                    specific one, e.g. a sub-category: "more like what you just viewed")
                    relative to that category's best; 0 for items outside it
==================  =========================================================

:func:`default_scores` is the hand-set ranking (cosine to the blended vector, averaged with
a fresh search query by its intent, plus weighted co-visitation) over these columns, so
the learned model and the default can be compared on the same examples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from engine.catalog import Catalog
from engine.config import InterestConfig, RecommendConfig
from engine.errors import DimensionMismatch, InvalidEvent
from engine.interests import InterestView, UserState, interest_at
from engine.types import Matrix, Vector

SCENES = ("home", "search", "product", "cart")
SOURCES = ("semantic", "covisit", "trending", "fresh", "itemmodel", "category")
SOURCE_BITS: Mapping[str, int] = {name: 1 << i for i, name in enumerate(SOURCES)}
"""Bit of each source in the ``sources`` bitmask of :class:`CandidateSignals`."""

FEATURE_NAMES: tuple[str, ...] = (
    "cos_long", "cos_short", "cos_scene", "cos_blended", "cos_query",
    "query_intent", "intent_x_cos_query", "short_strength", "scene_strength",
    "covisit", "log_trending", "log_age_h", "category_affinity", "log_fatigue",
    *(f"scene_{s}" for s in (*SCENES, "other")),
    "hour_sin", "hour_cos", "dow_sin", "dow_cos",
    *(f"src_{s}" for s in SOURCES),
    "item_model", "log_popularity", "category_pop", "last_category_pop",
)
N_FEATURES = len(FEATURE_NAMES)
COLUMN: Mapping[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}


def merge_sources(by_source: Mapping[str, Sequence[str]]) -> tuple[list[str], NDArray[np.uint8]]:
    """Union of candidate lists, first-seen order, with a bitmask of their sources.

    >>> merge_sources({"semantic": ["a", "b"], "trending": ["b", "c"]})
    (['a', 'b', 'c'], array([1, 5, 4], dtype=uint8))
    """
    bits: dict[str, int] = {}
    for source, ids in by_source.items():
        if source not in SOURCE_BITS:
            raise InvalidEvent(f"unknown candidate source {source!r}; expected one of {SOURCES}")
        for item_id in ids:
            bits[item_id] = bits.get(item_id, 0) | SOURCE_BITS[source]
    return list(bits), np.array(list(bits.values()), dtype=np.uint8)


def category_affinity(recent_categories: Sequence[Sequence[str]],
                      candidate_categories: Sequence[Sequence[str]]) -> NDArray[np.float32]:
    """For each candidate, the share of recent items sharing one of its categories.

    >>> category_affinity([("tea",), ("tea", "mugs"), ("shoes",)], [("tea",), ("toys",)]).round(3)
    array([0.667, 0.   ], dtype=float32)
    """
    if not recent_categories:
        return np.zeros(len(candidate_categories), dtype=np.float32)
    holders: dict[str, int] = {}  # category -> the recent items in it, as bits of an int
    for i, cats in enumerate(recent_categories):
        for cat in cats:
            holders[cat] = holders.get(cat, 0) | (1 << i)
    n_recent = len(recent_categories)
    # Candidates share a few category paths: each path's share is computed once.
    share_of: dict[tuple[str, ...], float] = {}
    shares: list[float] = []
    for cats in candidate_categories:
        path = tuple(cats)
        share = share_of.get(path)
        if share is None:
            sharing = 0
            for c in path:
                sharing |= holders.get(c, 0)
            share = share_of[path] = sharing.bit_count() / n_recent
        shares.append(share)
    return np.array(shares, dtype=np.float32)


def last_category(recent_categories: Sequence[Sequence[str]]) -> str | None:
    """The last (most specific) category of the newest recent item, ``None`` without one.

    >>> last_category([("books", "poetry"), ("tea", "green tea")])
    'green tea'
    >>> last_category([("tea",), ()]) is None
    True
    """
    if not recent_categories or not recent_categories[-1]:
        return None
    return str(recent_categories[-1][-1])


def search_intent(state: UserState, now: float, interest_config: InterestConfig,
                  config: RecommendConfig) -> float:
    """Weight of the last search query in the score: ``search_boost`` halving every
    short-term half-life since the search.

    >>> s = UserState.new(2)
    >>> search_intent(s, 0.0, InterestConfig(), RecommendConfig())
    0.0
    """
    if not state.last_query:
        return 0.0
    age = max(now - state.last_query_ts, 0.0)
    return float(config.search_boost * 0.5 ** (age / interest_config.short_half_life_s))


@dataclass(frozen=True)
class UserContext:
    """What the features need to know about the user and the request."""

    view: InterestView
    now: float
    scene: str | None = None
    query_vector: Vector | None = None
    query_intent: float = 0.0
    recent_categories: tuple[tuple[str, ...], ...] = ()


def user_context(state: UserState, catalog: Catalog, now: float, scene: str | None,
                 interest_config: InterestConfig, recommend_config: RecommendConfig,
                 query_vector: Vector | None = None) -> UserContext:
    """The :class:`UserContext` of ``state`` at ``now``, as :func:`recommend` sees it."""
    intent = (search_intent(state, now, interest_config, recommend_config)
              if query_vector is not None else 0.0)
    cats = tuple(info.categories for i in state.recent_items if (info := catalog.get(i)) is not None)
    return UserContext(interest_at(state, now, scene, interest_config), now, scene,
                       query_vector, intent, cats)


@dataclass(frozen=True)
class CandidateSignals:
    """Per-candidate inputs besides the vectors, each of shape ``(n,)``.

    ``age_s``: seconds since the item was added; ``fatigue``: times shown to the user
    recently; ``sources``: bitmask of :data:`SOURCE_BITS`; ``categories``: per candidate.
    """

    covisit: NDArray[np.floating]
    trending: NDArray[np.floating]
    age_s: NDArray[np.floating]
    fatigue: NDArray[np.floating]
    sources: NDArray[np.integer]
    categories: Sequence[Sequence[str]] = field(default_factory=tuple)
    item_model: NDArray[np.floating] | None = None  # relative to the best candidate; None: zeros
    popularity: NDArray[np.floating] | None = None  # decayed interaction mass; None: zeros
    category_pop: NDArray[np.floating] | None = None  # popularity in the user's categories; None: zeros
    last_category_pop: NDArray[np.floating] | None = None  # ... in the newest item's last category


def _time_features(now: float, utc_offset_s: float) -> list[float]:
    t = now + utc_offset_s
    hour = 2 * math.pi * (t % 86400.0) / 86400.0
    dow = 2 * math.pi * ((t / 86400.0 + 3.0) % 7.0) / 7.0  # 1970-01-01 was a Thursday
    return [math.sin(hour), math.cos(hour), math.sin(dow), math.cos(dow)]


def build_features(ctx: UserContext, item_vectors: Matrix, signals: CandidateSignals,
                   utc_offset_s: float = 0.0) -> Matrix:
    """The feature matrix, shape ``(n, N_FEATURES)`` float32, columns :data:`FEATURE_NAMES`.

    ``item_vectors`` are the candidates' unit embeddings, shape ``(n, dim)``. No input
    is changed.
    """
    vectors = np.asarray(item_vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != ctx.view.blended.shape[0]:
        raise DimensionMismatch(f"item_vectors must be (n, {ctx.view.blended.shape[0]}), got {vectors.shape}")
    n = vectors.shape[0]
    for name in ("covisit", "trending", "age_s", "fatigue", "sources"):
        shape = np.shape(getattr(signals, name))
        if shape != (n,):
            raise DimensionMismatch(f"signals.{name} must have shape ({n},), got {shape}")
    if signals.categories and len(signals.categories) != n:
        raise DimensionMismatch(f"signals.categories has {len(signals.categories)} entries for {n} items")
    out = np.zeros((n, N_FEATURES), dtype=np.float32)
    view = ctx.view
    out[:, COLUMN["cos_long"]] = vectors @ view.long
    out[:, COLUMN["cos_short"]] = vectors @ view.short
    if view.scene is not None:
        out[:, COLUMN["cos_scene"]] = vectors @ view.scene
    out[:, COLUMN["cos_blended"]] = vectors @ view.blended
    intent = ctx.query_intent if ctx.query_vector is not None else 0.0
    if ctx.query_vector is not None:
        out[:, COLUMN["cos_query"]] = vectors @ ctx.query_vector
    out[:, COLUMN["query_intent"]] = intent
    out[:, COLUMN["intent_x_cos_query"]] = np.float32(intent) * out[:, COLUMN["cos_query"]]
    out[:, COLUMN["short_strength"]] = view.short_strength
    out[:, COLUMN["scene_strength"]] = view.scene_strength
    out[:, COLUMN["covisit"]] = signals.covisit
    out[:, COLUMN["log_trending"]] = np.log1p(np.maximum(signals.trending, 0.0))
    out[:, COLUMN["log_age_h"]] = np.log1p(np.maximum(signals.age_s, 0.0) / 3600.0) / 8.0
    if signals.categories:
        out[:, COLUMN["category_affinity"]] = category_affinity(ctx.recent_categories, signals.categories)
    out[:, COLUMN["log_fatigue"]] = np.log1p(np.maximum(signals.fatigue, 0.0))
    scene = ctx.scene if ctx.scene in SCENES else "other"
    out[:, COLUMN[f"scene_{scene}"]] = 1.0
    out[:, COLUMN["hour_sin"]:COLUMN["dow_cos"] + 1] = _time_features(ctx.now, utc_offset_s)
    sources = np.asarray(signals.sources, dtype=np.int64)
    for name, bit in SOURCE_BITS.items():
        out[:, COLUMN[f"src_{name}"]] = (sources & bit) > 0
    for name, column, transform in (("item_model", "item_model", None), ("popularity", "log_popularity", np.log1p),
                                    ("category_pop", "category_pop", None),
                                    ("last_category_pop", "last_category_pop", None)):
        values = getattr(signals, name)
        if values is None:
            continue
        if np.shape(values) != (n,):
            raise DimensionMismatch(f"signals.{name} must have shape ({n},), got {np.shape(values)}")
        values = np.maximum(np.asarray(values, dtype=np.float32), 0.0)
        out[:, COLUMN[column]] = transform(values) if transform is not None else values
    return out


def default_scores(features: Matrix, covisit_weight: float = 0.0,
                   item_model_weight: float = 0.0) -> NDArray[np.float32]:
    """The hand-set score over the feature columns: ``(cos_blended + intent * cos_query) /
    (1 + intent) + covisit_weight * covisit + item_model_weight * item_model``. Shape ``(n,)``."""
    f = np.asarray(features, dtype=np.float32)
    if f.ndim != 2 or f.shape[1] != N_FEATURES:
        raise DimensionMismatch(f"features must be (n, {N_FEATURES}), got {f.shape}")
    intent = f[:, COLUMN["query_intent"]]
    out: NDArray[np.float32] = ((f[:, COLUMN["cos_blended"]] + f[:, COLUMN["intent_x_cos_query"]])
                                / (1.0 + intent) + covisit_weight * f[:, COLUMN["covisit"]]
                                + item_model_weight * f[:, COLUMN["item_model"]]).astype(np.float32)
    return out
