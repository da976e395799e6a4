"""Ranking features per (user, candidate) and an online-trained torch ranker.

Feature columns (``FEATURE_NAMES``, float32, shape ``(n_candidates, N_FEATURES)``):

==================  =========================================================
cos_long            cosine of the item to the user's long-term vector
cos_short           ... to the short-term (session, search intent) vector
cos_scene           ... to the vector of the request's scene (0 if none)
cos_blended         ... to the blended vector retrieval uses
cos_query           ... to the last search query's embedding (0 if none)
query_intent        weight of that query now (:func:`engine.recommend.search_intent`)
intent_x_cos_query  ``query_intent * cos_query``
short_strength      short-term interest strength in [0, 1)
scene_strength      scene interest strength in [0, 1)
covisit             co-visitation score with the user's recent items
log_trending        ``log1p`` of the decayed popularity in the scene
log_age_h           ``log1p`` of the item's age in hours, divided by 8
category_affinity   share of the user's recent items in the candidate's categories
log_fatigue         ``log1p`` of how often the item was shown to the user recently
scene_*             one-hot of home, search, product, cart, other (None is other)
hour_sin, hour_cos  hour of day (UTC plus ``utc_offset_s``) on the unit circle
dow_sin, dow_cos    day of week (Monday 0) on the unit circle
src_*               candidate source flags: semantic, covisit, trending, fresh
==================  =========================================================

:func:`default_scores` is today's ranking (:func:`engine.recommend.recommend`: cosine to
the blended vector, averaged with a fresh search query by its intent) over these columns,
so the learned model and the default can be compared on the same examples.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import orjson
from numpy.typing import NDArray

from engine.catalog import Catalog
from engine.config import ConfigError, InterestConfig, RecommendConfig
from engine.errors import DimensionMismatch, EngineError, InvalidEvent
from engine.interests import InterestView, UserState, interest_at
from engine.recommend import search_intent
from engine.types import Matrix, Vector

SCENES = ("home", "search", "product", "cart")
SOURCES = ("semantic", "covisit", "trending", "fresh")
SOURCE_BITS: Mapping[str, int] = {name: 1 << i for i, name in enumerate(SOURCES)}
"""Bit of each source in the ``sources`` bitmask of :class:`CandidateSignals`."""

FEATURE_NAMES: tuple[str, ...] = (
    "cos_long", "cos_short", "cos_scene", "cos_blended", "cos_query",
    "query_intent", "intent_x_cos_query", "short_strength", "scene_strength",
    "covisit", "log_trending", "log_age_h", "category_affinity", "log_fatigue",
    *(f"scene_{s}" for s in (*SCENES, "other")),
    "hour_sin", "hour_cos", "dow_sin", "dow_cos",
    *(f"src_{s}" for s in SOURCES),
)
N_FEATURES = len(FEATURE_NAMES)
COLUMN: Mapping[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}


def merge_sources(by_source: Mapping[str, Sequence[str]]) -> tuple[list[str], NDArray[np.uint8]]:
    """Union of candidate lists, first-seen order, with a bitmask of their sources.

    >>> merge_sources({"semantic": ["a", "b"], "trending": ["b", "c"]})
    (['a', 'b', 'c'], array([1, 5, 4], dtype=uint8))
    """
    bits: dict[str, int] = {}
    for source, ids in by_source.items():
        if source not in SOURCE_BITS:
            raise InvalidEvent(f"unknown candidate source {source!r}; expected one of {SOURCES}")
        for item_id in ids:
            bits[item_id] = bits.get(item_id, 0) | SOURCE_BITS[source]
    return list(bits), np.array(list(bits.values()), dtype=np.uint8)


def category_affinity(recent_categories: Sequence[Sequence[str]],
                      candidate_categories: Sequence[Sequence[str]]) -> NDArray[np.float32]:
    """For each candidate, the share of recent items sharing one of its categories.

    >>> category_affinity([("tea",), ("tea", "mugs"), ("shoes",)], [("tea",), ("toys",)]).round(3)
    array([0.667, 0.   ], dtype=float32)
    """
    out = np.zeros(len(candidate_categories), dtype=np.float32)
    if not recent_categories:
        return out
    recent_sets = [set(c) for c in recent_categories]
    for row, cats in enumerate(candidate_categories):
        wanted = set(cats)
        out[row] = sum(1 for r in recent_sets if r & wanted) / len(recent_sets)
    return out


@dataclass(frozen=True)
class UserContext:
    """What the features need to know about the user and the request."""

    view: InterestView
    now: float
    scene: str | None = None
    query_vector: Vector | None = None
    query_intent: float = 0.0
    recent_categories: tuple[tuple[str, ...], ...] = ()


def user_context(state: UserState, catalog: Catalog, now: float, scene: str | None,
                 interest_config: InterestConfig, recommend_config: RecommendConfig,
                 query_vector: Vector | None = None) -> UserContext:
    """The :class:`UserContext` of ``state`` at ``now``, as :func:`recommend` sees it."""
    intent = (search_intent(state, now, interest_config, recommend_config)
              if query_vector is not None else 0.0)
    cats = tuple(info.categories for i in state.recent_items if (info := catalog.get(i)) is not None)
    return UserContext(interest_at(state, now, scene, interest_config), now, scene,
                       query_vector, intent, cats)


@dataclass(frozen=True)
class CandidateSignals:
    """Per-candidate inputs besides the vectors, each of shape ``(n,)``.

    ``age_s``: seconds since the item was added; ``fatigue``: times shown to the user
    recently; ``sources``: bitmask of :data:`SOURCE_BITS`; ``categories``: per candidate.
    """

    covisit: NDArray[np.floating]
    trending: NDArray[np.floating]
    age_s: NDArray[np.floating]
    fatigue: NDArray[np.floating]
    sources: NDArray[np.integer]
    categories: Sequence[Sequence[str]] = field(default_factory=tuple)


def _time_features(now: float, utc_offset_s: float) -> list[float]:
    t = now + utc_offset_s
    hour = 2 * math.pi * (t % 86400.0) / 86400.0
    dow = 2 * math.pi * ((t / 86400.0 + 3.0) % 7.0) / 7.0  # 1970-01-01 was a Thursday
    return [math.sin(hour), math.cos(hour), math.sin(dow), math.cos(dow)]


def build_features(ctx: UserContext, item_vectors: Matrix, signals: CandidateSignals,
                   utc_offset_s: float = 0.0) -> Matrix:
    """The feature matrix, shape ``(n, N_FEATURES)`` float32, columns :data:`FEATURE_NAMES`.

    ``item_vectors`` are the candidates' unit embeddings, shape ``(n, dim)``. No input
    is changed.
    """
    vectors = np.asarray(item_vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != ctx.view.blended.shape[0]:
        raise DimensionMismatch(f"item_vectors must be (n, {ctx.view.blended.shape[0]}), got {vectors.shape}")
    n = vectors.shape[0]
    for name in ("covisit", "trending", "age_s", "fatigue", "sources"):
        shape = np.shape(getattr(signals, name))
        if shape != (n,):
            raise DimensionMismatch(f"signals.{name} must have shape ({n},), got {shape}")
    if signals.categories and len(signals.categories) != n:
        raise DimensionMismatch(f"signals.categories has {len(signals.categories)} entries for {n} items")
    out = np.zeros((n, N_FEATURES), dtype=np.float32)
    view = ctx.view
    out[:, COLUMN["cos_long"]] = vectors @ view.long
    out[:, COLUMN["cos_short"]] = vectors @ view.short
    if view.scene is not None:
        out[:, COLUMN["cos_scene"]] = vectors @ view.scene
    out[:, COLUMN["cos_blended"]] = vectors @ view.blended
    intent = ctx.query_intent if ctx.query_vector is not None else 0.0
    if ctx.query_vector is not None:
        out[:, COLUMN["cos_query"]] = vectors @ ctx.query_vector
    out[:, COLUMN["query_intent"]] = intent
    out[:, COLUMN["intent_x_cos_query"]] = np.float32(intent) * out[:, COLUMN["cos_query"]]
    out[:, COLUMN["short_strength"]] = view.short_strength
    out[:, COLUMN["scene_strength"]] = view.scene_strength
    out[:, COLUMN["covisit"]] = signals.covisit
    out[:, COLUMN["log_trending"]] = np.log1p(np.maximum(signals.trending, 0.0))
    out[:, COLUMN["log_age_h"]] = np.log1p(np.maximum(signals.age_s, 0.0) / 3600.0) / 8.0
    if signals.categories:
        out[:, COLUMN["category_affinity"]] = category_affinity(ctx.recent_categories, signals.categories)
    out[:, COLUMN["log_fatigue"]] = np.log1p(np.maximum(signals.fatigue, 0.0))
    scene = ctx.scene if ctx.scene in SCENES else "other"
    out[:, COLUMN[f"scene_{scene}"]] = 1.0
    out[:, COLUMN["hour_sin"]:COLUMN["dow_cos"] + 1] = _time_features(ctx.now, utc_offset_s)
    sources = np.asarray(signals.sources, dtype=np.int64)
    for name, bit in SOURCE_BITS.items():
        out[:, COLUMN[f"src_{name}"]] = (sources & bit) > 0
    return out


def default_scores(features: Matrix) -> NDArray[np.float32]:
    """Today's score over the feature columns: ``(cos_blended + intent * cos_query) /
    (1 + intent)``, as :func:`engine.recommend.recommend` computes it. Shape ``(n,)``."""
    f = np.asarray(features, dtype=np.float32)
    if f.ndim != 2 or f.shape[1] != N_FEATURES:
        raise DimensionMismatch(f"features must be (n, {N_FEATURES}), got {f.shape}")
    intent = f[:, COLUMN["query_intent"]]
    out: NDArray[np.float32] = ((f[:, COLUMN["cos_blended"]] + f[:, COLUMN["intent_x_cos_query"]])
                                / (1.0 + intent)).astype(np.float32)
    return out


class Scorer(Protocol):
    """Anything that scores a feature matrix; ``version`` goes into recommendations."""

    @property
    def version(self) -> int: ...

    def score(self, features: Matrix) -> NDArray[np.float32]: ...


class DefaultScorer:
    """:func:`default_scores` as a :class:`Scorer` (model version 0)."""

    version = 0

    def score(self, features: Matrix) -> NDArray[np.float32]:
        return default_scores(features)


def is_holdout(example_id: str, share: float) -> bool:
    """Deterministic split: True for about ``share`` of ids, the same on every worker.

    Pass the ``rec_id`` so every item of one page lands on the same side.

    >>> is_holdout("rec-1", 0.0), is_holdout("rec-1", 1.0)
    (False, True)
    """
    digest = hashlib.blake2b(example_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2.0 ** 64 < share


def auc(labels: NDArray[np.floating], scores: NDArray[np.floating],
        weights: NDArray[np.floating] | None = None) -> float:
    """Weighted ROC AUC, ties counted half; ``nan`` without both classes.

    >>> auc(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.5, 0.5]))
    0.875
    """
    y = np.asarray(labels, dtype=np.float64) > 0.5
    w = np.ones(y.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    _, inverse = np.unique(np.asarray(scores, dtype=np.float64), return_inverse=True)
    pos = np.bincount(inverse, weights=w * y)
    neg = np.bincount(inverse, weights=w * ~y)
    total_pos, total_neg = pos.sum(), neg.sum()
    if total_pos <= 0 or total_neg <= 0:
        return float("nan")
    below = np.cumsum(neg) - neg
    return float(np.sum(pos * (below + 0.5 * neg)) / (total_pos * total_neg))


def logloss(labels: NDArray[np.floating], probs: NDArray[np.floating],
            weights: NDArray[np.floating] | None = None) -> float:
    """Weighted binary cross-entropy of probabilities (clipped away from 0 and 1)."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-7, 1 - 1e-7)
    w = np.ones(y.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.sum() <= 0:
        return float("nan")
    return float(-np.sum(w * (y * np.log(p) + (1 - y) * np.log(1 - p))) / w.sum())


@dataclass(frozen=True)
class RankerConfig:
    """Online ranker settings.

    ``hidden`` 0 is logistic regression; more is one hidden layer of that width. The
    learning rate warms up linearly over ``warmup_steps`` and then decays as
    ``lr / sqrt(1 + step / decay_steps)``. A step needs ``min_batch`` training examples;
    ``holdout_share`` of examples (by :func:`is_holdout`) are kept back, at most
    ``holdout_capacity`` of the newest. Labels: impression without a click 0, click and
    purchase 1, with the weights below.
    """

    hidden: int = 0
    lr: float = 0.05
    warmup_steps: int = 10
    decay_steps: float = 500.0
    weight_decay: float = 1e-4
    clip_norm: float = 1.0
    min_batch: int = 64
    holdout_share: float = 0.1
    holdout_capacity: int = 20_000
    min_holdout: int = 200
    publish_tolerance: float = 0.0
    impression_weight: float = 1.0
    click_weight: float = 1.0
    purchase_weight: float = 3.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("lr", "decay_steps", "clip_norm", "impression_weight", "click_weight"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive number, got {value!r}")
        for name in ("hidden", "warmup_steps", "min_holdout"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("min_batch", "holdout_capacity"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not 0.0 <= self.holdout_share < 1.0:
            raise ConfigError(f"holdout_share must be in [0, 1), got {self.holdout_share!r}")
        if not self.purchase_weight >= self.click_weight:
            raise ConfigError("purchase_weight must be >= click_weight")
        if not (self.weight_decay >= 0 and self.publish_tolerance >= 0):
            raise ConfigError("weight_decay and publish_tolerance must be >= 0")


def feedback_label(kind: str, config: RankerConfig) -> tuple[float, float]:
    """``(label, weight)`` of a feedback kind: impression, click or purchase.

    >>> feedback_label("purchase", RankerConfig())
    (1.0, 3.0)
    """
    table = {"impression": (0.0, config.impression_weight), "click": (1.0, config.click_weight),
             "purchase": (1.0, config.purchase_weight)}
    if kind not in table:
        raise InvalidEvent(f"unknown feedback kind {kind!r}; expected one of {', '.join(table)}")
    return table[kind]


@dataclass(frozen=True)
class RankerMetrics:
    """Holdout quality: ``n`` examples, weighted logloss and AUC of the model, and the
    AUC of :func:`default_scores` on the same examples."""

    n: int
    logloss: float
    auc: float
    default_auc: float


class Holdout:
    """The newest ``capacity`` held-back examples (a ring buffer of arrays)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._x = np.zeros((capacity, N_FEATURES), dtype=np.float32)
        self._y = np.zeros(capacity, dtype=np.float32)
        self._w = np.zeros(capacity, dtype=np.float32)
        self._next = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, x: Matrix, y: NDArray[np.float32], w: NDArray[np.float32]) -> None:
        for row in range(x.shape[0]):
            self._x[self._next], self._y[self._next], self._w[self._next] = x[row], y[row], w[row]
            self._next = (self._next + 1) % self.capacity
            self._size = min(self._size + 1, self.capacity)

    def arrays(self) -> tuple[Matrix, NDArray[np.float32], NDArray[np.float32]]:
        """Copies of the held-back features, labels and weights."""
        return self._x[:self._size].copy(), self._y[:self._size].copy(), self._w[:self._size].copy()


_FORMAT = "streamrec-ranker"
_HEADER = struct.Struct("<I")


class ModelFormatError(EngineError, ValueError):
    """Model bytes are not a ranker state this code can load."""


class OnlineRanker:
    """A logistic (or one-hidden-layer) ranker over :data:`FEATURE_NAMES`, trained online.

    Examples go in with :meth:`update`; a deterministic share is held back for
    :meth:`evaluate`. :meth:`publish` makes a new ``version`` and its bytes; another
    worker loads them with :meth:`load_state_dict`. Not thread-safe.
    """

    def __init__(self, config: RankerConfig = RankerConfig()) -> None:
        import torch  # heavy; only the ranker needs it

        self.config = config
        self._torch = torch
        gen = torch.Generator().manual_seed(config.seed)
        if config.hidden:
            self.model: torch.nn.Module = torch.nn.Sequential(
                torch.nn.Linear(N_FEATURES, config.hidden), torch.nn.ReLU(),
                torch.nn.Linear(config.hidden, 1))
            with torch.no_grad():  # seeded locally: the global torch RNG is not ours
                for p in self.model.parameters():
                    fan_in = p.shape[-1] if p.dim() > 1 else config.hidden
                    p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))
        else:
            self.model = torch.nn.Linear(N_FEATURES, 1)
            with torch.no_grad():  # convex: zeros start is fine and deterministic
                for p in self.model.parameters():
                    p.zero_()
        self._optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr,
                                            weight_decay=config.weight_decay)
        self.step = 0
        self._version = 0
        self.holdout = Holdout(config.holdout_capacity)
        self._pending: list[tuple[Matrix, NDArray[np.float32], NDArray[np.float32]]] = []
        self._n_pending = 0

    @property
    def version(self) -> int:
        return self._version

    def lr_at(self, step: int) -> float:
        """The learning rate of step ``step``: linear warm-up, then ``1/sqrt`` decay."""
        cfg = self.config
        warm = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
        return cfg.lr * warm / math.sqrt(1.0 + step / cfg.decay_steps)

    def update(self, example_ids: Sequence[str], features: Matrix, labels: NDArray[np.floating],
               weights: NDArray[np.floating] | None = None) -> int:
        """Add examples; train on every full mini-batch of ``min_batch``. Returns the
        number of optimizer steps taken (0 while fewer than ``min_batch`` are pending)."""
        x = np.array(features, dtype=np.float32)  # a copy: buffers must not alias inputs
        n = len(example_ids)
        y = np.asarray(labels, dtype=np.float32).reshape(-1)
        w = np.ones(n, np.float32) if weights is None else np.asarray(weights, np.float32).reshape(-1)
        if x.shape != (n, N_FEATURES) or y.shape != (n,) or w.shape != (n,):
            raise DimensionMismatch(f"need features ({n}, {N_FEATURES}), labels and weights ({n},); "
                                    f"got {x.shape}, {y.shape}, {w.shape}")
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(w)) and np.all(w >= 0)
                and np.all((y == 0) | (y == 1))):
            raise InvalidEvent("features and weights must be finite, weights >= 0, labels 0 or 1")
        held = np.array([is_holdout(e, self.config.holdout_share) for e in example_ids], dtype=bool)
        if held.any():
            self.holdout.add(x[held], y[held], w[held])
        if (~held).any():
            self._pending.append((x[~held], y[~held].copy(), w[~held].copy()))
            self._n_pending += int((~held).sum())
        steps = 0
        if self._n_pending >= self.config.min_batch:
            px, py, pw = (np.concatenate(a) for a in zip(*self._pending))
            size = self.config.min_batch
            full = (len(py) // size) * size
            for start in range(0, full, size):
                self._train_step(px[start:start + size], py[start:start + size], pw[start:start + size])
                steps += 1
            self._pending = [(px[full:], py[full:], pw[full:])] if full < len(py) else []
            self._n_pending = len(py) - full
        return steps

    def _train_step(self, x: Matrix, y: NDArray[np.float32], w: NDArray[np.float32]) -> None:
        torch = self._torch
        if float(w.sum()) <= 0:
            return
        for group in self._optimizer.param_groups:
            group["lr"] = self.lr_at(self.step)
        self.model.train()
        logits = self.model(torch.from_numpy(x)).squeeze(-1)
        losses = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, torch.from_numpy(y), reduction="none")
        weight = torch.from_numpy(w)
        loss = (losses * weight).sum() / weight.sum()
        self._optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_norm)
        self._optimizer.step()
        self.step += 1

    def score(self, features: Matrix) -> NDArray[np.float32]:
        """Click probabilities, shape ``(n,)``."""
        x = np.asarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != N_FEATURES:
            raise DimensionMismatch(f"features must be (n, {N_FEATURES}), got {x.shape}")
        torch = self._torch
        self.model.eval()
        with torch.inference_mode():
            probs = torch.sigmoid(self.model(torch.from_numpy(np.ascontiguousarray(x))).squeeze(-1))
        out: NDArray[np.float32] = probs.numpy().astype(np.float32)
        return out

    def evaluate(self, holdout: Holdout | None = None) -> RankerMetrics:
        """Metrics on ``holdout`` (default: this ranker's own). Evaluate the published
        model on the training ranker's holdout to compare the two on the same examples."""
        x, y, w = (holdout or self.holdout).arrays()
        if not len(y):
            return RankerMetrics(0, float("nan"), float("nan"), float("nan"))
        probs = self.score(x)
        return RankerMetrics(len(y), logloss(y, probs, w), auc(y, probs, w), auc(y, default_scores(x), w))

    def should_publish(self, candidate: RankerMetrics, current: RankerMetrics | None) -> bool:
        """Publish only with enough holdout and when neither logloss nor AUC is worse
        than ``current`` (the published model on the same holdout) beyond the tolerance."""
        if candidate.n < self.config.min_holdout or not math.isfinite(candidate.logloss):
            return False
        if current is None or current.n == 0 or not math.isfinite(current.logloss):
            return True
        tol = self.config.publish_tolerance
        auc_ok = not math.isfinite(current.auc) or candidate.auc >= current.auc - tol
        return candidate.logloss <= current.logloss + tol and auc_ok

    def publish(self) -> bytes:
        """Bump ``version`` and return the new version's bytes."""
        self._version += 1
        return self.state_dict()

    def state_dict(self) -> bytes:
        """Weights as bytes: a length-prefixed JSON header (format, version, step,
        hidden size, feature names, tensor shapes) and raw little-endian float32 tensors."""
        tensors = [(name, p.detach().numpy().astype("<f4")) for name, p in self.model.state_dict().items()]
        header = orjson.dumps({
            "format": _FORMAT, "v": 1, "version": self._version, "step": self.step,
            "hidden": self.config.hidden, "features": FEATURE_NAMES,
            "tensors": [[name, list(a.shape)] for name, a in tensors],
        })
        return _HEADER.pack(len(header)) + header + b"".join(a.tobytes() for _, a in tensors)

    def load_state_dict(self, data: bytes) -> None:
        """Replace the weights, ``version`` and step with those in ``data``."""
        try:
            (hlen,) = _HEADER.unpack_from(data, 0)
            header = orjson.loads(data[4:4 + hlen])
        except (struct.error, orjson.JSONDecodeError) as exc:
            raise ModelFormatError(f"not a ranker state: {exc}") from None
        if header.get("format") != _FORMAT or header.get("v") != 1:
            raise ModelFormatError(f"unknown model format {header.get('format')!r} v{header.get('v')!r}")
        if tuple(header["features"]) != FEATURE_NAMES or header["hidden"] != self.config.hidden:
            raise ModelFormatError("model was trained on other features or another hidden size")
        torch = self._torch
        state, pos = {}, 4 + hlen
        for name, shape in header["tensors"]:
            size = int(np.prod(shape)) * 4
            if pos + size > len(data):
                raise ModelFormatError(f"model bytes end inside tensor {name!r}")
            state[name] = torch.from_numpy(np.frombuffer(data[pos:pos + size], "<f4").reshape(shape).copy())
            pos += size
        try:
            self.model.load_state_dict(state)
        except RuntimeError as exc:
            raise ModelFormatError(str(exc)) from None
        self._version, self.step = int(header["version"]), int(header["step"])
        # Adam's moments belonged to the old weights; the schedule goes on from ``step``.
        self._optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.config.lr,
                                            weight_decay=self.config.weight_decay)
