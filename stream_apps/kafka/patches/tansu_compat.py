"""Make Faust (aiokafka driver) correct and fast on the embedded Tansu broker.

Three Tansu behaviours hurt Faust. They are fixed client-side here by patching
:class:`faust.transport.drivers.aiokafka.AIOKafkaConsumerThread` (the first two) and
aiokafka's ``GroupCoordinator`` (the third):

* **Fetch wait.** Faust hard-codes ``fetch_max_wait_ms=1500`` for the worker consumer.
  Real Kafka answers a waiting fetch as soon as data arrives; Tansu does not, so every
  event waits out the fetch (p50 ~590 ms). We shorten the wait.
* **Wrong latest offset.** Tansu answers ListOffsets(latest) with the base offset of the
  newest record batch + 1, not the last offset + 1. Faust's table recovery takes that as
  the changelog end and stops early: tables come back stale (RocksDB ones raise
  ``ConsistencyError``). Fetch responses carry the right high watermark, so we correct
  the end offsets from a fetch. Against real Kafka the correction is a no-op.
* **Generation 0.** Tansu numbers a group's first generation 0 (Kafka starts at 1), and
  aiokafka only sends LeaveGroup for a generation > 0. A worker stopped cleanly in its
  first generation then stays a member until its session expires, and the next worker
  joins twice (~13 s instead of ~4.5 s). We send LeaveGroup for generation 0 too.

Call :func:`apply_kafka_compat` once, before the Faust worker starts its consumer, and
pass :func:`faust_broker_settings` to ``faust.App`` for a worker that is ready in seconds.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiokafka
import aiokafka.errors
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.protocol.group import LeaveGroupRequest
from aiokafka.structs import TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from stream_apps.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["apply_kafka_compat", "faust_broker_settings", "kafka_compat_applied"]

#: Attribute set on each replacement function, so a second call patches nothing.
_MARKER = "_streamrec_kafka_compat"

#: Fetch wait of the short-lived end-offset probe consumer. A fetch at an existing
#: offset returns at once; the wait only matters if a partition has no data there.
#: Not 0: Tansu answers a fetch with ``max_wait_time=0`` with no partitions at all.
_PROBE_FETCH_WAIT_MS = 100

#: Give up probing after this long and keep the reported offsets (logged as an error).
_PROBE_TIMEOUT_S = 10.0


class _Config:
    fetch_max_wait_ms: int = 20


def kafka_compat_applied() -> bool:
    """True once :func:`apply_kafka_compat` has patched Faust in this process."""
    cls = faust_aiokafka.AIOKafkaConsumerThread
    patched = (
        cls._create_worker_consumer,
        cls._create_client_consumer,
        cls._highwaters,
        GroupCoordinator._maybe_leave_group,
    )
    return all(getattr(func, _MARKER, False) for func in patched)


def apply_kafka_compat(fetch_max_wait_ms: int = 20) -> None:
    """Patch Faust's aiokafka consumer thread (and aiokafka's LeaveGroup) for Tansu.

    Idempotent: a second call only updates ``fetch_max_wait_ms``, which applies to
    worker consumers created after it. Call it before the worker starts.
    """
    if fetch_max_wait_ms < 1:
        # Tansu returns an empty fetch response for max_wait_time=0, even with data
        # waiting: the consumer would never make progress.
        raise ValueError(f"fetch_max_wait_ms must be >= 1, got {fetch_max_wait_ms}")
    _Config.fetch_max_wait_ms = int(fetch_max_wait_ms)
    _patch_fetch_wait()
    _patch_end_offsets()
    _patch_leave_group()


def _mark(func: Any) -> Any:
    setattr(func, _MARKER, True)
    return func


def _patch_fetch_wait() -> None:
    """Consumers fetch with ``_Config.fetch_max_wait_ms``, not Faust's fixed 1.5 s.

    The worker consumer is the one that matters; the client-only one (aiokafka's 500 ms
    default) gets the same treatment for the same reason.
    """
    cls = faust_aiokafka.AIOKafkaConsumerThread
    for name in ("_create_worker_consumer", "_create_client_consumer"):
        orig = getattr(cls, name)
        if not getattr(orig, _MARKER, False):
            setattr(cls, name, _mark(_with_fetch_wait(orig)))


def _with_fetch_wait(orig: Callable[..., aiokafka.AIOKafkaConsumer]) -> Callable[..., Any]:
    @functools.wraps(orig)
    def create(
        self: faust_aiokafka.AIOKafkaConsumerThread, transport: Any
    ) -> aiokafka.AIOKafkaConsumer:
        consumer = orig(self, transport)
        # aiokafka copies ``_fetch_max_wait_ms`` into its Fetcher in ``start()``, and the
        # Fetcher puts it into every FetchRequest: setting it before start is enough.
        if not hasattr(consumer, "_fetch_max_wait_ms"):  # pragma: no cover - aiokafka drift
            log.warning("aiokafka consumer has no _fetch_max_wait_ms: fetch wait unchanged")
        consumer._fetch_max_wait_ms = _Config.fetch_max_wait_ms
        return consumer

    return create


def _patch_end_offsets() -> None:
    """Recovery's changelog end offsets come from a fetch high watermark (Tansu bug)."""
    cls = faust_aiokafka.AIOKafkaConsumerThread
    orig = cls._highwaters
    if getattr(orig, _MARKER, False):
        return

    async def _highwaters(
        self: faust_aiokafka.AIOKafkaConsumerThread, partitions: list[TP]
    ) -> Mapping[TP, int]:
        """End offsets, corrected from a fetch's high watermark (Tansu)."""
        reported = await orig(self, partitions)
        if self.consumer.in_transaction:
            # last_stable_offset comes from fetch responses already: nothing to fix.
            return reported
        return await _fetch_corrected_ends(self, reported)

    cls._highwaters = _mark(_highwaters)  # type: ignore[method-assign]


