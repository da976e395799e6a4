"""Recommenders the replay compares streamrec against, and streamrec itself as one.

All follow :class:`engine.evaluation.ReplayRecommender`: ``recommend`` then ``update``.
The baselines drop every item the user already interacted with (they keep the full
history, which is cheap in a replay); :class:`StreamrecReplay` runs the worker's own
code path (``apply_interaction`` + ``recommend`` over the same catalogue and index),
with the engine's own, bounded exclusion of recently seen and purchased items.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict, deque
from dataclasses import replace
from typing import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from engine.catalog import Catalog
from engine.config import InterestConfig, RecommendConfig
from engine.covisit import Covisitation, CovisitConfig
from engine.errors import EngineError
from engine.events import Interaction
from engine.feedback import NextEventJoin
from engine.interests import UserState, apply_interaction
from engine.itemmodels import (
    ItemItemModel,
    ItemModelConfig,
    ItemModelRefits,
    RefitSchedule,
    fit_item_model,
    recency_weights,
)
from engine.ranker import DefaultScorer, RankerConfig, Scorer
from engine.recommend import Collaborative, learn_categories, learn_collaborative, recommend_page
from engine.trainer import Trainer
from engine.trending import Trending, TrendingConfig
from engine.types import Vector


class _History:
    """Per-user set of items already interacted with, for filtering."""

    def __init__(self) -> None:
        self.seen: dict[str, set[str]] = {}

    def of(self, user_id: str) -> set[str]:
        return self.seen.get(user_id, set())

    def add(self, event: Interaction) -> None:
        if event.item_id is not None:
            self.seen.setdefault(event.user_id, set()).add(event.item_id)


class PopularRecommender:
    """Most popular items, each event's weight halving every ``half_life_s``.

    Scores live in a dense array over ``item_ids`` relative to a reference time, and
    are rescaled before the exponent could overflow (data can span decades).

    >>> pop = PopularRecommender(["a", "b", "c"], half_life_s=10.0)
    >>> for user, ts, item in [("u1", 0, "a"), ("u2", 0, "a"), ("u3", 30, "b")]:
    ...     pop.update(Interaction("click", user, ts=ts, item_id=item))
    >>> pop.recommend("u4", now=30, k=3)  # a: 2 * 2**-3 = 0.25 < b: 1; c never seen
    ['b', 'a']
    >>> pop.recommend("u1", now=30, k=3)  # u1 has a already
    ['b']
    """

    name = "popular"

    def __init__(self, item_ids: Sequence[str], half_life_s: float = 7 * 86400.0) -> None:
        if half_life_s <= 0:
            raise EngineError(f"half_life_s must be > 0, got {half_life_s}")
        self._ids = list(item_ids)
        self._row = {item_id: i for i, item_id in enumerate(self._ids)}
        self._scores = np.zeros(len(self._ids), dtype=np.float64)
        self._half_life = half_life_s
        self._ref: float | None = None
        self._history = _History()

    def recommend(self, user_id: str, now: float, k: int) -> list[str]:
        seen = self._history.of(user_id)
        n = min(len(self._ids), k + len(seen))
        if n == 0:
            return []
        top = np.argpartition(-self._scores, n - 1)[:n]
        top = top[np.lexsort((top, -self._scores[top]))]  # by score, ties by row: deterministic
        return [self._ids[r] for r in top if self._scores[r] > 0 and self._ids[r] not in seen][:k]

    def update(self, event: Interaction) -> None:
        self._history.add(event)
        row = self._row.get(event.item_id) if event.item_id is not None else None
        if row is None:
            return
        if self._ref is None:
            self._ref = event.ts
        exponent = (event.ts - self._ref) / self._half_life
        if exponent > 500:  # rescale so 2**exponent stays finite
            self._scores *= 2.0 ** -exponent
            self._ref, exponent = event.ts, 0.0
        self._scores[row] += 2.0 ** exponent


class CovisitRecommender:
    """Item-to-item co-visitation: items that followed the user's recent items in other
    users' histories. Counts pairs within a window of each user's last ``window`` items.

    >>> cv = CovisitRecommender(window=5)
    >>> for user, item in [("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "c"), ("u3", "a"), ("u3", "c")]:
    ...     cv.update(Interaction("click", user, ts=0, item_id=item))
    >>> cv.update(Interaction("click", "u4", ts=0, item_id="a"))
    >>> cv.recommend("u4", now=0, k=2)
    ['c', 'b']
    """

    name = "covisit"

    def __init__(self, window: int = 10, neighbours: int = 200) -> None:
        self._window = window
        self._neighbours = neighbours  # per recent item: bounds the work per request
        self._pairs: dict[str, Counter[str]] = {}
        self._recent: dict[str, deque[str]] = {}
        self._history = _History()

    def recommend(self, user_id: str, now: float, k: int) -> list[str]:
        recent = self._recent.get(user_id)
        if not recent:
            return []
        seen = self._history.of(user_id)
        scores: dict[str, float] = defaultdict(float)
        # Newer items count more: the last one 1.0, then 0.9, 0.81, ...
        for age, item in enumerate(reversed(recent)):
            pairs = self._pairs.get(item)
            if not pairs:
                continue
            weight = 0.9 ** age
            for other, count in pairs.most_common(self._neighbours):
                if other not in seen:
                    scores[other] += weight * count
        best = heapq.nlargest(k, scores.items(), key=lambda kv: (kv[1], kv[0]))
        return [item for item, _ in best]

    def update(self, event: Interaction) -> None:
        self._history.add(event)
        item = event.item_id
        if item is None:
            return
        recent = self._recent.setdefault(event.user_id, deque(maxlen=self._window))
        if item in recent:
            recent.remove(item)
        else:
            mine = self._pairs.setdefault(item, Counter())
            for other in recent:
                mine[other] += 1
                self._pairs.setdefault(other, Counter())[item] += 1
        recent.append(item)


class ContentRecommender:
    """Text embeddings only: the user is the mean of their last ``window`` item vectors,
    answered by nearest neighbours in the catalogue's index. No behaviour of others."""

    name = "content"

    def __init__(self, catalog: Catalog, window: int = 12) -> None:
        self._catalog = catalog
        self._window = window
        self._recent: dict[str, deque[str]] = {}
        self._history = _History()

    def recommend(self, user_id: str, now: float, k: int) -> list[str]:
        recent = self._recent.get(user_id)
        if not recent:
            return []
        profile = self._catalog.index.vectors(list(recent)).mean(axis=0).astype(np.float32)
        seen = self._history.of(user_id)
        ids, _ = self._catalog.index.query(profile, k + len(seen))
        return [i for i in ids if i not in seen][:k]

    def update(self, event: Interaction) -> None:
        self._history.add(event)
        if event.item_id is None or event.item_id not in self._catalog:
            return
        recent = self._recent.setdefault(event.user_id, deque(maxlen=self._window))
        if event.item_id in recent:
            recent.remove(event.item_id)
        recent.append(event.item_id)


class StreamrecReplay:
    """streamrec's ranking as the worker runs it: ``apply_interaction`` then ``recommend``.

    ``query_vectors`` maps each search query to its embedding (encoded once, in a batch,
    by the caller). Users without any vector signal get no recommendation, as in the
    worker. With ``refits`` the item-item model is refit on its schedule (inline here, in
    a thread in the worker) and the user's longer history feeds the repeat policy. With
    ``ranker`` the next-event labels of each candidate set (:class:`NextEventJoin`) train
    a :class:`Trainer` whose published versions rank from then on, as in the worker;
    without it the default scorer ranks (the control group). ``candidate_recall`` says
    how often the event's item was among the candidates of the list it was scored on.
    """

    name = "streamrec"

    def __init__(self, catalog: Catalog, interest_config: InterestConfig,
                 recommend_config: RecommendConfig, query_vectors: Mapping[str, Vector],
                 refits: ItemModelRefits | None = None, ranker: RankerConfig | None = None,
                 publish_interval_s: float = 3600.0, name: str | None = None,
                 covisit: CovisitConfig = CovisitConfig(),
                 categories: TrendingConfig | None = None) -> None:
        self.name = name or self.name
        self._catalog = catalog
        self._interest = interest_config
        self._recommend = recommend_config
        self._queries = query_vectors
        self.states: dict[str, UserState] = {}
        self.collaborative = Collaborative(Covisitation(covisit), Trending(),
                                           categories=Trending(categories) if categories is not None else None)
        self.refits = refits
        self._default = DefaultScorer(recommend_config.covisit_weight, recommend_config.item_model_weight)
        self.trainer = (Trainer(ranker, publish_interval_s, default=self._default)
                        if ranker is not None else None)
        self.next_event = NextEventJoin(ranker or RankerConfig())
        self._asked: tuple[str, frozenset[str]] | None = None
        self.candidate_asked = 0
        self.candidate_hits = 0
        self.published = 0

    def scorer(self) -> Scorer:
        in_service = self.trainer.in_service if self.trainer is not None else None
        return in_service if in_service is not None else self._default

    def recommend(self, user_id: str, now: float, k: int) -> list[str]:
        state = self.states.get(user_id)
        if state is None:
            return []
        query_vector = self._queries.get(state.last_query) if state.last_query else None
        scorer = self.scorer()
        page = recommend_page(state, self._catalog, now, None, self._interest, self._recommend,
                              k=k, query_vector=query_vector, collaborative=self.collaborative,
                              scorer=scorer, had=self.refits.had(user_id) if self.refits else ())
        self._asked = (user_id, frozenset(page.candidates))
        if self.trainer is not None and page.features is not None:
            self.next_event.served(user_id, page.candidates, page.features, [r.item_id for r in page.items],
                                  scorer.version)
        return [r.item_id for r in page.items]

    def update(self, event: Interaction) -> None:
        if self._asked is not None and self._asked[0] == event.user_id and event.item_id is not None:
            self.candidate_asked += 1
            self.candidate_hits += event.item_id in self._asked[1]
        self._asked = None
        if self.trainer is not None and event.item_id is not None:
            kind = "purchase" if event.kind == "purchase" else "click"
            example = self.next_event.action(event.user_id, event.item_id, kind,
                                             example_id=event.event_id or f"{event.user_id}@{event.ts}")
            if example is not None:
                self.trainer.add(example)
                if self.trainer.maybe_publish(event.ts) is not None:
                    self.published += 1
        item_vector = None
        if event.item_id is not None and event.item_id in self._catalog:
            item_vector = self._catalog.index.vectors([event.item_id])[0]
        query_vector = self._queries.get(event.query) if event.query else None
        state = self.states.get(event.user_id)
        learn_collaborative(self.collaborative, state, event, self._interest)
        if item_vector is not None and event.item_id is not None and (info := self._catalog.get(event.item_id)):
            learn_categories(self.collaborative, info.categories, event, self._interest)
        if self.refits is not None and item_vector is not None and event.item_id is not None:
            self.refits.record(event.user_id, event.item_id, event.ts)
            if self.refits.due(event.ts):
                model = fit_item_model(self.refits.snapshot(event.ts), self.refits.config)
                self.collaborative = replace(self.collaborative, item_model=model)
        if state is None:
            if item_vector is None and query_vector is None:
                return  # as the worker: nothing to learn for an unknown user yet
            state = UserState.new(self._catalog.index.dim)
        self.states[event.user_id] = apply_interaction(state, event, item_vector, query_vector,
                                                       self._interest)

    def diagnostics(self) -> dict[str, float | int | str]:
        """Candidate recall, and what the trainer did (for the evaluate report)."""
        out: dict[str, float | int | str] = {
            "candidate_recall": round(self.candidate_hits / self.candidate_asked, 5) if self.candidate_asked else 0.0,
            "item_model_refits": self.refits.refits if self.refits is not None else 0,
        }
        if self.trainer is not None:
            check = self.trainer.last_check
            out.update({
                "ranker_rows": self.trainer.examples, "ranker_versions": self.published,
                "ranker_holdout": len(self.trainer.ranker.holdout),
                "ranker_holdout_auc": round(check.auc, 4) if check is not None else float("nan"),
                "default_holdout_auc": round(check.default_auc, 4) if check is not None else float("nan"),
                "ranker_holdout_ndcg": round(check.ndcg, 4) if check is not None else float("nan"),
                "default_holdout_ndcg": round(check.default_ndcg, 4) if check is not None else float("nan"),
                "ranker_last_check": self.trainer.last_check_reason,
                "label_positives": self.next_event.positives, "label_misses": self.next_event.misses,
            })
        return out


class SeenFiltered:
    """A diagnostic wrapper: ``inner``'s list with everything the user already had removed.

    streamrec's engine only excludes its bounded recent/purchased history; this shows how
    much of the gap to the baselines (which drop the full history) is that exclusion.
    """

    def __init__(self, inner: StreamrecReplay, max_k: int = 100) -> None:
        # ``inner`` must be this wrapper's own: sharing it would feed it each event twice.
        self.name = f"{inner.name}-unseen"
        self._inner = inner
        self._max_k = max_k
        self._history = _History()

    def recommend(self, user_id: str, now: float, k: int) -> list[str]:
        seen = self._history.of(user_id)
        ids = self._inner.recommend(user_id, now, min(k + len(seen), self._max_k))
        return [i for i in ids if i not in seen][:k]

    def update(self, event: Interaction) -> None:
        self._history.add(event)
        self._inner.update(event)


class _UserHistories:
    """Every user's distinct items in order of their last interaction (oldest first)."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, None]] = {}

    def add(self, user_id: str, item_id: str) -> None:
        mine = self.items.setdefault(user_id, {})
        mine.pop(item_id, None)
        mine[item_id] = None

    def of(self, user_id: str) -> list[str]:
        return list(self.items.get(user_id, ()))


class _RefitBaseline:
    """A model refit on ``schedule`` from all histories so far, scoring the user's live
    history with recency weights (:func:`engine.itemmodels.recency_weights`)."""

    name = "refit"

    def __init__(self, schedule: RefitSchedule, recency_decay: float) -> None:
        self._schedule = schedule
        self._decay = recency_decay
        self._users = _UserHistories()
        self._since_events = 0
        self._since_ts: float | None = None
        self._fitted_on = 0  # events the last fit saw
        self.refits = 0

    def _fit(self, histories: list[list[str]]) -> None:
        raise NotImplementedError

    def _scores(self, history: list[str], weights: list[float]) -> tuple[Sequence[str], NDArray[np.float32]]:
        raise NotImplementedError

    def recommend(self, user_id: str, now: float, k: int) -> list[str]:
        history = self._users.of(user_id)
        if not history or not self.refits:
            return []
        ids, scores = self._scores(history, recency_weights(len(history), self._decay))
        if not len(ids):
            return []
        seen = set(history)
        n = min(len(ids), k + len(seen))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.lexsort((top, -scores[top]))]
        return [ids[r] for r in top.tolist() if scores[r] > 0 and ids[r] not in seen][:k]

    def update(self, event: Interaction) -> None:
        if event.item_id is None:
            return
        self._users.add(event.user_id, event.item_id)
        self._since_events += 1
        if self._since_ts is None:
            self._since_ts = event.ts
        if self._schedule.due(self._since_events, event.ts - self._since_ts, self._fitted_on):
            self._fit([list(h) for h in self._users.items.values()])
            self.refits += 1
            self._fitted_on += self._since_events
            self._since_events, self._since_ts = 0, event.ts


class ItemModelRecommender(_RefitBaseline):
    """EASE or cosine item-kNN (:mod:`engine.itemmodels`), refit on a schedule.

    >>> rec = ItemModelRecommender(ItemModelConfig(l2=1.0), RefitSchedule(every_events=5))
    >>> for user, item in [("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "b"), ("u3", "a")]:
    ...     rec.update(Interaction("click", user, ts=0, item_id=item))
    >>> rec.recommend("u3", now=0, k=2), rec.name
    (['b'], 'ease')
    """

    def __init__(self, config: ItemModelConfig, schedule: RefitSchedule, recency_decay: float = 0.9,
                 name: str | None = None) -> None:
        super().__init__(schedule, recency_decay)
        self.name = name or ("ease" if config.kind == "ease" else "itemknn")
        self._config = config
        self._model: ItemItemModel | None = None

    def _fit(self, histories: list[list[str]]) -> None:
        self._model = fit_item_model(histories, self._config)

    def _scores(self, history: list[str], weights: list[float]) -> tuple[Sequence[str], NDArray[np.float32]]:
        if self._model is None:
            return (), np.zeros(0, np.float32)
        return self._model.item_ids, self._model.scores(history, weights)


class AlsRecommender(_RefitBaseline):
    """Implicit ALS (the ``implicit`` package) refit on a schedule. The user's factors are
    solved from the live history (confidence ``1 + alpha * recency weight``) against the
    item factors of the last fit, exactly as ALS solves a user row, so a user's newest
    items count before the next refit."""

    name = "als"

    def __init__(self, schedule: RefitSchedule, factors: int = 64, regularization: float = 0.05,
                 alpha: float = 2.0, iterations: int = 15, recency_decay: float = 0.9, seed: int = 0,
                 max_items: int = 20_000) -> None:
        super().__init__(schedule, recency_decay)
        self._factors, self._reg, self._alpha = factors, regularization, alpha
        self._iterations, self._seed, self._max_items = iterations, seed, max_items
        self._ids: tuple[str, ...] = ()
        self._position: dict[str, int] = {}
        self._y = np.zeros((0, factors), np.float32)
        self._yty = np.zeros((factors, factors), np.float64)

    def _fit(self, histories: list[list[str]]) -> None:
        from implicit.cpu.als import AlternatingLeastSquares  # evaluate-only dependency
        from scipy import sparse
        from threadpoolctl import threadpool_limits

        counts: dict[str, int] = {}
        for h in histories:
            for i in h:
                counts[i] = counts.get(i, 0) + 1
        ids = sorted(counts, key=lambda i: (-counts[i], i))[:self._max_items]
        position = {item: row for row, item in enumerate(ids)}
        rows, cols = [], []
        for u, h in enumerate(histories):
            for i in h:
                if i in position:
                    rows.append(u)
                    cols.append(position[i])
        # implicit reads the values as confidences: 1 + alpha for an item had (weight 1).
        x = sparse.csr_matrix((np.full(len(rows), 1.0 + self._alpha, np.float32), (rows, cols)),
                              shape=(len(histories), len(ids)))
        with threadpool_limits(1, "blas"):  # implicit's own threads do the work (and warn otherwise)
            model = AlternatingLeastSquares(factors=self._factors, regularization=self._reg,
                                            iterations=self._iterations, random_state=self._seed,
                                            num_threads=1, calculate_training_loss=False)
            model.fit(x, show_progress=False)
        self._ids, self._position = tuple(ids), position
        self._y = np.asarray(model.item_factors, dtype=np.float32)
        self._yty = self._y.T.astype(np.float64) @ self._y.astype(np.float64)

    def _scores(self, history: list[str], weights: list[float]) -> tuple[Sequence[str], NDArray[np.float32]]:
        known = [(self._position[i], w) for i, w in zip(history, weights) if i in self._position]
        if not known:
            return (), np.zeros(0, np.float32)
        rows = np.array([r for r, _ in known])
        conf = 1.0 + self._alpha * np.array([w for _, w in known])
        yh = self._y[rows].astype(np.float64)
        a = self._yty + (yh.T * (conf - 1.0)) @ yh + self._reg * np.eye(self._y.shape[1])
        user = np.linalg.solve(a, yh.T @ conf)
        return self._ids, (self._y @ user.astype(np.float32)).astype(np.float32)
