"""Notice an assigned partition that the worker stopped reading, and make it read again.

After a rebalance, Faust (aiokafka driver) sometimes holds a partition with unread
messages and never hands them to the streams (issue #7; like faust-streaming/faust#629):
the worker is "ready", other partitions flow, this one does not move. Nothing in Faust
or aiokafka notices. This watchdog does:

* :class:`StallDetector` (pure, clock passed in) decides which partitions are stalled:
  behind their high watermark (or never fetched), with no event of it in the agents'
  hands and no new commit for ``stall_after_s`` seconds, while the worker is ready and
  not rebalancing. Faust commits what was processed every ~3 s, so a partition that
  reads on but cannot commit (an event missing below what it read, see
  :mod:`stream_apps.kafka.patches.faust_fixes`) is stalled too; one whose events an agent is still
  working on (a slow batch) is not. Time while the worker is busy does not count: while a
  commit runs (it first waits for the producer to flush, tens of seconds on a worker that
  is behind) or while the agents hold a backlog (at least ``busy_in_hand`` messages not
  acknowledged: Faust then stops handing out messages of every partition until a stream
  has room, so a partition of another topic waits without being stalled). Repairing
  then (a seek back, a rejoin with its changelog recovery) only adds work to a worker
  that is behind.
* :func:`register_partition_watchdog` samples the worker every few seconds and repairs a
  stalled partition: first by resuming it and seeking it back to its committed offset
  (what Faust does for every partition at the end of a rebalance; replays are harmless,
  ``event_id`` dedup makes them no-ops), and if that partition stalls again, by asking
  the group for a rejoin (a full rebalance). Each repair is one WARNING line with the
  consumer's state for that partition, and counts in
  ``streamrec_partition_stall_repairs_total{action}``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from faust.transport.consumer import Consumer as FaustConsumer

log = logging.getLogger(__name__)

__all__ = ["PRIVATE_ATTRIBUTES", "PartitionReading", "Stall", "StallDetector",
           "register_partition_watchdog", "repair_action"]

#: Private Faust attributes the watchdog reads that a class can be asked for (checked at
#: start-up by :func:`stream_apps.kafka.patches.apply_patches`; the consumer's offset and
#: unacked-message bookkeeping only exists on an instance).
PRIVATE_ATTRIBUTES: tuple[tuple[Any, str], ...] = ((FaustConsumer, "_commit_fut"),)

#: Actions, in the order they are tried on the same partition.
SEEK, REJOIN = "seek", "rejoin"


@dataclass(frozen=True)
class PartitionReading:
    """What the worker knows about one assigned partition at one moment.

    ``highwater``: offset of the next message the broker will write (from the last fetch
    response; None before the first fetch). ``committed``: next offset to read according
    to the last commit or seek. ``read``: offset of the last message handed to the streams.
    ``in_hand``: messages handed to the streams and not acknowledged yet.
    """

    topic: str
    partition: int
    highwater: int | None
    committed: int | None
    read: int | None
    in_hand: int = 0

    @property
    def unread(self) -> bool:
        """Nothing being processed, and never fetched or messages past the committed
        offset (None counts as 0)."""
        if self.in_hand:
            return False  # an agent is on it: slow is not stalled
        return self.highwater is None or self.highwater > (self.committed or 0)


@dataclass(frozen=True)
class Stall:
    """A partition unread and not moving for ``stuck_s`` seconds; ``repeat`` counts the
    stalls reported before on it without progress in between (0 for the first)."""

    reading: PartitionReading
    stuck_s: float
    repeat: int


@dataclass
class _Track:
    since: float  # on the detector's clock (time while not busy)
    committed: int | None
    reported: int = 0


@dataclass
class StallDetector:
    """Which partitions are stalled, from successive readings (pure; no Faust, no clock).

    Examples
    --------
    >>> d = StallDetector(stall_after_s=10.0)
    >>> stuck = PartitionReading("clicks", 3, highwater=27, committed=25, read=None)
    >>> d.observe(0.0, [stuck]), d.observe(9.0, [stuck])
    ([], [])
    >>> [(s.reading.partition, s.stuck_s, s.repeat) for s in d.observe(10.0, [stuck])]
    [(3, 10.0, 0)]
    >>> moving = PartitionReading("clicks", 3, highwater=27, committed=26, read=26)
    >>> d.observe(30.0, [moving])
    []

    Time while the worker is busy (a commit running, a backlog in hand) is not counted:

    >>> d = StallDetector(stall_after_s=10.0)
    >>> d.observe(0.0, [stuck]), d.observe(2.0, [stuck], busy=True)
    ([], [])
    >>> d.observe(40.0, [stuck], busy=True), d.observe(45.0, [stuck])
    ([], [])
    >>> [(s.reading.partition, s.stuck_s) for s in d.observe(55.0, [stuck])]
    [(3, 10.0)]
    """

    stall_after_s: float
    _tracks: dict[tuple[str, int], _Track] = field(default_factory=dict)
    _clock: float = 0.0  # seconds observed while not busy
    _last_now: float | None = None
    _was_busy: bool = False

    def __post_init__(self) -> None:
        if not self.stall_after_s > 0:
            raise ValueError(f"stall_after_s must be > 0, got {self.stall_after_s}")

    def reset(self) -> None:
        """Forget all partitions: after a rebalance every clock starts again."""
        self._tracks.clear()

    def _advance(self, now: float, busy: bool) -> float:
        """The clock at ``now``: an interval counts only if the worker was not busy at
        either end of it (sampled every few seconds, so a long commit is seen at one end
        or both)."""
        if self._last_now is not None and not (busy or self._was_busy):
            self._clock += max(now - self._last_now, 0.0)
        self._last_now, self._was_busy = now, busy
        return self._clock

    def observe(self, now: float, readings: Iterable[PartitionReading],
                busy: bool = False) -> list[Stall]:
        """Record ``readings`` taken at ``now``; the partitions stalled at that moment.
        ``busy``: a commit running or a backlog in the agents' hands (see the module's
        docstring); the time until the next reading does not count toward a stall.

        A reported partition is reported again only after another ``stall_after_s``
        without progress (with ``repeat`` one higher), so each repair gets time to work.
        """
        now = self._advance(now, busy)
        stalls: list[Stall] = []
        seen: set[tuple[str, int]] = set()
        for r in readings:
            key = (r.topic, r.partition)
            seen.add(key)
            track = self._tracks.get(key)
            if track is None or not r.unread or track.committed != r.committed:
                self._tracks[key] = _Track(since=now, committed=r.committed)
                continue
            stuck_s = now - track.since
            if stuck_s >= self.stall_after_s * (track.reported + 1):
                stalls.append(Stall(r, stuck_s, track.reported))
                track.reported += 1
        for key in set(self._tracks) - seen:
            del self._tracks[key]
        return stalls


def repair_action(stall: Stall) -> str:
    """Seek first (cheap, touches one partition); a rejoin if the seek did not help."""
    return SEEK if stall.repeat == 0 else REJOIN


# --- Faust glue -----------------------------------------------------------------------

def register_partition_watchdog(app: Any, ready: Callable[[], bool], repairs: Any,
                                stall_after_s: float, interval_s: float = 2.0,
                                busy_in_hand: int = 512) -> Any:
    """A Faust timer that checks the worker's partitions every ``interval_s``.

    ``ready()`` says when the worker's streams are meant to run (the agents may wait for
    the catalogue first); ``repairs`` is a Prometheus counter labelled by ``action``;
    ``busy_in_hand``: messages handed to the agents and not acknowledged from which the
    worker counts as backlogged (a couple of micro-batches' worth).
    """
    detector = StallDetector(stall_after_s)
    last_generation: list[Any] = [None]

    @app.timer(interval=interval_s, name="partition_watchdog")
    async def partition_watchdog() -> None:
        generation = getattr(app, "consumer_generation_id", None)
        if not _steady(app, ready) or generation != last_generation[0]:
            detector.reset()
            last_generation[0] = generation
            return
        readings = read_partitions(app)
        busy = committing(app) or sum(r.in_hand for r in readings) >= busy_in_hand
        for stall in detector.observe(time.monotonic(), readings, busy):
            await repair(app, stall, repair_action(stall), repairs)

    return partition_watchdog


def _steady(app: Any, ready: Callable[[], bool]) -> bool:
    """Ready, not rebalancing or recovering, flow on: a stalled partition means something."""
    consumer = app.consumer
    return bool(ready() and not app.rebalancing and not app.in_recovery
                and getattr(consumer, "flow_active", False))


def committing(app: Any) -> bool:
    """Is a commit running? Faust's ``Consumer.commit`` holds ``_commit_fut`` from start to end."""
    return getattr(app.consumer, "_commit_fut", None) is not None


def read_partitions(app: Any) -> list[PartitionReading]:
    """One reading per assigned partition that a stream reads (changelogs and Faust's
    assignor topic are read only in recovery or not at all)."""
    consumer = app.consumer
    acking = set(app.topics.acking_topics)
    changelogs = set(app.tables.changelog_topics)
    in_hand: dict[Any, int] = {}
    for message in list(consumer._unacked_messages):
        in_hand[message.tp] = in_hand.get(message.tp, 0) + 1
    readings = []
    for tp in sorted(consumer.assignment()):
        if tp.topic not in acking or tp.topic in changelogs:
            continue
        try:
            highwater = consumer.highwater(tp)
        except Exception:  # noqa: BLE001 - not fetched in this assignment yet
            highwater = None
        readings.append(PartitionReading(tp.topic, tp.partition, highwater,
                                         consumer._committed_offset.get(tp),
                                         consumer._read_offset.get(tp), in_hand.get(tp, 0)))
    return readings


def diagnose(app: Any, tp: Any) -> dict[str, Any]:
    """The Faust and aiokafka state of ``tp``, for the repair's log line (best effort)."""
    consumer = app.consumer
    info: dict[str, Any] = {
        "faust_active": tp in (consumer._active_partitions or ()),
        "faust_paused": tp in consumer._paused_partitions,
        "faust_buffered": tp in consumer._buffered_partitions,
        "conductor_has_tp": tp in getattr(app.topics, "_tp_to_callback", {}),
        "generation": getattr(app, "consumer_generation_id", None),
    }
    try:
        aio = consumer._thread._consumer
        assignment = aio._subscription.subscription.assignment
        state = assignment.state_value(tp)
        fetcher = aio._fetcher
        pending = fetcher._records.get(tp)
        info.update({
            "aiokafka_assigned": state is not None,
            "aiokafka_position": state._position if state is not None else None,
            "aiokafka_awaiting_reset": state.awaiting_reset if state is not None else None,
            "aiokafka_paused": state.paused if state is not None else None,
            "aiokafka_buffered": type(pending).__name__ if pending is not None else None,
            "aiokafka_buffered_next": getattr(getattr(pending, "_partition_records", None),
                                              "next_fetch_offset", None),
            "aiokafka_buffered_age_s": (round(time.monotonic() - pending._created, 1)
                                        if hasattr(pending, "_created") else None),
            "aiokafka_nodes_in_flight": sorted(fetcher._in_flight),
            "aiokafka_fetch_task_done": fetcher._fetch_task.done(),
        })
    except Exception as exc:  # noqa: BLE001 - aiokafka internals moved: say so, go on
        info["aiokafka_state"] = f"unavailable: {exc!r}"
    return info


async def repair(app: Any, stall: Stall, action: str, repairs: Any) -> None:
    """Make ``stall``'s partition read again; one WARNING line, one count."""
    from faust.types import TP

    r = stall.reading
    tp = TP(r.topic, r.partition)
    state = diagnose(app, tp)
    consumer = app.consumer
    log.warning("partition %s[%d] stalled: %d unread (highwater %s, committed %s, last read %s), "
                "no progress for %.0fs; repair: %s; state: %s",
                r.topic, r.partition, (r.highwater or 0) - (r.committed or 0), r.highwater,
                r.committed, r.read, stall.stuck_s, action, state)
    repairs.labels(action=action).inc()
    if action == SEEK:
        # Faust's own end-of-rebalance steps for one partition: back into the set the
        # fetch loop reads, then a seek to the committed offset (through the consumer
        # thread, which drops any stale prefetched batch and fetches afresh).
        consumer.resume_partitions([tp])
        await consumer.seek_wait({tp: r.committed or 0})
    else:
        thread = consumer._thread
        await thread.call_thread(_request_rejoin, thread._consumer)


async def _request_rejoin(aio_consumer: Any) -> None:
    # On the consumer thread's loop: aiokafka's coordinator is not thread-safe.
    aio_consumer._coordinator.request_rejoin()
    await asyncio.sleep(0)
