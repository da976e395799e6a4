"""Pages for many users at once: :func:`recommend_batch` gives each request exactly the
page :func:`engine.recommend.recommend_page` gives it alone, with the work a batch shares
done once.

Shared per batch: one ``knn_query`` over the matrix of every request's probe vectors
(hnswlib spreads it over its threads and releases the GIL), one ranking of what is
trending per scene (instead of one per request), the fresh items, and one scoring call
per scorer on the stacked feature rows of all its requests. What stays per request is
small: candidate merging, the feature rows, MMR, exploration and the reasons.

:func:`engine.recommend.recommend_page` is a batch of one, so there is one ranking path;
``tests/unit/test_engine_batch.py`` checks that a page does not depend on the batch it
was ranked in.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from engine.catalog import Catalog, ItemInfo
from engine.config import InterestConfig, RecommendConfig
from engine.features import (
    COLUMN,
    CandidateSignals,
    UserContext,
    build_features,
    last_category,
    merge_sources,
    search_intent,
)
from engine.index import HnswIndex
from engine.interests import InterestView, UserState
from engine.itemmodels import recency_weights
from engine.ranker import DefaultScorer, Scorer
from engine.recommend import (
    Collaborative,
    Page,
    Recommended,
    _cold_start,
    _covisit_source,
    _fresh,
    _page,
    _reasons,
    _relative_model_scores,
    _top_allowed,
    _top_categories,
    _values_by_id,
    _view_or_last_items,
)
from engine.trending import Trending
from engine.types import Matrix, Vector

__all__ = ["PageRequest", "recommend_batch"]


@dataclass(frozen=True)
class PageRequest:
    """One user's page request in a batch: the arguments of
    :func:`engine.recommend.recommend_page` that differ between users."""

    state: UserState
    scene: str | None = None
    query_vector: Vector | None = None
    shown: Mapping[str, float] = field(default_factory=dict)
    scorer: Scorer | None = None
    had: Sequence[str] = ()  # the user's longer history, oldest first (the caller's log)


@dataclass
class _Prepared:
    """A request after the per-user steps before retrieval."""

    request: PageRequest
    excluded: set[str]
    view: InterestView
    ctx: UserContext
    fetch: int
    per_source: int  # candidates each source gives, after the user's excluded items
    user_categories: dict[str, float]
    probes: list[Vector]
    recent: list[str]
    covisit_ids: list[str]
    covisit_matrix: NDArray[np.float64]
    covisit_total: NDArray[np.float64]
    model_scores: NDArray[np.float32] | None
    model_top: list[str]
    last_categories: dict[str, float]  # the newest item's last category (with weight 1), if counted


@dataclass
class _Ranked:
    """A request with its candidates and feature rows, waiting for its scorer."""

    prepared: _Prepared
    candidates: list[str]
    covisit: NDArray[np.float64]
    column: dict[str, int]
    signals: CandidateSignals
    vectors: Matrix
    features: Matrix
    relevance: NDArray[np.float32] | None = None


def recommend_batch(
    requests: Sequence[PageRequest],
    catalog: Catalog,
    now: float,
    interest_config: InterestConfig,
    config: RecommendConfig,
    k: int | None = None,
    collaborative: Collaborative | None = None,
    rng: np.random.Generator | None = None,
) -> list[Page]:
    """One :class:`engine.recommend.Page` per request, in order, each the page
    :func:`engine.recommend.recommend_page` returns for that request alone at ``now``.

    With ``rng`` the pages draw their exploration from it in request order, as
    consecutive single calls would. A request without a ``scorer`` is ranked by
    :class:`engine.ranker.DefaultScorer` with the config's weights. No input is changed.
    """
    k = min(k or config.k, config.max_k)
    if not len(catalog):
        return [Page([]) for _ in requests]
    collab = collaborative or Collaborative()
    pages: list[Page | None] = [None] * len(requests)
    prepared: dict[int, _Prepared] = {}
    for n, request in enumerate(requests):
        prep = _prepare(request, catalog, now, interest_config, config, k, collab)
        if isinstance(prep, Page):
            pages[n] = prep
        else:
            prepared[n] = prep
    semantic = dict(zip(prepared, _retrieve_all(catalog, list(prepared.values()))))
    trending: dict[int, list[str]] = {}
    if collab.trending is not None:
        for scene in dict.fromkeys(p.request.scene for p in prepared.values()):
            rows = [n for n, p in prepared.items() if p.request.scene == scene]
            tops = collab.trending.top_many(scene, config.trending_candidates, now,
                                            [prepared[n].excluded for n in rows])
            trending.update(zip(rows, tops))
    fresh = _fresh(catalog, now, config)
    category_ranks = _CategoryRanks(collab.categories, now, config.category_candidates, prepared.values())
    ranked: dict[int, _Ranked] = {}
    for n, prep in prepared.items():
        got = _candidates(prep, catalog, now, collab, semantic[n], trending.get(n, []), fresh, config,
                          category_ranks)
        if got is None:
            pages[n] = Page([])
        else:
            ranked[n] = got
    default = DefaultScorer(config.covisit_weight, config.item_model_weight)
    by_scorer: dict[int, list[int]] = {}
    scorers: dict[int, Scorer] = {}
    for n in ranked:
        scorer = requests[n].scorer or default
        by_scorer.setdefault(id(scorer), []).append(n)
        scorers[id(scorer)] = scorer
    for key, rows in by_scorer.items():  # one forward pass per model over the whole batch
        stacked = np.concatenate([ranked[n].features for n in rows])
        scores = scorers[key].score(stacked)
        bounds = np.cumsum([0] + [ranked[n].features.shape[0] for n in rows])
        for n, lo, hi in zip(rows, bounds[:-1].tolist(), bounds[1:].tolist()):
            ranked[n].relevance = scores[lo:hi]
    for n in sorted(ranked):  # request order: exploration draws as consecutive calls would
        pages[n] = _finish(ranked[n], catalog, now, k, config, rng)
    return [p if p is not None else Page([]) for p in pages]


def _prepare(request: PageRequest, catalog: Catalog, now: float, interest_config: InterestConfig,
             config: RecommendConfig, k: int, collab: Collaborative) -> _Prepared | Page:
    state, scene, shown = request.state, request.scene, request.shown
    policy = config.repeat_policy(scene)
    excluded: set[str] = set()
    if policy != "allow":
        excluded.update(state.purchased)
        if config.exclude_recent:
            excluded.update(state.recent_items)
    if policy == "never":
        excluded.update(request.had)
    excluded.update(i for i, c in shown.items() if c >= config.max_shown)
    view = _view_or_last_items(state, catalog, now, scene, interest_config)
    if view is None:
        return Page(_cold_start(catalog, collab, scene, now, k, excluded))
    # Each source gives its best ``per_source`` candidates the user may get: excluded items
    # are dropped before a source's list is cut (an ANN query over-fetches to survive that,
    # within a bound), so the candidate set stays small however long the user's history.
    per_source = k * config.overfetch
    fetch = per_source + min(len(excluded), 3 * per_source)
    # user_context() with the view just computed (it would compute interest_at again).
    intent = (search_intent(state, now, interest_config, config) if request.query_vector is not None else 0.0)
    recent_categories = tuple(info.categories for i in state.recent_items if (info := catalog.get(i)) is not None)
    ctx = UserContext(view, now, scene, request.query_vector, intent, recent_categories)
    probes = [view.blended]
    if view.short_strength > 0.05:
        probes.append(view.short)
    if ctx.query_intent > 0.05 and request.query_vector is not None:
        probes.append(request.query_vector)
    recent = list(reversed(state.recent_items))  # newest first
    recency = [0.85 ** r for r in range(len(recent))]
    covisit_ids: list[str] = []
    covisit_matrix = np.zeros((len(recent), 0))
    if collab.covisit is not None and recent:
        covisit_ids, covisit_matrix = collab.covisit.contributions(recent, now, recency)
    model_scores: NDArray[np.float32] | None = None
    model_top: list[str] = []
    user_categories = _top_categories(ctx.recent_categories, config.category_sources, collab.categories)
    newest = last_category(ctx.recent_categories)
    last_categories = ({newest: 1.0} if newest is not None and collab.categories is not None
                       and newest in collab.categories.scenes else {})
    had = request.had
    history = list(had) if len(had) > len(state.recent_items) else list(state.recent_items)
    if collab.item_model is not None and history:
        model_scores = collab.item_model.scores(history, recency_weights(len(history), config.item_model_decay))
        model_top = _best_allowed(collab.item_model.item_ids, model_scores, per_source, excluded)
    return _Prepared(request, excluded, view, ctx, fetch, per_source, user_categories, probes, recent,
                     covisit_ids, covisit_matrix, covisit_matrix.sum(axis=0), model_scores, model_top,
                     last_categories)


def _best_allowed(ids: Sequence[str], scores: NDArray[np.floating], n: int,
                  excluded: Collection[str]) -> list[str]:
    """:func:`engine.recommend._top_allowed`'s answer from a partial sort (the item model
    scores every item it knows, thousands, for every request): the first ``n`` allowed
    are among the ``n + |excluded|`` best, widened to every score tied with the last."""
    want = n + len(excluded)
    values = np.asarray(scores)
    if want >= len(ids) or want <= 0:
        return _top_allowed(ids, values, n, excluded)
    cut = values[np.argpartition(-values, want - 1)[:want]].min()
    if not np.isfinite(cut):
        return _top_allowed(ids, values, n, excluded)
    part = np.flatnonzero(values >= cut)  # index order: a stable sort breaks ties by index
    out: list[str] = []
    for j in part[np.argsort(-values[part], kind="stable")].tolist():
        if values[j] <= 0 or len(out) == n:
            break
        if ids[j] not in excluded:
            out.append(ids[j])
    return out


def _retrieve_all(catalog: Catalog, prepared: list[_Prepared]) -> list[list[str]]:
    """Every request's semantic candidates (the union of its probes' neighbours, in
    first-seen order) from one batched query."""
    probes = [(row, vector, p.fetch) for row, p in enumerate(prepared) for vector in p.probes]
    excluded = [p.excluded for p in prepared]
    keep = [p.per_source for p in prepared]
    found: list[dict[str, None]] = [{} for _ in prepared]
    if not probes:
        return []
    index = catalog.index
    if isinstance(index, HnswIndex):
        answers = index.query_many(np.stack([v for _, v, _ in probes]), [f for _, _, f in probes])
    else:
        answers = [index.query(v, f) for _, v, f in probes]
    for (row, _, _), (ids, _) in zip(probes, answers):
        found[row].update(dict.fromkeys([i for i in ids if i not in excluded[row]][:keep[row]]))
    return [list(f) for f in found]


class _CategoryRanks:
    """Each category's popularity ranking, once per batch instead of once per request
    and category: a request's top ``k`` not excluded are the first ``k`` not excluded of
    a ranking ``k + |excluded|`` long (the order, by count then id, is total), as in
    :meth:`engine.trending.Trending.top_many`. Also each category's best count (the
    scale of ``category_pop``)."""

    def __init__(self, categories: Trending | None, now: float, k: int, prepared: Iterable[_Prepared]) -> None:
        self.categories, self.now, self.k = categories, now, k
        self._width: dict[str, int] = {}
        for prep in prepared:
            for c in {**prep.user_categories, **prep.last_categories}:
                self._width[c] = max(self._width.get(c, 0), k + len(prep.excluded))
        self._ranked: dict[str, tuple[list[str], NDArray[np.float32]]] = {}

    def _ranking(self, c: str) -> tuple[list[str], NDArray[np.float32]]:
        if c not in self._ranked:
            if self.categories is None:  # no category counts: nothing ranks
                return [], np.zeros(0, dtype=np.float32)
            width = max(self._width.get(c, self.k), 1)
            self._ranked[c] = self.categories.top(c, width, self.now, fill_global=False)
        return self._ranked[c]

    def top(self, c: str, excluded: Collection[str]) -> list[str]:
        """``categories.top(c, k, now, exclude=excluded, fill_global=False)``'s ids."""
        if self.k == 0:
            return []
        return [i for i in self._ranking(c)[0] if i not in excluded][:self.k]

    def best(self, c: str) -> NDArray[np.float32]:
        """``categories.top(c, 1, now, fill_global=False)``'s scores."""
        return self._ranking(c)[1][:1]

    def popularity(self, user_categories: Mapping[str, float], candidates: Sequence[str]) -> NDArray[np.float32] | None:
        """Per candidate: the largest ``share * popularity / best popularity`` over the
        given categories (0 for a candidate in none of them), with the batch's best counts."""
        if self.categories is None or not user_categories:
            return None
        out = np.zeros(len(candidates), dtype=np.float32)
        for c, share in user_categories.items():
            scores = self.categories.scores(candidates, c, self.now)
            best = self.best(c)
            if len(best) and best[0] > 0:
                out = np.maximum(out, share * scores / best[0])
        return out


