"""``streamrec bench --soak``: does a worker's memory level off under endless new users?

One worker on the embedded broker (or ``--bootstrap-servers``) gets a steady rate of
clicks, purchases and searches from mostly distinct users (a new user id for most
events, millions over a long run), with user eviction on (a short ``user_ttl_s`` and
sweep interval). Every ``sample_s`` seconds the worker's resident memory (from
``/proc/<pid>/status``) and the sizes of its learned state (users in the table,
co-visitation items and pairs, trending entries, from ``/health``) are recorded. The
report is a table, a JSON file and a PNG plot of memory over time, and a verdict per
series: levelled off, or still growing (:func:`levelling_verdict`).

Timing on a shared machine is noisy; the verdict compares a series with itself.
"""

from __future__ import annotations

import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import orjson

from stream_apps.settings import Settings

SERIES = ("rss_mb", "users", "covisit_pairs", "trending_entries")
SCENES = ("home", "product", "cart", "search")
QUERIES = ("trail running shoes", "espresso machine", "science fiction novel", "wireless earbuds",
           "yoga mat", "cast iron pan", "kids backpack", "winter jacket")


@dataclass(frozen=True)
class SoakOptions:
    duration_s: float = 1200.0
    rate: float = 500.0
    users: int = 2_000_000  # the pool new user ids are drawn from, in order
    user_ttl_s: float = 60.0
    sweep_interval_s: float = 10.0
    sample_s: float = 10.0
    returning_share: float = 0.2  # events from a recently active user (sessions: co-visitation)
    items: int = 3000
    seed: int = 7
    external_broker: bool = False
    json_out: Path | None = None
    plot_out: Path | None = None

    def __post_init__(self) -> None:
        if self.duration_s <= 0 or self.rate <= 0 or self.users < 1 or self.sample_s <= 0:
            raise ValueError("duration, rate, users and sample interval must be > 0")
        if not 0.0 <= self.returning_share < 1.0:
            raise ValueError(f"returning_share must be in [0, 1), got {self.returning_share}")


@dataclass(frozen=True)
class Verdict:
    """How a series moved: least-squares slopes (units per second) over its first and last
    thirds, the growth over the last third relative to the series' mean, how far the last
    third's peak rose above the peak before it, and whether it levelled off."""

    first_slope: float
    last_slope: float
    last_growth_share: float
    new_high_share: float
    levelled: bool
    reason: str


