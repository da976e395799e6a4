"""Live-traffic simulator for the demo: users with hidden, slowly drifting tastes.

Each simulated user likes 1-3 top categories (a hidden preference distribution). Organic
traffic from :meth:`TrafficSimulator.next_events` is roughly 60% clicks, 25% searches and
10% purchases (weights 60:25:10, normalised). :meth:`TrafficSimulator.feedback_for` plays a
user's reaction to a recommendation: always an impression, then a click whose probability
grows with how well the shown items match the hidden taste, so a recommender that learns
the tastes earns a measurably higher click-through rate.

Time and randomness are inputs (``now`` and ``seed``): the simulator never reads the clock,
so a run is reproducible from its seed and its call sequence.

Event contract (every event also has ``type``)::

    click      {"event_id", "type", "user_id", "item_id", "ts", "scene"[, "rec_id"]}
    search     {"event_id", "type", "user_id", "query", "ts", "scene": "search"[, "item_id"]}
    purchase   {"event_id", "type", "user_id", "item_id", "ts", "scene": "cart",
                "quantity", "price"[, "rec_id"]}
    impression {"event_id", "type", "user_id", "rec_id", "item_ids", "ts", "scene"}

``rec_id`` is present only on events caused by a recommendation.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SCENES = ("home", "search", "product", "cart")
EVENT_TYPES = ("click", "search", "purchase", "impression")


@dataclass(frozen=True)
class SimConfig:
    """Knobs of the simulated population. The defaults give the demo's traffic mix."""

    # Organic event mix; normalised, so 60:25:10 is ~63% / 26% / 11%.
    click_weight: float = 0.60
    search_weight: float = 0.25
    purchase_weight: float = 0.10
    # Where organic clicks happen (search and cart scenes belong to the other types).
    click_scenes: tuple[tuple[str, float], ...] = (("home", 0.45), ("product", 0.40), ("search", 0.15))
    # Share of organic clicks outside the user's taste: real users wander, and a
    # recommender should not see a perfectly clean signal.
    explore: float = 0.05
    # Product-page clicks stay in the sub category of the last clicked item this often
    # ("customers also viewed"), which gives item-to-item models something to find.
    same_sub_on_product: float = 0.5
    # Share of searches that name the item the search led to.
    search_with_item: float = 0.6
    recent_clicks: int = 20
    # Taste drift: a random walk on log-weights, this standard deviation per hour...
    drift_sigma_per_hour: float = 0.15
    # ...and a new interest after this many seconds on average (exponential waiting time).
    new_interest_every: float = 1800.0
    max_interests: int = 3
    # Feedback: P(click) = base + gain * match, match in [0, 1] (see feedback_for).
    feedback_base: float = 0.03
    feedback_gain: float = 0.60
    # P(purchase | feedback click) = this * affinity of the clicked item.
    feedback_purchase: float = 0.08
    # Banner blindness: an item's appeal is multiplied by this for every earlier time the
    # user was shown it (a recommender that repeats itself earns fewer clicks).
    feedback_fatigue: float = 0.6


@dataclass
class SimUser:
    """One simulated user. ``taste`` is hidden from the recommender (tests may read it)."""

    user_id: str
    taste: dict[str, float]
    recent: deque[str]
    last_ts: float | None = None
    shown: dict[str, int] = field(default_factory=dict)  # item -> times recommended to them


@dataclass
class _Pool:
    """Items to sample from, with cumulative popularity for O(log n) draws."""

    item_ids: list[str] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    cumulative: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def freeze(self) -> None:
        w = np.asarray(self.weights, dtype=float)
        self.cumulative = np.cumsum(w) / w.sum()

    def draw(self, rng: np.random.Generator) -> str:
        idx = int(np.searchsorted(self.cumulative, rng.random(), side="right"))
        return self.item_ids[min(idx, len(self.item_ids) - 1)]


# A word people type into a search box: Latin letters, or two or more Chinese characters
# (the Chinese catalogue's titles are space-separated keywords).
_QUERY_TOKEN = re.compile(r"^(?:[A-Za-z][A-Za-z'-]{2,}|[\u4e00-\u9fff]{2,})$")


def _clean_phrase(text: str) -> str:
    return " ".join(text.replace("&", " ").replace(",", " ").lower().split())


