"""``streamrec evaluate --through-kafka``: score the recommendations a real worker publishes.

The catalogue goes to ``items``, the events to their topics, and the worker's
``recommendations`` are consumed. Pacing: one event at a time, each waiting for the
recommendation it triggered, so the list in force when a user acts is exactly the
one the worker published after that user's previous event (the prequential rule).

With ``workers`` > 1 the events are spread over that many worker processes in one
consumer group (the production path). With shared item signals (the default), an event's
co-visitation reaches the other workers a hop later (increments -> the item's owner ->
``item-signals`` -> every worker); after each event with an item the replay also waits
until every worker has read the shared rows of that event (``/internal/signals``: no own
increments pending, the same ``item-signals`` positions everywhere), so the next event
is recommended from the same counts whichever worker owns its user.

Time: the worker recommends at its wall clock and decays interests to it, so events
keep their gaps but are shifted to start now and clamped to never be in the future:
a replay that runs faster than the data's own time collapses onto arrival time.
"""

from __future__ import annotations

import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable

import orjson
from tqdm import tqdm

from engine.evaluation import RecommenderTrace, hit_rank
from engine.events import Interaction, ItemUpsert
from stream_apps.settings import Settings
from stream_apps.tools.datasets import Dataset


def _item_message(item: ItemUpsert) -> dict[str, Any]:
    return {"item_id": item.item_id, "title": item.title, "description": item.description,
            "categories": list(item.categories), "available": item.available}


def _event_message(event: Interaction, event_id: str, ts: float) -> dict[str, Any]:
    msg: dict[str, Any] = {"event_id": event_id, "user_id": event.user_id, "ts": ts}
    if event.item_id is not None:
        msg["item_id"] = event.item_id
    if event.query is not None:
        msg["query"] = event.query
    if event.kind == "purchase":
        msg["quantity"] = event.quantity
        if event.price is not None:
            msg["price"] = event.price
    return msg


def _signals_status(port: int) -> dict[str, Any] | None:
    from stream_apps.tools.processes import get_json

    status, body = get_json(f"http://127.0.0.1:{port}/internal/signals")
    return body.get("shared") if status == 200 and isinstance(body, dict) else None


def wait_signals_settled(ports: list[int], deadline: float) -> bool:
    """Until every worker has no own increment pending and all read ``item-signals`` to
    the same positions (with nothing behind): the shared rows of every event so far are
    everywhere. False at ``deadline``."""
    while time.monotonic() < deadline:
        statuses = [_signals_status(port) for port in ports]
        if all(s is not None for s in statuses):
            positions = [s["positions"] for s in statuses if s is not None]
            if (all(s["pending"] == 0 and s["behind"] == 0 for s in statuses if s is not None)
                    and all(p == positions[0] for p in positions)):
                return True
        time.sleep(0.01)
    return False


def wait_group_settled(ports: list[int], topic: str, partitions: int, timeout: float = 90.0) -> None:
    """Until the workers own every partition of ``topic`` exactly once, twice in a row a
    second apart (a rebalance in the middle of the replay would stall events for seconds)."""
    from stream_apps.tools.processes import get_json

    deadline, stable = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        owned: list[int] = []
        for port in ports:
            _, body = get_json(f"http://127.0.0.1:{port}/api/stats", timeout=5)
            rows = (((body or {}).get("partitions") or {}).get("assigned") or []) if isinstance(body, dict) else []
            owned += [row["partition"] for row in rows if row.get("topic") == topic]
        stable = stable + 1 if sorted(owned) == list(range(partitions)) else 0
        if stable >= 2:
            return
        time.sleep(1.0)
    raise RuntimeError(f"the {len(ports)} workers did not settle on the partitions of {topic} "
                       f"within {timeout:.0f}s")


