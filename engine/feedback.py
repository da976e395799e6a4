"""Feedback on served pages becomes training examples; impressions become fatigue.

The worker that serves a page keeps the page's feature rows (:class:`FeedbackJoin`).
Impressions, clicks and purchases carry the page's ``rec_id`` and, being keyed by user
like everything else, reach that same worker. When a page's feedback window closes, its
rows come out labelled: an item shown and not acted on is a negative, a click a
positive, a purchase a stronger positive (:func:`engine.ranker.feedback_label`).
A page with neither an impression nor an action is dropped: nobody knows it was seen.

:class:`ShownCounts` remembers, per user, how often each item was shown lately (decayed):
the ranker's fatigue feature and the ``max_shown`` filter. Both are bounded and live in
the worker's memory; after a restart they start empty, which costs at most one window
of examples and a little fatigue knowledge.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from engine.config import ConfigError
from engine.errors import DimensionMismatch
from engine.features import N_FEATURES
from engine.ranker import RankerConfig, feedback_label
from engine.types import Matrix


@dataclass(frozen=True)
class FeedbackConfig:
    """``window_s``: how long after serving a page its feedback is awaited;
    ``max_pages``: pages awaiting feedback at most (the oldest leave first);
    ``shown_half_life_s``: how fast fatigue fades; ``max_users``/``max_items_per_user``
    bound :class:`ShownCounts`."""

    window_s: float = 30.0
    max_pages: int = 50_000
    shown_half_life_s: float = 6 * 3600.0
    max_users: int = 100_000
    max_items_per_user: int = 64

    def __post_init__(self) -> None:
        for name in ("window_s", "shown_half_life_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive number, got {value!r}")
        for name in ("max_pages", "max_users", "max_items_per_user"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class Example:
    """One page's labelled rows: ``features`` shape ``(n, N_FEATURES)``, ``labels`` and
    ``weights`` shape ``(n,)``."""

    rec_id: str
    user_id: str
    model_version: int
    item_ids: tuple[str, ...]
    features: Matrix
    labels: NDArray[np.float32]
    weights: NDArray[np.float32]
    # A next-event candidate set (True) is a ranked list, judged by its NDCG; a served
    # page's feedback is judged by logloss and AUC (its NDCG within ten shown items cost
    # the closed-loop test its lift as a publish rule).
    ranked_list: bool = False

    def __post_init__(self) -> None:
        n = len(self.item_ids)
        if (np.shape(self.features) != (n, N_FEATURES) or np.shape(self.labels) != (n,)
                or np.shape(self.weights) != (n,)):
            raise DimensionMismatch(f"example {self.rec_id!r}: need features ({n}, {N_FEATURES}) and "
                                    f"labels, weights ({n},); got {np.shape(self.features)}, "
                                    f"{np.shape(self.labels)}, {np.shape(self.weights)}")


@dataclass
class _Page:
    user_id: str
    model_version: int
    served_at: float
    item_ids: tuple[str, ...]
    features: Matrix
    shown: set[str] | None = None  # None until an impression arrives
    actions: dict[str, str] = field(default_factory=dict)  # item -> strongest kind


_STRENGTH = {"click": 1, "purchase": 2}


class FeedbackJoin:
    """Pages awaiting feedback, keyed by ``rec_id``. Not thread-safe.

    >>> join = FeedbackJoin(FeedbackConfig(window_s=10.0), RankerConfig())
    >>> rows = np.zeros((3, N_FEATURES), np.float32)
    >>> join.served("r1", "u1", ["a", "b", "c"], rows, model_version=2, now=0.0)
    >>> join.impression("r1", ["a", "b"], now=1.0), join.action("r1", "b", "click", now=2.0)
    (True, True)
    >>> join.due(now=5.0)
    []
    >>> [(e.item_ids, e.labels.tolist()) for e in join.due(now=10.0)]
    [(('a', 'b'), [0.0, 1.0])]
    """

    def __init__(self, config: FeedbackConfig, ranker_config: RankerConfig) -> None:
        self.config = config
        self.ranker_config = ranker_config
        self._pages: OrderedDict[str, _Page] = OrderedDict()
        self.dropped_unseen = 0  # pages that closed without any feedback
        self.dropped_full = 0  # pages pushed out by max_pages before their window closed
        self.impressions = 0  # impressions received (naming a page of this worker or not)

    def __len__(self) -> int:
        return len(self._pages)

    def served(self, rec_id: str, user_id: str, item_ids: Sequence[str], features: Matrix,
               model_version: int, now: float) -> None:
        """Remember a served page: its items and their feature rows, shape ``(n, N_FEATURES)``."""
        rows = np.array(features, dtype=np.float32)  # a copy: the caller's array stays theirs
        if rows.shape != (len(item_ids), N_FEATURES):
            raise DimensionMismatch(f"page {rec_id!r} has {len(item_ids)} items but features {rows.shape}")
        self._pages[rec_id] = _Page(user_id, model_version, now, tuple(item_ids), rows)
        while len(self._pages) > self.config.max_pages:
            self._pages.popitem(last=False)
            self.dropped_full += 1

    def impression(self, rec_id: str, item_ids: Sequence[str], now: float) -> bool:
        """The page (or part of it) was shown. False for an unknown or closed page."""
        self.impressions += 1  # the deployment reports what it shows (see NextEventJoin)
        page = self._pages.get(rec_id)
        if page is None:
            return False
        page.shown = (page.shown or set()) | set(item_ids)
        return True

    def action(self, rec_id: str, item_id: str, kind: str, now: float) -> bool:
        """A click or purchase of ``item_id`` from the page. False for an unknown page or
        an item that was not on it."""
        page = self._pages.get(rec_id)
        if page is None or item_id not in page.item_ids or kind not in _STRENGTH:
            return False
        if _STRENGTH[kind] > _STRENGTH.get(page.actions.get(item_id, ""), 0):
            page.actions[item_id] = kind
        return True

    def forget_user(self, user_id: str) -> int:
        """Drop a user's pending pages (privacy: nothing of theirs reaches the model)."""
        gone = [rec_id for rec_id, page in self._pages.items() if page.user_id == user_id]
        for rec_id in gone:
            del self._pages[rec_id]
        return len(gone)

    def due(self, now: float) -> list[Example]:
        """Close every page whose window has passed and return the labelled ones."""
        out: list[Example] = []
        while self._pages:
            rec_id, page = next(iter(self._pages.items()))
            if now - page.served_at < self.config.window_s:
                break  # pages are in serving order: the rest are younger
            del self._pages[rec_id]
            example = self._label(rec_id, page)
            if example is None:
                self.dropped_unseen += 1
            else:
                out.append(example)
        return out

    def _label(self, rec_id: str, page: _Page) -> Example | None:
        if page.shown is None and not page.actions:
            return None
        # An action without an impression still proves the page was seen: all of it counts.
        shown = page.shown if page.shown is not None else set(page.item_ids)
        shown |= set(page.actions)
        rows = [i for i, item_id in enumerate(page.item_ids) if item_id in shown]
        labels, weights = zip(*(feedback_label(page.actions.get(page.item_ids[i], "impression"),
                                               self.ranker_config) for i in rows))
        return Example(rec_id, page.user_id, page.model_version,
                       tuple(page.item_ids[i] for i in rows), page.features[rows],
                       np.array(labels, np.float32), np.array(weights, np.float32))


