"""A tiny Faust worker for the partition-watchdog test, configured by environment variables.

Run: ``python tests/integration/stall_app.py worker -l info --without-web``.

* ``STALL_BROKER``, ``STALL_APP_ID``, ``STALL_TOPIC`` (2 partitions), ``STALL_OUT`` (a
  directory), ``STALL_AFTER_S`` (the watchdog's threshold).
* The worker writes ``live-<pid>.json``: ``{"offsets": {partition: [offsets read]},
  "repairs": {action: count}, "sabotage": state}``, atomically, every 0.2 s.
* Sabotage, on request: when ``<out>/pause`` exists it takes partition 0 out of the
  fetch loop (Faust-level pause; sabotage state ``paused``). When ``<out>/skip`` then
  holds a number N, it waits until the consumer has fetched partition 0 up to N, moves
  aiokafka's position there (the consumer thread, as Faust would), and resumes the
  partition in Faust (state ``skipped``). That is the state issue #7 left partitions
  in: aiokafka's position past messages Faust never handed to the stream, nothing ever
  fetched again, the committed offset behind the high watermark.
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import faust
from prometheus_client import CollectorRegistry, Counter

# The repo is not installed: make stream_apps importable when run as a script.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from stream_apps.kafka.patches.partition_watchdog import register_partition_watchdog  # noqa: E402
from stream_apps.kafka.patches.tansu_compat import apply_kafka_compat, faust_broker_settings  # noqa: E402


def build_app() -> faust.App:
    """The worker app, from the environment (nothing at import time: doctest collection)."""
    env = os.environ
    out = Path(env["STALL_OUT"])
    apply_kafka_compat()
    app = faust.App(env["STALL_APP_ID"], broker=f"kafka://{env['STALL_BROKER']}",
                    store="memory://", topic_partitions=2, **faust_broker_settings())
    topic = app.topic(env["STALL_TOPIC"], value_serializer="json", partitions=2)
    repairs = Counter("repairs", "watchdog repairs", ["action"], registry=CollectorRegistry())
    register_partition_watchdog(app, app.tables.recovery.completed.is_set, repairs,
                                float(env["STALL_AFTER_S"]))
    read: dict[int, list[int]] = defaultdict(list)
    sabotage = {"state": "none"}

    @app.agent(topic)
    async def process(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            read[event.message.partition].append(event.message.offset)

    @app.timer(0.2)
    async def saboteur() -> None:
        tp = next((tp for tp in app.consumer.assignment()
                   if tp.topic == env["STALL_TOPIC"] and tp.partition == 0), None)
        if tp is None:
            return
        if sabotage["state"] == "none" and (out / "pause").exists():
            app.consumer.pause_partitions([tp])
            sabotage["state"] = "paused"
        skip = out / "skip"
        if sabotage["state"] == "paused" and skip.exists() and skip.read_text().strip():
            target = int(skip.read_text())
            if (app.consumer.highwater(tp) or 0) >= target:
                thread = app.consumer._thread
                await thread.call_thread(_seek, thread._consumer, tp, target)
                app.consumer.resume_partitions([tp])
                sabotage["state"] = "skipped"

    @app.timer(0.2)
    async def dump() -> None:
        counts = {s.labels["action"]: s.value for m in repairs.collect() for s in m.samples
                  if s.name.endswith("_total")}
        payload = {"offsets": dict(read), "repairs": counts, "sabotage": sabotage["state"]}
        path = out / f"live-{os.getpid()}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload))
        tmp.replace(path)

    return app


async def _seek(consumer: Any, tp: Any, offset: int) -> None:
    from aiokafka import TopicPartition

    # On the consumer thread: aiokafka is not thread-safe.
    consumer.seek(TopicPartition(tp.topic, tp.partition), offset)


if __name__ == "__main__":
    build_app().main()
