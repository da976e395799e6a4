"""Why each recommended item: the strongest contributor among the user's recent items,
their last search, co-visitation and trending.

Each contributor gets a strength per item on a common scale (a cosine-like number):
a recent item its cosine to the item times a small recency discount, the last query
its cosine times ``0.5 + fade`` (fade halves every short-term half-life, as in
:func:`engine.recommend.explain`), co-visitation its normalised score times
``covisit_scale``, and trending ``trending_strength`` for an item the trending source
supplied. Below its threshold a contributor is never named: a false "because" is
worse than a generic one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from engine.config import ConfigError
from engine.errors import DimensionMismatch
from engine.types import Matrix, Vector


@dataclass(frozen=True)
class RecentItem:
    """One of the user's recent items (pass them newest first)."""

    item_id: str
    title: str
    vector: Vector
    purchased: bool = False


@dataclass(frozen=True)
class SearchQuery:
    """The user's last search: its text, embedding and age in seconds."""

    text: str
    vector: Vector
    age_s: float


@dataclass(frozen=True)
class CovisitSource:
    """The recent item that contributes most to a candidate's co-visitation score."""

    title: str
    score: float
    purchased: bool = False


@dataclass(frozen=True)
class Explanation:
    kind: str  # recent, search, covisit, trending or interests
    text: str
    strength: float


@dataclass(frozen=True)
class ExplainConfig:
    min_similarity: float = 0.25
    recency_discount: float = 0.03
    query_half_life_s: float = 30 * 60.0
    covisit_scale: float = 1.0
    min_covisit: float = 0.05
    trending_strength: float = 0.2

    def __post_init__(self) -> None:
        for name in ("min_similarity", "recency_discount", "covisit_scale", "min_covisit",
                     "trending_strength"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be >= 0, got {value!r}")
        if not (math.isfinite(self.query_half_life_s) and self.query_half_life_s > 0):
            raise ConfigError(f"query_half_life_s must be positive, got {self.query_half_life_s!r}")


def format_age(seconds: float) -> str:
    """A short human age.

    >>> [format_age(s) for s in (20, 300, 7200, 5400, 200000)]
    ['just now', '5 min ago', '2 h ago', '1 h ago', '2 days ago']
    """
    s = max(float(seconds), 0.0)
    if s < 60:
        return "just now"
    if s < 3600:
        return f"{int(s // 60)} min ago"
    if s < 86400:
        return f"{int(s // 3600)} h ago"
    days = int(s // 86400)
    return "1 day ago" if days == 1 else f"{days} days ago"


def explain_items(
    item_vectors: Matrix,
    recent: Sequence[RecentItem] = (),
    query: SearchQuery | None = None,
    covisit: Sequence[CovisitSource | None] | None = None,
    trending_scene: str | None = None,
    from_trending: NDArray[np.bool_] | None = None,
    config: ExplainConfig = ExplainConfig(),
) -> list[Explanation]:
    """One :class:`Explanation` per item (rows of ``item_vectors``, shape ``(n, dim)``).

    >>> e = np.eye(3, dtype=np.float32)
    >>> items = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    >>> out = explain_items(
    ...     items, recent=[RecentItem("m1", "Ceramic mug", e[0])],
    ...     query=SearchQuery("trail shoes", e[1], age_s=7200.0),
    ...     covisit=[None, None, CovisitSource("Tent", 0.4, purchased=True)])
    >>> [x.text for x in out]
    ['similar to Ceramic mug', "because you searched 'trail shoes' 2 h ago", 'bought together with Tent']
    >>> both = np.array([[0.6, 0.8, 0]], np.float32)  # close to the query, less to the mug
    >>> explain_items(both, recent=[RecentItem("m1", "Ceramic mug", e[0])],
    ...               query=SearchQuery("trail shoes", e[1], age_s=60.0))[0].kind
    'search'
    >>> explain_items(both, recent=[RecentItem("m1", "Ceramic mug", e[0])],
    ...               query=SearchQuery("trail shoes", e[1], age_s=86400.0))[0].kind  # stale search
    'recent'
    >>> explain_items(items[:1], trending_scene="home", from_trending=np.array([True]))[0].text
    'trending in home'
    """
    vectors = np.asarray(item_vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise DimensionMismatch(f"item_vectors must be (n, dim), got {vectors.shape}")
    n = vectors.shape[0]
    if covisit is not None and len(covisit) != n:
        raise DimensionMismatch(f"covisit has {len(covisit)} entries for {n} items")
    if from_trending is not None and np.shape(from_trending) != (n,):
        raise DimensionMismatch(f"from_trending must have shape ({n},), got {np.shape(from_trending)}")
    best = [Explanation("interests", "matches your interests", 0.0) for _ in range(n)]

    def offer(row: int, candidate: Explanation) -> None:
        if candidate.strength > best[row].strength:
            best[row] = candidate

    if recent:
        recency = 1.0 - config.recency_discount * np.arange(len(recent), dtype=np.float32)
        sims = (vectors @ np.stack([r.vector for r in recent]).T) * recency
        cols = sims.argmax(axis=1)
        for row, col in enumerate(cols.tolist()):
            if sims[row, col] >= config.min_similarity:
                offer(row, Explanation("recent", f"similar to {recent[col].title or recent[col].item_id}",
                                       float(sims[row, col])))
    if query is not None:
        fade = 0.5 ** (max(query.age_s, 0.0) / config.query_half_life_s)
        qsims = (vectors @ query.vector) * (0.5 + fade)
        text = f"because you searched '{query.text}' {format_age(query.age_s)}"
        for row in np.nonzero(qsims >= config.min_similarity)[0].tolist():
            offer(row, Explanation("search", text, float(qsims[row])))
    for row, source in enumerate(covisit or ()):
        if source is not None and source.score * config.covisit_scale >= config.min_covisit:
            verb = "bought together with" if source.purchased else "often viewed with"
            offer(row, Explanation("covisit", f"{verb} {source.title}", source.score * config.covisit_scale))
    if from_trending is not None:
        where = f"trending in {trending_scene}" if trending_scene else "trending now"
        for row in np.nonzero(from_trending)[0].tolist():
            offer(row, Explanation("trending", where, config.trending_strength))
    return best
