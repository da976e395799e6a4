"""``streamrec bench``: speed against this machine's physical limits, in one run.

Each measurement is paired with the limit it should be read against:

- worker throughput (events in -> recommendations out, backlog drained) against a
  pass-through Faust agent that forwards events unchanged, on the same broker;
- event produced -> recommendation consumed latency at fixed rates;
- the HNSW index against exact brute-force search on the same vectors (recall@10,
  queries per second and speed-up; see :mod:`stream_apps.tools.bench_ann` for the vectors);
- encoder items/s (tokenise + forward + pool + normalise) against the bare forward pass;
- serialized bytes per user state and index bytes per item.
"""

from __future__ import annotations

import random
import sys
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import orjson

from engine.config import EncoderConfig, InterestConfig
from engine.events import Interaction
from engine.interests import UserState, apply_interaction, serialize_state
from stream_apps.settings import Settings
from stream_apps.tools.bench_ann import bench_ann_sizes


@dataclass(frozen=True)
class BenchOptions:
    quick: bool = False
    json_out: Path | None = None
    ann_sizes: tuple[int, ...] | None = None  # None: 20k quick, 100k full
    ann_only: bool = False
    worker_items: int | None = None  # None: 20k quick, 100k full

    def __post_init__(self) -> None:
        if self.ann_sizes is not None and (not self.ann_sizes or min(self.ann_sizes) < 100):
            raise ValueError(f"ANN sizes must be at least 100 items, got {self.ann_sizes}")
        if self.worker_items is not None and self.worker_items < self.catalogue_items:
            raise ValueError(f"the worker's index needs at least the {self.catalogue_items} catalogue items, "
                             f"got {self.worker_items}")

    @property
    def index_items(self) -> int:
        """Items in the benchmarked worker's index."""
        if self.worker_items is not None:
            return self.worker_items
        return 20_000 if self.quick else 100_000

    @property
    def ann_items(self) -> tuple[int, ...]:
        if self.ann_sizes is not None:
            return self.ann_sizes
        # 1M items take ~10 min to build on 2 cores: ask for it with --ann-items.
        return (20_000,) if self.quick else (100_000,)

    @property
    def throughput_events(self) -> int:
        return 3_000 if self.quick else 10_000

    @property
    def catalogue_items(self) -> int:
        return 256 if self.quick else 3_000

    def rates(self, max_rate: float) -> tuple[int, ...]:
        """Paced rates: fixed steps up to the worker's measured maximum and half of that
        maximum (the acceptance point). Full mode stops at the first rate the worker
        cannot keep up with."""
        steps = (50, 200) if self.quick else (50, 100, 200, 400, 800, 1600, 3200)
        half = int(round(max_rate / 2 / 10) * 10) if max_rate >= 40 else 0
        return tuple(sorted({r for r in steps if r <= max_rate} | ({half} if half else set()))) or (steps[0],)

    @property
    def rate_seconds(self) -> float:
        return 3.0 if self.quick else 10.0


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"100k,1M"`` or ``"100000,1000000"`` -> ``(100000, 1000000)``.

    >>> parse_sizes("20k, 1M")
    (20000, 1000000)
    """
    sizes = []
    for part in text.split(","):
        part = part.strip().lower()
        scale = {"k": 1_000, "m": 1_000_000}.get(part[-1:], 1)
        try:
            sizes.append(int(float(part[:-1] if scale > 1 else part) * scale))
        except ValueError:
            raise ValueError(f"not a size: {part!r} (use e.g. 100000, 100k or 1M)") from None
    return tuple(sizes)


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

def bench_encoder(texts: list[str], config: EncoderConfig,
                  extra: list[str] | None = None) -> tuple[dict[str, Any], np.ndarray]:
    """Catalogue ingest rate against the bare forward pass on the same batches.

    Returns the vectors of ``texts`` and then of ``extra`` (encoded once, untimed).
    """
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
    if extra:
        vectors = np.vstack([vectors, encoder.encode(extra)])
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
    """Consumes one topic; records when each triggering event's recommendation arrived,
    and the worker's own time stamp on it.

    With ``from_end`` it starts at the topic's end, which must exist: a collector that
    first reads through the recommendations of an earlier phase reports its own catch-up
    as the worker's latency (that was the 0.5-0.7 s tail at 50 events/s in the first
    quick runs). ``ready`` is set once every partition's position is known. Without it,
    it reads a fresh topic from its start (which may not exist yet: seeking to the end
    of a topic that appears once the first records are written would skip those).
    """

    def __init__(self, settings: Settings, topic: str, from_end: bool = False) -> None:
        super().__init__(daemon=True, name=f"collect-{topic}")
        self.settings, self.topic, self.from_end = settings, topic, from_end
        self.arrived: dict[str, float] = {}
        self.published: dict[str, float] = {}  # event id -> the worker's ts on its recommendation
        self.times: list[float] = []
        self.records = 0
        self.ready = threading.Event()
        self._halt = threading.Event()

    def run(self) -> None:
        from kafka import TopicPartition

        from stream_apps.kafka.clients import consumer

        if self.from_end:
            cons = consumer(self.settings)
            partitions = cons.partitions_for_topic(self.topic) or set()
            if not partitions:
                cons.close()
                raise RuntimeError(f"{self.topic} does not exist: cannot start at its end")
            assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            cons.assign(assigned)
            cons.seek_to_end(*assigned)
            for tp in assigned:
                cons.position(tp)  # resolves the end offset now, before anything is produced
        else:
            cons = consumer(self.settings, self.topic, auto_offset_reset="earliest")
        try:
            while not self._halt.is_set():
                batches = cons.poll(timeout_ms=100)
                self.ready.set()
                now = time.time()
                for records in batches.values():
                    for record in records:
                        msg = orjson.loads(record.value)
                        self.records += 1
                        for event_id in answered(msg):
                            self.times.append(now)  # one per event answered (a page may answer several)
                            if event_id and event_id not in self.arrived:
                                self.arrived[event_id] = now
                                if isinstance(msg.get("ts"), (int, float)):
                                    self.published[event_id] = float(msg["ts"])
        finally:
            cons.close()

    def wait_for(self, count: int, start_s: float = 120.0, stall_s: float = 15.0, cap_s: float = 900.0) -> None:
        """Until ``count`` records came, or none for ``stall_s`` once they flow (``start_s``
        for the first one: a starting worker), or ``cap_s`` in all. A slow worker on a busy
        machine still drains its whole backlog, so the next phase starts from an idle worker."""
        started = last_change = time.monotonic()
        seen = len(self.times)
        while len(self.times) < count:
            now = time.monotonic()
            if len(self.times) != seen:
                seen, last_change = len(self.times), now
            limit = stall_s if seen else start_s
            if now - last_change > limit or now - started > cap_s:
                return
            time.sleep(0.1)

    def stop(self) -> None:
        self._halt.set()


def answered(msg: dict[str, Any]) -> list[str | None]:
    """The event ids a record answers: a forwarded event's own id, or every id in a
    recommendation's ``trigger.event_ids`` (several when a user's events were coalesced)."""
    if "event_id" in msg:
        return [msg["event_id"]]
    trigger = msg.get("trigger") or {}
    ids = trigger.get("event_ids")
    return list(ids) if ids else [trigger.get("event_id")]


def _drain_rate(times: list[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0


def _event(n: int, items: list[str], rng: random.Random, tag: str) -> tuple[str, bytes, bytes]:
    user = f"bu{rng.randrange(500)}"
    event_id = f"{tag}-{n}"
    value = orjson.dumps({"event_id": event_id, "user_id": user, "item_id": rng.choice(items),
                          "ts": time.time()})
    return event_id, user.encode(), value


def _backlog(n: int, items: list[str], tag: str) -> list[tuple[bytes, bytes]]:
    """The drain's events, ``(key, value)``: the same users and items for every run and
    for both the worker and the engine alone (fresh ``ts``)."""
    rng = random.Random(1)
    return [_event(i, items, rng, tag)[1:] for i in range(n)]


def _produce_backlog(prod: Any, topic: str, n: int, items: list[str], tag: str) -> None:
    for key, value in _backlog(n, items, tag):
        prod.send(topic, key=key, value=value)
    prod.flush()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``; None elsewhere)."""
    from stream_apps.worker.metrics import stat_cpu_seconds

    return stat_cpu_seconds(Path(f"/proc/{pid}/stat"))


