"""Item-to-item models refit on a schedule: EASE (closed form) and cosine item-kNN.

Both turn a user's history into scores over the model's items with one vector-matrix
product: ``scores = h @ W`` where ``h[i]`` is the (recency) weight of history item ``i``
and ``W`` the ``(n, n)`` item-item matrix. They are fitted from a binary user-item
matrix ``X`` (users x items):

* EASE (Steck 2019): ``P = (X'X + l2 I)^-1``, ``W[i, j] = -P[i, j] / P[j, j]``, zero diagonal.
* cosine: ``W[i, j] = (X'X)[i, j] / sqrt(n_i n_j)``, zero diagonal, only the ``neighbours``
  largest entries of each column kept.

``W`` is dense, so its size is bounded by ``max_items``: only the most active items
(by users who had them) enter a fit. With 100k items the model covers the top 5,000
(100 MB of float32, a fit of a few seconds); the rest is left to the other candidate
sources. :class:`InteractionLog` is the bounded per-user history the fits read.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from engine.config import ConfigError


@dataclass(frozen=True)
class RefitSchedule:
    """Refit after ``every_events`` events or ``every_s`` seconds of event time, whichever
    comes first (``None`` turns a bound off).

    >>> RefitSchedule.parse("5000"), RefitSchedule.parse("7d").every_s
    (RefitSchedule(every_events=5000, every_s=None, first_fit_events=500), 604800.0)
    >>> RefitSchedule(every_events=10).due(events_since=10, seconds_since=0.0)
    True
    >>> [RefitSchedule(every_events=5000).due(n, 0.0, at) for n, at in [(500, 0), (400, 500), (1000, 1000)]]
    [True, False, True]
    """

    every_events: int | None = 5000
    every_s: float | None = None
    first_fit_events: int = 500

    def __post_init__(self) -> None:
        if self.every_events is None and self.every_s is None:
            raise ConfigError("a refit schedule needs every_events or every_s")
        if self.first_fit_events < 1:
            raise ConfigError(f"first_fit_events must be >= 1, got {self.first_fit_events!r}")
        if self.every_events is not None and self.every_events < 1:
            raise ConfigError(f"every_events must be >= 1, got {self.every_events!r}")
        if self.every_s is not None and not (math.isfinite(self.every_s) and self.every_s > 0):
            raise ConfigError(f"every_s must be a positive number, got {self.every_s!r}")

    @classmethod
    def parse(cls, spec: str) -> RefitSchedule:
        """``"5000"`` (events), ``"7d"`` (days of event time) or ``"12h"`` (hours)."""
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([dh]?)\s*", spec)
        if match is None:
            raise ConfigError(f"refit schedule {spec!r}: expected N (events), Nd (days) or Nh (hours)")
        number, unit = float(match.group(1)), match.group(2)
        if not unit:
            return cls(every_events=int(number), every_s=None)
        return cls(every_events=None, every_s=number * (86400.0 if unit == "d" else 3600.0))

    def due(self, events_since: int, seconds_since: float, events_at_last_fit: int | None = None) -> bool:
        """Time to refit? ``events_at_last_fit`` (the events the last fit saw, ``None``
        before the first) adds a quick start: the first fit after ``first_fit_events``
        and then whenever the data has doubled, until the schedule's own spacing rules."""
        if events_at_last_fit is not None:
            early = self.first_fit_events if events_at_last_fit == 0 else events_at_last_fit
            if events_since >= early and (self.every_events is None or early < self.every_events):
                return True
        return ((self.every_events is not None and events_since >= self.every_events)
                or (self.every_s is not None and seconds_since >= self.every_s))


