"""engine.feedback and engine.trainer: labelling served pages from their feedback, the
fatigue counts, and the trainer's publish decision."""

from __future__ import annotations

import numpy as np
import pytest

from engine.config import ConfigError
from engine.errors import DimensionMismatch
from engine.features import COLUMN, N_FEATURES
from engine.feedback import Example, FeedbackConfig, FeedbackJoin, ShownCounts
from engine.ranker import OnlineRanker, RankerConfig
from engine.trainer import Trainer

RCFG = RankerConfig()


def _rows(n: int, value: float = 0.0) -> np.ndarray:
    return np.full((n, N_FEATURES), value, np.float32)


def test_a_page_is_labelled_from_its_impression_and_actions() -> None:
    join = FeedbackJoin(FeedbackConfig(window_s=10.0), RCFG)
    rows = _rows(4)
    rows[:, 0] = [0, 1, 2, 3]
    join.served("r1", "u1", ["a", "b", "c", "d"], rows, model_version=3, now=100.0)
    rows[:] = -1  # the join kept its own copy
    assert join.impression("r1", ["a", "b", "c"], now=101.0)
    assert join.action("r1", "b", "click", now=102.0)
    assert join.action("r1", "c", "purchase", now=103.0)
    assert join.action("r1", "c", "click", now=104.0)  # a weaker action never downgrades
    assert not join.action("r1", "zzz", "click", now=104.0)  # not on the page
    assert not join.impression("r-unknown", ["a"], now=104.0)
    assert join.due(now=109.9) == []
    (example,) = join.due(now=110.0)
    assert example.rec_id == "r1" and example.user_id == "u1" and example.model_version == 3
    assert example.item_ids == ("a", "b", "c")  # d was never shown: no label either way
    assert example.labels.tolist() == [0.0, 1.0, 1.0]
    assert example.weights.tolist() == [RCFG.impression_weight, RCFG.click_weight, RCFG.purchase_weight]
    assert example.features[:, 0].tolist() == [0, 1, 2]
    assert len(join) == 0 and not join.action("r1", "a", "click", now=111.0)  # closed


def test_pages_without_feedback_are_dropped_and_actions_alone_count_the_whole_page() -> None:
    join = FeedbackJoin(FeedbackConfig(window_s=5.0), RCFG)
    join.served("silent", "u1", ["a", "b"], _rows(2), 0, now=0.0)
    join.served("clicked", "u2", ["a", "b"], _rows(2), 0, now=1.0)
    join.action("clicked", "b", "click", now=2.0)
    examples = join.due(now=6.0)
    assert [e.rec_id for e in examples] == ["clicked"] and join.dropped_unseen == 1
    assert examples[0].labels.tolist() == [0.0, 1.0]


def test_the_join_is_bounded_and_forgets_users() -> None:
    join = FeedbackJoin(FeedbackConfig(window_s=5.0, max_pages=2), RCFG)
    for n in range(3):
        join.served(f"r{n}", f"u{n % 2}", ["a"], _rows(1), 0, now=float(n))
    assert len(join) == 2 and join.dropped_full == 1
    assert join.forget_user("u0") == 1 and len(join) == 1
    with pytest.raises(DimensionMismatch, match="2 items"):
        join.served("bad", "u1", ["a", "b"], _rows(3), 0, now=0.0)
    with pytest.raises(ConfigError):
        FeedbackConfig(window_s=0.0)


def test_shown_counts_decay_and_stay_bounded() -> None:
    shown = ShownCounts(FeedbackConfig(shown_half_life_s=60.0, max_users=2, max_items_per_user=3))
    shown.record("u1", ["a", "b"], now=0.0)
    shown.record("u1", ["a"], now=60.0)
    counts = shown.counts("u1", now=120.0)
    assert counts["a"] == pytest.approx(0.75) and counts["b"] == pytest.approx(0.25)
    shown.record("u1", ["c", "d", "e", "e"], now=120.0)
    assert set(shown.counts("u1", now=120.0)) == {"e", "c", "d"}  # the three shown most
    shown.record("u2", ["a"], now=121.0)
    shown.record("u3", ["a"], now=122.0)
    assert len(shown) == 2 and shown.counts("u1", now=122.0) == {}  # u1 was seen longest ago
    shown.forget_user("u2")
    assert shown.counts("u2", now=122.0) == {}