def _patch_leave_group() -> None:
    """aiokafka also sends LeaveGroup for generation 0, Tansu's first generation."""
    orig = GroupCoordinator._maybe_leave_group
    if getattr(orig, _MARKER, False):
        return

    async def _maybe_leave_group(self: GroupCoordinator) -> None:
        # aiokafka's own skips generation 0: never a live generation on Kafka (it starts
        # at 1), but Tansu's first one. Same best-effort request as aiokafka's.
        if self.generation == 0 and self._group_instance_id is None and self.member_id:
            try:
                await self._send_req(LeaveGroupRequest(self.group_id, self.member_id))
            except aiokafka.errors.KafkaError as err:
                log.error("LeaveGroup request failed: %s", err)
            else:
                log.info("LeaveGroup request succeeded (generation 0)")
            self.reset_generation()
            return
        await orig(self)

    GroupCoordinator._maybe_leave_group = _mark(_maybe_leave_group)  # type: ignore[method-assign]


async def _fetch_corrected_ends(
    thread: faust_aiokafka.AIOKafkaConsumerThread, reported: Mapping[TP, int]
) -> dict[TP, int]:
    """``reported`` end offsets raised to the high watermark of a real fetch.

    Faust's recovery (``Recovery._build_highwaters``, active and standby) reads the
    changelog end only through ``AIOKafkaConsumerThread._highwaters``. Tansu's
    ListOffsets(latest) can be too low but never too high, and a partition holding any
    data reports at least 1, so we fetch at ``reported - 1`` (an offset that exists) on
    every partition reporting > 0 and take ``max(reported, highwater)``. A separate
    groupless consumer keeps the worker consumer's positions, fetch state and group
    membership untouched; it costs a few ms on a local broker.
    """
    result: dict[TP, int] = dict(reported)
    probe_tps = [tp for tp, end in reported.items() if end is not None and end > 0]
    if not probe_tps:
        return result
    started = time.monotonic()
    try:
        highwaters = await _probe_highwaters(thread, {tp: reported[tp] for tp in probe_tps})
    except Exception:
        # Crashing recovery would take real-Kafka workers down for a correction they do
        # not need; on Tansu this leaves recovery as stale as unpatched Faust.
        log.exception("could not probe high watermarks; using ListOffsets end offsets")
        return result
    for tp in probe_tps:
        hw = highwaters.get(tp)
        if hw is None:
            log.error("no high watermark for %s within %.0fs; its end offset may be low",
                      tp, _PROBE_TIMEOUT_S)
        elif hw > result[tp]:
            log.info("end offset of %s corrected from %d to %d (fetch high watermark)",
                     tp, result[tp], hw)
            result[tp] = hw
    log.debug("probed %d end offsets in %.3fs", len(probe_tps), time.monotonic() - started)
    return result


