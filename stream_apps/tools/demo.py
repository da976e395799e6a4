"""``streamrec demo``: broker, worker, catalogue and live traffic on one machine.

It starts the embedded broker (unless a real one is given), a worker process, loads
the built-in catalogue (or the user's), then streams simulated users who search, click
and buy, and answer recommendations with impressions and clicks. Recommendations are
printed as they arrive, with the time from the event that triggered them.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from tqdm import tqdm

from stream_apps.kafka.broker import EmbeddedBroker, free_port, port_in_use
from stream_apps.kafka.topics import TopicNames
from stream_apps.settings import Settings, env_name
from stream_apps.tools.io_files import format_recommendation, read_events, read_items
from stream_apps.tools.processes import spawn_worker, stop_process, wait_ready
from stream_apps.worker.run import wait_for_topics


@dataclass(frozen=True)
class DemoOptions:
    duration_s: float | None = None
    rate: float = 20.0
    users: int = 200
    quiet: bool = False
    items_file: str | None = None
    events_file: str | None = None
    broker_port: int = 9092
    web_port: int = 6066
    external_broker: bool = False
    seed: int = 7
    feedback_share: float = 0.5  # of recommendations that simulated users answer
    lang: str = "en"  # zh: the Chinese catalogue, the multilingual encoder, reasons in Chinese


class RecommendationPrinter(threading.Thread):
    """Consumes ``recommendations``, prints them and measures event -> recommendation time."""

    def __init__(self, settings: Settings, sent_at: dict[str, float], quiet: bool,
                 titles: dict[str, str] | None = None) -> None:
        super().__init__(daemon=True, name="recommendations")
        self.settings, self.sent_at, self.quiet = settings, sent_at, quiet
        self.titles = titles
        self.latencies_ms: list[float] = []
        self.received: deque[dict[str, Any]] = deque(maxlen=1000)
        self.count = 0
        self._stop_flag = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        from stream_apps.kafka.clients import consumer

        names = TopicNames.of(self.settings)
        cons = consumer(self.settings, names.recommendations, auto_offset_reset="latest",
                        consumer_timeout_ms=200)
        try:
            while not self._stop_flag.is_set():
                for record in cons:
                    arrived = time.time()
                    message = orjson.loads(record.value)
                    trigger = message.get("trigger") or {}
                    event_id = trigger.get("event_id")
                    for earlier in trigger.get("event_ids") or ():  # answered together with event_id
                        if earlier != event_id:
                            self.sent_at.pop(earlier, None)
                    sent = self.sent_at.pop(event_id, None) if event_id else None
                    latency = (arrived - sent) * 1000 if sent else None
                    with self.lock:
                        self.count += 1
                        self.received.append(message)
                        if latency is not None:
                            self.latencies_ms.append(latency)
                    if not self.quiet:
                        suffix = f"  ({latency:.0f} ms)" if latency is not None else ""
                        tqdm.write(format_recommendation(message, titles=self.titles) + suffix)
                    if self._stop_flag.is_set():
                        break
        finally:
            cons.close()

    def stop(self) -> None:
        self._stop_flag.set()

    def take_received(self) -> list[dict[str, Any]]:
        with self.lock:
            out = list(self.received)
            self.received.clear()
        return out


def _choose_port(wanted: int) -> int:
    return wanted if not port_in_use("127.0.0.1", wanted) else free_port()


def run_demo(settings: Settings, options: DemoOptions) -> int:
    from stream_apps.kafka.clients import producer
    from stream_apps.tools.catalogue import load_builtin_catalogue

    run_dir = Path(settings.data_dir) / "demo"
    worker_env: dict[str, str] = {}
    if options.lang == "zh":
        settings, worker_env = _chinese(settings)
        from stream_apps.tools.catalogue_zh import load_builtin_catalogue_zh

        items = read_items(options.items_file) if options.items_file else load_builtin_catalogue_zh()
    else:
        items = read_items(options.items_file) if options.items_file else load_builtin_catalogue()
    replay: list[dict[str, Any]] | None = None
    if options.events_file:
        replay, errors = read_events(options.events_file, time.time())
        for err in errors[:5]:
            print(f"{options.events_file}:{err.line}: skipped: {err.error}", file=sys.stderr)
    with ExitStack() as stack:
        if not options.external_broker:
            port = _choose_port(options.broker_port)
            broker = EmbeddedBroker(port=port, log_path=run_dir / "broker.log").start()
            stack.callback(broker.stop)
            settings = settings.with_overrides({"bootstrap_servers": broker.bootstrap_servers})
            print(f"● embedded broker (Tansu, in memory) on {broker.bootstrap_servers}")
        else:
            print(f"● using Kafka at {settings.bootstrap_servers}")
        wait_for_topics(settings, max_wait_s=10)
        web_port = _choose_port(options.web_port)
        worker = spawn_worker(settings, web_port, run_dir / "worker.log", worker_env)
        stack.callback(stop_process, worker)
        print(f"● worker starting (pid {worker.pid}, log {run_dir / 'worker.log'})")

        names = TopicNames.of(settings)
        prod = producer(settings, linger_ms=2)
        stack.callback(prod.close)
        for item in tqdm(items, desc="● loading catalogue", unit="item", file=sys.stderr):
            prod.send(names.items, key=str(item["item_id"]).encode(), value=orjson.dumps(item))
        prod.flush()
        _wait_for_index(web_port, worker, len(items))
        print(f"● dashboard: http://127.0.0.1:{web_port}/dashboard   "
              f"(API: http://127.0.0.1:{web_port}/recommendations/<user_id>)")
        titles = {str(i["item_id"]): str(i.get("title") or "") for i in items} if options.lang == "zh" else None
        printer = RecommendationPrinter(settings, {}, options.quiet, titles)
        printer.start()
        stack.callback(printer.stop)
        time.sleep(1.0)  # let the printer's consumer take its position before traffic starts
        sent = _stream_traffic(prod, names, items, printer, options, replay)
        printer.stop()
        printer.join(timeout=5)
        _summary(sent, printer)
    return 0


def _chinese(settings: Settings) -> tuple[Settings, dict[str, str]]:
    """Settings (and the worker's environment) for the Chinese demo: the multilingual
    encoder, reasons in Chinese, and its own topics (an English run's item vectors, on a
    broker that keeps them, are another encoder's)."""
    from engine.config import MULTILINGUAL_MODEL
    from engine.encoder_onnx import use_model_path

    use_model_path()  # not installed: say so now, not from inside the worker
    changes = {"model": MULTILINGUAL_MODEL, "reason_language": "zh",
               "topic_prefix": settings.topic_prefix or "zh-"}
    env = {env_name("model"): MULTILINGUAL_MODEL, env_name("reason_language"): "zh"}
    return settings.with_overrides(changes), env


def _wait_for_index(web_port: int, worker: Any, expected: int) -> None:
    bar = tqdm(total=expected, desc="● indexing (encoder + HNSW)", unit="item", file=sys.stderr)

    def progress(health: dict[str, Any]) -> None:
        bar.n = min(int(health.get("index_items", 0)), expected)
        bar.refresh()

    try:
        health = wait_ready(web_port, worker, timeout=600, on_poll=progress)
        # Ready means caught up with what was encoded so far; wait for the whole catalogue.
        deadline = time.monotonic() + 600
        while health.get("index_items", 0) < expected and time.monotonic() < deadline:
            time.sleep(0.3)
            health = wait_ready(web_port, worker, timeout=60, on_poll=progress)
    finally:
        bar.close()
    print(f"● worker ready after {health.get('ready_after_s')} s; {health.get('index_items')} items indexed")


def _stream_traffic(prod: Any, names: TopicNames, items: list[dict[str, Any]], printer: RecommendationPrinter,
                    options: DemoOptions, replay: list[dict[str, Any]] | None) -> int:
    from stream_apps.tools.simulate import TrafficSimulator

    simulator = TrafficSimulator(items, n_users=options.users, seed=options.seed)
    chooser = random.Random(options.seed)
    start = time.monotonic()
    sent = 0
    end = None if options.duration_s is None else start + options.duration_s
    replay_iter = iter(replay) if replay is not None else None
    print("● streaming traffic" + (f" for {options.duration_s:.0f} s" if end else "; Ctrl-C stops"))
    try:
        while end is None or time.monotonic() < end:
            due = int((time.monotonic() - start) * options.rate) - sent
            if due <= 0:
                time.sleep(0.01)
                continue
            now = time.time()
            if replay_iter is not None:
                batch = [e for e in (next(replay_iter, None) for _ in range(due)) if e is not None]
                if not batch:
                    print("● replay finished")
                    break
            else:
                batch = simulator.next_events(now, due)
            for message in printer.take_received():
                if chooser.random() < options.feedback_share:
                    batch.extend(simulator.feedback_for(message, now))
            for event in batch:
                if event.get("event_id"):
                    printer.sent_at[event["event_id"]] = time.time()
                prod.send(names.event_topic(event["type"]), key=str(event["user_id"]).encode(),
                          value=orjson.dumps(event))
            prod.flush()
            sent += len(batch)
    except KeyboardInterrupt:
        print("\n● stopping")
    return sent


def _summary(sent: int, printer: RecommendationPrinter) -> None:
    latencies = np.asarray(printer.latencies_ms)
    line = f"● {sent} events sent, {printer.count} recommendations received"
    if len(latencies):
        p50, p99 = np.percentile(latencies, [50, 99])
        line += f"; event -> recommendation p50 {p50:.0f} ms, p99 {p99:.0f} ms (n={len(latencies)})"
    print(line)
