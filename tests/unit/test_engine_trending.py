"""engine.trending: hand-computed decay, order independence, bounded memory, scenes."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from engine.config import ConfigError
from engine.errors import EngineError, InvalidEvent
from engine.trending import DecayedCounter, Trending, TrendingConfig

H = 3600.0
T0 = 1_732_262_400.0


def test_counts_decay_by_half_each_half_life() -> None:
    c = DecayedCounter(half_life_s=H, capacity=10)
    c.add("a", 8.0, T0)
    c.add("a", 2.0, T0 + 2 * H)  # 8 -> 2 after two half-lives, plus 2
    assert c.get("a", T0 + 2 * H) == pytest.approx(4.0)
    assert c.get("a", T0 + 3 * H) == pytest.approx(2.0)
    assert c.total(T0 + 3 * H) == pytest.approx(2.0)
    assert c.get("missing", T0) == 0.0


def test_late_updates_give_the_same_counts_as_in_order() -> None:
    events = [(f"i{j % 5}", 1.0 + j % 3, T0 + 97.0 * j) for j in range(60)]
    ordered = DecayedCounter(half_life_s=H, capacity=10)
    for key, w, ts in events:
        ordered.add(key, w, ts)
    shuffled = DecayedCounter(half_life_s=H, capacity=10)
    mixed = events[:]
    random.Random(3).shuffle(mixed)
    for key, w, ts in mixed:
        shuffled.add(key, w, ts)
    now = T0 + 100 * H
    keys = [f"i{j}" for j in range(5)]
    expected = [sum(w * 0.5 ** ((now - ts) / H) for k, w, ts in events if k == key) for key in keys]
    np.testing.assert_allclose(ordered.scores(keys, now), expected, rtol=1e-9)
    np.testing.assert_allclose(shuffled.scores(keys, now), expected, rtol=1e-9)


def test_rebasing_over_many_half_lives_keeps_values_exact() -> None:
    c = DecayedCounter(half_life_s=1.0, capacity=10)
    c.add("a", 1.0, 0.0)
    c.add("b", 1.0, 500.0)  # far past the rebase threshold
    assert c.get("b", 501.0) == pytest.approx(0.5)
    assert c.get("a", 500.0) == pytest.approx(2.0 ** -500, rel=1e-9)
    assert math.isfinite(c.total(10_000.0))


def test_capacity_evicts_the_weakest() -> None:
    c = DecayedCounter(half_life_s=H, capacity=3, evict_fraction=0.0)
    for key, w in (("a", 5.0), ("b", 1.0), ("c", 3.0)):
        c.add(key, w, T0)
    c.add("d", 2.0, T0 + H)  # decayed: a 2.5, b 0.5, c 1.5, d 2.0 -> b goes
    assert sorted(c.keys()) == ["a", "c", "d"]
    assert c.total(T0 + H) == pytest.approx(6.0)
    for j in range(100):
        c.add(f"x{j}", 10.0, T0 + H)
    assert len(c) == 3


def test_bulk_eviction_stays_within_capacity() -> None:
    c = DecayedCounter(half_life_s=H, capacity=100, evict_fraction=0.2)
    for j in range(1000):
        c.add(f"k{j}", 1.0 + j, T0)
        assert len(c) <= 100
    assert len(c) >= 80
    assert "k999" in c and "k0" not in c


def test_top_orders_by_score_then_key_and_excludes() -> None:
    c = DecayedCounter(half_life_s=H, capacity=10)
    for key, w in (("b", 2.0), ("a", 2.0), ("c", 3.0), ("d", 1.0)):
        c.add(key, w, T0)
    ids, scores = c.top(3, T0 + H)
    assert ids == ["c", "a", "b"]
    np.testing.assert_allclose(scores, [1.5, 1.0, 1.0])
    assert scores.dtype == np.float32
    assert c.top(10, T0, exclude={"c"})[0] == ["a", "b", "d"]
    assert c.top(0, T0)[0] == []


def test_trending_per_scene_with_global_fill() -> None:
    t = Trending(TrendingConfig(half_life_s=H))
    t.record("mug", "home", 1.0, T0)
    t.record("kettle", "home", 3.0, T0)
    t.record("shoe", "product", 5.0, T0)
    t.record("tea", None, 0.5, T0)
    assert t.top("home", 2, T0)[0] == ["kettle", "mug"]
    ids, scores = t.top("home", 4, T0)
    assert ids == ["kettle", "mug", "shoe", "tea"]  # topped up from the global counter
    np.testing.assert_allclose(scores, [3.0, 1.0, 5.0, 0.5])
    assert t.top("home", 4, T0, fill_global=False)[0] == ["kettle", "mug"]
    assert t.top("nowhere", 2, T0)[0] == ["shoe", "kettle"]  # cold start: global
    assert t.top(None, 1, T0 + H)[0] == ["shoe"]
    np.testing.assert_allclose(t.scores(["mug", "x"], "home", T0 + H), [0.5, 0.0])
    t.forget("shoe")
    assert "shoe" not in t.top(None, 10, T0)[0]


def test_scene_count_is_bounded_least_recent_goes() -> None:
    t = Trending(TrendingConfig(max_scenes=2))
    t.record("a", "s1", 1.0, T0)
    t.record("a", "s2", 1.0, T0 + 1)
    t.record("a", "s1", 1.0, T0 + 2)
    t.record("a", "s3", 1.0, T0 + 3)
    assert sorted(t.scenes) == ["s1", "s3"]


def test_snapshot_round_trip() -> None:
    t = Trending(TrendingConfig(half_life_s=H))
    for j in range(30):
        t.record(f"i{j % 7}", ("home", "cart", None)[j % 3], 1.0 + j % 4, T0 + 60.0 * j)
    back = Trending.from_bytes(t.to_bytes(), t.config)
    for scene in ("home", "cart", None):
        a, sa = t.top(scene, 5, T0 + H)
        b, sb = back.top(scene, 5, T0 + H)
        assert a == b
        np.testing.assert_allclose(sa, sb, rtol=1e-6)


@pytest.mark.parametrize("kwargs", [{"half_life_s": 0.0}, {"max_scenes": 0},
                                    {"evict_fraction": 1.0}, {"half_life_s": float("nan")}])
def test_bad_config_is_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        TrendingConfig(**kwargs)  # type: ignore[arg-type]


def test_bad_weight_is_rejected_with_the_value() -> None:
    t = Trending()
    with pytest.raises(InvalidEvent, match="-1"):
        t.record("a", "home", -1.0, T0)
    with pytest.raises(EngineError):
        t.record("a", "home", 1.0, float("inf"))


def test_replace_all_is_exactly_one_set_per_key_on_an_emptied_counter() -> None:
    rng = random.Random(7)
    values = {f"i{j}": rng.uniform(0.0, 50.0) for j in range(40)}
    one_by_one, bulk = DecayedCounter(H, capacity=50), DecayedCounter(H, capacity=50)
    bulk.add("stale", 3.0, T0)
    for key, weight in values.items():
        one_by_one.set(key, weight, T0 + H)
    bulk.replace_all(values, T0 + H)
    assert bulk.keys() == one_by_one.keys()
    for later in (T0 + H, T0 + 5 * H):
        assert [bulk.get(k, later) for k in values] == [one_by_one.get(k, later) for k in values]
        assert bulk.total(later) == one_by_one.total(later)  # bit for bit, not approx


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0])
def test_replace_all_rejects_a_bad_weight_and_keeps_the_counter(bad: float) -> None:
    c = DecayedCounter(H, capacity=5)
    c.add("a", 2.0, T0)
    with pytest.raises(InvalidEvent, match="finite and >= 0"):
        c.replace_all({"b": 1.0, "c": bad}, T0)
    assert c.keys() == ["a"] and c.get("a", T0) == 2.0
    with pytest.raises(InvalidEvent, match="capacity"):
        c.replace_all({str(j): 1.0 for j in range(6)}, T0)


def _reference_top(counter: DecayedCounter, k: int, now: float, exclude: set[str]) -> tuple[list[str], list[float]]:
    """Every key sorted by decayed count (highest first), then key: the order top() promises."""
    keys, values = counter.items_at(now)
    order = sorted((-v, key) for key, v in zip(keys, values.tolist()) if key not in exclude)[:k]
    return [key for _, key in order], [-v for v, _ in order]


@pytest.mark.parametrize("capacity,keyspace,replaces,steps_s", [(300, 400, 0.01, (0.0, 60.0, H)),
                                                                  (3000, 2500, 0.0, (0.0,))])
def test_top_stays_exact_while_the_counter_changes_between_calls(capacity: int, keyspace: int, replaces: float,
                                                                 steps_s: tuple[float, ...]) -> None:
    # top() keeps its ranking between calls as an exact prefix of the order: values grow,
    # fall (set) and go (remove) in place; an eviction or a replace rebuilds it. Few
    # distinct weights and times make ties on the ranking's edge common. The small
    # counter often has all its keys ranked; the large one (never replaced, so it keeps
    # thousands of keys) a prefix of a few hundred, and its clock stands still so that
    # sets often make a ranked key fall.
    rng = random.Random(7)
    c = DecayedCounter(half_life_s=H, capacity=capacity, evict_fraction=0.1)
    now = T0
    for _ in range(capacity // 2):  # many keys before the first top(): it ranks a prefix
        c.add(f"k{rng.randrange(keyspace)}", rng.choice([1.0, 2.0, 3.0]), now)
    for step in range(3000):
        key = f"k{rng.randrange(keyspace)}"
        action = rng.random()
        if action < 0.7:
            c.add(key, rng.choice([0.0, 1.0, 2.0]), now)
        elif action < 0.85:
            c.set(key, rng.choice([0.5, 1.0, 3.0]), now)
        elif action < 0.95:
            c.remove(key)
        elif action < 0.95 + replaces:
            c.replace_all({f"k{j}": float(j % 4) for j in range(rng.randrange(1, 50))}, now)
        else:
            now += rng.choice(steps_s)
        if step % 7 == 0:
            k = rng.choice([1, 5, 40, 300])
            exclude = {f"k{rng.randrange(keyspace)}" for _ in range(rng.randrange(0, 30))}
            ids, scores = c.top(k, now, exclude)
            want_ids, want_scores = _reference_top(c, k, now, exclude)
            assert ids == want_ids, step
            assert scores.tolist() == np.asarray(want_scores, dtype=np.float32).tolist()
            # The kept ranking's whole length, not just the part this top() read.
            kept = c._ranked or []
            assert [key for _, key in kept] == _reference_top(c, len(kept), now, set())[0], step


def test_top_gives_the_same_answer_kept_or_rebuilt() -> None:
    kept = DecayedCounter(half_life_s=H, capacity=2000)
    for j in range(1500):
        kept.add(f"i{j % 700}", float(j % 5), T0 + j)
    kept.top(10, T0 + 1500)  # builds the ranking, then the adds below update it
    for j in range(1500, 2500):
        kept.add(f"i{j % 900}", float(j % 3), T0 + j)
    rebuilt = DecayedCounter.from_dict(kept.to_dict())
    for k, exclude in ((10, set()), (40, {"i1", "i5", "i899"}), (600, {f"i{j}" for j in range(0, 900, 3)})):
        got, want = kept.top(k, T0 + 2500, exclude), rebuilt.top(k, T0 + 2500, exclude)
        assert got[0] == want[0]
        assert got[1].tolist() == want[1].tolist()
