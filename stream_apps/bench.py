"""``streamrec bench``: speed against this machine's physical limits, in one run.

Each measurement is paired with the limit it should be read against:

- worker throughput (events in -> recommendations out, backlog drained) against a
  pass-through Faust agent that forwards events unchanged, on the same broker;
- event produced -> recommendation consumed latency at fixed rates;
- the HNSW index against exact brute-force search on the same vectors (recall@10 and
  speed-up). The vectors are real embeddings of catalogue texts, blended pairwise
  with a little noise: i.i.d. random vectors make every ANN index look broken;
- encoder items/s (tokenise + forward + pool + normalise) against the bare forward pass;
- serialized bytes per user state and index bytes per item.
"""

from __future__ import annotations

import random
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import orjson

from engine.config import EncoderConfig, IndexConfig, InterestConfig
from engine.events import Interaction
from engine.index import BruteForceIndex, HnswIndex
from engine.interests import UserState, apply_interaction, serialize_state
from stream_apps.settings import Settings


@dataclass(frozen=True)
class BenchOptions:
    quick: bool = False
    json_out: Path | None = None

    @property
    def ann_items(self) -> int:
        return 20_000 if self.quick else 100_000

    @property
    def throughput_events(self) -> int:
        return 3_000 if self.quick else 20_000

    @property
    def catalogue_items(self) -> int:
        return 300 if self.quick else 3_000

    @property
    def rates(self) -> tuple[int, ...]:
        return (50, 200) if self.quick else (50, 200, 500, 1000, 2000)

    @property
    def rate_seconds(self) -> float:
        return 3.0 if self.quick else 15.0


def _say(text: str) -> None:
    print(f"● {text}", file=sys.stderr, flush=True)


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50/p99/p999 in the values' unit (None when there are no values)."""
    if not values:
        return {"p50": None, "p99": None, "p999": None}
    array = np.asarray(values, dtype=np.float64)
    return {name: round(float(np.percentile(array, q)), 2)
            for name, q in (("p50", 50), ("p99", 99), ("p999", 99.9))}


# --- in-process measurements -------------------------------------------------------

def realistic_vectors(base: np.ndarray, n: int, rng: np.random.Generator, noise: float = 0.05) -> np.ndarray:
    """``n`` unit vectors near the span of real embeddings: a mix of two texts plus noise."""
    i = rng.integers(0, len(base), n)
    j = rng.integers(0, len(base), n)
    a = rng.uniform(0.5, 1.0, (n, 1)).astype(np.float32)
    out = a * base[i] + (1 - a) * base[j] + rng.normal(0, noise, (n, base.shape[1])).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out.astype(np.float32)


def bench_ann(base: np.ndarray, n: int, seed: int = 0, queries: int = 200, k: int = 10) -> dict[str, Any]:
    """HnswIndex (the worker's settings) against BruteForceIndex on the same vectors."""
    rng = np.random.default_rng(seed)
    vectors = realistic_vectors(base, n, rng)
    ids = [f"i{r}" for r in range(n)]
    started = time.perf_counter()
    hnsw = HnswIndex(IndexConfig(dim=base.shape[1], initial_capacity=n))
    hnsw.upsert(ids, vectors)
    build_s = time.perf_counter() - started
    exact = BruteForceIndex(base.shape[1])
    exact.upsert(ids, vectors)
    probes = realistic_vectors(base, queries, rng)
    found, truth = [], []
    started = time.perf_counter()
    for q in probes:
        found.append(hnsw.query(q, k)[0])
    hnsw_s = (time.perf_counter() - started) / queries
    started = time.perf_counter()
    for q in probes:
        truth.append(exact.query(q, k)[0])
    exact_s = (time.perf_counter() - started) / queries
    recall = float(np.mean([len(set(f) & set(t)) / k for f, t in zip(found, truth)]))
    with tempfile.TemporaryDirectory() as tmp:
        hnsw.save(Path(tmp) / "index")
        index_bytes = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    return {"items": n, "k": k, "recall": round(recall, 4), "speedup": round(exact_s / hnsw_s, 1),
            "hnsw_query_ms": round(1000 * hnsw_s, 3), "brute_force_query_ms": round(1000 * exact_s, 3),
            "build_s": round(build_s, 1), "ef_search": hnsw.config.ef_search,
            "bytes_per_item": int(index_bytes / n)}


