"""Issue 11's ranking pieces on hand-computed examples: the newest item's category
(``last_category``, the ``last_category_pop`` column), the listwise loss, NDCG@10 of
held-back lists and the publish rule that compares it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.config import ConfigError
from engine.features import COLUMN, N_FEATURES, CandidateSignals, UserContext, build_features, last_category
from engine.interests import InterestView
from engine.ranker import OnlineRanker, RankerConfig, RankerMetrics, list_ndcg, listwise_loss


def test_last_category_is_the_newest_items_most_specific_category() -> None:
    assert last_category([("books", "poetry"), ("tea", "green tea")]) == "green tea"
    assert last_category([("tea",)]) == "tea"
    assert last_category([]) is None
    assert last_category([("tea",), ()]) is None  # the newest item has no category


def test_last_category_pop_is_its_own_column() -> None:
    dim = 4
    unit = np.eye(dim, dtype=np.float32)[0]
    view = InterestView(unit, unit, np.zeros(dim, np.float32), None, 0.0, 0.0)
    n = 3
    signals = CandidateSignals(covisit=np.zeros(n), trending=np.zeros(n), age_s=np.zeros(n),
                               fatigue=np.zeros(n), sources=np.zeros(n, np.uint8),
                               last_category_pop=np.array([0.5, 0.0, -1.0]))
    features = build_features(UserContext(view, 0.0), np.eye(n, dim, dtype=np.float32), signals)
    assert features.shape == (n, N_FEATURES)
    assert features[:, COLUMN["last_category_pop"]].tolist() == [0.5, 0.0, 0.0]  # negatives clipped
    assert features[:, COLUMN["category_pop"]].tolist() == [0.0, 0.0, 0.0]


def test_list_ndcg_by_hand() -> None:
    labels = np.array([0, 1, 0, 0, 1, 0, 0, 0])
    scores = np.array([0.9, 0.5, 0.1, 0.3, 0.3, 0.2, 0.0, 0.0])
    lists = np.array([1, 1, 1, 2, 2, 2, 3, 3])  # list 3 has no positive: not counted
    # List 1: one row above the positive -> rank 1, gain 1/log2(3). List 2: tied with one
    # row -> rank 0.5, gain 1/log2(2.5).
    expected = (1 / math.log2(3) + 1 / math.log2(2.5)) / 2
    assert list_ndcg(labels, scores, lists) == pytest.approx(expected)
    assert list_ndcg(labels, scores, lists, k=1) == pytest.approx((0 + 1 / math.log2(2.5)) / 2)
    assert math.isnan(list_ndcg(np.zeros(3), np.zeros(3), np.array([1, 1, 2])))


def test_listwise_loss_by_hand() -> None:
    logits = torch.tensor([0.0, math.log(3.0), 2.0, 0.0, 0.0])
    labels = np.array([0, 1, 0, 1, 0], np.float32)
    weights = np.array([1, 1, 1, 3, 1], np.float32)
    lists = np.array([1, 1, 2, 3, 3])
    # List 1: p(positive) = 3/4; list 2: no positive; list 3: 1/2 (its weight only scales
    # the positives of its own list, so the list counts once).
    loss = listwise_loss(logits, labels, weights, lists)
    assert loss is not None
    assert float(loss) == pytest.approx((-math.log(0.75) - math.log(0.5)) / 2, rel=1e-6)
    assert listwise_loss(logits, np.zeros(5, np.float32), weights, lists) is None


def _lists(n_lists: int, size: int, seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Lists where the positive is the row with the largest ``category_pop`` while a
    pointwise-popular feature (``log_popularity``) is larger on the others."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n_lists * size, N_FEATURES), np.float32)
    y = np.zeros(n_lists * size, np.float32)
    ids = []
    for i in range(n_lists):
        rows = slice(i * size, (i + 1) * size)
        x[rows, COLUMN["category_pop"]] = rng.random(size)
        x[rows, COLUMN["log_popularity"]] = rng.random(size)
        best = i * size + int(np.argmax(x[rows, COLUMN["category_pop"]]))
        y[best] = 1.0
        ids += [f"list-{i}"] * size
    return ids, x, y


def test_the_listwise_term_learns_to_rank_within_lists() -> None:
    ids, x, y = _lists(300, 8, seed=3)
    config = RankerConfig(min_batch=64, holdout_share=0.2, lr=0.05, listwise_weight=1.0, seed=0)
    ranker = OnlineRanker(config)
    for start in range(0, len(ids), 8):  # one list per call, as the trainer adds them
        ranker.update(ids[start:start + 8], x[start:start + 8], y[start:start + 8])
    metrics = ranker.evaluate()
    assert len(set(ranker.holdout.lists().tolist())) == len(ranker.holdout) // 8  # one number per list
    assert metrics.ndcg > 0.7  # the positive ranks near the top of most held-back lists
    # The default (cosine, all 0) ties all 8 rows: rank 3.5 for every positive, 1/log2(5.5).
    assert metrics.default_ndcg == pytest.approx(1 / math.log2(5.5))
    assert metrics.ndcg > metrics.default_ndcg + 0.3


def test_the_publish_rule_compares_ndcg_when_both_have_it() -> None:
    ranker = OnlineRanker(RankerConfig(min_holdout=100, publish_tolerance=0.001))
    # Better logloss and AUC, worse NDCG: not published; the reverse is.
    current = RankerMetrics(500, 0.40, 0.80, 0.5, ndcg=0.30)
    assert not ranker.should_publish(RankerMetrics(500, 0.30, 0.90, 0.5, ndcg=0.29), current)
    assert ranker.should_publish(RankerMetrics(500, 0.50, 0.70, 0.5, ndcg=0.2995), current)  # within tolerance
    # Turned off, logloss and AUC decide even with lists.
    off = OnlineRanker(RankerConfig(min_holdout=100, publish_tolerance=0.001, publish_on_ndcg=False))
    assert off.should_publish(RankerMetrics(500, 0.30, 0.90, 0.5, ndcg=0.29), current)
    # Without lists on either side (feedback pages without a click): logloss and AUC as before.
    assert not ranker.should_publish(RankerMetrics(500, 0.50, 0.90, 0.5), RankerMetrics(500, 0.40, 0.80, 0.5))


def test_listwise_weight_is_checked() -> None:
    with pytest.raises(ConfigError, match="listwise_weight"):
        RankerConfig(listwise_weight=-1.0)


def _rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, N_FEATURES)).astype(np.float32)
    y = np.zeros(n, np.float32)
    y[::5] = 1.0
    return x, y


def test_holdout_ndcg_only_while_every_held_row_is_a_ranked_list() -> None:
    """Next-event candidate sets are judged by NDCG; once a page's feedback is held back
    too, the holdout has no NDCG and the publish rule falls back to logloss and AUC."""
    ranker = OnlineRanker(RankerConfig(holdout_share=0.99, min_batch=10_000))  # (nearly) all held back
    for i in range(4):
        x, y = _rows(20, i)
        ranker.update([f"next-{i}"] * 20, x, y, ranked_list=True)
    assert math.isfinite(ranker.evaluate().ndcg)
    x, y = _rows(10, 9)
    ranker.update(["page-1"] * 10, x, y, ranked_list=False)
    metrics = ranker.evaluate()
    assert math.isnan(metrics.ndcg) and math.isnan(metrics.default_ndcg)
    assert math.isfinite(metrics.auc)


def test_ranked_list_survives_the_wire() -> None:
    from engine.feedback import Example
    from stream_apps.worker.model_updates import example_from_wire, example_to_wire

    x, y = _rows(3, 0)
    for ranked in (True, False):
        example = Example("ev-1", "u1", 2, ("a", "b", "c"), x, y, np.ones(3, np.float32), ranked_list=ranked)
        assert example_from_wire(example_to_wire(example)).ranked_list is ranked
