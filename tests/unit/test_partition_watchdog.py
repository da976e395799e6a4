"""The watchdog's decisions, without Kafka: when a partition counts as stalled, and what
is done about it. Its repair against a real broker is in tests/integration/test_scale_out.py."""

from __future__ import annotations

import pytest

from stream_apps.kafka.patches.partition_watchdog import (
    REJOIN,
    SEEK,
    PartitionReading,
    StallDetector,
    repair_action,
)


def reading(highwater: int | None, committed: int | None, read: int | None,
            partition: int = 0, in_hand: int = 0) -> PartitionReading:
    return PartitionReading("events.click", partition, highwater, committed, read, in_hand)


def test_a_partition_behind_without_progress_is_reported_once_per_period() -> None:
    d = StallDetector(stall_after_s=10.0)
    stuck = reading(27, 25, 24)
    assert d.observe(0.0, [stuck]) == []
    assert d.observe(9.9, [stuck]) == []
    stalls = d.observe(10.0, [stuck])
    assert [(s.reading, s.stuck_s, s.repeat) for s in stalls] == [(stuck, 10.0, 0)]
    # The repair gets a full period before the same partition is reported again.
    assert d.observe(19.9, [stuck]) == []
    assert [s.repeat for s in d.observe(20.0, [stuck])] == [1]
    assert [repair_action(s) for s in d.observe(30.0, [stuck])] == [REJOIN]


def test_progress_or_a_caught_up_partition_is_never_a_stall() -> None:
    d = StallDetector(stall_after_s=5.0)
    # Reading moves (a busy partition always has a backlog): no stall.
    for t in range(0, 60, 2):
        assert d.observe(float(t), [reading(1000 + 10 * t, 500 + 10 * t, 505 + 10 * t)]) == []
    # Caught up and idle for a minute: nothing unread, nothing to repair.
    idle = reading(27, 27, 26, partition=1)
    assert all(d.observe(float(t), [idle]) == [] for t in range(60, 120, 2))
    # A commit is progress (the read offset may not move while a queue drains).
    assert d.observe(120.0, [reading(50, 30, 49, partition=2)]) == []
    assert d.observe(124.0, [reading(50, 40, 49, partition=2)]) == []
    assert d.observe(128.0, [reading(50, 40, 49, partition=2)]) == []


def test_reading_on_without_committing_is_a_stall() -> None:
    # An event missing at the committed offset: Faust reads on but may not commit past it.
    d = StallDetector(stall_after_s=10.0)
    for t in range(0, 10, 2):
        assert d.observe(float(t), [reading(100 + t, 42, 60 + t)]) == []
    assert [s.reading.committed for s in d.observe(10.0, [reading(110, 42, 70)])] == [42]


def test_events_in_an_agents_hands_are_slow_not_stalled() -> None:
    # All 37 read, none acknowledged yet: an agent encoding a big batch on a busy machine.
    d = StallDetector(stall_after_s=10.0)
    assert all(d.observe(float(t), [reading(37, None, 36, in_hand=37)]) == [] for t in range(0, 60, 2))
    # Done with them but nothing committed for a full period: that is a stall.
    d.observe(60.0, [reading(37, None, 36)])
    assert len(d.observe(70.0, [reading(37, None, 36)])) == 1


def test_a_partition_never_fetched_is_a_stall() -> None:
    d = StallDetector(stall_after_s=5.0)
    never = reading(None, None, None)
    d.observe(0.0, [never])
    assert [repair_action(s) for s in d.observe(5.0, [never])] == [SEEK]


def test_a_new_message_does_not_restart_the_clock_but_progress_does() -> None:
    d = StallDetector(stall_after_s=10.0)
    d.observe(0.0, [reading(27, 25, None)])
    # More data arriving is not progress: the partition is still not read.
    assert len(d.observe(10.0, [reading(30, 25, None)])) == 1
    d.observe(12.0, [reading(30, 30, 29)])  # repaired: it read and committed
    # The clock runs from the last reading that was caught up (the message came after it).
    d.observe(13.0, [reading(31, 30, 29)])
    assert d.observe(21.9, [reading(31, 30, 29)]) == []
    # A fresh stall after progress starts again at repeat 0 (a seek, not a rejoin).
    assert [s.repeat for s in d.observe(22.0, [reading(31, 30, 29)])] == [0]


def test_reset_and_reassignment_forget_the_clocks() -> None:
    d = StallDetector(stall_after_s=10.0)
    stuck = reading(27, 25, None)
    d.observe(0.0, [stuck])
    d.reset()  # a rebalance: positions move, clocks start again
    assert d.observe(10.0, [stuck]) == []
    d.observe(15.0, [])  # the partition went to another worker
    assert d.observe(20.0, [stuck]) == []
    assert len(d.observe(30.0, [stuck])) == 1


def test_partitions_are_tracked_independently() -> None:
    d = StallDetector(stall_after_s=10.0)
    d.observe(0.0, [reading(5, 0, None, partition=0), reading(5, 0, None, partition=1)])
    stalls = d.observe(10.0, [reading(5, 0, None, partition=0), reading(5, 5, 4, partition=1)])
    assert [s.reading.partition for s in stalls] == [0]


def test_the_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError, match="stall_after_s"):
        StallDetector(stall_after_s=0.0)


def test_time_while_busy_does_not_count() -> None:
    # A busy worker's commit waits for the producer's flush (or its agents hold a backlog):
    # 60 s here, sampled every 2 s.
    d = StallDetector(stall_after_s=10.0)
    stuck = reading(27, 25, 24)
    assert d.observe(0.0, [stuck]) == []
    for t in range(2, 62, 2):
        assert d.observe(float(t), [stuck], busy=True) == []
    # Out of the commit with no progress: the stall clock goes on from where it stood.
    assert d.observe(64.0, [stuck]) == []
    assert d.observe(72.0, [stuck]) == []
    stalls = d.observe(74.0, [stuck])
    assert [s.stuck_s for s in stalls] == [10.0]
