"""Run one stream worker until it is stopped."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time

from stream_apps.kafka.errors import BrokerRejected, BrokerUnreachable
from stream_apps.kafka.topic_watch import reset_group_offsets
from stream_apps.kafka.topics import ensure_topics
from stream_apps.settings import Settings

log = logging.getLogger(__name__)


def wait_for_topics(settings: Settings, max_wait_s: float | None = None) -> None:
    """Create the topics, retrying with back-off while the broker is away (one log line per wait)."""
    delay, waited, rejected = 0.5, 0.0, 0
    while True:
        try:
            ensure_topics(settings)
            return
        except BrokerUnreachable as exc:
            # A broker that refuses our TLS or SASL settings will not change its mind: the CLI
            # says so at once, a worker after a few tries (a broker still starting may hang
            # up too), then exits with the reason.
            rejected = rejected + 1 if isinstance(exc, BrokerRejected) else 0
            if rejected and max_wait_s is not None or rejected >= 3:
                raise
            if max_wait_s is not None and waited >= max_wait_s:
                raise
            if delay == 0.5:
                log.warning("waiting for Kafka at %s: %s", settings.bootstrap_servers, exc)
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 10.0)


class BrokerOutageLog(logging.Filter):
    """One clear line per broker outage instead of an error every few hundred ms.

    aiokafka logs each failed connection, metadata update and fetch while the broker is
    away; the worker keeps retrying with back-off either way.
    """

    NOISE = ("Unable connect to node", "Unable to update metadata", "Failed fetch messages",
             "Got error produce response", "Group Coordinator Request failed",
             "Error sending HeartbeatRequest", "Heartbeat send request failed",
             "Marking the coordinator dead", "Heartbeat session expired")

    def __init__(self, quiet_s: float = 60.0) -> None:
        super().__init__()
        self.quiet_s = quiet_s
        self._last = -float("inf")

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if not any(message.startswith(n) for n in self.NOISE):
            return True
        now = time.monotonic()
        first = now - self._last > self.quiet_s
        self._last = now
        if first:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg = ("Kafka broker unreachable (" + message + "); retrying with back-off, "
                          "repeats are suppressed until a minute passes without one")
        return first


def install_outage_log() -> None:
    collapse = BrokerOutageLog()
    for name in ("aiokafka", "aiokafka.consumer.fetcher", "aiokafka.producer.sender",
                 "aiokafka.consumer.group_coordinator", "aiokafka.conn", "aiokafka.cluster"):
        logging.getLogger(name).addFilter(collapse)


def use_event_loop(name: str) -> None:
    """Make ``name`` (``Settings.event_loop``) the loop of every asyncio loop made from here
    on: the worker's, and Faust's consumer thread's."""
    if name == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    else:
        asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())


def run_worker(settings: Settings) -> int:
    import faust

    from stream_apps.worker.app import create_app
    from stream_apps.worker.metrics import GcPauses

    install_outage_log()
    # The loop (Kafka I/O) and the ranking thread share the GIL: with Python's default 5 ms
    # switch interval, every socket call of the loop can wait 5 ms for the ranking thread
    # to let go. A shorter interval measured 30 % more events/s under a backlog.
    sys.setswitchinterval(settings.gil_switch_interval_ms / 1000.0)
    use_event_loop(settings.event_loop)
    wait_for_topics(settings)
    worker = create_app(settings)
    GcPauses(worker.ctx.metrics.gc_pauses).install()
    try:
        faust.Worker(worker.app, loglevel=settings.log_level, quiet=True).execute_from_commandline()
    finally:
        worker.ctx.shutdown()
        if worker.ctx.restart_requested:
            names = worker.ctx.names
            reset_group_offsets(settings, [names.click, names.search, names.purchase, names.impression,
                                           names.items, names.control])
            # A fresh process: simpler and surer than resetting Faust's offsets in place.
            os.execv(sys.executable, [sys.executable, "-m", "stream_apps", *sys.argv[1:]])
    return 0
