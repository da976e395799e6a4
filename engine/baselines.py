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
from typing import Mapping, Sequence

import numpy as np

from engine.catalog import Catalog
from engine.config import InterestConfig, RecommendConfig
from engine.covisit import Covisitation
from engine.errors import EngineError
from engine.events import Interaction
from engine.interests import UserState, apply_interaction
from engine.recommend import Collaborative, learn_collaborative, recommend
from engine.trending import Trending
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
    worker.
    """

    name = "streamrec"

    def __init__(self, catalog: Catalog, interest_config: InterestConfig,
                 recommend_config: RecommendConfig, query_vectors: Mapping[str, Vector]) -> None:
        self._catalog = catalog
        self._interest = interest_config
        self._recommend = recommend_config
        self._queries = query_vectors
        self.states: dict[str, UserState] = {}
        self.collaborative = Collaborative(Covisitation(), Trending())

    def recommend(self, user_id: str, now: float, k: int) -> list[str]:
        state = self.states.get(user_id)
        if state is None:
            return []
        query_vector = self._queries.get(state.last_query) if state.last_query else None
        items = recommend(state, self._catalog, now, None, self._interest, self._recommend,
                          k=k, query_vector=query_vector, collaborative=self.collaborative)
        return [r.item_id for r in items]

    def update(self, event: Interaction) -> None:
        item_vector = None
        if event.item_id is not None and event.item_id in self._catalog:
            item_vector = self._catalog.index.vectors([event.item_id])[0]
        query_vector = self._queries.get(event.query) if event.query else None
        state = self.states.get(event.user_id)
        learn_collaborative(self.collaborative, state, event, self._interest)
        if state is None:
            if item_vector is None and query_vector is None:
                return  # as the worker: nothing to learn for an unknown user yet
            state = UserState.new(self._catalog.index.dim)
        self.states[event.user_id] = apply_interaction(state, event, item_vector, query_vector,
                                                       self._interest)


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