class ShownCounts:
    """Per user, a decayed count of how often each item was shown. Not thread-safe.

    >>> shown = ShownCounts(FeedbackConfig(shown_half_life_s=100.0))
    >>> shown.record("u1", ["a", "b"], now=0.0); shown.record("u1", ["a"], now=100.0)
    >>> {k: round(v, 2) for k, v in shown.counts("u1", now=100.0).items()}
    {'a': 1.5, 'b': 0.5}
    """

    def __init__(self, config: FeedbackConfig) -> None:
        self.config = config
        # user -> (reference time, item -> count at the reference time)
        self._users: OrderedDict[str, tuple[float, dict[str, float]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._users)

    def _decay(self, since: float, now: float) -> float:
        return float(0.5 ** (max(now - since, 0.0) / self.config.shown_half_life_s))

    def record(self, user_id: str, item_ids: Sequence[str], now: float) -> None:
        ref, counts = self._users.pop(user_id, (now, {}))
        factor = self._decay(ref, now)
        counts = {i: c * factor for i, c in counts.items() if c * factor > 0.05}
        for item_id in item_ids:
            counts[item_id] = counts.get(item_id, 0.0) + 1.0
        if len(counts) > self.config.max_items_per_user:
            keep = sorted(counts, key=counts.__getitem__, reverse=True)[:self.config.max_items_per_user]
            counts = {i: counts[i] for i in keep}
        self._users[user_id] = (max(ref, now), counts)
        while len(self._users) > self.config.max_users:
            self._users.popitem(last=False)  # the user seen longest ago leaves first

    def counts(self, user_id: str, now: float) -> Mapping[str, float]:
        entry = self._users.get(user_id)
        if entry is None:
            return {}
        factor = self._decay(entry[0], now)
        return {i: c * factor for i, c in entry[1].items()}

    def forget_user(self, user_id: str) -> None:
        self._users.pop(user_id, None)


@dataclass
class _CandidateSet:
    model_version: int
    item_ids: tuple[str, ...]
    features: Matrix
    page: int  # the first ``page`` rows were on the page


def sample_rows(n: int, keep: int) -> NDArray[np.intp]:
    """``keep`` of ``n`` row indices, evenly spaced (deterministic), all when ``n <= keep``.

    >>> sample_rows(10, 3).tolist(), sample_rows(2, 5).tolist()
    ([0, 4, 9], [0, 1])
    """
    if n <= keep:
        return np.arange(n, dtype=np.intp)
    return np.unique(np.linspace(0, n - 1, keep).round().astype(np.intp))


def next_event_example(example_id: str, user_id: str, model_version: int, candidates: Sequence[str],
                       features: Matrix, item_id: str, kind: str, ranker_config: RankerConfig,
                       max_negatives: int = 50, page: int = 0) -> Example | None:
    """Next-event prediction as a label: the user acted on ``item_id`` while ``candidates``
    (their last candidate set, feature rows ``features`` ``(n, N_FEATURES)``) were what
    the engine would have ranked. The chosen candidate is a positive (the action's label
    weight, :func:`engine.ranker.feedback_label`); the first ``page`` candidates (the page
    served: the hardest negatives) and up to ``max_negatives`` of the others (evenly
    spaced) are negatives with the impression weight. ``None`` when the item was not
    among the candidates (a miss of candidate retrieval, not of the ranking).

    >>> rows = np.eye(3, N_FEATURES, dtype=np.float32)
    >>> e = next_event_example("e1", "u1", 0, ["a", "b", "c"], rows, "b", "click", RankerConfig())
    >>> e.item_ids, e.labels.tolist(), e.weights.tolist()
    (('b', 'a', 'c'), [1.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    >>> next_event_example("e2", "u1", 0, ["a"], rows[:1], "z", "click", RankerConfig()) is None
    True
    """
    rows = np.asarray(features, dtype=np.float32)
    if rows.shape != (len(candidates), N_FEATURES):
        raise DimensionMismatch(f"{len(candidates)} candidates but features {rows.shape}")
    try:
        positive = list(candidates).index(item_id)
    except ValueError:
        return None
    label, weight = feedback_label(kind, ranker_config)
    shown = np.array([i for i in range(min(page, len(candidates))) if i != positive], dtype=np.intp)
    others = np.array([i for i in range(max(page, 0), len(candidates)) if i != positive], dtype=np.intp)
    negatives = np.concatenate([shown, others[sample_rows(len(others), max_negatives)] if len(others) else others])
    order = np.concatenate([[positive], negatives]).astype(np.intp)
    _, negative_weight = feedback_label("impression", ranker_config)
    labels = np.zeros(len(order), np.float32)
    labels[0] = label
    weights = np.full(len(order), negative_weight, np.float32)
    weights[0] = weight
    return Example(example_id, user_id, model_version, tuple(candidates[i] for i in order.tolist()),
                   rows[order].copy(), labels, weights, ranked_list=True)


class NextEventJoin:
    """Each user's last candidate set, whole, waiting for the user's next action:
    :func:`next_event_example` (the page and ``max_negatives`` of the other candidates as
    negatives). The whole set is kept so that every action on a candidate is a label: a set
    sampled when served lost two thirds of them, and kept mostly those the model in service
    had put on the page (a label biased towards its own choices). One label per set (the
    next action consumes it); at most ``max_users`` users (the one served longest ago
    leaves first). Not thread-safe.

    >>> join = NextEventJoin(RankerConfig(), max_users=10)
    >>> join.served("u1", ["a", "b", "c"], np.zeros((3, N_FEATURES), np.float32), page=1, model_version=0)
    >>> e = join.action("u1", "c", "purchase", example_id="ev-9")
    >>> e.item_ids, e.labels.tolist(), join.action("u1", "a", "click", example_id="ev-10")
    (('c', 'a', 'b'), [1.0, 0.0, 0.0], None)
    >>> join.positives, join.misses
    (1, 0)
    """

    def __init__(self, ranker_config: RankerConfig, max_users: int = 10_000, max_negatives: int = 50) -> None:
        if max_users < 1 or max_negatives < 1:
            raise ConfigError("max_users and max_negatives must be >= 1")
        self.ranker_config = ranker_config
        self.max_users = max_users
        self.max_negatives = max_negatives
        self._sets: OrderedDict[str, _CandidateSet] = OrderedDict()
        self.positives = 0  # actions on an item of the user's last candidate set
        self.misses = 0  # actions on an item outside it (candidate recall = positives / both)

    def __len__(self) -> int:
        return len(self._sets)

    def served(self, user_id: str, candidates: Sequence[str], features: Matrix,
               page: int | Sequence[str], model_version: int) -> None:
        """Remember the candidate set of the page just served, whole. ``page``: the page's
        item ids (their rows are the negatives always kept), or how many of the first
        candidates were on it."""
        rows = np.asarray(features, dtype=np.float32)
        if rows.shape != (len(candidates), N_FEATURES):
            raise DimensionMismatch(f"{len(candidates)} candidates but features {rows.shape}")
        ids = list(candidates)
        if isinstance(page, int):
            n_page, order = page, np.arange(len(ids), dtype=np.intp)
        else:  # the page's rows first, then the others in candidate order
            position = {item_id: row for row, item_id in enumerate(ids)}
            first = [position[i] for i in dict.fromkeys(page) if i in position]
            chosen = set(first)
            order = np.array(first + [r for r in range(len(ids)) if r not in chosen], dtype=np.intp)
            n_page = len(first)
        self._sets.pop(user_id, None)
        self._sets[user_id] = _CandidateSet(model_version, tuple(ids[i] for i in order.tolist()),
                                            rows[order], min(n_page, len(ids)))
        while len(self._sets) > self.max_users:
            self._sets.popitem(last=False)

    def action(self, user_id: str, item_id: str, kind: str, example_id: str) -> Example | None:
        """The user clicked or bought ``item_id``: the labelled candidate set, or ``None``
        (no set waiting, or the item was not in it)."""
        entry = self._sets.pop(user_id, None)
        if entry is None:
            return None
        example = next_event_example(example_id, user_id, entry.model_version, entry.item_ids,
                                     entry.features, item_id, kind, self.ranker_config, self.max_negatives,
                                     page=entry.page)
        if example is None:
            self.misses += 1
        else:
            self.positives += 1
        return example

    def forget_user(self, user_id: str) -> None:
        self._sets.pop(user_id, None)
