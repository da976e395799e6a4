"""EASE, cosine item-kNN, their refit schedule and the refit baselines, on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from engine.baselines import AlsRecommender, ItemModelRecommender
from engine.config import ConfigError
from engine.events import Interaction
from engine.itemmodels import (
    InteractionLog,
    ItemModelConfig,
    RefitSchedule,
    fit_cosine,
    fit_ease,
    fit_item_model,
    gram,
    recency_weights,
)


def test_ease_on_a_hand_computed_two_item_case() -> None:
    # Three users: one had a and b, two had a alone. X'X = [[3, 1], [1, 1]]; with l2 = 1
    # P = inv([[4, 1], [1, 2]]) = [[2, -1], [-1, 4]] / 7, so W[a, b] = -P[a, b] / P[b, b]
    # = 1/4 and W[b, a] = -P[b, a] / P[a, a] = 1/2.
    model = fit_item_model([("a", "b"), ("a",), ("a",)], ItemModelConfig("ease", l2=1.0))
    assert model is not None and model.item_ids == ("a", "b")
    np.testing.assert_allclose(model.weights, [[0.0, 0.25], [0.5, 0.0]], atol=1e-6)
    np.testing.assert_allclose(model.scores(["a"], [1.0]), [0.0, 0.25], atol=1e-6)
    np.testing.assert_allclose(model.scores(["b", "a"], [1.0, 2.0]), [0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(model.scores(["zzz"], [1.0]), [0.0, 0.0])


def test_ease_matches_the_column_by_column_ridge_regression() -> None:
    # EASE's closed form is, column by column, ridge regression of item j on all other items.
    rng = np.random.default_rng(3)
    x = (rng.random((40, 6)) < 0.35).astype(np.float64)
    l2 = 2.5
    w = fit_ease(x.T @ x, l2)
    for j in range(6):
        others = [i for i in range(6) if i != j]
        xo = x[:, others]
        expected = np.linalg.solve(xo.T @ xo + l2 * np.eye(5), xo.T @ x[:, j])
        np.testing.assert_allclose(w[others, j], expected, rtol=1e-4, atol=1e-5)
        assert w[j, j] == 0.0


def test_gram_counts_users_per_pair() -> None:
    g = gram([[0, 1], [1, 2], [0, 1, 2]], 3)
    np.testing.assert_array_equal(g, [[2, 2, 1], [2, 3, 2], [1, 2, 2]])


def test_cosine_keeps_the_strongest_neighbours_per_item() -> None:
    g = np.array([[4.0, 2.0, 1.0], [2.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    # cos(a, b) = 2 / sqrt(4 * 1) = 1, cos(a, c) = 1 / sqrt(4 * 1) = 0.5, cos(b, c) = 0
    np.testing.assert_allclose(fit_cosine(g, neighbours=3), [[0, 1, 0.5], [1, 0, 0], [0.5, 0, 0]])
    one = fit_cosine(g, neighbours=1)
    assert np.count_nonzero(one[:, 0]) == 1 and one[1, 0] == pytest.approx(1.0)


def test_max_items_keeps_the_most_active() -> None:
    model = fit_item_model([("a", "b", "c"), ("a", "b"), ("a",)], ItemModelConfig(max_items=2))
    assert model is not None and model.item_ids == ("a", "b") and model.weights.shape == (2, 2)
    assert fit_item_model([("a",), ("a",)], ItemModelConfig()) is None


def test_refit_schedule_parses_events_and_event_time() -> None:
    assert RefitSchedule.parse("2000") == RefitSchedule(every_events=2000, every_s=None)
    quick = RefitSchedule(every_events=2000, first_fit_events=100)
    assert [quick.due(n, 0.0, at) for n, at in [(99, 0), (100, 0), (150, 100), (200, 200), (1999, 2000), (2000, 4000)]] == [False, True, True, True, False, True]
    assert RefitSchedule.parse("1d").every_s == 86400.0 and RefitSchedule.parse("6h").every_s == 21600.0
    days = RefitSchedule.parse("2d")
    assert not days.due(10**6, 86400.0) and days.due(1, 2 * 86400.0)
    with pytest.raises(ConfigError):
        RefitSchedule.parse("often")
    with pytest.raises(ConfigError):
        ItemModelConfig(kind="svd")


def test_interaction_log_is_bounded() -> None:
    log = InteractionLog(max_users=2, max_items_per_user=3)
    for i in range(5):
        log.add("u1", f"i{i}")
    log.add("u2", "x")
    log.add("u1", "i2")  # again: moves to the end, no duplicate
    log.add("u3", "y")  # u2 was seen longest ago
    assert log.histories() == [("i3", "i4", "i2"), ("y",)]


def test_recency_weights_newest_counts_most() -> None:
    assert recency_weights(3, 0.9) == pytest.approx([0.81, 0.9, 1.0])
    assert recency_weights(0, 0.9) == []


def _feed(rec: object, pairs: list[tuple[str, str]]) -> None:
    for t, (user, item) in enumerate(pairs):
        rec.update(Interaction("click", user, ts=float(t), item_id=item))  # type: ignore[attr-defined]


def test_ease_baseline_refits_on_schedule_and_never_repeats_an_item() -> None:
    rec = ItemModelRecommender(ItemModelConfig(l2=1.0), RefitSchedule(every_events=6, first_fit_events=6))
    pairs = [("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "b"), ("u3", "c"), ("u3", "d")]
    _feed(rec, pairs[:5])
    assert rec.refits == 0 and rec.recommend("u1", 5.0, 3) == []  # no model before the first refit
    _feed(rec, pairs[5:])
    assert rec.refits == 1
    rec.update(Interaction("click", "u4", ts=7.0, item_id="a"))  # live history, no refit needed
    assert rec.recommend("u4", 7.0, 3)[0] == "b"
    assert "a" not in rec.recommend("u4", 7.0, 3)


def test_als_recommends_the_other_half_of_a_checkerboard() -> None:
    # Two groups of users, each with its own half of the items: ALS must recommend within the group.
    pairs = [(f"u{u}", f"i{i}") for u in range(20) for i in range(10) if (i < 5) == (u < 10) and (u + i) % 5]
    rec = AlsRecommender(RefitSchedule(every_events=len(pairs)), factors=4, iterations=10)
    _feed(rec, pairs)
    rec.update(Interaction("click", "new", ts=1e3, item_id="i1"))
    top = rec.recommend("new", 1e3, 4)
    assert set(top) == {"i0", "i2", "i3", "i4"}
