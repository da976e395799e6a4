"""A tiny Faust worker for the table-recovery test, configured by environment variables.

Run: ``python tests/integration/recovery_app.py worker -l info --without-web``.

* ``RECOVERY_BROKER`` bootstrap servers, ``RECOVERY_APP_ID``, ``RECOVERY_TOPIC``,
  ``RECOVERY_TABLE``, ``RECOVERY_PARTITIONS`` (default 4).
* ``RECOVERY_OUT``: directory; the worker writes ``recovered-<pid>.json`` (the table
  right after recovery, before any stream event) and ``live-<pid>.json`` (the table,
  rewritten when it changes). Writes are atomic (rename).
* ``RECOVERY_ECHO_TOPIC``: if set, every event is also sent on to that topic
  (for latency measurements).
* ``RECOVERY_SETTINGS``: JSON dict of ``faust.App`` settings over
  :func:`~stream_apps.kafka.patches.tansu_compat.faust_broker_settings` (for measurements).
* ``RECOVERY_FETCH_WAIT_MS``: the patched consumer's fetch wait (default 20).
* ``RECOVERY_PATCH=0`` runs Faust without the fetch-wait and end-offset patches of
  :mod:`stream_apps.kafka.patches.tansu_compat`.

Events are JSON ``{"key": str, "seq": int}`` keyed by ``key``. The table keeps
``[last_seq, count]`` per key and skips ``seq <= last_seq``: replays after a crash
change nothing, so the expected table is exact.
"""

from __future__ import annotations

import time

STARTED_AT = time.time()  # before the slow imports: part of the ready time

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import faust  # noqa: E402

# The repo is not installed: make stream_apps importable when run as a script.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from stream_apps.kafka.patches.tansu_compat import (  # noqa: E402
    _patch_leave_group,
    apply_kafka_compat,
    faust_broker_settings,
)


def build_app() -> faust.App:
    """The worker app, from the environment. Patches Faust first unless RECOVERY_PATCH=0.

    Everything happens here, not at import time: pytest's doctest collection imports
    this module.
    """
    env = os.environ
    patched = env.get("RECOVERY_PATCH", "1") != "0"
    out = Path(env["RECOVERY_OUT"])
    partitions = int(env.get("RECOVERY_PARTITIONS", "4"))
    if patched:
        apply_kafka_compat(int(env.get("RECOVERY_FETCH_WAIT_MS", "20")))
    else:
        # Plain Faust, except for the generation-0 LeaveGroup fix: it only saves the
        # next worker a second group join (~8 s) and does not touch recovery.
        _patch_leave_group()
    # The unpatched run keeps the fast-join settings too.
    settings: dict[str, Any] = {
        **faust_broker_settings(),
        **json.loads(env.get("RECOVERY_SETTINGS", "{}")),
    }
    app = faust.App(
        env["RECOVERY_APP_ID"],
        broker=f"kafka://{env['RECOVERY_BROKER']}",
        store="memory://",
        topic_partitions=partitions,
        **settings,
    )
    topic = app.topic(env["RECOVERY_TOPIC"], value_serializer="json", partitions=partitions)
    echo_name = env.get("RECOVERY_ECHO_TOPIC")
    echo = echo_name and app.topic(echo_name, value_serializer="json", partitions=partitions)
    table = app.Table(env["RECOVERY_TABLE"], partitions=partitions)
    last_live: dict[str, Any] = {}

    def dump(name: str, payload: dict[str, Any]) -> None:
        path = out / f"{name}-{os.getpid()}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload))
        tmp.replace(path)  # atomic: the test never reads half a file

    def table_dict() -> dict[str, Any]:
        return {k: list(v) for k, v in table.items()}

    @app.on_rebalance_complete.connect
    async def on_recovered(sender: Any, **kwargs: Any) -> None:
        """Sent by Faust when recovery is done, before stream partitions resume."""
        name = topic.get_topic_name()
        assigned = sorted(tp.partition for tp in app.consumer.assignment() if tp.topic == name)
        dump("recovered", {"t": time.time(), "started_at": STARTED_AT, "assigned": assigned,
                           "table": table_dict(), "patched": patched})

    @app.agent(topic)
    async def process(stream: faust.StreamT[Any]) -> None:
        async for event in stream:
            key, seq = event["key"], int(event["seq"])
            cur = table.get(key)
            if cur is None or seq > cur[0]:
                table[key] = [seq, (cur[1] if cur else 0) + 1]
            if echo:
                await echo.send(key=key, value=event)

    @app.timer(0.25)
    async def dump_live() -> None:
        data = table_dict()
        if data != last_live:
            dump("live", {"t": time.time(), "table": data})
            last_live.clear()
            last_live.update(data)

    return app


if __name__ == "__main__":
    build_app().main()
