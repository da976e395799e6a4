"""engine.covisit: hand-computed counts, decay, normalisation, bounded memory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.config import ConfigError
from engine.covisit import Covisitation, CovisitConfig
from engine.errors import InvalidEvent

H = 3600.0
T0 = 1_732_262_400.0
RAW = CovisitConfig(half_life_s=H, window=3, position_decay=0.5, normalise=False)


def test_counts_are_symmetric_and_weighted_by_distance() -> None:
    cv = Covisitation(RAW)
    cv.update(["a", "b", "c"], "d", 2.0, T0)  # newest recent item is "c"
    assert cv.count("c", "d", T0) == pytest.approx(2.0)
    assert cv.count("b", "d", T0) == pytest.approx(1.0)
    assert cv.count("a", "d", T0) == pytest.approx(0.5)
    assert cv.count("d", "a", T0) == pytest.approx(0.5)
    assert cv.count("a", "b", T0) == 0.0  # only pairs with the new item are counted
    assert cv.mass("d", T0) == pytest.approx(2.0)
    assert cv.mass("a", T0) == 0.0


def test_window_skips_duplicates_and_the_item_itself() -> None:
    cv = Covisitation(RAW)
    cv.update(["x", "a", "d", "b", "b", "c"], "d", 1.0, T0)
    # previous items newest first, each once, without "d": c, b, a (window 3) -> not x
    assert [cv.count(i, "d", T0) for i in ("c", "b", "a", "x")] == [1.0, 0.5, 0.25, 0.0]
    assert cv.count("d", "d", T0) == 0.0


def test_counts_decay_with_the_half_life() -> None:
    cv = Covisitation(RAW)
    cv.update(["a"], "b", 4.0, T0)
    cv.update(["a"], "b", 1.0, T0 + 2 * H)
    assert cv.count("a", "b", T0 + 2 * H) == pytest.approx(2.0)
    assert cv.count("b", "a", T0 + 3 * H) == pytest.approx(1.0)
    assert cv.mass("b", T0 + 3 * H) == pytest.approx(1.0)


def test_neighbours_sum_over_recent_items_with_weights() -> None:
    cv = Covisitation(RAW)
    cv.update(["a"], "x", 1.0, T0)
    cv.update(["b"], "x", 1.0, T0)
    cv.update(["b"], "y", 3.0, T0)
    cv.update(["a"], "z", 1.0, T0)
    ids, scores = cv.neighbours(["a", "b"], k=3, now=T0)
    assert ids == ["y", "x", "z"]  # y 3, x 1 + 1, z 1
    np.testing.assert_allclose(scores, [3.0, 2.0, 1.0])
    assert scores.dtype == np.float32
    ids, scores = cv.neighbours(["a", "b"], k=2, now=T0, weights=[2.0, 0.5])
    assert ids == ["x", "z"] and scores.tolist() == [2.5, 2.0]  # x 2 + .5, z 2, y 1.5
    assert cv.neighbours(["a", "b"], k=5, now=T0, exclude={"y"})[0] == ["x", "z"]
    np.testing.assert_allclose(cv.scores(["a", "b"], ["z", "q", "y"], T0), [1.0, 0.0, 3.0])
    assert cv.strongest_source(["a", "b"], "y", T0) == ("b", 3.0)
    assert cv.strongest_source(["a"], "y", T0) == (None, 0.0)


def test_ties_break_by_id_and_query_items_are_left_out() -> None:
    cv = Covisitation(RAW)
    for other in ("q", "p", "r"):
        cv.update(["a"], other, 1.0, T0)
    cv.update(["p"], "a", 1.0, T0)
    ids, _ = cv.neighbours(["a", "p"], k=10, now=T0)
    assert ids == ["q", "r"]


def test_normalised_scores_by_hand() -> None:
    cv = Covisitation(CovisitConfig(half_life_s=H, window=3, position_decay=0.5, smoothing=1.0))
    cv.update([], "a", 3.0, T0)  # m_a = 3
    cv.update(["a"], "b", 1.0, T0)  # c_ab = 1, m_b = 1
    cv.update(["a"], "c", 8.0, T0)  # c_ac = 8, m_c = 8
    ids, scores = cv.neighbours(["a"], k=2, now=T0)
    assert ids == ["c", "b"]
    np.testing.assert_allclose(scores, [8 / math.sqrt(4 * 9), 1 / math.sqrt(4 * 2)], rtol=1e-6)


def test_neighbour_lists_are_capped_weakest_out() -> None:
    cv = Covisitation(CovisitConfig(window=1, max_neighbours=3, evict_fraction=0.0, normalise=False))
    for j, w in enumerate((5.0, 1.0, 3.0, 4.0)):
        cv.update(["hub"], f"n{j}", w, T0)
    ids, _ = cv.neighbours(["hub"], k=10, now=T0)
    assert ids == ["n0", "n3", "n2"]  # n1 (1.0) was the weakest


def test_item_count_is_capped_and_evicted_items_vanish_everywhere() -> None:
    cv = Covisitation(CovisitConfig(window=1, max_items=3, evict_fraction=0.0, normalise=False))
    cv.update([], "a", 5.0, T0)
    cv.update(["a"], "b", 1.0, T0)
    cv.update(["a"], "c", 3.0, T0)  # items a 5, b 1, c 3
    cv.update(["a"], "d", 2.0, T0)  # a 4th item: b goes
    assert len(cv) <= 3 and "b" not in cv
    assert cv.mass("b", T0) == 0.0
    assert cv.neighbours(["a"], k=10, now=T0)[0] == ["c", "d"]
    for j in range(200):
        cv.update([f"p{j}"], f"q{j}", 10.0, T0 + j)
        assert len(cv) <= 3
    assert cv.n_pairs <= 3 * cv.config.max_neighbours


def test_memory_stays_bounded_on_a_long_stream() -> None:
    cfg = CovisitConfig(max_neighbours=10, max_items=200)
    cv = Covisitation(cfg)
    rng = np.random.default_rng(0)
    recent: list[str] = []
    for step in range(5000):
        item = f"i{int(rng.zipf(1.5)) % 1000}"
        cv.update(recent, item, 1.0, T0 + step)
        recent = (recent + [item])[-5:]
    assert len(cv) <= 200
    assert cv.n_pairs <= 200 * 10


def test_forget_removes_an_item_and_its_counts() -> None:
    cv = Covisitation(RAW)
    cv.update(["a"], "b", 1.0, T0)
    cv.update(["a"], "c", 1.0, T0)
    cv.forget(["b"])
    assert "b" not in cv and cv.neighbours(["a"], 5, T0)[0] == ["c"]


def test_late_updates_match_in_order_updates() -> None:
    events = [(["a", "b"][: j % 3], "bcd"[j % 3], 1.0 + j % 2, T0 + 300.0 * j) for j in range(30)]
    ordered, reversed_ = Covisitation(RAW), Covisitation(RAW)
    for recent, item, w, ts in events:
        ordered.update(recent, item, w, ts)
    for recent, item, w, ts in reversed(events):
        reversed_.update(recent, item, w, ts)
    now = T0 + 10 * H
    for a, b in (("a", "b"), ("b", "c"), ("a", "d"), ("d", "a")):
        assert ordered.count(a, b, now) == pytest.approx(reversed_.count(a, b, now), rel=1e-9)


def test_inputs_are_not_changed_and_snapshot_round_trips() -> None:
    cv = Covisitation(CovisitConfig(half_life_s=H))
    recent = ["a", "b"]
    cv.update(recent, "c", 1.0, T0)
    cv.update(["c"], "d", 2.0, T0 + 60)
    assert recent == ["a", "b"]
    back = Covisitation.from_bytes(cv.to_bytes(), cv.config)
    a_ids, a_scores = cv.neighbours(["c", "a"], 5, T0 + H)
    b_ids, b_scores = back.neighbours(["c", "a"], 5, T0 + H)
    assert a_ids == b_ids
    np.testing.assert_allclose(a_scores, b_scores, rtol=1e-6)


def test_bad_input_and_config_are_rejected() -> None:
    cv = Covisitation()
    with pytest.raises(InvalidEvent, match="nan"):
        cv.update(["a"], "b", float("nan"), T0)
    with pytest.raises(InvalidEvent, match="2 entries"):
        cv.neighbours(["a"], 3, T0, weights=[1.0, 2.0])
    with pytest.raises(ConfigError):
        CovisitConfig(position_decay=0.0)
    with pytest.raises(ConfigError):
        CovisitConfig(max_items=0)