class TrafficSimulator:
    """Generates demo traffic for ``n_users`` users over ``catalogue`` items, reproducibly from ``seed``."""

    def __init__(
        self,
        catalogue: Sequence[dict[str, Any]],
        n_users: int,
        seed: int,
        config: SimConfig | None = None,
    ) -> None:
        if n_users < 1:
            raise ValueError(f"n_users must be >= 1, got {n_users}")
        self.seed = seed
        self.config = config or SimConfig()
        self._rng = np.random.default_rng(seed)
        self._counter = 0
        self._items: dict[str, dict[str, Any]] = {}
        self._top: dict[str, str] = {}
        self._by_top: dict[str, _Pool] = {}
        self._by_sub: dict[tuple[str, str], _Pool] = {}
        self._load(catalogue)
        if not self._by_top:
            raise ValueError("catalogue has no available items")
        self.categories: list[str] = sorted(self._by_top)

        width = max(4, len(str(n_users - 1)))
        self._users: dict[str, SimUser] = {}
        for i in range(n_users):
            uid = f"u{i:0{width}d}"
            self._users[uid] = SimUser(uid, self._initial_taste(), deque(maxlen=self.config.recent_clicks))
        self._user_ids = list(self._users)
        # Some users are far more active than others (heavy-tailed, as in real traffic).
        activity = self._rng.lognormal(0.0, 0.8, size=n_users)
        self._user_cum = np.cumsum(activity) / activity.sum()
        # Users who have clicked something, in first-click order: purchase candidates.
        self._clickers: list[str] = []
        self._clicker_set: set[str] = set()

        c = self.config
        mix = np.array([c.click_weight, c.search_weight, c.purchase_weight], dtype=float)
        self._mix_cum = np.cumsum(mix) / mix.sum()
        scene_w = np.array([w for _, w in c.click_scenes], dtype=float)
        self._scene_names = [s for s, _ in c.click_scenes]
        self._scene_cum = np.cumsum(scene_w) / scene_w.sum()

    # ------------------------------------------------------------------ setup

    def _load(self, catalogue: Sequence[dict[str, Any]]) -> None:
        # Popularity within a category is heavy-tailed: a few hits, a long tail.
        popularity = self._rng.lognormal(0.0, 1.0, size=len(catalogue))
        for item, pop in zip(catalogue, popularity, strict=True):
            item_id = str(item["item_id"])
            cats = list(item.get("categories") or ["uncategorised"])
            top = str(cats[0])
            sub = str(cats[1]) if len(cats) > 1 else top
            self._items[item_id] = item
            self._top[item_id] = top
            if not item.get("available", True):
                continue
            for pool in (self._by_top.setdefault(top, _Pool()), self._by_sub.setdefault((top, sub), _Pool())):
                pool.item_ids.append(item_id)
                pool.weights.append(float(pop))
        for pool in (*self._by_top.values(), *self._by_sub.values()):
            pool.freeze()
        self._heads = _query_heads([it for it in catalogue if ":" not in _main_title(str(it.get("title", "")))])

    def _initial_taste(self) -> dict[str, float]:
        k = min(int(self._rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25])), len(self.categories),
                self.config.max_interests)
        picked = self._rng.choice(len(self.categories), size=k, replace=False)
        weights = self._rng.dirichlet(np.full(k, 3.0))
        return {self.categories[int(i)]: float(w) for i, w in zip(picked, weights, strict=True)}

    # ------------------------------------------------------------------ public API

    @property
    def user_ids(self) -> list[str]:
        """All simulated user ids, e.g. ``"u0042"``."""
        return list(self._user_ids)

    def user_taste(self, user_id: str) -> dict[str, float]:
        """The hidden taste of ``user_id``: top category -> weight (sums to 1), largest first."""
        taste = self._users[user_id].taste
        return dict(sorted(taste.items(), key=lambda kv: (-kv[1], kv[0])))

    def next_events(self, now: float, n: int) -> list[dict[str, Any]]:
        """``n`` organic events (clicks, searches, purchases) stamped ``ts=now``."""
        events: list[dict[str, Any]] = []
        for _ in range(n):
            user = self._users[self._user_ids[self._draw(self._user_cum)]]
            self._advance(user, now)
            kind = self._draw(self._mix_cum)
            if kind == 2:
                event = self._purchase(user, now)
            elif kind == 1:
                event = self._search(user, now)
            else:
                event = self._click(user, now)
            events.append(event)
        return events

    def feedback_for(self, recommendation: dict[str, Any], now: float) -> list[dict[str, Any]]:
        """The user's reaction to a recommendation: an impression, maybe a click, rarely a purchase.

        ``match`` is the mean affinity of the shown items, where an item's affinity is the
        user's taste weight for its top category divided by their largest weight (so items
        from the favourite category score 1), times ``feedback_fatigue`` for every earlier
        time the item was shown to the user. P(click) = ``feedback_base + feedback_gain * match``.
        Users the simulator does not know only produce the impression.
        """
        user_id = str(recommendation["user_id"])
        rec_id = str(recommendation["rec_id"])
        scene = str(recommendation.get("scene") or "home")
        item_ids = [str(it["item_id"]) if isinstance(it, dict) else str(it)
                    for it in recommendation.get("items") or []]
        if not item_ids:
            return []
        events: list[dict[str, Any]] = [{
            "event_id": self._next_id(), "type": "impression", "user_id": user_id, "rec_id": rec_id,
            "item_ids": item_ids, "ts": float(now), "scene": scene,
        }]
        user = self._users.get(user_id)
        if user is None:
            return events
        self._advance(user, now)
        top_weight = max(user.taste.values())
        c = self.config
        affinity = np.array([user.taste.get(self._top.get(i, ""), 0.0) / top_weight
                             * c.feedback_fatigue ** user.shown.get(i, 0) for i in item_ids])
        for i in item_ids:
            user.shown[i] = user.shown.get(i, 0) + 1
        p_click = min(1.0, c.feedback_base + c.feedback_gain * float(affinity.mean()))
        if self._rng.random() >= p_click:
            return events
        # Which item: liked items and the top of the list draw the eye.
        weights = (affinity + 0.05) / np.log2(np.arange(len(item_ids)) + 2.0)
        idx = int(self._rng.choice(len(item_ids), p=weights / weights.sum()))
        item_id = item_ids[idx]
        events.append(self._click_event(user, item_id, scene, now, rec_id))
        if item_id in self._items and self._rng.random() < c.feedback_purchase * float(affinity[idx]):
            user.recent.remove(item_id)  # bought now, so not a later "recently clicked" purchase
            events.append(self._purchase_event(user, item_id, now, rec_id))
        return events

    # ------------------------------------------------------------------ event kinds

    def _click(self, user: SimUser, now: float) -> dict[str, Any]:
        c = self.config
        scene = self._scene_names[self._draw(self._scene_cum)]
        item_id: str | None = None
        if scene == "product" and user.recent and self._rng.random() < c.same_sub_on_product:
            last = self._items[user.recent[-1]]
            cats = last.get("categories") or []
            pool = self._by_sub.get((self._top[user.recent[-1]], str(cats[1]) if len(cats) > 1 else ""))
            if pool is not None:
                item_id = pool.draw(self._rng)
        if item_id is None:
            if self._rng.random() < c.explore:
                top = self.categories[int(self._rng.integers(len(self.categories)))]
            else:
                top = self._taste_category(user)
            item_id = self._by_top[top].draw(self._rng)
        return self._click_event(user, item_id, scene, now, None)

    def _search(self, user: SimUser, now: float) -> dict[str, Any]:
        item_id = self._by_top[self._taste_category(user)].draw(self._rng)
        event: dict[str, Any] = {
            "event_id": self._next_id(), "type": "search", "user_id": user.user_id,
            "query": self._query_for(item_id), "ts": float(now), "scene": "search",
        }
        if self._rng.random() < self.config.search_with_item:
            event["item_id"] = item_id
        return event

    def _purchase(self, user: SimUser, now: float) -> dict[str, Any]:
        if not user.recent:
            # Only people who clicked something buy; hand the purchase to one of them so
            # the event mix holds from the first batch on.
            if not self._clickers:
                return self._click(user, now)
            user = self._users[self._clickers[int(self._rng.integers(len(self._clickers)))]]
            self._advance(user, now)
            if not user.recent:
                return self._click(user, now)
        # The most recent clicks are the likeliest to be bought.
        recent = list(user.recent)
        weights = 0.8 ** np.arange(len(recent) - 1, -1, -1, dtype=float)
        item_id = recent[int(self._rng.choice(len(recent), p=weights / weights.sum()))]
        user.recent.remove(item_id)
        return self._purchase_event(user, item_id, now, None)

    def _click_event(self, user: SimUser, item_id: str, scene: str, now: float,
                     rec_id: str | None) -> dict[str, Any]:
        if item_id in self._items:
            if item_id in user.recent:
                user.recent.remove(item_id)
            user.recent.append(item_id)
            if user.user_id not in self._clicker_set:
                self._clicker_set.add(user.user_id)
                self._clickers.append(user.user_id)
        event: dict[str, Any] = {
            "event_id": self._next_id(), "type": "click", "user_id": user.user_id,
            "item_id": item_id, "ts": float(now), "scene": scene,
        }
        if rec_id is not None:
            event["rec_id"] = rec_id
        return event

    def _purchase_event(self, user: SimUser, item_id: str, now: float, rec_id: str | None) -> dict[str, Any]:
        quantity = int(self._rng.choice([1, 2, 3], p=[0.8, 0.15, 0.05]))
        event: dict[str, Any] = {
            "event_id": self._next_id(), "type": "purchase", "user_id": user.user_id,
            "item_id": item_id, "ts": float(now), "scene": "cart",
            "quantity": quantity, "price": float(self._items[item_id].get("price") or 0.0),
        }
        if rec_id is not None:
            event["rec_id"] = rec_id
        return event

    # ------------------------------------------------------------------ helpers

    def _next_id(self) -> str:
        self._counter += 1
        return f"sim-{self.seed}-{self._counter}"

    def _draw(self, cumulative: np.ndarray) -> int:
        return min(int(np.searchsorted(cumulative, self._rng.random(), side="right")), len(cumulative) - 1)

    def _taste_category(self, user: SimUser) -> str:
        cats = list(user.taste)
        cum = np.cumsum([user.taste[c] for c in cats])
        return cats[self._draw(cum / cum[-1])]

    def _advance(self, user: SimUser, now: float) -> None:
        """Let ``user``'s taste drift for the time since they were last seen."""
        if user.last_ts is None or now <= user.last_ts:
            user.last_ts = now if user.last_ts is None else max(user.last_ts, now)
            return
        dt = now - user.last_ts
        user.last_ts = now
        c = self.config
        cats = list(user.taste)
        noise = self._rng.normal(0.0, c.drift_sigma_per_hour * math.sqrt(dt / 3600.0), size=len(cats))
        raw = {cat: user.taste[cat] * math.exp(float(z)) for cat, z in zip(cats, noise, strict=True)}
        if c.new_interest_every > 0 and self._rng.random() < -math.expm1(-dt / c.new_interest_every):
            fresh = [cat for cat in self.categories if cat not in raw]
            if fresh:
                new = fresh[int(self._rng.integers(len(fresh)))]
                if len(raw) >= c.max_interests:
                    del raw[min(raw, key=lambda k: raw[k])]  # the faintest interest fades out
                # A new interest starts at 15-35% of the user's attention.
                share = float(self._rng.uniform(0.15, 0.35))
                total = sum(raw.values())
                raw[new] = total * share / (1.0 - share)
        total = sum(raw.values())
        user.taste = {cat: w / total for cat, w in raw.items()}

    def _query_for(self, item_id: str) -> str:
        """Search text a user might type to find the item: its kind, often with a descriptor."""
        item = self._items[item_id]
        cats = item.get("categories") or [""]
        sub = _clean_phrase(str(cats[-1]))
        main = _main_title(str(item.get("title", "")))
        options: list[str]
        if ":" in main:
            # Book-style "Name: A Kind by Author": search by name, kind or genre.
            name, _, rest = main.partition(":")
            kind = re.sub(r"^(a|an|the)\s+", "", rest.split(" by ")[0].strip().lower())
            options = [name.strip().lower(), kind, f"{sub} books"]
        else:
            head, descriptor = self._heads.get(item_id, (sub, None))
            options = [head, head, sub]
            if descriptor:
                options += [f"{descriptor} {head}"] * 3
        options = [o for o in options if o]
        return options[int(self._rng.integers(len(options)))] if options else sub


