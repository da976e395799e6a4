"""``streamrec evaluate``: replay a dataset prequentially, streamrec beside baselines.

In-process mode runs the engine code the worker runs (``engine.interests`` +
``engine.recommend`` over an ``HnswIndex``) on the events in time order. Item texts
and search queries are encoded once, in batches, before the replay starts, and kept
in ``<data_dir>/evaluate/embeddings`` by content, so the next replay of the same
dataset skips the encoding.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import orjson
from tqdm import tqdm

from engine.baselines import (
    AlsRecommender,
    ContentRecommender,
    CovisitRecommender,
    ItemModelRecommender,
    PopularRecommender,
    SeenFiltered,
    StreamrecReplay,
)
from engine.catalog import Catalog
from engine.evaluation import (
    RecommenderTrace,
    ReplayRecommender,
    metrics_from_ranks,
    replay,
    warmup_count,
    windowed,
)
from engine.index import HnswIndex
from engine.itemmodels import ItemModelConfig, RefitSchedule
from engine.types import TextEncoder, Vector
from stream_apps.settings import EMBEDDED_BOOTSTRAP, Settings, bootstrap_is_explicit
from stream_apps.tools.datasets import Dataset, load_dataset
from stream_apps.tools.embeddings import encode_texts

RECOMMENDERS = ("popular", "covisit", "content", "ease", "itemknn", "als", "streamrec", "streamrec-default",
                "streamrec-unseen")
TUNED = ("ease", "itemknn", "als")

# The baselines' hyperparameter grids, tried on the first ``--tune`` share of the stream
# only (a replay of that part alone); the full replay then runs each with its best NDCG.
GRIDS: dict[str, list[dict[str, float]]] = {
    "ease": [{"l2": l2, "decay": d} for l2 in (20.0, 100.0, 500.0) for d in (0.8, 0.95)],
    "itemknn": [{"neighbours": n, "decay": d} for n in (50, 200) for d in (0.8, 0.95)],
    "als": [{"factors": f, "regularization": r, "decay": 0.9} for f in (32, 96) for r in (0.05, 1.0)],
}
DEFAULT_PARAMS: dict[str, dict[str, float]] = {
    "ease": {"l2": 100.0, "decay": 0.9}, "itemknn": {"neighbours": 100, "decay": 0.9},
    "als": {"factors": 64, "regularization": 0.05, "decay": 0.9},
}


@dataclass(frozen=True)
class EvaluateOptions:
    dataset: Path
    format: str | None = None
    k: int = 10
    warmup: float = 0.1
    max_events: int | None = None
    include_repeats: bool = False
    popular_half_life_s: float = 7 * 86400.0
    json_out: Path | None = None
    plot_out: Path | None = None
    recommenders: tuple[str, ...] = RECOMMENDERS
    quiet: bool = False
    through_kafka: bool = False
    workers: int = 1  # worker processes for through_kafka
    cache_dir: Path | None = None  # item and query embeddings by content; None: encode every run
    max_minutes: float | None = None  # stop the replay then (or at SIGINT) and report the events so far
    refit_every: str = "5000"  # EASE, item-kNN, ALS (and streamrec's item model): N events or Nd days
    tune: float = 0.2  # share of the stream (from its start) the baselines are tuned on; 0: defaults


@dataclass(frozen=True)
class EvaluationReport:
    dataset: Dataset
    events: int  # replayed: all of the dataset's unless the replay was stopped
    scored: int
    warmup: int
    traces: list[RecommenderTrace]
    setup_s: float
    replay_s: float
    stopped_early: bool = False
    tuning: Tuning | None = None

    def as_json(self, options: EvaluateOptions) -> dict[str, Any]:
        catalogue = len(self.dataset.items)
        return {
            "dataset": self.dataset.name, "format": self.dataset.format,
            "mode": "through-kafka" if options.through_kafka else "in-process",
            "events": self.events, "dataset_events": len(self.dataset.events), "stopped_early": self.stopped_early,
            "first_ts": self.dataset.events[0].ts if self.dataset.events else None,
            "last_ts": self.dataset.events[self.events - 1].ts if self.events else None,
            "scored_events": self.scored, "warmup_events": self.warmup,
            "k": options.k, "items": catalogue, "repeats_scored": options.include_repeats,
            "skipped_input": self.dataset.skipped,
            "setup_s": round(self.setup_s, 2), "replay_s": round(self.replay_s, 2),
            "results": {t.name: t.summary(options.k, catalogue, self.events) for t in self.traces},
            "refit_every": options.refit_every,
            "tuning": self.tuning.as_json() if self.tuning is not None else None,
        }


def _progress(total: int, desc: str, quiet: bool) -> Any:
    return tqdm(total=total, desc=desc, unit="ev" if "replay" in desc else "item",
                disable=quiet or total < 1000, file=sys.stderr, mininterval=0.5)


def make_baseline(name: str, params: dict[str, float], schedule: RefitSchedule,
                  label: str | None = None) -> ReplayRecommender:
    """EASE, item-kNN or ALS with ``params`` (one point of :data:`GRIDS`)."""
    if name == "ease":
        return ItemModelRecommender(ItemModelConfig("ease", l2=params["l2"]), schedule, params["decay"], label)
    if name == "itemknn":
        return ItemModelRecommender(ItemModelConfig("cosine", neighbours=int(params["neighbours"])), schedule,
                                    params["decay"], label)
    als = AlsRecommender(schedule, factors=int(params["factors"]), regularization=params["regularization"],
                         recency_decay=params["decay"])
    als.name = label or als.name
    return als


@dataclass(frozen=True)
class Tuning:
    """Which hyperparameters each tuned baseline runs with, and how they were chosen."""

    events: int  # the first ``events`` of the stream (0: not tuned, the defaults)
    first_ts: float | None
    last_ts: float | None
    chosen: dict[str, dict[str, float]]
    tried: dict[str, list[tuple[dict[str, float], float]]]  # params and their NDCG on that part

    def as_json(self) -> dict[str, Any]:
        return {"events": self.events, "first_ts": self.first_ts, "last_ts": self.last_ts,
                "chosen": self.chosen,
                "tried": {n: [{**p, "ndcg": round(v, 5)} for p, v in t] for n, t in self.tried.items()}}


def tune_baselines(dataset: Dataset, options: EvaluateOptions, schedule: RefitSchedule) -> Tuning:
    """Pick each tuned baseline's hyperparameters by NDCG@k on a replay of the first
    ``options.tune`` share of the events alone (the rest of the stream is never seen)."""
    names = [n for n in options.recommenders if n in TUNED]
    if not names or options.tune <= 0:
        return Tuning(0, None, None, {n: DEFAULT_PARAMS[n] for n in TUNED}, {})
    part = dataset.events[:max(int(options.tune * len(dataset.events)), 1)]
    candidates: list[tuple[str, dict[str, float], ReplayRecommender]] = [
        (name, params, make_baseline(name, params, schedule, f"{name}#{i}"))
        for name in names for i, params in enumerate(GRIDS[name])]
    known = {i.item_id for i in dataset.items}
    warmup = warmup_count(options.warmup, len(part)) if options.warmup < 1 else min(int(options.warmup),
                                                                                     len(part) // 2)
    with _progress(len(part), f"tuning replay ({len(candidates)} configs)", options.quiet) as bar:
        traces = replay(part, [c for _, _, c in candidates], options.k, warmup, known.__contains__,
                        time.perf_counter, include_repeats=options.include_repeats,
                        on_event=lambda n: bar.update(200) if n % 200 == 199 else None)
    tried: dict[str, list[tuple[dict[str, float], float]]] = {n: [] for n in names}
    for (name, params, _), trace in zip(candidates, traces):
        tried[name].append((params, metrics_from_ranks(trace.ranks, options.k).ndcg))
    chosen = {n: DEFAULT_PARAMS[n] for n in TUNED}
    chosen.update({n: max(t, key=lambda pv: pv[1])[0] for n, t in tried.items()})
    return Tuning(len(part), part[0].ts, part[-1].ts, chosen, tried)


def build_recommenders(dataset: Dataset, encoder: TextEncoder, settings: Settings,
                       options: EvaluateOptions, tuning: Tuning | None = None) -> list[ReplayRecommender]:
    """The catalogue (encoded once) and every recommender asked for, in report order."""
    vectors = encode_texts(encoder, [i.text for i in dataset.items], "encoding items", options.quiet,
                           cache_dir=options.cache_dir)
    index = HnswIndex(replace(settings.index_config(encoder.dim), initial_capacity=max(len(vectors), 1024)))
    catalog = Catalog(index)
    first_ts = dataset.events[0].ts if dataset.events else 0.0
    catalog.upsert(dataset.items, vectors, now=first_ts)
    # The worker's query cache normalises case and spaces before encoding; so do we.
    queries = sorted({e.query for e in dataset.events if e.query})
    keys = [" ".join(q.lower().split()) for q in queries]
    query_matrix = encode_texts(encoder, keys, "encoding queries", options.quiet, cache_dir=options.cache_dir)
    query_vectors: dict[str, Vector] = {q: query_matrix[i] for i, q in enumerate(queries)}

    def streamrec(learned: bool = True, name: str | None = None) -> StreamrecReplay:
        # As the worker: its item-model refits (on --refit-every, like the baselines) and,
        # unless told otherwise, the ranker trained on next-event labels.
        refits = replace(settings, item_model_refit_every=options.refit_every).item_model_refits()
        return StreamrecReplay(catalog, settings.interest_config(),
                               replace(settings.recommend_config(), k=options.k, max_k=max(100, options.k)),
                               query_vectors, refits=refits,
                               ranker=settings.ranker_config() if learned and settings.next_event_labels else None,
                               # The worker checks every ranker_publish_interval_s of its clock;
                               # the replay's clock is event time.
                               publish_interval_s=settings.ranker_publish_interval_s,
                               name=name, covisit=settings.covisit_config(),
                               categories=settings.category_trending_config())

    schedule = RefitSchedule.parse(options.refit_every)
    chosen = tuning.chosen if tuning is not None else DEFAULT_PARAMS
    made: dict[str, Any] = {
        "popular": lambda: PopularRecommender([i.item_id for i in dataset.items], options.popular_half_life_s),
        "covisit": CovisitRecommender,
        "content": lambda: ContentRecommender(catalog),
        **{name: (lambda name=name: make_baseline(name, chosen[name], schedule)) for name in TUNED},
        "streamrec": streamrec,
        "streamrec-default": lambda: streamrec(learned=False, name="streamrec-default"),
        "streamrec-unseen": lambda: SeenFiltered(streamrec(), max_k=max(100, options.k)),
    }
    return [made[name]() for name in options.recommenders]


def evaluate(dataset: Dataset, encoder: TextEncoder, settings: Settings,
             options: EvaluateOptions, external_broker: bool = False) -> EvaluationReport:
    """Replay ``dataset`` (already cut to ``max_events``) through every recommender.

    With ``options.through_kafka`` the in-process streamrec is reported as
    ``streamrec-in-process`` and ``streamrec`` is what a worker process published.
    """
    started = time.perf_counter()
    tuning = tune_baselines(dataset, options, RefitSchedule.parse(options.refit_every))
    recommenders = build_recommenders(dataset, encoder, settings, options, tuning)
    setup_s = time.perf_counter() - started
    events = dataset.events
    warmup = warmup_count(options.warmup, len(events))
    known = {i.item_id for i in dataset.items}
    started = time.perf_counter()
    deadline = None if options.max_minutes is None else time.monotonic() + 60 * options.max_minutes
    done = [0]

    def progressed(n: int) -> None:
        done[0] = n + 1
        if n % 200 == 199:
            bar.update(200)

    with _progress(len(events), "replay", options.quiet) as bar, _stop_on_interrupt() as interrupted:
        traces = replay(events, recommenders, options.k, warmup, known.__contains__, time.perf_counter,
                        include_repeats=options.include_repeats, on_event=progressed,
                        should_stop=lambda: interrupted.is_set() or (deadline is not None
                                                                     and time.monotonic() > deadline))
        bar.n = done[0]
        bar.refresh()
    stopped = done[0] < len(events)
    if stopped:
        print(f"replay stopped after {done[0]:,} of {len(events):,} events; the report covers those",
              file=sys.stderr)
        events = events[:done[0]]
    replayed = replace(dataset, events=events) if stopped else dataset
    if options.through_kafka:
        from stream_apps.tools.evaluate_kafka import replay_through_kafka

        for trace in traces:
            if trace.name == "streamrec":
                trace.name = "streamrec-in-process"
        traces.append(replay_through_kafka(
            settings, replayed, options.k, warmup, known.__contains__, options.include_repeats,
            external_broker, Path(settings.data_dir) / "evaluate", quiet=options.quiet,
            workers=options.workers))
    replay_s = time.perf_counter() - started
    for recommender, trace in zip(recommenders, traces):
        diagnostics = getattr(recommender, "diagnostics", None)
        if diagnostics is not None:
            trace.extra.update(diagnostics())
    scored = len(traces[0].ranks) if traces else 0
    return EvaluationReport(dataset, len(events), scored, warmup, traces, setup_s, replay_s, stopped, tuning)


@contextmanager
def _stop_on_interrupt() -> Iterator[threading.Event]:
    """Ctrl-C during the replay ends it at the next event instead of losing the report."""
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.set())
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


def format_table(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    k = report["k"]
    header = ["recommender", f"recall@{k}", f"ndcg@{k}", f"mrr@{k}", "coverage", "cand. recall",
              "ms/event", "ms/rec"]
    rows = []
    for name, r in report["results"].items():
        candidates = f"{r['candidate_recall']:.4f}" if "candidate_recall" in r else "-"
        rows.append([name, f"{r['recall']:.4f}", f"{r['ndcg']:.4f}", f"{r['mrr']:.4f}",
                     f"{r['coverage']:.3f}", candidates, f"{r['ms_per_event']:.3f}",
                     f"{r['ms_per_recommendation']:.3f}"])
    return header, rows


def ranker_lines(report: dict[str, Any]) -> list[str]:
    """What each learned streamrec's trainer did: rows, versions, holdout NDCG@10 and AUC
    beside the default scorer's, and why its last check did not publish."""
    lines = []
    for name, r in report["results"].items():
        if "ranker_rows" in r:
            lines.append(f"{name}: ranker trained on {r['ranker_rows']:,} next-event rows "
                         f"({r['label_positives']:,} labelled actions, {r['label_misses']:,} outside the "
                         f"candidates), {r['ranker_versions']} versions published; holdout "
                         f"{r['ranker_holdout']:,} rows, NDCG@10 {r.get('ranker_holdout_ndcg')} vs default "
                         f"{r.get('default_holdout_ndcg')}, AUC {r['ranker_holdout_auc']} vs default "
                         f"{r['default_holdout_auc']}; last check: {r['ranker_last_check']}")
    tuning = report.get("tuning") or {}
    if tuning.get("events"):
        chosen = "; ".join(f"{n} {p}" for n, p in tuning["chosen"].items() if n in report["results"])
        lines.append(f"baselines tuned on the first {tuning['events']:,} events only: {chosen}")
    return lines


