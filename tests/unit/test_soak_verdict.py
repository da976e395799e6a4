"""stream_apps.tools.soak.levelling_verdict: the pure part of ``streamrec bench --soak``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stream_apps.tools.soak import levelling_verdict, process_rss_mb

T = [10.0 * i for i in range(60)]  # ten minutes, one sample every 10 s


def test_a_saturating_series_levels_off() -> None:
    values = [800 + 300 * (1 - math.exp(-t / 60)) for t in T]
    verdict = levelling_verdict(T, values)
    assert verdict.levelled
    assert verdict.last_slope < 0.05 * verdict.first_slope


def test_steady_growth_does_not_level_off() -> None:
    verdict = levelling_verdict(T, [700 + 0.5 * t for t in T])  # a leak of 30 MB a minute
    assert not verdict.levelled
    assert verdict.first_slope == pytest.approx(0.5) and verdict.last_slope == pytest.approx(0.5)
    assert "still growing" in verdict.reason


def test_a_slow_leak_after_a_fast_warm_up_is_caught() -> None:
    # The warm-up makes the first-third slope steep; the leak afterwards is still +10 % per third.
    values = [min(t, 100.0) * 5 + (0.5 * (t - 100) if t > 100 else 0.0) + 100 for t in T]
    verdict = levelling_verdict(T, values)
    assert verdict.last_slope < 0.2 * verdict.first_slope  # the slope ratio alone would pass it
    assert not verdict.levelled


def test_noise_and_eviction_sawtooth_around_a_level_count_as_levelled() -> None:
    rng = np.random.default_rng(0)
    users = [min(t, 120.0) * 400 - (t % 10) * 400 + 4000 for t in T]  # grows, then sweeps every 10 s
    assert levelling_verdict(T, users).levelled
    rss = (900 + rng.normal(0, 3, len(T))).tolist()
    verdict = levelling_verdict(T, rss)
    assert verdict.levelled and abs(verdict.last_growth_share) < 0.05


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="3 times for 2 values"):
        levelling_verdict([0, 1, 2], [1, 2])
    with pytest.raises(ValueError, match="at least 6 samples"):
        levelling_verdict([0, 1, 2], [1, 2, 3])


def test_rss_of_this_process_is_read_from_proc() -> None:
    import os

    rss = process_rss_mb(os.getpid())
    assert rss is not None and 10 < rss < 100_000
    assert process_rss_mb(2**22 + 12345) is None  # no such process


def test_report_states_bounds_and_whether_the_worker_kept_up() -> None:
    from stream_apps.tools.soak import SoakOptions, build_report

    options = SoakOptions(rate=100.0, user_ttl_s=60.0, sweep_interval_s=10.0, items=3000)
    samples = [{"t_s": 10.0 * i, "rss_mb": 800.0, "users": min(i, 7) * 1000, "covisit_pairs": 4000,
                "trending_entries": 9000, "events_sent": 1000 * i, "events_processed": 400 * i}
               for i in range(12)]
    report = build_report(options, samples)
    # users: a TTL and a sweep of new users; covisit: items x 50 neighbours; trending:
    # the global counter plus four scenes of at most 2,000 items each.
    assert report["verdicts"]["users"]["bound"] == 7000
    assert report["verdicts"]["covisit_pairs"]["bound"] == 3000 * 50
    assert report["verdicts"]["trending_entries"]["bound"] == 3000 + 4 * 2000
    assert report["verdicts"]["rss_mb"]["levelled"] and report["verdicts"]["users"]["levelled"]
    assert report["throughput"] == {"sent_per_s": 100.0, "processed_per_s": 40.0, "kept_up": False}


def test_a_dip_and_recovery_at_the_bound_counts_as_levelled() -> None:
    # Users at their TTL bound; a stall empties the table in the last third, then it refills:
    # the slope there is steep, but no new peak is reached.
    users = [min(t * 40, 4000.0) for t in T]
    for i in range(40, 44):
        users[i] = 4000.0 - 750 * (i - 39)
    for i in range(44, 60):
        users[i] = min(1000.0 + 250 * (i - 43), 3950.0)
    verdict = levelling_verdict(T, users)
    assert verdict.last_growth_share > 0.5  # the slope rule alone would say "growing"
    assert verdict.new_high_share <= 0.0
    assert verdict.levelled and "peak" in verdict.reason