def cpu_use(cpu_before: float | None, cpu_after: float | None, wall_s: float, events: int) -> dict[str, float] | None:
    """A process's CPU milliseconds per event and its busy share of one core over a
    window of ``wall_s`` seconds in which ``events`` were sent (None without /proc).

    >>> cpu_use(10.0, 12.0, 4.0, 200)
    {'ms_per_event': 10.0, 'busy_share': 0.5}
    """
    if cpu_before is None or cpu_after is None or wall_s <= 0 or events <= 0:
        return None
    used = cpu_after - cpu_before
    return {"ms_per_event": round(1000 * used / events, 2), "busy_share": round(used / wall_s, 2)}


class CpuSampler(threading.Thread):
    """Samples a process's CPU time every 50 ms: the CPU it spent between two moments."""

    def __init__(self, pid_of: Callable[[], int | None]) -> None:
        super().__init__(daemon=True, name="cpu-sampler")
        self.pid_of, self.samples = pid_of, []  # (wall time, cpu seconds)
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.05):
            pid = self.pid_of()
            cpu = cpu_seconds(pid) if pid else None
            if cpu is not None:
                self.samples.append((time.time(), cpu))

    def between(self, start: float, end: float) -> float | None:
        inside = [c for t, c in self.samples if start <= t <= end]
        return inside[-1] - inside[0] if len(inside) > 1 else None

    def stop(self) -> None:
        self._halt.set()


