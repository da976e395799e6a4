"""Top-k recommendations for one user: retrieve, filter, score, explain.

Per request the work is one or two ANN queries plus a few small matrix products over
the candidates; the transformer never runs here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from engine.catalog import Catalog
from engine.config import InterestConfig, RecommendConfig
from engine.covisit import Covisitation
from engine.events import Interaction
from engine.trending import Trending
from engine.interests import UserState, interest_at
from engine.types import Vector


MIN_EXPLAINING_SIMILARITY = 0.25
"""Below this cosine similarity an event is not named as the reason for an item."""


@dataclass(frozen=True)
class Collaborative:
    """Behavioural signals learned online beside the content index (optional)."""

    covisit: Covisitation | None = None
    trending: Trending | None = None


@dataclass(frozen=True)
class Recommended:
    item_id: str
    score: float
    reason: str


def _retrieve(catalog: Catalog, vectors: Sequence[Vector], fetch: int) -> dict[str, float]:
    """Union of the ANN neighbours of each vector, id -> best similarity seen."""
    found: dict[str, float] = {}
    for vector in vectors:
        ids, sims = catalog.index.query(vector, fetch)
        for item_id, sim in zip(ids, sims.tolist()):
            if sim > found.get(item_id, -2.0):
                found[item_id] = sim
    return found


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
) -> list[Recommended]:
    """The user's top ``k`` items, best first, each with a short human-readable reason.

    Candidates come from the index around the blended interest vector (and around the
    short-term vector, which holds search intent), over-fetched so that filtering
    purchased, recently seen and unavailable items still leaves ``k``. The default
    score is the cosine similarity to the blended vector. ``query_vector`` is the
    embedding of ``state.last_query``, used to explain search-driven items.
    """
    k = min(k or config.k, config.max_k)
    view = interest_at(state, now, scene, interest_config)
    collab = collaborative or Collaborative()
    excluded = set(state.purchased)
    if config.exclude_recent:
        excluded.update(state.recent_items)
    if not len(catalog):
        return []
    if not np.any(view.blended):
        return _cold_start(catalog, collab, scene, now, k, excluded)
    fetch = k * config.overfetch + len(excluded)
    intent = search_intent(state, now, interest_config, config) if query_vector is not None else 0.0
    probes = [view.blended]
    if view.short_strength > 0.05:
        probes.append(view.short)
    if intent > 0.05 and query_vector is not None:
        probes.append(query_vector)
    found = _retrieve(catalog, probes, fetch)
    recent = list(reversed(state.recent_items))  # newest first
    recency = [0.85 ** r for r in range(len(recent))]
    if collab.covisit is not None and recent:
        for item_id in collab.covisit.neighbours(recent, fetch, now, weights=recency)[0]:
            found.setdefault(item_id, 0.0)
    candidates = [
        item_id for item_id in found
        if item_id not in excluded and (info := catalog.get(item_id)) is not None and info.available
    ]
    if not candidates:
        return []
    matrix = catalog.index.vectors(candidates)
    scores = matrix @ view.blended
    if intent > 0 and query_vector is not None:
        # A fresh search is what the user wants now: it counts beside the blended vector,
        # fading with the short-term half-life.
        scores = (scores + intent * (matrix @ query_vector)) / (1.0 + intent)
    covisit_part = np.zeros(len(candidates), dtype=np.float32)
    if collab.covisit is not None and recent and config.covisit_weight > 0:
        raw = collab.covisit.scores(recent, candidates, now, weights=recency)
        if raw.max(initial=0.0) > 0:
            # Relative to the best candidate, so the weight means the same for any traffic.
            covisit_part = config.covisit_weight * raw / raw.max()
    scores = scores + covisit_part
    order = np.argsort(-scores, kind="stable")[:k]
    chosen = [candidates[i] for i in order]
    reasons = explain(state, catalog, matrix[order], now, interest_config, query_vector)
    if collab.covisit is not None:
        for row, i in enumerate(order.tolist()):
            if covisit_part[i] > 0.5 * config.covisit_weight and covisit_part[i] > scores[i] - covisit_part[i]:
                source, _ = collab.covisit.strongest_source(recent, candidates[i], now, recency)
                info = catalog.get(source) if source else None
                if info is not None:
                    reasons[row] = f"often chosen together with {info.title or source}"
    return [Recommended(item_id, round(float(scores[i]), 4), reason)
            for item_id, i, reason in zip(chosen, order, reasons)]


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
    where = f"in {scene}" if scene else "right now"
    return [Recommended(i, round(sc / top, 4), f"trending {where}") for i, sc in picked]


def search_intent(state: UserState, now: float, interest_config: InterestConfig,
                  config: RecommendConfig) -> float:
    """Weight of the last search query in the score: ``search_boost`` halving every
    short-term half-life since the search.

    >>> from engine.interests import UserState
    >>> s = UserState.new(2)
    >>> search_intent(s, 0.0, InterestConfig(), RecommendConfig())
    0.0
    """
    if not state.last_query:
        return 0.0
    age = max(now - state.last_query_ts, 0.0)
    return float(config.search_boost * 0.5 ** (age / interest_config.short_half_life_s))


def explain(
    state: UserState,
    catalog: Catalog,
    item_vectors: np.ndarray,
    now: float,
    interest_config: InterestConfig,
    query_vector: Vector | None,
) -> list[str]:
    """Why each item: the recent item or search query it is most similar to.

    Recent items count more the more recent they are; the last query counts with the
    short-term interest's remaining strength, so an old search stops being the reason.
    """
    n = len(item_vectors)
    recent = [i for i in reversed(state.recent_items) if i in catalog][:8]  # newest first
    best_sim = np.full(n, -np.inf, dtype=np.float32)
    reasons = ["matches your interests"] * n
    if recent:
        # Slightly prefer newer items: rank r counts (1 - 0.03 r).
        recency = 1.0 - 0.03 * np.arange(len(recent), dtype=np.float32)
        sims = (item_vectors @ catalog.index.vectors(recent).T) * recency
        best = sims.argmax(axis=1)
        best_sim = sims[np.arange(n), best]
        for row, col in enumerate(best.tolist()):
            if best_sim[row] < MIN_EXPLAINING_SIMILARITY:
                continue  # "similar to X" would be a false claim
            info = catalog.get(recent[col])
            reasons[row] = f"similar to {info.title if info and info.title else recent[col]}"
    if query_vector is not None and state.last_query:
        age = max(now - state.last_query_ts, 0.0)
        fade = 0.5 ** (age / interest_config.short_half_life_s)
        query_sims = (item_vectors @ query_vector) * (0.5 + fade)
        beats = (query_sims > best_sim) & (query_sims >= MIN_EXPLAINING_SIMILARITY)
        for row in np.nonzero(beats)[0].tolist():
            reasons[row] = f"matches your search '{state.last_query}'"
    return reasons
