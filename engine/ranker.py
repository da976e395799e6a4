"""The online-trained torch ranker over :data:`engine.features.FEATURE_NAMES`: holdout,
metrics, the publish decision and the model bytes that go on ``model-updates``."""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import orjson
from numpy.typing import NDArray

from engine.config import ConfigError
from engine.errors import DimensionMismatch, EngineError, InvalidEvent
from engine.features import COLUMN, FEATURE_NAMES, N_FEATURES, default_scores
from engine.types import Matrix

if TYPE_CHECKING:
    import torch


class Scorer(Protocol):
    """Anything that scores a feature matrix; ``version`` goes into recommendations."""

    @property
    def version(self) -> int: ...

    def score(self, features: Matrix) -> NDArray[np.float32]: ...


class DefaultScorer:
    """:func:`default_scores` as a :class:`Scorer` (model version 0)."""

    version = 0

    def __init__(self, covisit_weight: float = 0.0, item_model_weight: float = 0.0) -> None:
        self.covisit_weight = covisit_weight
        self.item_model_weight = item_model_weight

    def score(self, features: Matrix) -> NDArray[np.float32]:
        return default_scores(features, self.covisit_weight, self.item_model_weight)

    def linear_weights(self) -> dict[str, float]:
        """The default score as weights of feature columns (the search-intent average
        taken as a sum): where a learned linear ranker starts.

        >>> DefaultScorer(1.5, 1.0).linear_weights()["covisit"]
        1.5
        """
        return {"cos_blended": 1.0, "intent_x_cos_query": 1.0, "covisit": self.covisit_weight,
                "item_model": self.item_model_weight}


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
    purchase 1, with the weights below. ``listwise_weight`` adds a ranking term to the
    pointwise logloss: the softmax cross-entropy of each list's positives among the rows
    of its list in the mini-batch (a list: the rows of one example id, e.g. a next-event
    candidate set or a page), which rewards putting the chosen item above the others of
    its own list rather than predicting clicks across lists.
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
    # A linear ranker given start weights (the default scorer's) begins at start_scale
    # times them: next-event positives are about 1 in 50 rows, so the bias starts near
    # log(1/50) and the logits spread a few units over a candidate set.
    start_scale: float = 5.0
    start_bias: float = -4.0
    listwise_weight: float = 0.0  # > 0: a step trains on every pending row, whole lists
    publish_on_ndcg: bool = True  # False: the logloss and AUC rule only

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
        if not (math.isfinite(self.listwise_weight) and self.listwise_weight >= 0):
            raise ConfigError(f"listwise_weight must be >= 0, got {self.listwise_weight!r}")


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


def list_ndcg(labels: NDArray[np.floating], scores: NDArray[np.floating], lists: NDArray[np.integer],
              k: int = 10) -> float:
    """Mean NDCG@k of the lists (rows sharing a number in ``lists``) that have one
    positive or more, each list ranked by ``scores``; ``nan`` without such a list. A
    positive's rank counts the rows scored above it and half of those tied with it; with
    several positives the list's gain is their best.

    >>> list_ndcg(np.array([1, 0, 0, 0, 1, 0]), np.array([0.2, 0.9, 0.1, 0.5, 0.7, 0.1]),
    ...           np.array([1, 1, 1, 2, 2, 2]))  # ranks 1 and 0: (1/log2(3) + 1) / 2
    0.8154648767857288
    """
    y = np.asarray(labels) > 0.5
    s = np.asarray(scores, dtype=np.float64)
    g = np.asarray(lists)
    gains = []
    for group in np.unique(g[y]).tolist():
        rows = g == group
        best = 0.0
        for p in s[rows & y].tolist():
            rank = float((s[rows] > p).sum()) + 0.5 * float((s[rows] == p).sum() - 1)
            if rank < k:
                best = max(best, 1.0 / math.log2(rank + 2.0))
        gains.append(best)
    return float(np.mean(gains)) if gains else float("nan")


@dataclass(frozen=True)
class RankerMetrics:
    """Holdout quality: ``n`` examples, weighted logloss and AUC of the model, and the
    AUC of :func:`default_scores` on the same examples; ``ndcg`` and ``default_ndcg``:
    NDCG@10 of the held-back lists with a positive (:func:`list_ndcg`; ``nan`` without)."""

    n: int
    logloss: float
    auc: float
    default_auc: float
    ndcg: float = float("nan")
    default_ndcg: float = float("nan")


