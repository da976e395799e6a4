"""Run one stream worker until it is stopped."""

from __future__ import annotations

import logging
import time

from stream_apps.kafka_clients import BrokerUnreachable
from stream_apps.settings import Settings
from stream_apps.topics import ensure_topics

log = logging.getLogger(__name__)


def wait_for_topics(settings: Settings, max_wait_s: float | None = None) -> None:
    """Create the topics, retrying with back-off while the broker is away (one log line per wait)."""
    delay, waited = 0.5, 0.0
    while True:
        try:
            ensure_topics(settings)
            return
        except BrokerUnreachable as exc:
            if max_wait_s is not None and waited >= max_wait_s:
                raise
            if delay == 0.5:
                log.warning("waiting for Kafka at %s: %s", settings.bootstrap_servers, exc)
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 10.0)


def run_worker(settings: Settings) -> int:
    import faust

    from stream_apps.app import create_app

    wait_for_topics(settings)
    worker = create_app(settings)
    try:
        faust.Worker(worker.app, loglevel=settings.log_level, quiet=True).execute_from_commandline()
    finally:
        worker.ctx.shutdown()
    return 0