def bench_encoder(texts: list[str], config: EncoderConfig) -> tuple[dict[str, Any], np.ndarray]:
    """Catalogue ingest rate against the bare forward pass on the same batches."""
    from engine.encoder import HFTextEncoder

    encoder = HFTextEncoder(config)
    # The same batches as encode() makes (sorted by length), tokenised beforehand.
    order = np.argsort([len(t) for t in texts])
    size = config.batch_size
    batches = [encoder._tokenizer([texts[i] for i in order[s:s + size]], padding=True, truncation=True,
                                  max_length=config.max_length, return_tensors="pt")
               for s in range(0, len(texts), size)]
    torch = encoder._torch

    def forward() -> None:
        with torch.inference_mode():
            for batch in batches:
                encoder._model(**batch)

    encoder.encode(texts[:64])  # warm up allocations
    full_s = forward_s = float("inf")
    vectors = np.zeros((0, encoder.dim), np.float32)
    # Interleaved, best of two: other load on the machine hits both alike.
    for _ in range(2):
        started = time.perf_counter()
        forward()
        forward_s = min(forward_s, time.perf_counter() - started)
        started = time.perf_counter()
        vectors = encoder.encode(texts)
        full_s = min(full_s, time.perf_counter() - started)
    latencies = []
    for n, text in enumerate(texts[:60]):
        started = time.perf_counter()
        encoder.encode_query(f"{text} {n}")  # distinct: never a cache hit
        latencies.append(1000 * (time.perf_counter() - started))
    return {
        "items_per_s": round(len(texts) / full_s, 1), "forward_items_per_s": round(len(texts) / forward_s, 1),
        "texts": len(texts), "batch_size": size, "torch_threads": config.torch_threads or "default",
        "query_ms": percentiles(latencies[10:]),
    }, vectors


def bytes_per_user(dim: int, seed: int = 0) -> int:
    """Serialized size of a user state that has filled every bounded field."""
    rng = np.random.default_rng(seed)
    config = InterestConfig()
    state = UserState.new(dim)
    for n in range(60):
        vec = rng.normal(size=dim).astype(np.float32)
        vec /= np.linalg.norm(vec)
        kind = ("click", "purchase", "search")[n % 3]
        event = Interaction(kind, "u-000001", ts=1.7e9 + n, item_id=f"sku-{n:06d}",
                            query="trail shoes" if kind == "search" else None,
                            scene=("home", "search", "cart")[n % 3], event_id=f"e-{n:08d}")
        state = apply_interaction(state, event, vec, vec if kind == "search" else None, config)
    return len(serialize_state(state))


# --- through the broker ------------------------------------------------------------

class Collector(threading.Thread):
    """Consumes one topic from the start; records when each triggering event id arrived."""

    def __init__(self, settings: Settings, topic: str) -> None:
        super().__init__(daemon=True, name=f"collect-{topic}")
        self.settings, self.topic = settings, topic
        self.arrived: dict[str, float] = {}
        self.times: list[float] = []
        self.ready = threading.Event()
        self._halt = threading.Event()

    def run(self) -> None:
        from stream_apps.kafka_clients import consumer

        cons = consumer(self.settings, self.topic, auto_offset_reset="earliest")
        try:
            while not self._halt.is_set():
                batches = cons.poll(timeout_ms=100)
                self.ready.set()
                now = time.time()
                for records in batches.values():
                    for record in records:
                        msg = orjson.loads(record.value)
                        event_id = msg.get("event_id") or (msg.get("trigger") or {}).get("event_id")
                        self.times.append(now)
                        if event_id:
                            self.arrived.setdefault(event_id, now)
        finally:
            cons.close()

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.times) < count and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self) -> None:
        self._halt.set()