def levelling_verdict(ts: Sequence[float], values: Sequence[float], ratio_tol: float = 0.2,
                      growth_tol: float = 0.05) -> Verdict:
    """Did ``values`` (sampled at times ``ts``) level off?

    Levelled when any of these holds, each a sign that no more memory is being taken:

    - the last third's least-squares growth is at most ``growth_tol`` of the series' mean;
    - the last third never rose more than ``growth_tol`` above the peak before it (a
      series at its bound: eviction sawtooth, or a dip and recovery after a stall);
    - its slope is at most ``ratio_tol`` times a positive first-third slope (a warm-up that
      flattens) and it grew by at most twice ``growth_tol``, so a steep warm-up cannot hide
      a leak after it.

    A series that keeps rising, at any pace above the tolerance, fails all three.

    >>> t = list(range(30))
    >>> levelling_verdict(t, [min(x, 10) for x in t]).levelled
    True
    >>> levelling_verdict(t, [5.0 * x + 100 for x in t]).levelled
    False
    """
    if len(ts) != len(values):
        raise ValueError(f"{len(ts)} times for {len(values)} values")
    if len(ts) < 6:
        raise ValueError(f"need at least 6 samples for a verdict, got {len(ts)}")
    t = np.asarray(ts, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    third = len(t) // 3
    first_slope = float(np.polyfit(t[:third], y[:third], 1)[0])
    last_slope = float(np.polyfit(t[-third:], y[-third:], 1)[0])
    span = float(t[-1] - t[-third])
    mean = float(np.mean(np.abs(y))) or 1.0
    growth = last_slope * span / mean
    before = float(np.max(y[:-third]))
    new_high = (float(np.max(y[-third:])) - before) / (abs(before) or 1.0)
    found = (first_slope, last_slope, growth, new_high)
    if growth <= growth_tol:
        return Verdict(*found, True, f"last third grew {growth:+.1%} of the mean (limit {growth_tol:.0%})")
    if new_high <= growth_tol:
        return Verdict(*found, True, f"last third peaked {new_high:+.1%} from the earlier peak "
                                     f"(limit {growth_tol:.0%})")
    if first_slope > 0 and last_slope <= ratio_tol * first_slope and growth <= 2 * growth_tol:
        return Verdict(*found, True, f"last-third slope is {last_slope / first_slope:.0%} of the first third's")
    return Verdict(*found, False, f"still growing: last third {growth:+.1%} of the mean, new peak "
                                  f"{new_high:+.1%} above the earlier one")


def process_rss_mb(pid: int) -> float | None:
    """Resident memory of process ``pid`` in MB (Linux ``/proc``; ``None`` elsewhere or gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        return None
    return None


class Traffic(threading.Thread):
    """Steady events at ``rate``: most from a user never seen before, some from a user
    active moments ago (so sessions of several items teach co-visitation)."""

    def __init__(self, settings: Settings, options: SoakOptions, item_ids: list[str]) -> None:
        super().__init__(daemon=True, name="soak-traffic")
        self.settings, self.options, self.item_ids = settings, options, item_ids
        self.sent = 0
        self.new_users = 0
        self.error: BaseException | None = None
        self._stop_flag = threading.Event()

    def run(self) -> None:
        from stream_apps.kafka.clients import producer
        from stream_apps.kafka.topics import TopicNames

        names = TopicNames.of(self.settings)
        rng = random.Random(self.options.seed)
        # Zipf-like popularity: a few items are hot, as in real catalogues.
        weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(self.item_ids))]
        recent: list[str] = []
        prod = producer(self.settings, linger_ms=5)
        started = time.monotonic()
        try:
            while not self._stop_flag.is_set():
                due = int((time.monotonic() - started) * self.options.rate)
                batch = min(due - self.sent, 1000)
                if batch <= 0:
                    time.sleep(0.005)
                    continue
                items = rng.choices(self.item_ids, weights=weights, k=batch)
                for item_id in items:
                    if recent and rng.random() < self.options.returning_share:
                        user = rng.choice(recent)
                    else:
                        user = f"s{self.new_users % self.options.users}"
                        self.new_users += 1
                        recent.append(user)
                        if len(recent) > 2000:
                            del recent[:1000]
                    roll = rng.random()
                    kind = "purchase" if roll < 0.08 else "search" if roll < 0.12 else "click"
                    body: dict[str, Any] = {"event_id": f"k{self.sent}", "user_id": user,
                                            "item_id": item_id, "ts": time.time(),
                                            "scene": rng.choice(SCENES)}
                    if kind == "search":
                        body["query"] = rng.choice(QUERIES)
                    prod.send(names.event_topic(kind), key=user.encode(), value=orjson.dumps(body))
                    self.sent += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            self.error = exc
        finally:
            prod.flush()
            prod.close()

    def stop(self) -> None:
        self._stop_flag.set()
        self.join(timeout=15)


def _say(text: str) -> None:
    print(f"● {text}", file=sys.stderr, flush=True)


def sample_worker(pid: int, web_port: int, started: float, traffic: Traffic) -> dict[str, Any] | None:
    from stream_apps.tools.processes import get_json

    rss = process_rss_mb(pid)
    status, body = get_json(f"http://127.0.0.1:{web_port}/health", timeout=10.0)
    if rss is None or not isinstance(body, dict):
        return None
    state = body.get("state") or {}
    _, stats = get_json(f"http://127.0.0.1:{web_port}/api/stats", timeout=10.0)
    processed = sum(((stats or {}).get("totals") or {}).get("events_by_type", {}).values()) \
        if isinstance(stats, dict) else None
    return {"t_s": round(time.monotonic() - started, 1), "rss_mb": round(rss, 1),
            "users": int(state.get("users", body.get("users_in_state", 0))),
            "covisit_items": int(state.get("covisit_items", 0)),
            "covisit_pairs": int(state.get("covisit_pairs", 0)),
            "trending_entries": int(state.get("trending_entries", 0)),
            "shown_users": int(state.get("shown_users", 0)),
            "feedback_pages": int(state.get("feedback_pages", 0)),
            "events_sent": traffic.sent, "distinct_users_sent": min(traffic.new_users, traffic.options.users),
            "events_processed": int(processed) if processed is not None else None}


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run_soak(settings: Settings, options: SoakOptions) -> int:
    from stream_apps.kafka.broker import EmbeddedBroker, free_port
    from stream_apps.kafka.clients import producer
    from stream_apps.kafka.topics import TopicNames
    from stream_apps.tools.catalogue import load_builtin_catalogue
    from stream_apps.tools.processes import get_json, spawn_worker, stop_process, wait_ready
    from stream_apps.worker.run import wait_for_topics

    if threading.current_thread() is threading.main_thread():
        # A soak runs for long and often in the background (where SIGINT is ignored): let
        # SIGTERM unwind like Ctrl-C, so the worker and the broker are stopped too.
        signal.signal(signal.SIGTERM, _interrupt)
    with ExitStack() as stack:
        log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="streamrec-soak-")))
        if not options.external_broker:
            broker = stack.enter_context(EmbeddedBroker(port=free_port(), log_path=log_dir / "tansu.log"))
            settings = settings.with_overrides({"bootstrap_servers": broker.bootstrap_servers})
        settings = settings.with_overrides({"topic_prefix": f"soak-{uuid.uuid4().hex[:6]}-"})
        wait_for_topics(settings, max_wait_s=10)
        items = load_builtin_catalogue()[:options.items]
        prod = producer(settings, linger_ms=5)
        names = TopicNames.of(settings)
        for item in items:
            prod.send(names.items, key=str(item["item_id"]).encode(), value=orjson.dumps(item))
        prod.flush()
        prod.close()
        web_port = free_port()
        env = {"STREAMREC_USER_TTL_S": str(options.user_ttl_s),
               "STREAMREC_SWEEP_INTERVAL_S": str(options.sweep_interval_s)}
        _say(f"worker on {settings.bootstrap_servers}: user_ttl_s={options.user_ttl_s:g}, "
             f"sweep every {options.sweep_interval_s:g} s (log {log_dir / 'worker.log'})")
        worker = spawn_worker(settings, web_port, log_dir / "worker.log", env)
        stack.callback(stop_process, worker)
        wait_ready(web_port, worker, timeout=300)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            _, health = get_json(f"http://127.0.0.1:{web_port}/health")
            if isinstance(health, dict) and health.get("index_items", 0) >= len(items):
                break
            time.sleep(0.5)
        _say(f"{len(items)} items indexed; {options.rate:g} events/s for {options.duration_s:g} s")
        traffic = Traffic(settings, options, [str(i["item_id"]) for i in items])
        started = time.monotonic()
        traffic.start()
        stack.callback(traffic.stop)
        samples: list[dict[str, Any]] = []
        next_sample = started
        while time.monotonic() - started < options.duration_s:
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited with code {worker.returncode} during the soak "
                                   f"(log: {log_dir / 'worker.log'})")
            if traffic.error is not None:
                raise RuntimeError(f"the traffic generator failed: {traffic.error}")
            if time.monotonic() >= next_sample:
                sample = sample_worker(worker.pid, web_port, started, traffic)
                if sample is not None:
                    samples.append(sample)
                    _say(" ".join(f"{k}={v}" for k, v in sample.items()))
                next_sample += options.sample_s
            time.sleep(0.2)
        traffic.stop()
        final = sample_worker(worker.pid, web_port, started, traffic)
        if final is not None:
            samples.append(final)
    report = build_report(options, samples)
    print_report(report)
    if options.json_out is not None:
        options.json_out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
        _say(f"JSON written to {options.json_out}")
    if options.plot_out is not None:
        plot_report(report, options.plot_out)
        _say(f"plot written to {options.plot_out}")
    return 0 if report["verdicts"]["rss_mb"]["levelled"] else 1


def state_bounds(options: SoakOptions) -> dict[str, int]:
    """The most each state series can hold in this soak, from the engine's default caps, the
    catalogue size and the eviction settings (users: a TTL and a sweep's worth of new users)."""
    from engine.covisit import CovisitConfig
    from engine.trending import TrendingConfig

    covisit, trending = CovisitConfig(), TrendingConfig()
    scenes = min(len(SCENES), trending.max_scenes)
    return {"users": int(options.rate * (options.user_ttl_s + options.sweep_interval_s)),
            "covisit_pairs": min(options.items, covisit.max_items) * covisit.max_neighbours,
            "trending_entries": min(options.items, trending.max_items_global)
            + scenes * min(options.items, trending.max_items_per_scene)}


def build_report(options: SoakOptions, samples: list[dict[str, Any]]) -> dict[str, Any]:
    opts = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()}
    verdicts: dict[str, Any] = {}
    bounds = state_bounds(options)
    ts = [s["t_s"] for s in samples]
    for name in SERIES:
        if len(samples) >= 6:
            verdicts[name] = asdict(levelling_verdict(ts, [s[name] for s in samples]))
        else:
            verdicts[name] = {"levelled": False, "reason": f"only {len(samples)} samples"}
        verdicts[name]["bound"] = bounds.get(name)
        verdicts[name]["last"] = samples[-1][name] if samples else None
    throughput: dict[str, Any] = {}
    if samples and samples[-1]["t_s"] > 0:
        last = samples[-1]
        processed = last.get("events_processed") or 0
        throughput = {"sent_per_s": round(last["events_sent"] / last["t_s"], 1),
                      "processed_per_s": round(processed / last["t_s"], 1),
                      # A worker far behind sees events older than the TTL: its user count
                      # then says more about the lag than about eviction.
                      "kept_up": processed >= 0.9 * last["events_sent"]}
    return {"options": opts, "samples": samples, "verdicts": verdicts, "throughput": throughput,
            "note": "one worker on a shared 2-core machine; timings are noisy"}


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    samples = report["samples"]
    step = max(1, len(samples) // 15)
    shown = samples[::step] + ([samples[-1]] if samples and (len(samples) - 1) % step else [])
    table = Table(title="streamrec bench --soak: worker memory and state over time")
    columns = ("t_s", "rss_mb", "users", "covisit_items", "covisit_pairs", "trending_entries",
               "events_sent", "distinct_users_sent", "events_processed")
    for name in columns:
        table.add_column(name, justify="right")
    for s in shown:
        table.add_row(*(str(s.get(name)) for name in columns))
    console = Console(width=max(Console().width, 150))  # the verdicts are sentences
    console.print(table)
    verdicts = Table(title="Did it level off? (least-squares slopes, first vs last third)")
    for name in ("series", "last", "bound", "first third /s", "last third /s", "last third growth",
                 "new peak", "verdict"):
        verdicts.add_column(name)
    for name, v in report["verdicts"].items():
        verdicts.add_row(name, str(v.get("last")), str(v.get("bound") or "-"),
                         f"{v.get('first_slope', float('nan')):.3g}",
                         f"{v.get('last_slope', float('nan')):.3g}",
                         f"{v.get('last_growth_share', float('nan')):+.1%}",
                         f"{v.get('new_high_share', float('nan')):+.1%}",
                         ("levelled off: " if v["levelled"] else "NOT levelled: ") + v["reason"])
    console.print(verdicts)
    rate = report.get("throughput") or {}
    if rate and not rate["kept_up"]:
        console.print(f"[bold]The worker did not keep up[/bold]: {rate['processed_per_s']} events/s processed "
                      f"of {rate['sent_per_s']} sent; user counts then reflect the lag (events older than "
                      "the TTL are evicted at the next sweep). Lower --rate for a steady state.")


def plot_report(report: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = report["samples"]
    t = [s["t_s"] / 60 for s in samples]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    top.plot(t, [s["rss_mb"] for s in samples], color="tab:red")
    top.set_ylabel("worker RSS (MB)")
    top.set_title(f"streamrec soak: {report['options']['rate']:g} events/s, user TTL "
                  f"{report['options']['user_ttl_s']:g} s")
    top.grid(alpha=0.3)
    for name, color in (("users", "tab:blue"), ("covisit_pairs", "tab:green"),
                        ("trending_entries", "tab:orange"), ("distinct_users_sent", "tab:gray"),
                        ("events_processed", "tab:purple")):
        bottom.plot(t, [s[name] for s in samples], label=name, color=color)
    bottom.set_yscale("symlog")
    bottom.set_ylabel("entries")
    bottom.set_xlabel("minutes")
    bottom.legend(loc="upper left")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
