"""Top-k recommendations for one user: candidates from several sources, features, the
ranking model, diversity and exploration, and a reason per item.

Candidates come from four sources, merged and tagged (:func:`engine.features.merge_sources`):
the HNSW index around the user's vectors (semantic), items co-visited with the user's
recent items (covisit), what is trending in the scene (trending) and items added lately
(fresh: reachable by their text embedding before anyone clicked them). A :class:`Scorer`
ranks the feature rows (:mod:`engine.features`); maximal marginal relevance and an
optional category cap shape the page (:mod:`engine.diversify`), and with a random
generator a configurable share of it explores candidates the model would not show.
Per request the work is one to three ANN queries plus small matrix products; the
transformer never runs here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import repeat
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine.catalog import Catalog
from engine.config import InterestConfig, RecommendConfig
from engine.covisit import Covisitation
from engine.diversify import explore, mmr
from engine.events import Interaction
from engine.explain_sources import CovisitSource, RecentItem, SearchQuery, explain_items
from engine.features import (
    search_intent,
)
from engine.interests import InterestView, UserState, interest_at
from engine.itemmodels import ItemItemModel
from engine.ranker import Scorer
from engine.trending import Trending
from engine.types import Matrix, Vector

__all__ = ["Collaborative", "Page", "Recommended", "learn_categories", "learn_collaborative", "recommend",
           "recommend_page",
           "search_intent"]


@dataclass(frozen=True)
class Collaborative:
    """Behavioural signals learned online beside the content index (optional): the
    item-item model is refit in the background (:mod:`engine.itemmodels`)."""

    covisit: Covisitation | None = None
    trending: Trending | None = None
    item_model: ItemItemModel | None = None
    # Decayed popularity per category (a Trending whose "scenes" are item categories).
    categories: Trending | None = None


@dataclass(frozen=True)
class Recommended:
    """One item of a page. ``features`` is the row the model scored (``None`` for a cold
    start), kept so that feedback on the page can train the model; ``explored`` marks an
    item placed by exploration rather than by its score."""

    item_id: str
    score: float
    reason: str
    explored: bool = False
    features: NDArray[np.float32] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Page:
    """A page and every candidate it was chosen from: ``candidates`` and their feature
    rows ``features`` ``(n, N_FEATURES)`` (the next-event labels of
    :func:`engine.feedback.next_event_example` come from them)."""

    items: list[Recommended]
    candidates: tuple[str, ...] = ()
    features: NDArray[np.float32] | None = field(default=None, compare=False, repr=False)


def _top_allowed(ids: Sequence[str], scores: NDArray[np.floating], n: int,
                 excluded: Collection[str]) -> list[str]:
    """The ``n`` best-scored ``ids`` (score > 0) that are not ``excluded``, best first.

    >>> _top_allowed(["a", "b", "c", "d"], np.array([0.5, 0.9, 0.0, 0.7]), 2, {"b"})
    ['d', 'a']
    """
    if not len(ids):
        return []
    order = np.argsort(-np.asarray(scores), kind="stable")
    out: list[str] = []
    for j in order.tolist():
        if scores[j] <= 0 or len(out) == n:
            break
        if ids[j] not in excluded:
            out.append(ids[j])
    return out


def _fresh(catalog: Catalog, now: float, config: RecommendConfig) -> list[str]:
    if not config.fresh_candidates:
        return []
    return catalog.newest(config.fresh_candidates, since=now - config.fresh_window_s)


def recommend(
    state: UserState,
    catalog: Catalog,
    now: float,
    scene: str | None,
    interest_config: InterestConfig,
    config: RecommendConfig,
    k: int | None = None,
    query_vector: Vector | None = None,
    collaborative: Collaborative | None = None,
    scorer: Scorer | None = None,
    shown: Mapping[str, float] | None = None,
    rng: np.random.Generator | None = None,
    had: Sequence[str] = (),
) -> list[Recommended]:
    """The user's top ``k`` items, best first, each with a short human-readable reason:
    :func:`recommend_page` without the candidates."""
    return recommend_page(state, catalog, now, scene, interest_config, config, k, query_vector,
                          collaborative, scorer, shown, rng, had).items


def recommend_page(
    state: UserState,
    catalog: Catalog,
    now: float,
    scene: str | None,
    interest_config: InterestConfig,
    config: RecommendConfig,
    k: int | None = None,
    query_vector: Vector | None = None,
    collaborative: Collaborative | None = None,
    scorer: Scorer | None = None,
    shown: Mapping[str, float] | None = None,
    rng: np.random.Generator | None = None,
    had: Sequence[str] = (),
) -> Page:
    """The user's top ``k`` items, best first, each with a short human-readable reason.

    ``query_vector`` is the embedding of ``state.last_query`` (search intent);
    ``scorer`` ranks the features (default: :class:`engine.ranker.DefaultScorer` with
    ``config.covisit_weight``); ``shown`` counts how often each item was shown to the
    user lately (fatigue; items at ``config.max_shown`` are filtered out). Exploration
    needs ``rng``; without it the result is deterministic. Unavailable items are never
    recommended; items the user already had follow ``config.repeat_policy(scene)``:
    ``never`` excludes ``had`` (the user's longer history, oldest first, when the caller
    keeps one), recent and purchased items, ``recent`` the recent (``exclude_recent``) and
    purchased ones, ``allow`` none. The item-item model scores ``had`` when it is longer
    than the recent items (as the EASE baseline scores the user's whole live history).
    """
    # One ranking path: a page alone is a batch of one (engine.batch holds the steps).
    from engine.batch import PageRequest, recommend_batch

    request = PageRequest(state, scene, query_vector, shown or {}, scorer, tuple(had))
    return recommend_batch([request], catalog, now, interest_config, config, k, collaborative, rng)[0]


def _top_categories(recent_categories: Sequence[Sequence[str]], n: int,
                    known: Trending | None) -> dict[str, float]:
    """The user's ``n`` top categories (that ``known`` counts) and each one's share of
    their recent items, largest first (ties by name).

    >>> t = Trending(); t.record("x", "tea", 1.0, 0.0); t.record("y", "mugs", 1.0, 0.0)
    >>> _top_categories([("tea",), ("tea", "mugs"), ("shoes",)], 2, t)
    {'tea': 0.6667, 'mugs': 0.3333}
    """
    if known is None or n == 0 or not recent_categories:
        return {}
    counts: dict[str, int] = {}
    for cats in recent_categories:
        for c in set(cats):
            counts[c] = counts.get(c, 0) + 1
    have = set(known.scenes)
    ranked = sorted((c for c in counts if c in have), key=lambda c: (-counts[c], c))[:n]
    return {c: round(counts[c] / len(recent_categories), 4) for c in ranked}


def _values_by_id(values: NDArray[Any], position: Mapping[str, int], ids: Sequence[str]) -> NDArray[Any]:
    """``values[position[i]]`` for each of ``ids``, 0 for an id without a position, in
    ``values``' dtype: one C-level lookup pass and a gather instead of a lookup per id.

    >>> _values_by_id(np.array([0.5, 2.0]), {"a": 1, "b": 0}, ["a", "x", "b"]).tolist()
    [2.0, 0.0, 0.5]
    """
    n = len(ids)
    at = np.fromiter(map(position.get, ids, repeat(-1, n)), dtype=np.intp, count=n)
    known = at >= 0
    out = np.zeros(n, dtype=values.dtype)
    out[known] = values[at[known]]
    return out


def _relative_model_scores(model: ItemItemModel | None, scores: NDArray[np.float32] | None,
                           candidates: Sequence[str]) -> NDArray[np.float32] | None:
    """The item model's score of each candidate relative to the best candidate's (like
    co-visitation: one scale whatever the data), 0 for items outside the model."""
    if model is None or scores is None:
        return None
    out: NDArray[np.float32] = _values_by_id(np.asarray(scores, dtype=np.float32), model.position, candidates)
    top = float(out.max(initial=0.0))
    return out / top if top > 0 else np.zeros_like(out)


def _view_or_last_items(state: UserState, catalog: Catalog, now: float, scene: str | None,
                        interest_config: InterestConfig) -> InterestView | None:
    """The user's interests at ``now``; once they have decayed away (a user back after
    months), the mean of their last items stands in, so a returning user is not a
    stranger. ``None`` for a user with neither."""
    view = interest_at(state, now, scene, interest_config)
    if np.any(view.blended):
        return view
    known = [i for i in state.recent_items if i in catalog]
    if not known:
        return None
    mean = catalog.index.vectors(known).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm == 0:
        return None
    last = (mean / norm).astype(np.float32)
    return replace(view, blended=last, long=last)


def _page(vectors: Matrix, relevance: NDArray[np.float32], k: int, config: RecommendConfig,
          categories: Sequence[Sequence[str]], rng: np.random.Generator | None,
          ) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """Indices of the page's items in order, and which of them exploration placed."""
    if config.mmr_strength > 0 or config.max_per_category is not None:
        # MMR trades relevance against similarity: put relevance on the cosine's 0..1
        # scale first, whatever the scorer's range (probabilities, cosines).
        spread = float(relevance.max() - relevance.min())
        scaled = (relevance - relevance.min()) / spread if spread > 0 else np.zeros_like(relevance)
        page = mmr(vectors, scaled, k, config.mmr_strength, categories, config.max_per_category)
    else:
        page = np.argsort(-relevance, kind="stable")[:k].astype(np.intp)
    if rng is None or config.explore_share == 0:
        return page, np.zeros(page.shape[0], dtype=bool)
    return explore(page, relevance.shape[0], config.explore_share, rng)