@dataclass(frozen=True)
class ItemModelConfig:
    """``kind``: ``ease`` or ``cosine``; ``l2``: EASE's ridge; ``neighbours``: cosine's
    entries kept per item; ``max_items``: the most active items a fit covers (memory
    ``4 * max_items**2`` bytes); ``min_users``: items had by fewer users are left out."""

    kind: str = "ease"
    l2: float = 200.0
    neighbours: int = 100
    max_items: int = 5000
    min_users: int = 1

    def __post_init__(self) -> None:
        if self.kind not in ("ease", "cosine"):
            raise ConfigError(f"kind must be 'ease' or 'cosine', got {self.kind!r}")
        if not (math.isfinite(self.l2) and self.l2 > 0):
            raise ConfigError(f"l2 must be a positive number, got {self.l2!r}")
        for name in ("neighbours", "max_items", "min_users"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class ItemItemModel:
    """A fitted item-item matrix ``weights`` ``(n, n)`` float32 over ``item_ids``."""

    item_ids: tuple[str, ...]
    weights: NDArray[np.float32] = field(repr=False, compare=False)
    position: Mapping[str, int] = field(repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.item_ids)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.position

    def scores(self, history: Sequence[str], weights: Sequence[float]) -> NDArray[np.float32]:
        """Scores of every model item, shape ``(n,)``, for a history (items unknown to
        the model are skipped) with one weight per history item."""
        rows = [(self.position[i], w) for i, w in zip(history, weights) if i in self.position]
        if not rows:
            return np.zeros(len(self.item_ids), dtype=np.float32)
        h = np.zeros(len(self.item_ids), dtype=np.float32)
        for row, w in rows:
            h[row] += w
        idx = np.flatnonzero(h)
        out: NDArray[np.float32] = (h[idx] @ self.weights[idx]).astype(np.float32)
        return out


def recency_weights(n: int, decay: float) -> list[float]:
    """Weights of a history of ``n`` items, oldest first: the newest 1, then ``decay``,
    ``decay**2``, ... going back.

    >>> recency_weights(3, 0.5)
    [0.25, 0.5, 1.0]
    """
    return [decay ** (n - 1 - r) for r in range(n)]


def gram(histories: Sequence[Sequence[int]], n_items: int) -> NDArray[np.float64]:
    """``X'X`` of the binary user-item matrix whose rows are ``histories`` (item rows
    0..n_items-1, each once per user), shape ``(n_items, n_items)``."""
    from scipy import sparse  # only fits need it

    lengths = [len(h) for h in histories]
    rows = np.repeat(np.arange(len(histories)), lengths)
    cols = np.fromiter((i for h in histories for i in h), dtype=np.int64, count=sum(lengths))
    x = sparse.csr_matrix((np.ones(len(cols), dtype=np.float64), (rows, cols)),
                          shape=(len(histories), n_items))
    out: NDArray[np.float64] = np.asarray((x.T @ x).toarray(), dtype=np.float64)
    return out


def fit_ease(g: NDArray[np.float64], l2: float) -> NDArray[np.float32]:
    """EASE weights from the Gram matrix ``g = X'X``, shape ``(n, n)``.

    >>> g = np.array([[2.0, 1.0], [1.0, 2.0]])  # two users had both, one each alone
    >>> [[round(float(v), 4) for v in row] for row in fit_ease(g, l2=1.0)]  # P = inv([[3, 1], [1, 3]]) = [[3, -1], [-1, 3]] / 8
    [[0.0, 0.3333], [0.3333, 0.0]]
    """
    a = np.array(g, dtype=np.float64)
    a[np.diag_indices_from(a)] += l2
    p = np.linalg.inv(a)
    b = -p / np.diag(p)[None, :]
    b[np.diag_indices_from(b)] = 0.0
    return b.astype(np.float32)


def fit_cosine(g: NDArray[np.float64], neighbours: int) -> NDArray[np.float32]:
    """Cosine item-item weights from ``g = X'X``, each column's ``neighbours`` largest kept.

    >>> fit_cosine(np.array([[2.0, 1.0], [1.0, 2.0]]), neighbours=5).tolist()
    [[0.0, 0.5], [0.5, 0.0]]
    """
    norms = np.sqrt(np.maximum(np.diag(g), 1e-12))
    s = g / np.outer(norms, norms)
    s[np.diag_indices_from(s)] = 0.0
    if neighbours < s.shape[0]:
        cut = np.partition(s, s.shape[0] - neighbours, axis=0)[s.shape[0] - neighbours]
        s[s < cut[None, :]] = 0.0
    out: NDArray[np.float32] = s.astype(np.float32)
    return out


class InteractionLog:
    """Bounded per-user sets of items, for fits: at most ``max_users`` users (the one
    seen longest ago leaves first) and ``max_items_per_user`` items each (the oldest
    leaves first). Not thread-safe: fit from a snapshot (:meth:`histories`).

    >>> log = InteractionLog(max_users=2, max_items_per_user=2)
    >>> for user, item in [("u1", "a"), ("u1", "b"), ("u1", "c"), ("u2", "a"), ("u3", "b")]:
    ...     log.add(user, item)
    >>> log.histories()
    [('a',), ('b',)]
    """

    def __init__(self, max_users: int = 100_000, max_items_per_user: int = 500) -> None:
        if max_users < 1 or max_items_per_user < 1:
            raise ConfigError("max_users and max_items_per_user must be >= 1")
        self.max_users = max_users
        self.max_items_per_user = max_items_per_user
        self._users: OrderedDict[str, OrderedDict[str, None]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._users)

    def add(self, user_id: str, item_id: str) -> None:
        items = self._users.pop(user_id, None)
        if items is None:
            items = OrderedDict()
        items.pop(item_id, None)
        items[item_id] = None
        while len(items) > self.max_items_per_user:
            items.popitem(last=False)
        self._users[user_id] = items
        while len(self._users) > self.max_users:
            self._users.popitem(last=False)

    def forget_user(self, user_id: str) -> None:
        self._users.pop(user_id, None)

    def items_of(self, user_id: str) -> tuple[str, ...]:
        """The user's remembered items, oldest first."""
        return tuple(self._users.get(user_id, ()))

    def histories(self) -> list[tuple[str, ...]]:
        """A snapshot: each user's items (oldest first), users in least-recent order."""
        return [tuple(items) for items in self._users.values()]


def fit_item_model(histories: Sequence[Sequence[str]], config: ItemModelConfig) -> ItemItemModel | None:
    """Fit :class:`ItemItemModel` on user histories (each a sequence of distinct items).

    Only the ``max_items`` items had by most users (at least ``min_users``) enter;
    ``None`` when fewer than two items qualify.

    ``X'X + I = [[4, 2], [2, 4]]``, its inverse ``[[4, -2], [-2, 4]] / 12``, so ``W[a, b] = 2 / 4``:

    >>> m = fit_item_model([("a", "b"), ("a", "b"), ("a",), ("b",)], ItemModelConfig(l2=1.0))
    >>> m.item_ids, m.scores(["a"], [1.0]).round(4).tolist()
    (('a', 'b'), [0.0, 0.5])
    """
    counts: dict[str, int] = {}
    for history in histories:
        for item in history:
            counts[item] = counts.get(item, 0) + 1
    ranked = sorted((i for i, c in counts.items() if c >= config.min_users),
                    key=lambda i: (-counts[i], i))[:config.max_items]
    if len(ranked) < 2:
        return None
    position = {item: row for row, item in enumerate(ranked)}
    rows = [[position[i] for i in h if i in position] for h in histories]
    g = gram([r for r in rows if r], len(ranked))
    weights = fit_ease(g, config.l2) if config.kind == "ease" else fit_cosine(g, config.neighbours)
    return ItemItemModel(tuple(ranked), weights, position)


class ItemModelRefits:
    """What the served item model is fitted from, and when: the bounded
    :class:`InteractionLog` and a :class:`RefitSchedule`. The worker and the replay use
    it the same way: :meth:`record` every action, and when :meth:`due`, fit
    :func:`fit_item_model` on :meth:`snapshot` (the worker in a thread, the replay
    inline). :meth:`had` is the user's longer history for the ``never`` repeat policy.
    Not thread-safe (the snapshot is a copy, so the fit itself may run elsewhere).
    """

    def __init__(self, config: ItemModelConfig, schedule: RefitSchedule, log: InteractionLog) -> None:
        self.config = config
        self.schedule = schedule
        self.log = log
        self.refits = 0
        self._since_events = 0
        self._since_ts: float | None = None
        self._fitted_on = 0

    def record(self, user_id: str, item_id: str, now: float) -> None:
        self.log.add(user_id, item_id)
        self._since_events += 1
        if self._since_ts is None:
            self._since_ts = now

    def due(self, now: float) -> bool:
        if self._since_ts is None:
            return False
        return self.schedule.due(self._since_events, now - self._since_ts, self._fitted_on)

    def snapshot(self, now: float) -> list[tuple[str, ...]]:
        """The histories to fit on; the schedule restarts from here."""
        self.refits += 1
        self._fitted_on += self._since_events
        self._since_events, self._since_ts = 0, now
        return self.log.histories()

    def had(self, user_id: str) -> tuple[str, ...]:
        return self.log.items_of(user_id)
