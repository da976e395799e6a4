"""Prequential (test-then-train) replay and the ranking metrics it reports.

For each event in time order every recommender is first asked for the user's top-k,
the event's item is looked up in that list (its 0-based rank, or -1 for a miss), and
only then is the event fed to the recommender. Metrics are computed from the ranks,
so they can be recomputed per time window for plots.

Time comes in through ``clock`` (the caller passes ``time.perf_counter``); the engine
never reads the clock itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol, Sequence

import numpy as np
from numpy.typing import NDArray

from engine.errors import EngineError
from engine.events import Interaction


class EvaluationError(EngineError, ValueError):
    """Bad replay arguments (k, warm-up, empty ranks)."""


class ReplayRecommender(Protocol):
    """What the replay needs from a recommender: ask, then learn."""

    name: str

    def recommend(self, user_id: str, now: float, k: int) -> list[str]: ...

    def update(self, event: Interaction) -> None: ...


def hit_rank(recommended: Sequence[str], target: str, k: int) -> int:
    """0-based rank of ``target`` in the first ``k`` of ``recommended``, -1 if absent.

    >>> hit_rank(["a", "b", "c"], "b", k=3)
    1
    >>> hit_rank(["a", "b", "c"], "c", k=2)
    -1
    """
    for rank, item_id in enumerate(recommended[:k]):
        if item_id == target:
            return rank
    return -1


@dataclass(frozen=True)
class Metrics:
    """Ranking quality with one relevant item per scored event."""

    recall: float  # share of events whose item was in the top k (= HitRate@k)
    ndcg: float  # mean 1 / log2(rank + 2) over hits, 0 for misses (ideal DCG is 1)
    mrr: float  # mean 1 / (rank + 1) over hits, 0 for misses (MRR@k)
    scored: int


def metrics_from_ranks(ranks: NDArray[np.int64] | Sequence[int], k: int) -> Metrics:
    """Recall@k, NDCG@k and MRR@k from 0-based hit ranks (-1 = miss).

    Ranks at or past ``k`` count as misses.

    >>> m = metrics_from_ranks([0, -1, 1, 3], k=2)
    >>> (m.recall, round(m.ndcg, 4), m.mrr)
    (0.5, 0.4077, 0.375)
    """
    if k < 1:
        raise EvaluationError(f"k must be >= 1, got {k}")
    array = np.asarray(ranks, dtype=np.int64)
    if array.size == 0:
        return Metrics(0.0, 0.0, 0.0, 0)
    hit = (array >= 0) & (array < k)
    pos = np.where(hit, array, 0).astype(np.float64)
    ndcg = np.where(hit, 1.0 / np.log2(pos + 2.0), 0.0)
    mrr = np.where(hit, 1.0 / (pos + 1.0), 0.0)
    return Metrics(float(hit.mean()), float(ndcg.mean()), float(mrr.mean()), int(array.size))


def coverage(recommended_items: Iterable[str], catalogue_size: int) -> float:
    """Share of the catalogue that was recommended at least once.

    >>> coverage(["a", "b", "a"], catalogue_size=4)
    0.5
    """
    if catalogue_size < 1:
        raise EvaluationError(f"catalogue_size must be >= 1, got {catalogue_size}")
    return len(set(recommended_items)) / catalogue_size


@dataclass
class RecommenderTrace:
    """Everything one recommender did in a replay (mutable: filled while replaying)."""

    name: str
    ranks: list[int] = field(default_factory=list)
    scored_ts: list[float] = field(default_factory=list)
    recommended: set[str] = field(default_factory=set)
    recommend_s: float = 0.0
    update_s: float = 0.0
    empty_lists: int = 0
    extra: dict[str, float | int | str] = field(default_factory=dict)  # e.g. candidate recall

    def summary(self, k: int, catalogue_size: int, events: int) -> dict[str, float | int | str]:
        m = metrics_from_ranks(self.ranks, k)
        return {
            "recall": round(m.recall, 5), "ndcg": round(m.ndcg, 5), "mrr": round(m.mrr, 5),
            "coverage": round(coverage(self.recommended, catalogue_size), 5) if catalogue_size else 0.0,
            "scored": m.scored, "empty_lists": self.empty_lists,
            "ms_per_event": round(1000 * (self.recommend_s + self.update_s) / max(events, 1), 4),
            "ms_per_recommendation": round(1000 * self.recommend_s / max(m.scored, 1), 4),
            **self.extra,
        }


def windowed(ranks: Sequence[int], ts: Sequence[float], k: int, windows: int) -> list[tuple[float, Metrics]]:
    """Metrics over ``windows`` consecutive, equally sized slices of the scored events.

    Returns ``(median timestamp of the slice, metrics of the slice)`` pairs.

    >>> [round(m.recall, 2) for _, m in windowed([0, -1, 0, 0], [1, 2, 3, 4], k=1, windows=2)]
    [0.5, 1.0]
    """
    if windows < 1:
        raise EvaluationError(f"windows must be >= 1, got {windows}")
    n = len(ranks)
    out: list[tuple[float, Metrics]] = []
    bounds: list[int] = np.linspace(0, n, min(windows, n) + 1).astype(int).tolist() if n else []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi > lo:
            out.append((float(np.median(ts[lo:hi])), metrics_from_ranks(ranks[lo:hi], k)))
    return out


def warmup_count(warmup: float, events: int) -> int:
    """Events before scoring starts: a fraction of ``events`` when below 1, else a count.

    >>> warmup_count(0.1, 500), warmup_count(20, 500), warmup_count(0, 500)
    (50, 20, 0)
    """
    if not warmup >= 0:
        raise EvaluationError(f"warm-up must be >= 0, got {warmup!r}")
    return int(warmup * events) if warmup < 1 else int(warmup)


def replay(
    events: Sequence[Interaction],
    recommenders: Sequence[ReplayRecommender],
    k: int,
    warmup: int,
    scorable: Callable[[str], bool],
    clock: Callable[[], float],
    include_repeats: bool = False,
    on_event: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[RecommenderTrace]:
    """Replay ``events`` (already in time order) prequentially through every recommender.

    An event is scored when it is past the first ``warmup`` events, has an item for
    which ``scorable`` is true (the item is in the catalogue), and, unless
    ``include_repeats``, the user has not interacted with that item before: no
    recommender here is meant to re-recommend what the user already has, so repeat
    purchases would only reward the baselines that ignore history. Every event is fed
    to every recommender, scored or not. ``should_stop`` is asked before each event: when
    it says yes, the replay ends there and the traces hold the events before it
    (``on_event`` tells the caller how far it got).
    """
    if k < 1:
        raise EvaluationError(f"k must be >= 1, got {k}")
    traces = [RecommenderTrace(r.name) for r in recommenders]
    history: dict[str, set[str]] = {}
    for position, event in enumerate(events):
        if should_stop is not None and should_stop():
            break
        item = event.item_id
        had = history.setdefault(event.user_id, set())
        score = (position >= warmup and item is not None and scorable(item)
                 and (include_repeats or item not in had))
        for recommender, trace in zip(recommenders, traces):
            if score and item is not None:
                start = clock()
                ids = recommender.recommend(event.user_id, event.ts, k)[:k]
                trace.recommend_s += clock() - start
                trace.ranks.append(hit_rank(ids, item, k))
                trace.scored_ts.append(event.ts)
                trace.recommended.update(ids)
                if not ids:
                    trace.empty_lists += 1
            start = clock()
            recommender.update(event)
            trace.update_s += clock() - start
        if item is not None:
            had.add(item)
        if on_event is not None:
            on_event(position)
    return traces