def _covisit_source(state: UserState, catalog: Catalog, recent: Sequence[str], covisit_ids: list[str],
                    matrix: NDArray[np.float64], column: Mapping[str, int], candidate: str,
                    score: float) -> CovisitSource | None:
    if candidate not in column or score <= 0:
        return None
    contributions = matrix[:, column[candidate]]
    source = recent[int(contributions.argmax())]
    info = catalog.get(source)
    return CovisitSource(info.title if info and info.title else source, score, source in state.purchased)


def _reasons(state: UserState, catalog: Catalog, vectors: Matrix, now: float,
             query_vector: Vector | None, scene: str | None,
             covisit: list[CovisitSource | None], from_trending: NDArray[np.bool_]) -> list[str]:
    """The strongest contributor to each item: a recent item, the last search, an item
    often chosen with it, or the scene's trend (:func:`engine.explain_sources.explain_items`)."""
    recent_ids = [i for i in reversed(state.recent_items) if i in catalog][:8]  # newest first
    recent_vectors = catalog.index.vectors(recent_ids) if recent_ids else np.zeros((0, vectors.shape[1]))
    recent = [RecentItem(i, info.title if (info := catalog.get(i)) else "", v, i in state.purchased)
              for i, v in zip(recent_ids, recent_vectors)]
    query = (SearchQuery(state.last_query, query_vector, now - state.last_query_ts)
             if query_vector is not None and state.last_query else None)
    return [e.text for e in explain_items(vectors, recent, query, covisit, scene, from_trending)]


