"""The one trainer: labelled pages in, model versions out when they are better.

Exactly one trainer runs at a time (the worker that owns the single partition of the
examples topic), so versions form one line and need no merging. A version is published
only when, on the trainer's held-back examples, it is no worse than the version in
service (logloss and AUC) and no worse than the hand-set default scorer (AUC). A
trainer that takes over after a failover starts from the newest published version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.config import ConfigError
from engine.feedback import Example
from engine.ranker import DefaultScorer, OnlineRanker, RankerConfig, RankerMetrics, Scorer


@dataclass(frozen=True)
class Published:
    """A new version: its number, weights (:meth:`OnlineRanker.state_dict` bytes), its
    holdout metrics and those of the version it replaces on the same examples."""

    version: int
    state: bytes
    metrics: RankerMetrics
    replaced: RankerMetrics | None
    examples: int
    step: int


class Trainer:
    """Mini-batch updates from :class:`engine.feedback.Example` pages, checked for
    publication at most every ``publish_interval_s``. Not thread-safe.

    >>> trainer = Trainer(RankerConfig(), publish_interval_s=10.0)
    >>> trainer.version, trainer.maybe_publish(now=0.0) is None
    (0, True)
    """

    def __init__(self, config: RankerConfig, publish_interval_s: float,
                 published: bytes | None = None, default: Scorer | None = None) -> None:
        if not (math.isfinite(publish_interval_s) and publish_interval_s >= 0):
            raise ConfigError(f"publish_interval_s must be >= 0, got {publish_interval_s!r}")
        self.config = config
        self.publish_interval_s = publish_interval_s
        # A linear ranker starts as the default scorer (when that is the hand-set one), so
        # its first versions rank like the default and learning only has to improve on it.
        start = default.linear_weights() if isinstance(default, DefaultScorer) and not config.hidden else None
        self.ranker = OnlineRanker(config, start)
        self._in_service: OnlineRanker | None = None
        self._in_service_state: bytes | None = None
        self._newest_version = 0
        self._last_check = -math.inf
        self._step_at_publish = 0
        self.examples = 0
        self.default = default  # the hand-set scorer in service: the floor a version must beat
        self.last_check: RankerMetrics | None = None  # the candidate's holdout metrics at the last check
        self.last_check_reason = "no check yet"  # why the last check did (not) publish
        if published is not None:
            self.resume_from(published)

    @property
    def version(self) -> int:
        """The version in service (0: the default scorer)."""
        return self._in_service.version if self._in_service is not None else 0

    def resume_from(self, state: bytes) -> None:
        """Continue from a published version: after a failover, a version published by a
        trainer that ran before, or an operator's rollback. Held-back examples are kept:
        the model has not trained on them."""
        if state == self._in_service_state:
            return
        in_service = OnlineRanker(self.config)
        in_service.load_state_dict(state)
        # An older version is a rollback: follow it, but never reuse a version number.
        self._newest_version = max(self._newest_version, in_service.version)
        self._in_service, self._in_service_state = in_service, state
        self.ranker.load_state_dict(state)
        self._step_at_publish = self.ranker.step

    def add(self, example: Example) -> int:
        """Train on one page's rows (its held-back share goes to the holdout). Returns
        the optimizer steps taken."""
        self.examples += len(example.item_ids)
        # Held back by page, not by row: the rows of one page are not independent.
        page_ids = [example.rec_id] * len(example.item_ids)
        return self.ranker.update(page_ids, example.features, example.labels, example.weights,
                                  ranked_list=example.ranked_list)

    @property
    def in_service(self) -> OnlineRanker | None:
        """The published version serving now (``None``: the default scorer)."""
        return self._in_service

    def maybe_publish(self, now: float) -> Published | None:
        """A new version if it is time to check, the model has trained since the last
        version, and it is no worse than the version in service on the holdout.
        ``last_check_reason`` says why a check did not publish."""
        if now - self._last_check < self.publish_interval_s:
            return None
        if self.ranker.step == self._step_at_publish:
            self.last_check_reason = (f"waiting for {self.config.min_batch} training rows (a step)"
                                      if self.ranker.step == 0 else "no training since the last version")
            return None
        self._last_check = now
        candidate = self.ranker.evaluate(default=self.default)
        self.last_check = candidate
        replaced = (self._in_service.evaluate(self.ranker.holdout, default=self.default)
                    if self._in_service is not None else None)
        # The hand-set default is the floor, whatever is in service: never ship below it.
        if candidate.n < self.config.min_holdout:
            self.last_check_reason = f"holdout {candidate.n} < {self.config.min_holdout} rows"
            return None
        tol = self.config.publish_tolerance
        if self.config.publish_on_ndcg and math.isfinite(candidate.ndcg) and math.isfinite(candidate.default_ndcg):
            # Ranked lists held back: the page is judged by its ranking, so is the model.
            if candidate.ndcg < candidate.default_ndcg - tol:
                self.last_check_reason = (f"holdout NDCG@10 {candidate.ndcg:.4f} below the default's "
                                          f"{candidate.default_ndcg:.4f}")
                return None
        elif not (math.isfinite(candidate.auc) and candidate.auc >= candidate.default_auc - tol):
            self.last_check_reason = (f"holdout AUC {candidate.auc:.3f} below the default's "
                                      f"{candidate.default_auc:.3f}")
            return None
        if replaced is not None and not self.ranker.should_publish(candidate, replaced):
            self.last_check_reason = (f"not better than version {self.version}: NDCG@10 {candidate.ndcg:.4f} "
                                      f"vs {replaced.ndcg:.4f}, logloss {candidate.logloss:.4f} "
                                      f"vs {replaced.logloss:.4f}, AUC {candidate.auc:.3f} vs {replaced.auc:.3f}")
            return None
        state = self.ranker.publish(after=self._newest_version)
        self._newest_version = self.ranker.version
        in_service = OnlineRanker(self.config)
        in_service.load_state_dict(state)
        self._in_service, self._in_service_state = in_service, state
        self._step_at_publish = self.ranker.step
        self.last_check_reason = f"published version {self.ranker.version}"
        return Published(self.ranker.version, state, candidate, replaced, self.examples, self.ranker.step)