def _main_title(title: str) -> str:
    """The title without a " - variant" suffix or "(format)" notes."""
    return re.sub(r"\s*\(.*?\)", "", title.split(" - ")[0]).strip()


def _query_heads(items: Sequence[dict[str, Any]]) -> dict[str, tuple[str, str | None]]:
    """item_id -> (product-kind phrase, descriptor word before it or None).

    The kind is the longest title ending shared by several items of the same sub category
    ("Trail Running Shoe"); brand and model names are too rare to be shared that way. The
    word before it is usually an attribute ("Waterproof"), sometimes a model or brand name,
    which people search for too.
    """
    suffixes: dict[str, dict[tuple[str, ...], int]] = {}
    words_of: dict[str, list[str]] = {}
    sub_of: dict[str, str] = {}
    for item in items:
        cats = item.get("categories") or [""]
        sub = str(cats[-1])
        words = _main_title(str(item.get("title", ""))).split()
        item_id = str(item["item_id"])
        words_of[item_id], sub_of[item_id] = words, sub
        counts = suffixes.setdefault(sub, {})
        for k in range(1, min(4, len(words) - 1) + 1):
            key = tuple(w.lower() for w in words[-k:])
            counts[key] = counts.get(key, 0) + 1
    sub_sizes: dict[str, int] = {}
    for sub in sub_of.values():
        sub_sizes[sub] = sub_sizes.get(sub, 0) + 1
    heads: dict[str, tuple[str, str | None]] = {}
    for item_id, words in words_of.items():
        counts = suffixes[sub_of[item_id]]
        # Shared by a tenth of the sub category: a product kind, not a chance repeat.
        threshold = max(3, math.ceil(0.1 * sub_sizes[sub_of[item_id]]))
        k_best = 1
        for k in range(1, min(4, len(words) - 1) + 1):
            if counts.get(tuple(w.lower() for w in words[-k:]), 0) >= threshold:
                k_best = k
        head = " ".join(words[-k_best:]).lower()
        before = words[-k_best - 1] if len(words) > k_best + 1 else None
        descriptor = before.lower() if before and _QUERY_TOKEN.match(before) else None
        heads[item_id] = (head, descriptor)
    return heads