class Holdout:
    """The newest ``capacity`` held-back examples (a ring buffer of arrays)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._x = np.zeros((capacity, N_FEATURES), dtype=np.float32)
        self._y = np.zeros(capacity, dtype=np.float32)
        self._w = np.zeros(capacity, dtype=np.float32)
        self._g = np.zeros(capacity, dtype=np.int64)  # list number of each row
        self._next = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, x: Matrix, y: NDArray[np.float32], w: NDArray[np.float32],
            lists: NDArray[np.int64] | None = None) -> None:
        g = np.full(x.shape[0], -1, np.int64) if lists is None else lists
        for row in range(x.shape[0]):
            self._x[self._next], self._y[self._next], self._w[self._next] = x[row], y[row], w[row]
            self._g[self._next] = g[row]
            self._next = (self._next + 1) % self.capacity
            self._size = min(self._size + 1, self.capacity)

    def arrays(self) -> tuple[Matrix, NDArray[np.float32], NDArray[np.float32]]:
        """Copies of the held-back features, labels and weights."""
        return self._x[:self._size].copy(), self._y[:self._size].copy(), self._w[:self._size].copy()

    def lists(self) -> NDArray[np.int64]:
        """The list number of each held-back row (rows of one example id share one)."""
        return self._g[:self._size].copy()


_FORMAT = "streamrec-ranker"
_HEADER = struct.Struct("<I")


class ModelFormatError(EngineError, ValueError):
    """Model bytes are not a ranker state this code can load."""


def listwise_loss(logits: torch.Tensor, labels: NDArray[np.float32], weights: NDArray[np.float32],
                  lists: NDArray[np.int64]) -> torch.Tensor | None:
    """Mean over the lists with a positive of the softmax cross-entropy of their positives
    (weighted by their weights) among the rows of the list; ``None`` without such a list.

    A list of two with logits 0 and log 3 and the second positive: -log(3 / 4).

    >>> import torch
    >>> loss = listwise_loss(torch.tensor([0.0, math.log(3.0), 5.0]), np.array([0, 1, 0], np.float32),
    ...                      np.ones(3, np.float32), np.array([7, 7, 8]))
    >>> round(float(loss), 4), round(-math.log(0.75), 4)
    (0.2877, 0.2877)
    """
    import torch

    terms = []
    for group in np.unique(lists[labels > 0]).tolist():
        rows = np.flatnonzero(lists == group)
        positive = labels[rows] > 0
        log_p = torch.log_softmax(logits[torch.from_numpy(rows)], dim=0)
        w = torch.from_numpy(weights[rows][positive])
        if float(w.sum()) <= 0:
            continue
        terms.append(-(log_p[torch.from_numpy(np.flatnonzero(positive))] * w).sum() / w.sum())
    return torch.stack(terms).mean() if terms else None


class OnlineRanker:
    """A logistic (or one-hidden-layer) ranker over :data:`FEATURE_NAMES`, trained online.

    Examples go in with :meth:`update`; a deterministic share is held back for
    :meth:`evaluate`. :meth:`publish` makes a new ``version`` and its bytes; another
    worker loads them with :meth:`load_state_dict`. Not thread-safe.
    """

    def __init__(self, config: RankerConfig = RankerConfig(),
                 start: Mapping[str, float] | None = None) -> None:
        """``start``: weights per feature name a linear ranker starts from (scaled by
        ``config.start_scale``, with the bias at ``config.start_bias``), e.g. the default
        scorer's (:meth:`DefaultScorer.linear_weights`): it then ranks like the default
        from its first step and learns from there, instead of from zero."""
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
                if start:
                    unknown = sorted(set(start) - set(COLUMN))
                    if unknown:
                        raise ConfigError(f"start weights name unknown features {unknown}")
                    for name, weight in start.items():
                        self.model.weight[0, COLUMN[name]] = config.start_scale * weight
                    self.model.bias[0] = config.start_bias
        self._optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr,
                                            weight_decay=config.weight_decay)
        self.step = 0
        self._version = 0
        self.holdout = Holdout(config.holdout_capacity)
        self._pending: list[tuple[Matrix, NDArray[np.float32], NDArray[np.float32], NDArray[np.int64]]] = []
        self._n_pending = 0
        self._lists: dict[str, int] = {}  # example id -> list number, for the listwise term
        self._held_lists = 0

    @property
    def version(self) -> int:
        return self._version

    def lr_at(self, step: int) -> float:
        """The learning rate of step ``step``: linear warm-up, then ``1/sqrt`` decay."""
        cfg = self.config
        warm = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
        return cfg.lr * warm / math.sqrt(1.0 + step / cfg.decay_steps)

    def update(self, example_ids: Sequence[str], features: Matrix, labels: NDArray[np.floating],
               weights: NDArray[np.floating] | None = None, ranked_list: bool = True) -> int:
        """Add examples; train on every full mini-batch of ``min_batch``. Returns the
        number of optimizer steps taken (0 while fewer than ``min_batch`` are pending).
        ``ranked_list``: the rows of an example id are a ranked list (held back, they count
        in the holdout's NDCG); False for a served page's feedback."""
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
            numbers: dict[str, int] = {}  # a new list number for each example id of the call
            for e in (e for e, h in zip(example_ids, held.tolist()) if h and e not in numbers):
                self._held_lists += 1
                numbers[e] = self._held_lists
            self.holdout.add(x[held], y[held], w[held],
                             np.array([numbers[e] for e, h in zip(example_ids, held.tolist()) if h], np.int64)
                             if ranked_list else None)
        if (~held).any():
            lists = np.array([self._lists.setdefault(e, len(self._lists))
                              for e, h in zip(example_ids, held.tolist()) if not h], dtype=np.int64)
            self._pending.append((x[~held], y[~held].copy(), w[~held].copy(), lists))
            self._n_pending += int((~held).sum())
        steps = 0
        if self._n_pending >= self.config.min_batch and self.config.listwise_weight > 0:
            # Whole lists in one step (a list cut in two would leave a part without its positive).
            px, py, pw, pg = (np.concatenate(a) for a in zip(*self._pending))
            self._train_step(px, py, pw, pg)
            self._pending, self._n_pending, self._lists = [], 0, {}
            return 1
        if self._n_pending >= self.config.min_batch:
            px, py, pw, pg = (np.concatenate(a) for a in zip(*self._pending))
            size = self.config.min_batch
            full = (len(py) // size) * size
            for start in range(0, full, size):
                part = slice(start, start + size)
                self._train_step(px[part], py[part], pw[part], pg[part])
                steps += 1
            self._pending = [(px[full:], py[full:], pw[full:], pg[full:])] if full < len(py) else []
            self._n_pending = len(py) - full
            # Only the lists still pending need their numbers.
            waiting = set(pg[full:].tolist())
            self._lists = {e: g for e, g in self._lists.items() if g in waiting}
        return steps

    def _train_step(self, x: Matrix, y: NDArray[np.float32], w: NDArray[np.float32],
                    lists: NDArray[np.int64] | None = None) -> None:
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
        if self.config.listwise_weight > 0 and lists is not None:
            ranking = listwise_loss(logits, y, w, lists)
            if ranking is not None:
                loss = loss + self.config.listwise_weight * ranking
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

    def evaluate(self, holdout: Holdout | None = None, default: Scorer | None = None) -> RankerMetrics:
        """Metrics on ``holdout`` (default: this ranker's own). Evaluate the published
        model on the training ranker's holdout to compare the two on the same examples.
        ``default`` is the hand-set scorer compared against (default: cosine only)."""
        held = holdout or self.holdout
        x, y, w = held.arrays()
        if not len(y):
            return RankerMetrics(0, float("nan"), float("nan"), float("nan"))
        probs = self.score(x)
        baseline = default.score(x) if default is not None else default_scores(x)
        lists = held.lists()
        if (lists < 0).any():  # pages' feedback held back too: judged by logloss and AUC only
            return RankerMetrics(len(y), logloss(y, probs, w), auc(y, probs, w), auc(y, baseline, w))
        return RankerMetrics(len(y), logloss(y, probs, w), auc(y, probs, w), auc(y, baseline, w),
                             list_ndcg(y, probs, lists), list_ndcg(y, baseline, lists))

    def should_publish(self, candidate: RankerMetrics, current: RankerMetrics | None) -> bool:
        """Publish only with enough holdout and when the ranking is no worse than
        ``current``'s (the published model on the same holdout) beyond the tolerance: the
        holdout lists' NDCG@10 when both have one (what the page is judged by), otherwise
        neither logloss nor AUC worse."""
        if candidate.n < self.config.min_holdout or not math.isfinite(candidate.logloss):
            return False
        if current is None or current.n == 0 or not math.isfinite(current.logloss):
            return True
        tol = self.config.publish_tolerance
        if self.config.publish_on_ndcg and math.isfinite(candidate.ndcg) and math.isfinite(current.ndcg):
            return candidate.ndcg >= current.ndcg - tol
        auc_ok = not math.isfinite(current.auc) or candidate.auc >= current.auc - tol
        return candidate.logloss <= current.logloss + tol and auc_ok

    def publish(self, after: int = 0) -> bytes:
        """Make a new ``version`` (above ``after`` and the current one) and return its bytes."""
        self._version = max(self._version, after) + 1
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