def print_table(report: dict[str, Any]) -> None:
    header, rows = format_table(report)
    title = (f"{report['dataset']} ({report['format']}, {report['mode']}): {report['events']:,} events, "
             f"{report['scored_events']:,} scored after {report['warmup_events']:,} warm-up, "
             f"{report['items']:,} items")
    if report.get("stopped_early"):
        title += f" (stopped: the first {report['events']:,} of {report['dataset_events']:,} events)"
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # rich is optional: a plain table says the same
        print(title)
        widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
        for line in [header, *rows]:
            print("  ".join(str(v).rjust(w) for v, w in zip(line, widths)))
        return
    table = Table(title=title)
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    Console(width=120).print(table)


def plot(report: EvaluationReport, options: EvaluateOptions, out: Path, windows: int = 20) -> None:
    """Recall@k and MRR@k per time window of scored events, one line per recommender."""
    import matplotlib

    matplotlib.use("Agg")
    from datetime import datetime, timezone

    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for trace in report.traces:
        points = windowed(trace.ranks, trace.scored_ts, options.k, windows)
        if not points:
            continue
        xs = [datetime.fromtimestamp(ts, tz=timezone.utc) for ts, _ in points]
        axes[0].plot(xs, [m.recall for _, m in points], marker=".", label=trace.name)
        axes[1].plot(xs, [m.mrr for _, m in points], marker=".", label=trace.name)
    for ax, name in zip(axes, (f"recall@{options.k}", f"MRR@{options.k}")):
        ax.set_title(f"{name} per window of {max(report.scored // windows, 1):,} scored events")
        ax.set_xlabel("event time")
        ax.grid(alpha=0.3)
        ax.legend()
        ax.tick_params(axis="x", rotation=30)
    fig.suptitle(f"streamrec evaluate {report.dataset.name}: prequential replay")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)


