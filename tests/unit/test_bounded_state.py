"""Co-visitation and trending memory stays bounded on endless streams of new items,
scenes and users: the caps hold, and the state stops growing once they are reached."""

from __future__ import annotations

import numpy as np

from engine.covisit import Covisitation, CovisitConfig
from engine.trending import Trending, TrendingConfig

T0 = 1_732_262_400.0


def _stream(cv: Covisitation, steps: int, start: int, rng: np.random.Generator) -> None:
    """Sessions of 3-6 items; half the items are brand new, so the item space never ends."""
    step = start
    while step < start + steps:
        recent: list[str] = []
        for _ in range(int(rng.integers(3, 7))):
            item = f"new{step}" if rng.random() < 0.5 else f"hot{int(rng.zipf(1.3)) % 500}"
            cv.update(recent, item, 1.0, T0 + step)
            recent = (recent + [item])[-cv.config.window:]
            step += 1


def test_covisitation_levels_off_on_an_endless_item_space() -> None:
    cfg = CovisitConfig(max_items=300, max_neighbours=8, window=4)
    cv = Covisitation(cfg)
    rng = np.random.default_rng(1)
    sizes = []
    for round_ in range(6):
        _stream(cv, 4000, round_ * 4000, rng)
        assert len(cv) <= cfg.max_items
        assert cv.n_pairs <= cfg.max_items * cfg.max_neighbours
        sizes.append(len(cv.to_bytes()))
    # 24,000 updates, 12,000 distinct items: the snapshot (the memory) stops growing.
    assert max(sizes[3:]) <= 1.1 * max(sizes[:3]), sizes  # the second half never outgrows the first


def test_covisitation_keeps_recent_items_and_drops_faded_ones() -> None:
    """Decay decides eviction: an item that was heavy long ago gives way to fresh ones."""
    cfg = CovisitConfig(max_items=50, evict_fraction=0.1, half_life_s=60.0, normalise=False)
    cv = Covisitation(cfg)
    cv.update(["old-a"], "old-b", 100.0, T0)
    for j in range(200):
        cv.update([f"f{j}"], f"g{j}", 1.0, T0 + 3600.0 + j)  # an hour (60 half-lives) later
    assert "old-a" not in cv and "old-b" not in cv
    assert cv.count("old-a", "old-b", T0 + 4000.0) == 0.0
    assert len(cv) <= 50


def test_trending_stays_within_its_caps_on_endless_items_and_scenes() -> None:
    cfg = TrendingConfig(max_items_per_scene=40, max_items_global=100, max_scenes=5, evict_fraction=0.2)
    trending = Trending(cfg)
    rng = np.random.default_rng(2)
    bound = cfg.max_items_global + cfg.max_scenes * cfg.max_items_per_scene
    sizes = []
    for step in range(20_000):
        scene = f"scene{int(rng.integers(0, 50))}" if rng.random() < 0.3 else "home"
        trending.record(f"item{step}" if step % 2 else f"hot{step % 10}", scene, 1.0, T0 + step)
        if step % 2000 == 1999:
            assert len(trending.scenes) <= cfg.max_scenes
            assert trending.n_entries <= bound
            sizes.append(len(trending.to_bytes()))
    assert "home" in trending.scenes  # the busiest scene is never the least recently used
    assert max(sizes[5:]) <= 1.1 * max(sizes[:5]), sizes  # the second half never outgrows the first
    # What is hot stays on top although 10,000 one-off items came and went.
    assert trending.top("home", 5, T0 + 20_000)[0][0].startswith("hot")


def test_trending_n_entries_counts_global_and_scene_counters() -> None:
    trending = Trending(TrendingConfig())
    trending.record("a", "home", 1.0, T0)
    trending.record("b", "home", 1.0, T0)
    trending.record("a", None, 1.0, T0)
    trending.record("c", "cart", 1.0, T0)
    assert trending.n_entries == 3 + 2 + 1  # global a b c; home a b; cart c
    trending.forget("a")
    assert trending.n_entries == 2 + 1 + 1