def learn_categories(collab: Collaborative, categories: Sequence[str], event: Interaction,
                     interest_config: InterestConfig) -> None:
    """Count an interaction with an item of ``categories`` in each category's popularity."""
    if collab.categories is None or event.item_id is None:
        return
    weight = interest_config.weight_of(event.kind)
    for c in categories:
        collab.categories.record(event.item_id, c, weight, event.ts)


def learn_collaborative(collab: Collaborative, state: UserState | None, event: Interaction,
                        interest_config: InterestConfig) -> None:
    """Feed one interaction to the co-visitation and trending counts.

    ``state`` is the user's state before the event (its recent items are what the new
    item was co-visited with). Redelivered events are ignored, like in the state.
    """
    if event.item_id is None or (state is not None and state.has_seen(event.event_id)):
        return
    weight = interest_config.weight_of(event.kind)
    recent = state.recent_items if state is not None else ()
    if collab.covisit is not None:
        collab.covisit.update(recent, event.item_id, weight, event.ts)
    if collab.trending is not None:
        collab.trending.record(event.item_id, event.scene, weight, event.ts)


def _cold_start(catalog: Catalog, collab: Collaborative, scene: str | None, now: float, k: int,
                excluded: set[str]) -> list[Recommended]:
    """No interest signal yet: what is trending in the scene (or overall)."""
    if collab.trending is None:
        return []
    ids, scores = collab.trending.top(scene, k * 2, now, exclude=excluded)
    picked = [(i, float(sc)) for i, sc in zip(ids, scores.tolist())
              if (info := catalog.get(i)) is not None and info.available][:k]
    if not picked:
        return []
    top = max(sc for _, sc in picked) or 1.0
    where = f"trending in {scene}" if scene else "trending now"
    return [Recommended(i, round(sc / top, 4), where) for i, sc in picked]