def _measure_drain(settings: Settings, collect_topic: str, produce: Callable[[], None],
                   n: int, pid_of: Callable[[], int | None] = lambda: None) -> dict[str, Any]:
    """Events answered per second while a backlog drains, events answered, records read,
    and the draining process's CPU milliseconds per event answered."""
    collector = Collector(settings, collect_topic)
    sampler = CpuSampler(pid_of)
    collector.start()
    sampler.start()
    collector.ready.wait(15)
    produce()
    collector.wait_for(n)
    collector.stop()
    sampler.stop()
    collector.join(5)
    times = collector.times
    cpu = sampler.between(times[0], times[-1]) if len(times) > 1 else None
    return {"rate": _drain_rate(times), "answered": len(times), "records": collector.records,
            "cpu_ms_per_event": round(1000 * cpu / (len(times) - 1), 3) if cpu is not None else None,
            "load_average": round(__import__("os").getloadavg()[0], 1)}


def _paced_rate(prod: Any, topic: str, collector: Collector, rate: int, seconds: float,
                item_ids: list[str], rng: random.Random, grace_s: float = 10.0) -> dict[str, Any]:
    """Send ``rate`` events/s for ``seconds``; latency percentiles of their recommendations.

    Each latency is split at the worker's time stamp on the recommendation, taken when it
    starts ranking the event's batch: ``to_worker`` (produce, broker, the worker's fetch,
    its wait for the batch before, applying the batch) and ``to_reader`` (ranking, the
    worker's send, broker, our fetch). Same host, same clock.
    """
    sent: dict[str, float] = {}
    total = int(rate * seconds)
    start = time.monotonic()
    for i in range(total):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        event_id, key, value = _event(i, item_ids, rng, f"lat{rate}")
        sent[event_id] = time.time()
        prod.send(topic, key=key, value=value)
    prod.flush()
    achieved = total / max(time.monotonic() - start, 1e-9)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and sum(e in collector.arrived for e in sent) < total:
        time.sleep(0.2)
    got = [e for e in sent if e in collector.arrived]
    latencies = [1000 * (collector.arrived[e] - sent[e]) for e in got]
    legs = [e for e in got if e in collector.published]
    result = {**percentiles(latencies), "sent": total, "received": len(got), "achieved_rate": round(achieved, 1),
              "to_worker_ms": percentiles([1000 * (collector.published[e] - sent[e]) for e in legs]),
              "to_reader_ms": percentiles([1000 * (collector.arrived[e] - collector.published[e]) for e in legs])}
    # Behind: events still unanswered after the grace period, or a median over a second.
    result["saturated"] = len(got) < 0.99 * total or (result["p50"] or 0.0) > 1000.0
    return result