def run_evaluate(settings: Settings, options: EvaluateOptions, encoder: TextEncoder | None = None) -> int:
    """The command: read, replay, print, write JSON and PNG. Returns the exit code."""
    unknown = [name for name in options.recommenders if name not in RECOMMENDERS]
    if unknown or not options.recommenders:
        print(f"streamrec evaluate: error: unknown recommenders {unknown}; choose from {', '.join(RECOMMENDERS)}",
              file=sys.stderr)
        return 2
    dataset = load_dataset(options.dataset, options.format)
    if options.max_events is not None:
        dataset = replace(dataset, events=dataset.events[:options.max_events])
    if not dataset.events or not dataset.items:
        print(f"{options.dataset}: no events or no items to replay", file=sys.stderr)
        return 1
    if encoder is None:
        from engine.encoder import make_encoder

        # Catalogue ingest is offline here: let the runtime use its default threads.
        encoder = make_encoder(replace(settings.encoder_config(), torch_threads=0))
        if options.cache_dir is None:  # the real model: keep its embeddings for the next replay
            options = replace(options, cache_dir=Path(settings.data_dir) / "evaluate" / "embeddings")
    external = bootstrap_is_explicit(None) or settings.bootstrap_servers != EMBEDDED_BOOTSTRAP
    report = evaluate(dataset, encoder, settings, options, external_broker=external)
    data = report.as_json(options)
    print_table(data)
    for line in ranker_lines(data):
        print(line)
    print(f"setup (encode + index) {report.setup_s:.1f}s, replay {report.replay_s:.1f}s; "
          f"repeat interactions {'scored' if options.include_repeats else 'fed but not scored'}",
          file=sys.stderr)
    if options.json_out is not None:
        options.json_out.parent.mkdir(parents=True, exist_ok=True)
        options.json_out.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    if options.plot_out is not None:
        plot(report, options, options.plot_out)
    return 0