def _drain_rate(times: list[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0


def _event(n: int, items: list[str], rng: random.Random, tag: str) -> tuple[str, bytes, bytes]:
    user = f"bu{rng.randrange(500)}"
    event_id = f"{tag}-{n}"
    value = orjson.dumps({"event_id": event_id, "user_id": user, "item_id": rng.choice(items),
                          "ts": time.time()})
    return event_id, user.encode(), value


def _produce_backlog(prod: Any, topic: str, n: int, items: list[str], tag: str) -> None:
    rng = random.Random(1)
    for i in range(n):
        _, key, value = _event(i, items, rng, tag)
        prod.send(topic, key=key, value=value)
    prod.flush()


def _measure_drain(settings: Settings, collect_topic: str, produce: Callable[[], None], n: int,
                   timeout: float) -> tuple[float, int]:
    collector = Collector(settings, collect_topic)
    collector.start()
    collector.ready.wait(15)
    produce()
    collector.wait_for(n, timeout)
    collector.stop()
    collector.join(5)
    return _drain_rate(collector.times), len(collector.times)


def bench_broker(settings: Settings, options: BenchOptions, catalogue: list[dict[str, Any]],
                 run_dir: Path) -> dict[str, Any]:
    from stream_apps.bench_passthrough import PASSTHROUGH_OUT
    from stream_apps.broker import EmbeddedBroker, free_port
    from stream_apps.kafka_clients import producer
    from stream_apps.processes import spawn_worker, stop_process, wait_ready
    from stream_apps.topics import TopicNames
    from stream_apps.worker import wait_for_topics

    out: dict[str, Any] = {}
    n = options.throughput_events
    item_ids = [str(i["item_id"]) for i in catalogue]
    with ExitStack() as stack:
        broker = EmbeddedBroker(port=free_port(), log_path=run_dir / "broker.log").start()
        stack.callback(broker.stop)
        prefix = f"bench{uuid.uuid4().hex[:6]}-"
        settings = settings.with_overrides({"bootstrap_servers": broker.bootstrap_servers,
                                            "topic_prefix": prefix})
        prod = producer(settings, linger_ms=0)
        stack.callback(prod.close)

        # 1. the pass-through agent drains a backlog of n events (its own topic prefix)
        pt_settings = settings.with_overrides({"topic_prefix": prefix + "pt-"})
        wait_for_topics(pt_settings, max_wait_s=10)
        _say(f"pass-through agent: draining {n:,} events")
        pt_names = TopicNames.of(pt_settings)
        _produce_backlog(prod, pt_names.click, n, item_ids, "pt")
        import subprocess

        log = open(run_dir / "passthrough.log", "ab")  # noqa: SIM115
        stack.callback(log.close)
        from stream_apps.processes import worker_env

        pt = subprocess.Popen([sys.executable, "-m", "stream_apps.bench_passthrough"],
                              env=worker_env(pt_settings, {"STREAMREC_BENCH_WEB_PORT": str(free_port())}),
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rate, got = _measure_drain(pt_settings, pt_settings.topic(PASSTHROUGH_OUT), lambda: None, n,
                                       timeout=60 + n / 500)
        finally:
            stop_process(pt, timeout=5)
        out["passthrough_eps"] = round(rate, 1)
        out["passthrough_received"] = got

        # 2. the worker: catalogue, then the same backlog, then paced rates
        wait_for_topics(settings, max_wait_s=10)
        names = TopicNames.of(settings)
        web_port = free_port()
        worker = spawn_worker(settings, web_port, run_dir / "worker.log")
        stack.callback(stop_process, worker)
        _say(f"worker: loading {len(catalogue)} items")
        for item in catalogue:
            prod.send(names.items, key=str(item["item_id"]).encode(), value=orjson.dumps(item))
        prod.flush()
        health = wait_ready(web_port, worker, timeout=300)
        deadline = time.monotonic() + 300
        while health.get("index_items", 0) < len(catalogue) and time.monotonic() < deadline:
            time.sleep(0.3)
            health = wait_ready(web_port, worker, timeout=60)
        _say(f"worker: draining {n:,} events")
        rate, got = _measure_drain(settings, names.recommendations,
                                   lambda: _produce_backlog(prod, names.click, n, item_ids, "w"), n,
                                   timeout=60 + n / 100)
        out["throughput_eps"] = round(rate, 1)
        out["throughput_received"] = got

        time.sleep(2.0)  # let the worker finish the backlog's commits before timing single events
        by_rate: dict[str, Any] = {}
        collector = Collector(settings, names.recommendations)
        collector.start()
        collector.ready.wait(15)
        rng = random.Random(2)
        for r in options.rates:
            _say(f"latency at {r} events/s for {options.rate_seconds:.0f} s")
            sent: dict[str, float] = {}
            total = int(r * options.rate_seconds)
            start = time.monotonic()
            for i in range(total):
                delay = start + i / r - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                event_id, key, value = _event(i, item_ids, rng, f"lat{r}")
                sent[event_id] = time.time()
                prod.send(names.click, key=key, value=value)
            prod.flush()
            achieved = total / max(time.monotonic() - start, 1e-9)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and sum(e in collector.arrived for e in sent) < total:
                time.sleep(0.2)
            latencies = [1000 * (collector.arrived[e] - t) for e, t in sent.items() if e in collector.arrived]
            by_rate[str(r)] = {**percentiles(latencies), "sent": total, "received": len(latencies),
                               "achieved_rate": round(achieved, 1)}
        collector.stop()
        collector.join(5)
        out["latency_by_rate"] = by_rate
        # The headline latency: the highest rate at which (almost) every event was answered.
        answered = [r for r in options.rates if by_rate[str(r)]["received"] >= 0.99 * by_rate[str(r)]["sent"]]
        headline = by_rate[str(max(answered))] if answered else by_rate[str(options.rates[0])]
        out["latency_ms"] = {key: headline[key] for key in ("p50", "p99", "p999")}
        out["latency_rate"] = max(answered) if answered else options.rates[0]
    return out


# --- the command ---------------------------------------------------------------------

def print_table(result: dict[str, Any]) -> None:
    ann, enc, lat = result["ann"], result["encoder"], result.get("latency_ms") or {}
    tp, pt = result.get("throughput_eps"), result.get("passthrough_eps")

    def ratio(a: Any, b: Any) -> str:
        return f"{a / b:.2f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else "-"

    rows = [
        ("worker throughput (events/s)", tp, f"pass-through {pt}", ratio(tp, pt)),
        (f"latency p50/p99/p999 ms @ {result.get('latency_rate')}/s",
         f"{lat.get('p50')}/{lat.get('p99')}/{lat.get('p999')}", "", ""),
    ]
    for r, v in (result.get("latency_by_rate") or {}).items():
        rows.append((f"  at {r}/s (received/sent)", f"{v['p50']}/{v['p99']}/{v['p999']}",
                     f"{v['received']}/{v['sent']}", ratio(v["received"], v["sent"])))
    rows += [
        (f"HNSW recall@{ann['k']} ({ann['items']:,} items)", ann["recall"], "brute force 1.0", ann["recall"]),
        ("HNSW query ms", ann["hnsw_query_ms"], f"brute force {ann['brute_force_query_ms']}",
         f"{ann['speedup']}x faster"),
        ("encoder items/s (ingest)", enc["items_per_s"], f"forward pass {enc['forward_items_per_s']}",
         ratio(enc["items_per_s"], enc["forward_items_per_s"])),
        ("encoder query ms p50/p99", f"{enc['query_ms']['p50']}/{enc['query_ms']['p99']}", "", ""),
        ("bytes per user state", result["bytes_per_user"], "", ""),
        ("index bytes per item", ann["bytes_per_item"], f"raw vector {4 * result['dim']}",
         ratio(ann["bytes_per_item"], 4 * result["dim"])),
    ]
    header = ("measure", "value", "against", "ratio")
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        for row in (header, *rows):
            print(" | ".join(str(c) for c in row))
        return
    table = Table(title=f"streamrec bench ({'quick' if result['quick'] else 'full'})")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(str(c) for c in row))
    Console(width=110).print(table)


def run_bench(settings: Settings, options: BenchOptions) -> int:
    from stream_apps.catalogue import load_builtin_catalogue

    started = time.perf_counter()
    run_dir = Path(settings.data_dir) / "bench"
    run_dir.mkdir(parents=True, exist_ok=True)
    catalogue = load_builtin_catalogue()
    texts = [". ".join(p for p in (str(i.get("title", "")), str(i.get("description", ""))) if p)
             for i in catalogue]
    texts = texts[:256] if options.quick else texts
    _say(f"encoder: {len(texts)} catalogue texts")
    encoder_result, vectors = bench_encoder(texts, settings.encoder_config())
    _say(f"HNSW vs brute force: {options.ann_items:,} items")
    ann = bench_ann(vectors, options.ann_items)
    result: dict[str, Any] = {"quick": options.quick, "dim": int(vectors.shape[1]), "ann": ann,
                              "encoder": encoder_result, "bytes_per_user": bytes_per_user(int(vectors.shape[1]))}
    result.update(bench_broker(settings, options, catalogue[:options.catalogue_items], run_dir))
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    print_table(result)
    if options.json_out is not None:
        options.json_out.parent.mkdir(parents=True, exist_ok=True)
        options.json_out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    _say(f"done in {result['elapsed_s']} s; logs in {run_dir}")
    return 0
