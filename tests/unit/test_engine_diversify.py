"""engine.diversify: MMR on a tiny example with a known answer, the category cap,
exploration counts with a seeded rng, no input mutation."""

from __future__ import annotations

import numpy as np
import pytest

from engine.config import ConfigError
from engine.diversify import DiversifyConfig, explore, mmr, rerank
from engine.errors import DimensionMismatch, InvalidEvent


def _unit(*rows: tuple[float, float]) -> np.ndarray:
    v = np.array(rows, dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# Two near-duplicates (0, 1), a related item (2) and a different one (3).
VECS = _unit((1.0, 0.0), (1.0, 0.01), (0.8, 0.6), (0.0, 1.0))
REL = np.array([0.9, 0.89, 0.7, 0.5])


def test_strength_zero_is_pure_relevance() -> None:
    assert mmr(VECS, REL, k=4, strength=0.0).tolist() == [0, 1, 2, 3]
    # equal relevance: the lower index first
    assert mmr(VECS, np.array([0.5, 0.5, 0.7, 0.5]), k=4, strength=0.0).tolist() == [2, 0, 1, 3]


def test_mmr_known_answer() -> None:
    # strength 0.5, by hand: pick 0 (0.45). Then gains 0.5 * rel - 0.5 * cos(., 0):
    # item 1: 0.445 - 0.49999 = -0.055, item 2: 0.35 - 0.4 = -0.05, item 3: 0.25 - 0 = 0.25
    # -> 3. Then item 1: 0.445 - 0.5 * max(1.0, 0.01) = -0.055, item 2: 0.35 - 0.5 * 0.8 = -0.05
    # -> 2, then 1.
    assert mmr(VECS, REL, k=4, strength=0.5).tolist() == [0, 3, 2, 1]
    assert mmr(VECS, REL, k=2, strength=0.5).tolist() == [0, 3]
    # strength 0.3 after 0: item 1 0.623 - 0.3 = 0.323, item 2 0.49 - 0.24 = 0.25,
    # item 3 0.35 -> 3; then item 1 0.323 beats item 2 0.49 - 0.3 * 0.8 = 0.25
    assert mmr(VECS, REL, k=3, strength=0.3).tolist() == [0, 3, 1]
    # strength 0.1: the near-duplicate's relevance still wins
    assert mmr(VECS, REL, k=2, strength=0.1).tolist() == [0, 1]


def test_strength_one_is_pure_novelty() -> None:
    # the first pick is the lowest index (every gain is 0), then the least similar
    assert mmr(VECS, REL, k=2, strength=1.0).tolist() == [0, 3]


def test_category_cap_is_strict() -> None:
    cats = [("mugs",), ("mugs",), ("mugs", "tea"), ("tea",)]
    assert mmr(VECS, REL, k=4, strength=0.0, categories=cats, max_per_category=1).tolist() == [0, 3]
    assert mmr(VECS, REL, k=4, strength=0.0, categories=cats, max_per_category=2).tolist() == [0, 1, 3]


def test_mmr_does_not_change_inputs_and_checks_shapes() -> None:
    vecs, rel = VECS.copy(), REL.copy()
    vecs.setflags(write=False)
    rel.setflags(write=False)
    mmr(vecs, rel, k=3, strength=0.4)
    np.testing.assert_array_equal(vecs, VECS)
    np.testing.assert_array_equal(rel, REL)
    with pytest.raises(DimensionMismatch, match=r"\(4, 2\) and \(3,\)"):
        mmr(VECS, REL[:3], k=2, strength=0.1)
    with pytest.raises(InvalidEvent):
        mmr(VECS, REL, k=2, strength=1.5)
    assert mmr(VECS, REL, k=10, strength=0.2).size == 4
    assert mmr(VECS[:0], REL[:0], k=3, strength=0.2).size == 0


@pytest.mark.parametrize(("share", "expected"), [(0.0, 0), (0.2, 2), (0.5, 5)])
def test_exploration_swaps_an_exact_count_outside_the_top(share: float, expected: int) -> None:
    page = np.arange(10)
    new, mask = explore(page, 100, share, np.random.default_rng(7))
    assert int(mask.sum()) == expected
    assert not mask[0]  # the top slot is protected
    np.testing.assert_array_equal(new[~mask], page[~mask])
    assert np.all(new[mask] >= 10) and len(set(new.tolist())) == 10
    np.testing.assert_array_equal(page, np.arange(10))


def test_fractional_share_is_exact_in_expectation_and_seeded() -> None:
    counts = [int(explore(np.arange(10), 100, 0.15, np.random.default_rng(s))[1].sum())
              for s in range(2000)]
    assert set(counts) == {1, 2}
    assert np.mean(counts) == pytest.approx(1.5, abs=0.05)
    a = explore(np.arange(10), 100, 0.3, np.random.default_rng(42))
    b = explore(np.arange(10), 100, 0.3, np.random.default_rng(42))
    np.testing.assert_array_equal(a[0], b[0])


def test_exploration_is_limited_by_what_is_left() -> None:
    new, mask = explore(np.arange(5), 6, 0.9, np.random.default_rng(0))
    assert int(mask.sum()) == 1 and new[mask].tolist() == [5]


def test_rerank_combines_mmr_and_exploration() -> None:
    rng = np.random.default_rng(1)
    vecs = _unit(*[(np.cos(a), np.sin(a)) for a in np.linspace(0, 1.5, 30)])
    rel = np.linspace(1.0, 0.0, 30)
    idx, mask = rerank(vecs, rel, 10, DiversifyConfig(strength=0.3, explore_share=0.2), rng)
    assert idx.size == 10 and int(mask.sum()) == 2 and len(set(idx.tolist())) == 10
    plain, none = rerank(vecs, rel, 10, DiversifyConfig(strength=0.0, explore_share=0.0), rng)
    assert plain.tolist() == list(range(10)) and not none.any()


def test_bad_config_is_rejected() -> None:
    for kwargs in ({"strength": -0.1}, {"explore_share": 1.0}, {"max_per_category": 0}):
        with pytest.raises(ConfigError):
            DiversifyConfig(**kwargs)  # type: ignore[arg-type]