def _candidates(prep: _Prepared, catalog: Catalog, now: float, collab: Collaborative,
                semantic: list[str], trending: list[str], fresh: list[str],
                config: RecommendConfig, category_ranks: _CategoryRanks) -> _Ranked | None:
    covisit_ids, covisit_total, shown = prep.covisit_ids, prep.covisit_total, prep.request.shown
    by_source = {
        "semantic": semantic,
        "covisit": _top_allowed(covisit_ids, covisit_total, prep.per_source, prep.excluded),
        "trending": trending,
        "fresh": fresh,
        "itemmodel": prep.model_top,
        "category": [i for c in {**prep.user_categories, **prep.last_categories}
                     for i in category_ranks.top(c, prep.excluded)]
        if collab.categories is not None else [],
    }
    merged, bits = merge_sources(by_source)
    keep: list[int] = []
    infos: list[ItemInfo] = []
    excluded = prep.excluded
    for row, item_id in enumerate(merged):  # one catalogue lookup per candidate
        if item_id not in excluded and (info := catalog.get(item_id)) is not None and info.available:
            keep.append(row)
            infos.append(info)
    if not keep:
        return None
    candidates = [merged[row] for row in keep]
    n = len(candidates)
    vectors = catalog.index.vectors(candidates)
    column = dict(zip(covisit_ids, range(len(covisit_ids))))
    covisit = _values_by_id(np.asarray(covisit_total, dtype=np.float64), column, candidates)
    if covisit.max(initial=0.0) > 0:
        covisit = covisit / covisit.max()
    scene = prep.request.scene
    signals = CandidateSignals(
        covisit=covisit,
        trending=(collab.trending.scores(candidates, scene, now) if collab.trending is not None
                  else np.zeros(n)),
        age_s=np.array([now - info.added_ts for info in infos]),
        fatigue=np.array([shown.get(c, 0.0) for c in candidates]) if shown else np.zeros(n),
        sources=bits[keep],
        categories=[info.categories for info in infos],
        item_model=_relative_model_scores(collab.item_model, prep.model_scores, candidates),
        popularity=collab.covisit.masses(candidates, now) if collab.covisit is not None else None,
        category_pop=category_ranks.popularity(prep.user_categories, candidates),
        last_category_pop=category_ranks.popularity(prep.last_categories, candidates),
    )
    features = build_features(prep.ctx, vectors, signals)
    return _Ranked(prep, candidates, covisit, column, signals, vectors, features)


def _finish(r: _Ranked, catalog: Catalog, now: float, k: int, config: RecommendConfig,
            rng: np.random.Generator | None) -> Page:
    prep, candidates, features = r.prepared, r.candidates, r.features
    relevance = r.relevance if r.relevance is not None else np.zeros(len(candidates), np.float32)
    state, request = prep.request.state, prep.request
    page, explored = _page(r.vectors, relevance, k, config, r.signals.categories, rng)
    reasons = _reasons(state, catalog, r.vectors[page], now, request.query_vector, request.scene,
                       [_covisit_source(state, catalog, prep.recent, prep.covisit_ids, prep.covisit_matrix,
                                        r.column, candidates[i], float(r.covisit[i])) for i in page.tolist()],
                       features[page, COLUMN["src_trending"]] > 0)
    items = [Recommended(candidates[i], round(float(relevance[i]), 4), reason, bool(was_explored),
                         features[i])
             for i, reason, was_explored in zip(page.tolist(), reasons, explored.tolist())]
    return Page(items, tuple(candidates), features)
