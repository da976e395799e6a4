"""Metric and replay code of ``streamrec evaluate`` against hand-computed examples."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from engine.baselines import CovisitRecommender, PopularRecommender
from engine.evaluation import (
    EvaluationError,
    coverage,
    hit_rank,
    metrics_from_ranks,
    replay,
    warmup_count,
    windowed,
)
from engine.events import Interaction


def click(user: str, item: str, ts: float) -> Interaction:
    return Interaction("click", user, ts, item_id=item)


def test_metrics_by_hand() -> None:
    # Four events, k=3: hits at rank 0 and rank 2, a miss, and a hit at rank 5 (past k).
    m = metrics_from_ranks([0, 2, -1, 5], k=3)
    assert m.scored == 4
    assert m.recall == pytest.approx(2 / 4)
    assert m.ndcg == pytest.approx((1 / math.log2(2) + 1 / math.log2(4)) / 4)  # (1 + 0.5) / 4
    assert m.ndcg == pytest.approx(0.375)
    assert m.mrr == pytest.approx((1 + 1 / 3) / 4)


def test_perfect_and_empty() -> None:
    assert metrics_from_ranks([0, 0, 0], k=1) == metrics_from_ranks(np.zeros(3, np.int64), k=10)
    assert metrics_from_ranks([0, 0], k=1).ndcg == 1.0
    empty = metrics_from_ranks([], k=5)
    assert (empty.recall, empty.ndcg, empty.mrr, empty.scored) == (0.0, 0.0, 0.0, 0)
    with pytest.raises(EvaluationError):
        metrics_from_ranks([0], k=0)


def test_hit_rank_coverage_windows_warmup() -> None:
    assert hit_rank(["a", "b", "c"], "c", k=3) == 2
    assert hit_rank(["a", "b", "c"], "c", k=2) == -1
    assert hit_rank([], "a", k=3) == -1
    assert coverage(["a", "b", "b", "c"], catalogue_size=6) == pytest.approx(0.5)
    points = windowed([0, -1, -1, -1, 1, 0], [1, 2, 3, 4, 5, 6], k=2, windows=3)
    assert [ts for ts, _ in points] == [1.5, 3.5, 5.5]
    assert [m.recall for _, m in points] == [0.5, 0.0, 1.0]
    assert [m.mrr for _, m in points] == [0.5, 0.0, 0.75]
    assert warmup_count(0.25, 8) == 2 and warmup_count(3, 8) == 3
    with pytest.raises(EvaluationError):
        warmup_count(-1, 8)


class Scripted:
    """Recommends whatever it was last fed, globally: checks test-then-train order."""

    name = "scripted"

    def __init__(self) -> None:
        self.fed: list[str] = []
        self.asked = 0

    def recommend(self, user_id: str, now: float, k: int) -> list[str]:
        self.asked += 1
        return list(reversed(self.fed))[:k]

    def update(self, event: Interaction) -> None:
        assert event.item_id is not None
        self.fed.append(event.item_id)


def test_replay_asks_before_it_feeds() -> None:
    events = [click("u1", "a", 1), click("u2", "a", 2), click("u2", "b", 3), click("u3", "a", 4),
              click("u1", "z", 5)]
    rec = Scripted()
    (trace,) = replay(events, [rec], k=2, warmup=1, scorable=lambda i: i != "z", clock=iter(range(100)).__next__)
    # Event 0 is warm-up; z is not in the catalogue: 3 scored events.
    # u2/a: fed [a] -> rank 0.  u2/b: fed [a, a] -> miss.  u3/a: fed [a,a,b] -> [b, a] -> rank 1.
    assert trace.ranks == [0, -1, 1]
    assert trace.scored_ts == [2, 3, 4]
    assert rec.asked == 3 and rec.fed == ["a", "a", "b", "a", "z"]
    assert trace.recommended == {"a", "b"}


def test_replay_skips_repeats_unless_asked() -> None:
    events = [click("u1", "a", 1), click("u1", "a", 2), click("u1", "b", 3)]
    (skip,) = replay(events, [Scripted()], k=5, warmup=0, scorable=lambda i: True, clock=lambda: 0.0)
    (keep,) = replay(events, [Scripted()], k=5, warmup=0, scorable=lambda i: True, clock=lambda: 0.0,
                     include_repeats=True)
    assert skip.scored_ts == [1, 3] and skip.ranks == [-1, -1]  # the second "a" is fed, not scored
    assert keep.scored_ts == [1, 2, 3] and keep.ranks == [-1, 0, -1]


def test_replay_times_with_the_injected_clock() -> None:
    ticks = iter(float(t) for t in range(100))
    (trace,) = replay([click("u1", "a", 1), click("u2", "a", 2)], [Scripted()], k=1, warmup=1,
                      scorable=lambda i: True, clock=ticks.__next__)
    # Each clock pair is 1 s apart: one update for event 0, then recommend + update for event 1.
    assert trace.recommend_s == 1.0 and trace.update_s == 2.0
    assert trace.summary(k=1, catalogue_size=4, events=2)["ms_per_event"] == 1500.0


def test_baselines_do_not_mutate_inputs_and_repeat() -> None:
    events = [click(f"u{i % 3}", f"i{i % 5}", float(i)) for i in range(30)]
    before = list(events)
    runs = []
    for _ in range(2):
        recs = [PopularRecommender([f"i{j}" for j in range(5)], half_life_s=5.0), CovisitRecommender()]
        traces = replay(events, recs, k=3, warmup=0, scorable=lambda i: True, clock=lambda: 0.0,
                        include_repeats=True)
        runs.append([t.ranks for t in traces])
    assert runs[0] == runs[1]
    assert events == before


def test_popular_survives_decades_of_decay() -> None:
    pop = PopularRecommender(["old", "new"], half_life_s=86400.0)
    pop.update(click("u1", "old", 0.0))
    pop.update(click("u1", "old", 1.0))
    pop.update(click("u2", "new", 20 * 365 * 86400.0))  # 2**7300 would overflow
    # "old" decayed by 2**-7300: zero in float64, so it is not recommended; nothing overflowed.
    assert pop.recommend("u3", now=20 * 365 * 86400.0, k=2) == ["new"]
    pop.update(click("u4", "old", 20 * 365 * 86400.0 + 1))
    assert pop.recommend("u3", now=20 * 365 * 86400.0 + 1, k=2) == ["old", "new"]  # fresher by 1 s


def test_evaluate_keeps_embeddings_by_content(tmp_path: Path) -> None:
    from engine.encoder import HashingEncoder
    from stream_apps.tools.embeddings import encode_texts

    class Counting(HashingEncoder):
        calls = 0

        def encode(self, texts: Sequence[str]) -> np.ndarray:
            Counting.calls += 1
            return super().encode(texts)

    encoder = Counting(dim=16)
    first = encode_texts(encoder, ["red shoes", "blue hat"], "items", quiet=True, cache_dir=tmp_path)
    again = encode_texts(encoder, ["red shoes", "blue hat"], "items", quiet=True, cache_dir=tmp_path)
    assert Counting.calls == 1 and np.array_equal(first, again)
    other = encode_texts(encoder, ["red shoes", "green hat"], "items", quiet=True, cache_dir=tmp_path)
    assert Counting.calls == 2 and not np.array_equal(first, other)
    assert len(list(tmp_path.glob("*.npy"))) == 2
    encode_texts(encoder, ["red shoes", "blue hat"], "items", quiet=True)  # no cache asked: encodes
    assert Counting.calls == 3


def test_replay_stops_when_asked_and_keeps_what_it_scored() -> None:
    events = [click(f"u{n % 3}", f"i{n % 5}", float(n)) for n in range(40)]
    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) > 25  # yes from the 26th question on: 25 events replayed

    last = []
    traces = replay(events, [PopularRecommender([f"i{n}" for n in range(5)])], k=2, warmup=0,
                    scorable=lambda _: True, clock=lambda: 0.0, on_event=last.append, should_stop=stop)
    full = replay(events[:25], [PopularRecommender([f"i{n}" for n in range(5)])], k=2, warmup=0,
                  scorable=lambda _: True, clock=lambda: 0.0)
    assert last[-1] == 24 and traces[0].ranks == full[0].ranks