def replay_through_kafka(settings: Settings, dataset: Dataset, k: int, warmup: int,
                         scorable: Callable[[str], bool], include_repeats: bool, external_broker: bool,
                         run_dir: Path, quiet: bool = False, wait_s: float = 3.0,
                         workers: int = 1) -> RecommenderTrace:
    """Replay ``dataset`` through a broker and ``workers`` worker processes; the trace of
    what they published."""
    from stream_apps.kafka.broker import EmbeddedBroker, free_port
    from stream_apps.kafka.clients import consumer, producer
    from stream_apps.kafka.topics import TopicNames
    from stream_apps.tools.processes import spawn_worker, stop_process, wait_ready
    from stream_apps.worker.run import wait_for_topics

    trace = RecommenderTrace("streamrec")
    with ExitStack() as stack:
        if not external_broker:
            broker = EmbeddedBroker(port=free_port(), log_path=run_dir / "broker.log").start()
            stack.callback(broker.stop)
            settings = settings.with_overrides({"bootstrap_servers": broker.bootstrap_servers})
        settings = settings.with_overrides({"topic_prefix": f"{settings.topic_prefix}eval{uuid.uuid4().hex[:6]}-",
                                            "k": k})
        wait_for_topics(settings, max_wait_s=10)
        names = TopicNames.of(settings)
        prod = producer(settings, linger_ms=0)
        stack.callback(prod.close)
        for item in dataset.items:
            prod.send(names.items, key=item.item_id.encode(), value=orjson.dumps(_item_message(item)))
        prod.flush()
        procs: dict[int, Any] = {}
        for n in range(workers):
            web_port = free_port()
            # No exploration: a replay scores the ranking, as the in-process replay does.
            procs[web_port] = spawn_worker(settings, web_port, run_dir / f"worker-{n}.log",
                                           {"STREAMREC_K": str(k), "STREAMREC_EXPLORE_SHARE": "0"})
            stack.callback(stop_process, procs[web_port])
            time.sleep(1.0 if n + 1 < workers else 0.0)  # joins close together: few rebalances
        shared = False
        for web_port, worker in procs.items():
            health = wait_ready(web_port, worker, timeout=600)
            deadline = time.monotonic() + 600
            while health.get("index_items", 0) < len(dataset.items) and time.monotonic() < deadline:
                time.sleep(0.5)
                health = wait_ready(web_port, worker, timeout=60)
            shared = health.get("signals") is not None
        ports = list(procs)
        if workers > 1:
            wait_group_settled(ports, names.click, settings.partitions)
        cons = consumer(settings, names.recommendations, auto_offset_reset="earliest")
        stack.callback(cons.close)
        cons.poll(timeout_ms=200)  # join before the first event: nothing may be missed

        latest: dict[str, list[str]] = {}  # user -> items of the newest recommendation
        answered: set[str] = set()
        history: dict[str, set[str]] = {}
        start_wall, first_ts = time.time(), dataset.events[0].ts
        timeouts = signal_timeouts = 0

        def drain(timeout_ms: int) -> None:
            for records in cons.poll(timeout_ms=timeout_ms).values():
                for record in records:
                    msg = orjson.loads(record.value)
                    latest[msg["user_id"]] = [i["item_id"] for i in msg.get("items", [])]
                    trigger = msg.get("trigger") or {}
                    # A page may answer several of the user's events (trigger.event_ids).
                    answered.update(e for e in (trigger.get("event_ids") or [trigger.get("event_id")]) if e)

        for position, event in enumerate(tqdm(dataset.events, desc="replay through kafka", unit="ev",
                                              disable=quiet, file=sys.stderr)):
            item = event.item_id
            had = history.setdefault(event.user_id, set())
            if (position >= warmup and item is not None and scorable(item)
                    and (include_repeats or item not in had)):
                ids = latest.get(event.user_id, [])[:k]
                trace.ranks.append(hit_rank(ids, item, k))
                trace.scored_ts.append(event.ts)
                trace.recommended.update(ids)
                if not ids:
                    trace.empty_lists += 1
            if item is not None:
                had.add(item)
            event_id = event.event_id or f"ev-{position}"
            ts = min(start_wall + (event.ts - first_ts), time.time())
            started = time.perf_counter()
            prod.send(names.event_topic(event.kind), key=event.user_id.encode(),
                      value=orjson.dumps(_event_message(event, event_id, ts)))
            prod.flush()
            # Events that move no vector publish nothing: do not wait the full time for them.
            expect = (item is not None and scorable(item)) or event.query is not None
            deadline = time.monotonic() + (wait_s if expect else 0.05)
            while event_id not in answered and time.monotonic() < deadline:
                drain(20)
            if expect and event_id not in answered:
                timeouts += 1
            if shared and item is not None and not wait_signals_settled(ports, time.monotonic() + wait_s):
                signal_timeouts += 1
            trace.update_s += time.perf_counter() - started
        if timeouts:
            print(f"through kafka: {timeouts} events got no recommendation within {wait_s:.0f}s",
                  file=sys.stderr)
        if signal_timeouts:
            print(f"through kafka: the shared signals of {signal_timeouts} events did not reach every "
                  f"worker within {wait_s:.0f}s", file=sys.stderr)
        trace.extra.update({"workers": workers, "shared_signals": shared, "timeouts": timeouts,
                            "signal_timeouts": signal_timeouts})
    return trace