async def _probe_highwaters(
    thread: faust_aiokafka.AIOKafkaConsumerThread, ends: Mapping[TP, int]
) -> dict[TP, int | None]:
    """Fetch once at ``end - 1`` per partition with a groupless consumer; its highwaters."""
    conf = thread.app.conf
    transport = thread.transport
    kwargs: dict[str, Any] = {}
    if faust_aiokafka._AIOKAFKA_HAS_API_VERSION:
        kwargs["api_version"] = conf.consumer_api_version
    probe = aiokafka.AIOKafkaConsumer(
        **kwargs,
        bootstrap_servers=faust_aiokafka.server_list(transport.url, transport.default_port),
        client_id=f"{conf.broker_client_id}-end-offsets",
        group_id=None,
        enable_auto_commit=False,
        # If ``end - 1`` is gone (retention on real Kafka), reset to the end: the fetch
        # there still carries the high watermark.
        auto_offset_reset="latest",
        fetch_max_wait_ms=_PROBE_FETCH_WAIT_MS,
        max_partition_fetch_bytes=conf.consumer_max_fetch_size,
        request_timeout_ms=int(conf.broker_request_timeout * 1000.0),
        check_crcs=False,
        **faust_aiokafka.credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
    )
    try:
        await probe.start()
        tps = {TopicPartition(tp.topic, tp.partition): tp for tp in ends}
        probe.assign(list(tps))
        for atp, tp in tps.items():
            probe.seek(atp, max(ends[tp] - 1, 0))
        deadline = time.monotonic() + _PROBE_TIMEOUT_S
        pending: Sequence[TopicPartition] = list(tps)
        while pending and (left := deadline - time.monotonic()) > 0:
            # One fetch round usually answers every partition of a node; records for
            # partitions not yet answered keep getmany waiting, so loop on the rest.
            await probe.getmany(*pending, timeout_ms=int(min(left, 1.0) * 1000), max_records=1)
            pending = [atp for atp in pending if probe.highwater(atp) is None]
        return {tp: probe.highwater(atp) for atp, tp in tps.items()}
    finally:
        await probe.stop()


def faust_broker_settings(producer_linger_s: float = Settings.producer_linger_ms / 1000) -> dict[str, Any]:
    """``faust.App`` settings for a worker that is ready in seconds on Tansu, with the
    producer's linger (``Settings.producer_linger_ms``).

    Measured here (2 cores, Tansu 0.6.0): ready ~4.4 s after the process starts, also
    after a SIGTERM restart (with :func:`apply_kafka_compat`); ~13 s after a SIGKILL,
    as the dead member holds its partitions until its session times out.
    """
    return {
        # Tansu holds each JoinGroup for half the session timeout: Faust's 60 s means a
        # 30 s start. 6 s is also Kafka's default group.min.session.timeout.ms, so the
        # same settings work against a real cluster.
        "broker_session_timeout": 6.0,
        "broker_heartbeat_interval": 2.0,  # 1.0 measured no faster
        # No effect measured on Tansu (3, 20 and 60 s alike). Kafka holds a JoinGroup up
        # to the rebalance timeout and aiokafka sends it with the request timeout, so it
        # stays below broker_request_timeout, which Faust requires >= the session timeout.
        "broker_rebalance_timeout": 20.0,
        "broker_request_timeout": 30.0,
        # Standbys bring nothing on a single broker, and one worker was seen as the
        # standby for its own active partitions with 1.
        "table_standby_replicas": 0,
        "stream_recovery_delay": 0.0,  # the default here; older Faust waited 3 s
        # Without linger every few records are a produce request of their own: a worker
        # writes ~7 records per event (state, shared-signal rows, its recommendation).
        "producer_linger": producer_linger_s,
    }
