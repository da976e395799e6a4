"""Next-event labels (engine.feedback.next_event_example, NextEventJoin) on hand-computed
examples."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import DimensionMismatch
from engine.features import N_FEATURES
from engine.feedback import NextEventJoin, next_event_example, sample_rows
from engine.ranker import RankerConfig

CFG = RankerConfig(click_weight=1.0, purchase_weight=3.0, impression_weight=0.5)


def rows(n: int) -> np.ndarray:
    """Row i is the number i in every column: which rows were picked is visible."""
    return np.repeat(np.arange(n, dtype=np.float32)[:, None], N_FEATURES, axis=1)


def test_the_chosen_candidate_is_the_positive_and_evenly_spaced_others_the_negatives() -> None:
    features = rows(5)
    before = features.copy()
    # Candidates a..e, the user bought c. Others (a, b, d, e) = rows 0, 1, 3, 4; two of them,
    # evenly spaced: linspace(0, 3, 2) = [0, 3] -> a and e.
    e = next_event_example("ev1", "u1", 4, ["a", "b", "c", "d", "e"], features, "c", "purchase", CFG,
                           max_negatives=2)
    assert e is not None
    assert e.item_ids == ("c", "a", "e")
    assert e.labels.tolist() == [1.0, 0.0, 0.0]
    assert e.weights.tolist() == [3.0, 0.5, 0.5]  # purchase weight, then the impression weight
    assert e.features[:, 0].tolist() == [2.0, 0.0, 4.0]
    assert e.model_version == 4 and e.rec_id == "ev1" and e.user_id == "u1"
    np.testing.assert_array_equal(features, before)  # the input is not changed
    e.features[0, 0] = 99.0
    assert features[2, 0] == 2.0  # and not aliased


def test_a_click_weighs_the_click_weight_and_a_miss_is_no_example() -> None:
    e = next_event_example("ev2", "u1", 0, ["a", "b"], rows(2), "a", "click", CFG)
    assert e is not None and e.item_ids == ("a", "b") and e.weights.tolist() == [1.0, 0.5]
    assert next_event_example("ev3", "u1", 0, ["a", "b"], rows(2), "z", "click", CFG) is None
    with pytest.raises(DimensionMismatch):
        next_event_example("ev4", "u1", 0, ["a", "b", "c"], rows(2), "a", "click", CFG)


def test_sample_rows_by_hand() -> None:
    assert sample_rows(7, 3).tolist() == [0, 3, 6]
    assert sample_rows(3, 3).tolist() == [0, 1, 2]


def test_the_join_keeps_the_whole_set_and_labels_each_set_once() -> None:
    join = NextEventJoin(CFG, max_users=2, max_negatives=2)
    # A page of 2 (p1, p2) out of 6 candidates. The user clicks r2: a set sampled when served
    # (page + 2 evenly spaced: r1, r4) would have lost it; the whole set is kept.
    join.served("u1", ["p1", "p2", "r1", "r2", "r3", "r4"], rows(6), page=2, model_version=1)
    e = join.action("u1", "r2", "click", example_id="ev1")
    assert e is not None
    # Positive r2 (row 3); the page p1, p2 (rows 0, 1); 2 of the others r1, r3, r4 evenly: r1, r4.
    assert e.item_ids == ("r2", "p1", "p2", "r1", "r4")
    assert e.features[:, 0].tolist() == [3.0, 0.0, 1.0, 2.0, 5.0]
    assert e.labels.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert join.action("u1", "p1", "click", example_id="ev2") is None  # the set was used up
    # An item outside the set: a retrieval miss, counted, no example.
    join.served("u1", ["p1", "p2"], rows(2), page=2, model_version=1)
    assert join.action("u1", "zz", "click", example_id="ev3") is None
    assert (join.positives, join.misses) == (1, 1)


def test_the_page_given_by_ids_is_kept_whatever_its_candidate_positions() -> None:
    join = NextEventJoin(CFG, max_negatives=1)
    # Candidates in source order a..e; the ranked page was [d, b] (rows 3, 1).
    join.served("u1", ["a", "b", "c", "d", "e"], rows(5), page=["d", "b"], model_version=0)
    e = join.action("u1", "e", "purchase", example_id="ev1")
    assert e is not None
    # Positive e (row 4), the page d, b, then 1 of the others a, c: linspace(0, 1, 1) = [0] -> a.
    assert e.item_ids == ("e", "d", "b", "a")
    assert e.features[:, 0].tolist() == [4.0, 3.0, 1.0, 0.0]
    assert e.weights.tolist() == [3.0, 0.5, 0.5, 0.5]


def test_the_join_holds_the_newest_set_per_user_and_is_bounded() -> None:
    join = NextEventJoin(CFG, max_users=2)
    join.served("u1", ["a"], rows(1), page=1, model_version=0)
    join.served("u1", ["b"], rows(1), page=1, model_version=0)  # replaces u1's set
    assert join.action("u1", "a", "click", example_id="x") is None
    join.served("u1", ["a"], rows(1), page=1, model_version=0)
    join.served("u2", ["a"], rows(1), page=1, model_version=0)
    join.served("u3", ["a"], rows(1), page=1, model_version=0)  # u1, served longest ago, leaves
    assert len(join) == 2 and join.action("u1", "a", "click", example_id="y") is None
    join.forget_user("u2")
    assert join.action("u2", "a", "click", example_id="z") is None
    assert join.action("u3", "a", "click", example_id="w") is not None