def bench_broker(settings: Settings, options: BenchOptions, catalogue: list[dict[str, Any]],
                 centres: np.ndarray, run_dir: Path) -> dict[str, Any]:
    """``centres``: the encoder's vectors of ``catalogue`` (row for row), the real part of
    the worker's index."""
    from stream_apps.kafka.broker import EmbeddedBroker, free_port
    from stream_apps.kafka.clients import producer
    from stream_apps.kafka.topics import TopicNames
    from stream_apps.tools.bench_passthrough import PASSTHROUGH_OUT
    from stream_apps.tools.processes import spawn_worker, stop_process, wait_ready
    from stream_apps.worker.run import wait_for_topics

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
        from stream_apps.tools.processes import worker_env

        started: list[subprocess.Popen[bytes]] = []

        def start_passthrough() -> None:
            # Only once the collector knows where the topic ends: what the agent forwards
            # before that would be missed.
            started.append(subprocess.Popen(
                [sys.executable, "-m", "stream_apps.tools.bench_passthrough"],
                env=worker_env(pt_settings, {"STREAMREC_WEB_PORT": str(free_port())}),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

        try:
            drained = _measure_drain(pt_settings, pt_settings.topic(PASSTHROUGH_OUT), start_passthrough, n,
                                     pid_of=lambda: started[0].pid if started else None)
        finally:
            for pt in started:
                stop_process(pt, timeout=5)
        out["passthrough_eps"] = round(drained["rate"], 1)
        out["passthrough_received"] = drained["answered"]
        out["passthrough_cpu_ms_per_event"] = drained["cpu_ms_per_event"]
        out["passthrough_load_average"] = drained["load_average"]

        # 2. the worker: its index, then the same backlog, then paced rates
        wait_for_topics(settings, max_wait_s=10)
        names = TopicNames.of(settings)
        web_port = free_port()
        worker = spawn_worker(settings, web_port, run_dir / "worker.log")
        stack.callback(stop_process, worker)
        total = max(options.index_items, len(catalogue))
        _say(f"worker: loading an index of {total:,} items ({len(catalogue):,} catalogue items and "
             f"{total - len(catalogue):,} synthetic ones around them) straight to item-vectors")
        _produce_index(prod, names.item_vectors, catalogue, centres, total, settings.model)
        health = wait_ready(web_port, worker, timeout=900)
        deadline = time.monotonic() + 900
        while health.get("index_items", 0) < total and time.monotonic() < deadline:
            time.sleep(0.5)
            health = wait_ready(web_port, worker, timeout=60)
        out["index_items"] = health.get("index_items", 0)
        _say(f"worker: draining {n:,} events ({out['index_items']:,} items in its index)")
        before = batch_sizes(web_port)
        threads_at: list[tuple[float, dict[str, float] | None]] = []

        def produce_backlog() -> None:
            threads_at.append((time.monotonic(), thread_cpu(web_port)))
            _produce_backlog(prod, names.click, n, item_ids, "w")

        drained = _measure_drain(settings, names.recommendations, produce_backlog, n, pid_of=lambda: worker.pid)
        out["throughput_threads"] = thread_shares(threads_at[0][1], thread_cpu(web_port),
                                                  time.monotonic() - threads_at[0][0])
        rate = drained["rate"]
        out["throughput_eps"] = round(rate, 1)
        out["throughput_received"] = drained["answered"]
        out["throughput_recommendations"] = drained["records"]
        out["throughput_cpu_ms_per_event"] = drained["cpu_ms_per_event"]
        out["throughput_load_average"] = drained["load_average"]
        out["throughput_batches"] = batch_stats(before, batch_sizes(web_port))

        # Paced latency is timed once the worker has worked off what the backlog left behind
        # (shared-signal increments, training examples, its commits), not in that aftermath.
        _say("worker: waiting until it has caught up on every partition")
        out["caught_up_after_s"] = wait_caught_up(lambda: worker_lag(web_port))
        out["signal_traffic"] = signal_traffic(web_port)  # the drain's: nothing else came yet
        by_rate: dict[str, Any] = {}
        collector = Collector(settings, names.recommendations, from_end=True)
        collector.start()
        collector.ready.wait(15)
        rng = random.Random(2)
        rates = options.rates(rate)
        out["half_max_rate"] = int(round(rate / 2 / 10) * 10)
        for r in rates:
            _say(f"latency at {r} events/s for {options.rate_seconds:.0f} s")
            before, cpu_before, wall_before = batch_sizes(web_port), cpu_seconds(worker.pid), time.monotonic()
            threads_before, gc_before = thread_cpu(web_port), gc_totals(web_port)
            by_rate[str(r)] = _paced_rate(prod, names.click, collector, r, options.rate_seconds, item_ids, rng)
            by_rate[str(r)]["batches"] = batch_stats(before, batch_sizes(web_port))
            wall = time.monotonic() - wall_before
            by_rate[str(r)]["cpu"] = cpu_use(cpu_before, cpu_seconds(worker.pid), wall, by_rate[str(r)]["sent"])
            by_rate[str(r)]["threads"] = thread_shares(threads_before, thread_cpu(web_port), wall)
            by_rate[str(r)]["gc"] = gc_between(gc_before, gc_totals(web_port))
            if by_rate[str(r)]["saturated"] and not options.quick:
                _say(f"the worker does not keep up with {r} events/s: higher rates skipped")
                break
        collector.stop()
        collector.join(5)
        out["latency_by_rate"] = by_rate
        # The headline latency: at half the measured maximum (the acceptance point), else
        # the highest rate the worker kept up with.
        kept_up = [int(r) for r, v in by_rate.items() if not v["saturated"]]
        half = str(out["half_max_rate"])
        out["latency_rate"] = int(half) if half in by_rate else (max(kept_up) if kept_up else rates[0])
        out["latency_ms"] = {key: by_rate[str(out["latency_rate"])][key] for key in ("p50", "p99", "p999")}
    # 3. the engine alone on the drain's events, once the broker and the worker are gone
    from stream_apps.tools.bench_engine import bench_engine_alone

    _say(f"the engine alone (no Kafka): the drain's {n:,} events on an index of {total:,} items")
    out["engine_alone"] = bench_engine_alone(settings, catalogue, centres, total,
                                             [value for _, value in _backlog(n, item_ids, "e")])
    return out


def _produce_index(prod: Any, topic: str, catalogue: list[dict[str, Any]], centres: np.ndarray, total: int,
                   encoder: str) -> None:
    """``total`` item-vector records: the catalogue's items with their real vectors, then
    synthetic items around them (:func:`stream_apps.tools.bench_engine.bench_index_items`)."""
    import base64

    from stream_apps.tools.bench_engine import bench_index_items
    from stream_apps.worker.context import vector_to_wire

    for item_id, title, categories, vector in bench_index_items(catalogue, centres, total):
        prod.send(topic, key=item_id.encode(), value=orjson.dumps({
            "item_id": item_id, "title": title, "categories": categories, "available": True,
            "encoder": encoder, "dim": int(vector.shape[0]),
            "vector": base64.b64encode(vector_to_wire(vector)).decode("ascii")}))
    prod.flush()


def worker_lag(web_port: int) -> int | None:
    """Messages on the worker's partitions past its last commit (``/api/stats``): read or
    not, they are not done until committed. None when it does not answer."""
    from stream_apps.tools.processes import get_json

    status, stats = get_json(f"http://127.0.0.1:{web_port}/api/stats", timeout=10.0)
    if status != 200:
        return None
    rows = ((stats or {}).get("partitions") or {}).get("assigned") or []
    return sum(max(r["highwater"] - (r.get("committed") or 0), 0) for r in rows if r.get("highwater") is not None)


#: How long the bench waits for the worker to commit everything after the drain.
CATCH_UP_CAP_S = 180.0


def wait_caught_up(lag: Callable[[], int | None], quiet_s: float = 3.0, cap_s: float = CATCH_UP_CAP_S,
                   poll_s: float = 0.5, clock: Callable[[], float] = time.monotonic,
                   sleep: Callable[[float], None] = time.sleep) -> float | None:
    """Seconds until ``lag()`` was 0 for ``quiet_s`` in a row (counted to the start of
    that quiet stretch), None if that did not happen within ``cap_s``.

    >>> lags = iter([5, 2, 0, 0, 0, 0, 0, 0, 0, 0])
    >>> now = [0.0]
    >>> wait_caught_up(lambda: next(lags), quiet_s=2.0, poll_s=1.0, clock=lambda: now[0],
    ...                sleep=lambda s: now.__setitem__(0, now[0] + s))
    2.0
    """
    start = clock()
    quiet_since: float | None = None
    while clock() - start <= cap_s:
        now = clock()
        if lag() == 0:
            quiet_since = now if quiet_since is None else quiet_since
            if now - quiet_since >= quiet_s:
                return round(quiet_since - start, 1)
        else:
            quiet_since = None
        sleep(poll_s)
    return None


def _metric_samples(web_port: int, names: tuple[str, ...]) -> list[Any] | None:
    """The worker's ``/metrics`` samples named ``names`` (None without an answer)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/metrics", timeout=10.0) as response:
            text = response.read().decode()
    except OSError:
        return None
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples
            if sample.name in names]


def signal_traffic(web_port: int) -> dict[str, float] | None:
    """The worker's shared-signal counters (``/metrics``): row increments its aggregator
    received and item-signals rows it wrote. None without shared signals or an answer."""
    totals: dict[str, float] = {}
    for sample in _metric_samples(web_port, ("streamrec_signal_increments_total",
                                             "streamrec_signal_rows_written_total")) or []:
        totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    if "streamrec_signal_rows_written_total" not in totals:
        return None
    return {"increments": totals.get("streamrec_signal_increments_total", 0.0),
            "rows_written": totals["streamrec_signal_rows_written_total"]}


def thread_cpu(web_port: int) -> dict[str, float] | None:
    """The worker's CPU seconds so far by thread role (``streamrec_thread_cpu_seconds_total``)."""
    samples = _metric_samples(web_port, ("streamrec_thread_cpu_seconds_total",))
    return {sample.labels["thread"]: sample.value for sample in samples} if samples else None


def gc_totals(web_port: int) -> dict[str, float] | None:
    """The worker's garbage collections so far (``streamrec_gc_pause_seconds``): count and
    seconds, all and full (generation 2) ones."""
    samples = _metric_samples(web_port, ("streamrec_gc_pause_seconds_count", "streamrec_gc_pause_seconds_sum"))
    if not samples:
        return None
    out = {"count": 0.0, "seconds": 0.0, "full_count": 0.0, "full_seconds": 0.0}
    for sample in samples:
        what = "count" if sample.name.endswith("_count") else "seconds"
        out[what] += sample.value
        if sample.labels.get("generation") == "2":
            out["full_" + what] += sample.value
    return out


def gc_between(before: dict[str, float] | None, after: dict[str, float] | None) -> dict[str, float] | None:
    """Collections between two :func:`gc_totals` snapshots: how many full ones, and the
    milliseconds every thread stood still in them and in all.

    >>> gc_between({"count": 10, "seconds": 0.5, "full_count": 1, "full_seconds": 0.2},
    ...            {"count": 25, "seconds": 0.9, "full_count": 2, "full_seconds": 0.45})
    {'collections': 15, 'full': 1, 'full_ms': 250.0, 'all_ms': 400.0}
    """
    if not before or not after:
        return None
    return {"collections": int(after["count"] - before["count"]), "full": int(after["full_count"] - before["full_count"]),
            "full_ms": round(1000 * (after["full_seconds"] - before["full_seconds"]), 1),
            "all_ms": round(1000 * (after["seconds"] - before["seconds"]), 1)}


def thread_shares(before: dict[str, float] | None, after: dict[str, float] | None,
                  wall_s: float) -> dict[str, float] | None:
    """Each thread role's busy share of one core between two :func:`thread_cpu` snapshots
    ``wall_s`` seconds apart, busiest first (roles under 0.5 % left out).

    >>> thread_shares({"event-loop": 10.0, "ranking": 4.0}, {"event-loop": 12.0, "ranking": 5.0, "native": 0.01}, 4.0)
    {'event-loop': 0.5, 'ranking': 0.25}
    """
    if not before or not after or wall_s <= 0:
        return None
    shares = {role: round((seconds - before.get(role, 0.0)) / wall_s, 3) for role, seconds in after.items()}
    return dict(sorted(((r, v) for r, v in shares.items() if v >= 0.005), key=lambda rv: -rv[1]))


def batch_sizes(web_port: int) -> dict[int, int]:
    """The worker's micro-batch sizes since it started (``/api/stats``): size -> batches."""
    from stream_apps.tools.processes import get_json

    status, stats = get_json(f"http://127.0.0.1:{web_port}/api/stats", timeout=10.0)
    sizes = (stats or {}).get("batches", {}).get("sizes", {}) if status == 200 else {}
    return {int(k): int(v) for k, v in sizes.items()}


def batch_stats(before: dict[int, int], after: dict[int, int]) -> dict[str, Any]:
    """Events per batch in a phase, from two snapshots of :func:`batch_sizes`.

    >>> batch_stats({1: 2}, {1: 3, 4: 2})
    {'batches': 3, 'events': 9, 'mean': 3.0, 'p50': 4, 'p99': 4, 'max': 4}
    """
    counts = {n: after.get(n, 0) - before.get(n, 0) for n in after}
    sizes = np.repeat(np.array(list(counts), dtype=np.int64), np.array(list(counts.values()), dtype=np.int64).clip(0))
    if not sizes.size:
        return {"batches": 0, "events": 0, "mean": None, "p50": None, "p99": None, "max": None}
    return {"batches": int(sizes.size), "events": int(sizes.sum()), "mean": round(float(sizes.mean()), 1),
            "p50": int(np.percentile(sizes, 50, method="lower")), "p99": int(np.percentile(sizes, 99, method="lower")),
            "max": int(sizes.max())}


# --- the command ---------------------------------------------------------------------

def _shares(shares: dict[str, float]) -> str:
    """Thread shares as text.

    >>> _shares({"event-loop": 0.5, "ranking": 0.254})
    'event-loop 50%, ranking 25%'
    """
    return ", ".join(f"{role} {share:.0%}" for role, share in shares.items())


def _seconds(value: Any) -> str:
    return f"not within {CATCH_UP_CAP_S:.0f} s" if value is None else f"{value} s" if isinstance(value, (int, float)) else str(value)


def table_rows(result: dict[str, Any]) -> list[tuple[str, Any, Any, Any]]:
    """The bench table: (measure, value, what it is read against, ratio)."""
    def ratio(a: Any, b: Any) -> str:
        return f"{a / b:.2f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else "-"

    rows: list[tuple[str, Any, Any, Any]] = []
    if "throughput_eps" in result:
        tp, pt, lat = result["throughput_eps"], result["passthrough_eps"], result["latency_ms"]

        def sizes(b: dict[str, Any] | None) -> str:
            return f"batch mean {b['mean']} p50 {b['p50']} p99 {b['p99']} max {b['max']}" if b and b["batches"] else ""

        rows += [
            ("worker throughput (events/s)", tp, f"pass-through {pt}", ratio(tp, pt)),
            ("  items in the worker's index", f"{result.get('index_items', 0):,}", "", ""),
            ("  CPU ms per event (its process)", result.get("throughput_cpu_ms_per_event"),
             f"pass-through {result.get('passthrough_cpu_ms_per_event')}",
             ratio(result.get("throughput_cpu_ms_per_event"), result.get("passthrough_cpu_ms_per_event"))),
        ]
        engine = result.get("engine_alone")
        if engine:  # the ceiling: what one worker could drain if its plumbing cost nothing
            rows += [
                ("  the engine alone, no Kafka (events/s)", engine["eps"], f"pass-through {pt}", ratio(engine["eps"], pt)),
                ("    its CPU ms per event; the worker's share of it", engine["cpu_ms_per_event"],
                 f"worker {tp} events/s", ratio(tp, engine["eps"])),
            ]
        rows += [
            ("  load average (1 min) while draining", result.get("throughput_load_average"),
             f"pass-through {result.get('passthrough_load_average')}", ""),
            ("  recommendations for the backlog's events", result.get("throughput_recommendations", "-"),
             sizes(result.get("throughput_batches")), ""),
        ]
        if result.get("throughput_threads"):
            rows.append(("  its threads' share of a core (drain)", _shares(result["throughput_threads"]), "", ""))
        traffic = result.get("signal_traffic")
        if traffic and traffic["increments"]:
            events = result.get("throughput_received") or 0
            rows.append(("  item-signals rows written per event (drain)",
                         f"{traffic['rows_written'] / events:.2f}" if events else "-",
                         f"increments per event {traffic['increments'] / events:.2f}" if events else "",
                         ratio(traffic["rows_written"], traffic["increments"])))
        rows += [
            ("  caught up after the drain (all committed for 3 s)", _seconds(result.get("caught_up_after_s", "-")),
             "latency is timed from then on", ""),
            (f"latency p50/p99/p999 ms @ {result['latency_rate']}/s"
             f"{' (half the max)' if result['latency_rate'] == result.get('half_max_rate') else ''}",
             f"{lat['p50']}/{lat['p99']}/{lat['p999']}", "", ""),
        ]
        for r, v in result["latency_by_rate"].items():
            legs = f"p99 legs {v['to_worker_ms']['p99']} + {v['to_reader_ms']['p99']}"
            rows.append((f"  at {r}/s (received/sent)", f"{v['p50']}/{v['p99']}/{v['p999']}",
                         f"{v['received']}/{v['sent']}{' (behind)' if v['saturated'] else ''}", legs))
            if v.get("batches"):
                rows.append(("    batches", v["batches"]["batches"], sizes(v["batches"]), ""))
            if v.get("cpu"):  # how close to saturation this rate ran the worker
                rows.append(("    CPU ms per event, busy share of a core", v["cpu"]["ms_per_event"],
                             f"busy {v['cpu']['busy_share']:.0%}", ""))
            if v.get("threads"):
                rows.append(("    its threads' share of a core", _shares(v["threads"]), "", ""))
            if v.get("gc"):  # every thread stands still in a collection: latency spikes
                rows.append(("    garbage collections, full ones", f"{v['gc']['collections']}, {v['gc']['full']}",
                             f"{v['gc']['all_ms']} ms stopped, {v['gc']['full_ms']} in full ones", ""))
    for ann in result.get("ann", []):
        k, ef = ann["k"], ann["ef_search"]
        rows += [
            (f"HNSW {ann['items']:,}: recall@{k}, qps",
             f"{ann['recall']}, {ann['hnsw_qps']:,.0f} qps",
             f"brute force 1.0, {ann['brute_force_qps']:,.0f} qps", f"{ann['speedup']}x faster"),
            ("  build s (so far), query ms", f"{ann['build_s']} / {ann['brute_force_build_s']}",
             f"{ann['hnsw_query_ms']} / {ann['brute_force_query_ms']} ms", ""),
            (f"  recall at ef {'/'.join(ann['recall_by_ef'])} (worker: {ef})", "/".join(map(str, ann["recall_by_ef"].values())),
             "", ""),
            ("  index bytes per item", ann["bytes_per_item"], f"raw vector {4 * result['dim']}",
             ratio(ann["bytes_per_item"], 4 * result["dim"])),
        ]
    if "encoder" in result:
        enc = result["encoder"]
        rows += [
            ("encoder items/s (ingest)", enc["items_per_s"], f"forward pass {enc['forward_items_per_s']}",
             ratio(enc["items_per_s"], enc["forward_items_per_s"])),
            ("encoder query ms p50/p99", f"{enc['query_ms']['p50']}/{enc['query_ms']['p99']}", "", ""),
            ("bytes per user state", result["bytes_per_user"], "", ""),
        ]
    return rows


def print_table(result: dict[str, Any]) -> None:
    rows = table_rows(result)
    header = ("measure", "value", "against", "ratio")
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        for row in (header, *rows):
            print(" | ".join(str(c) for c in row))
        return
    table = Table(title=f"streamrec bench ({'quick' if result['quick'] else 'full'}); "
                        "a shared 2-core machine: numbers are noisy, compare the ratios")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(str(c) for c in row))
    Console(width=120).print(table)
    if "latency_by_rate" in result:
        print("latency legs: produced -> the worker's time stamp on the recommendation, taken as it starts "
              "ranking the batch (broker, the worker's fetch, the batch before, applying the events) + that "
              "stamp -> our consumer (ranking, the worker's send, broker, our fetch)")


def run_bench(settings: Settings, options: BenchOptions) -> int:
    from stream_apps.tools.catalogue import load_builtin_catalogue

    started = time.perf_counter()
    run_dir = Path(settings.data_dir) / "bench"
    run_dir.mkdir(parents=True, exist_ok=True)
    catalogue = load_builtin_catalogue()
    texts = [". ".join(p for p in (str(i.get("title", "")), str(i.get("description", ""))) if p)
             for i in catalogue]
    # Quick: 256 texts are the ANN's centres too. Full: the encoder is timed (twice) on
    # 1,024 texts and all 3,000 are the centres (the ANN vectors were calibrated on them).
    timed, extra = (texts[:256], []) if options.quick else (texts[:1024], texts[1024:])
    result: dict[str, Any] = {"quick": options.quick}
    if options.ann_only:
        from dataclasses import replace

        from engine.encoder import make_encoder
        from stream_apps.tools.embeddings import encode_texts

        _say(f"encoding {len(timed) + len(extra)} catalogue texts (the ANN vectors' centres)")
        vectors = encode_texts(make_encoder(replace(settings.encoder_config(), torch_threads=0)), timed + extra,
                               "encoding", quiet=False, cache_dir=Path(settings.data_dir) / "evaluate" / "embeddings")
    else:
        _say(f"encoder: {len(timed)} catalogue texts")
        result["encoder"], vectors = bench_encoder(timed, settings.encoder_config(), extra)
        result["bytes_per_user"] = bytes_per_user(int(vectors.shape[1]))
    result["dim"] = int(vectors.shape[1])
    result["ann_centres"] = len(vectors)
    sizes = ", ".join(f"{n:,}" for n in options.ann_items)
    _say(f"HNSW vs brute force: one index grown to {sizes} items around {len(vectors):,} real vectors")

    def said(r: dict[str, Any]) -> None:
        _say(f"{r['items']:,} items: recall@{r['k']} {r['recall']} (brute force 1.0), {r['hnsw_qps']:,.0f} qps "
             f"against {r['brute_force_qps']:,.0f} ({r['speedup']}x), built in {r['build_s']} s so far")

    result["ann"] = bench_ann_sizes(vectors, options.ann_items, config=settings.index_config(int(vectors.shape[1])),
                                    progress=True, on_result=said)
    if not options.ann_only:
        result.update(bench_broker(settings, options, catalogue[:options.catalogue_items],
                                   vectors[:options.catalogue_items], run_dir))
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    print_table(result)
    if options.json_out is not None:
        options.json_out.parent.mkdir(parents=True, exist_ok=True)
        options.json_out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    _say(f"done in {result['elapsed_s']} s; logs in {run_dir}")
    return 0