def _pages(rng: np.random.Generator, n_pages: int, start: int = 0) -> list[Example]:
    """Pages where clicks follow category affinity and fatigue, which the default
    scorer ignores, and not the blended cosine it ranks by."""
    out = []
    for p in range(start, start + n_pages):
        rows = _rows(8)
        rows[:, COLUMN["cos_blended"]] = rng.uniform(0.3, 0.9, 8)
        rows[:, COLUMN["category_affinity"]] = rng.random(8)
        rows[:, COLUMN["log_fatigue"]] = np.log1p(rng.integers(0, 5, 8))
        logit = 4 * rows[:, COLUMN["category_affinity"]] - 3 * rows[:, COLUMN["log_fatigue"]] - 2
        labels = (rng.random(8) < 1 / (1 + np.exp(-logit))).astype(np.float32)
        out.append(Example(f"r{p}", "u", 0, tuple(f"i{j}" for j in range(8)), rows, labels,
                           np.ones(8, np.float32)))
    return out


def test_the_trainer_publishes_only_a_model_that_beats_the_one_in_service() -> None:
    config = RankerConfig(min_batch=32, min_holdout=100, holdout_share=0.2, lr=0.1)
    trainer = Trainer(config, publish_interval_s=10.0)
    rng = np.random.default_rng(0)
    for example in _pages(rng, 40):
        trainer.add(example)
    assert trainer.maybe_publish(now=0.0) is None  # too little holdout yet
    for example in _pages(rng, 400, start=40):
        trainer.add(example)
    assert trainer.maybe_publish(now=5.0) is None  # checked 5 s ago: not yet
    published = trainer.maybe_publish(now=10.0)
    assert published is not None and published.version == 1 == trainer.version
    assert published.replaced is None and published.metrics.n >= 100
    assert published.metrics.auc > published.metrics.default_auc + 0.1
    assert trainer.maybe_publish(now=100.0) is None  # nothing trained since
    # Another worker's trainer (after a failover) continues from the published version...
    successor = Trainer(config, publish_interval_s=0.0, published=published.state)
    assert successor.version == 1 and successor.ranker.step == published.step
    served = OnlineRanker(config)
    served.load_state_dict(published.state)
    x = _pages(rng, 1)[0].features
    np.testing.assert_allclose(successor.ranker.score(x), served.score(x))
    for example in _pages(rng, 400, start=440):
        successor.add(example)
    second = successor.maybe_publish(now=0.0)
    assert second is not None and second.version == 2 and second.replaced is not None
    assert second.metrics.logloss <= second.replaced.logloss + config.publish_tolerance
    # An operator rolls back to version 1: the trainer follows, and numbers go on from 2.
    successor.resume_from(published.state)
    assert successor.version == 1
    for example in _pages(rng, 200, start=840):
        successor.add(example)
    third = successor.maybe_publish(now=1.0)
    assert third is not None and third.version == 3


def test_the_trainer_never_publishes_a_model_worse_than_the_default() -> None:
    # A learning rate too small to learn anything in 30 steps: the model stays near
    # constant while the default scorer ranks these pages perfectly.
    config = RankerConfig(min_batch=32, min_holdout=50, holdout_share=0.3, lr=1e-6)
    trainer = Trainer(config, publish_interval_s=0.0)
    rng = np.random.default_rng(1)
    for p in range(300):
        rows = _rows(6)
        rows[:, COLUMN["cos_blended"]] = rng.uniform(0, 1, 6)
        rows[:, COLUMN["category_affinity"]] = rng.random(6)
        labels = (rows[:, COLUMN["cos_blended"]] > 0.8).astype(np.float32)
        trainer.add(Example(f"r{p}", "u", 0, tuple("abcdef"), rows, labels, np.ones(6, np.float32)))
    metrics = trainer.ranker.evaluate()
    assert metrics.n >= 50 and metrics.default_auc == 1.0 and metrics.auc < 0.99
    assert trainer.maybe_publish(now=0.0) is None and trainer.version == 0
