"""What the dashboard shows, as one JSON document (``GET /api/stats``).

Everything here reads state the worker already keeps (prometheus counters, the recent
samples in :class:`~stream_apps.worker.metrics.WorkerMetrics`, the catalogue, the Faust
consumer); nothing is computed per event. Faust internals are read defensively: a
missing attribute gives ``None``, never a failed request.
"""

from __future__ import annotations

import os
import time
from collections import Counter as Tally
from collections import defaultdict
from typing import Any, Iterable

from engine.interests import deserialize_state
from stream_apps.worker.context import WorkerContext
from stream_apps.worker.metrics import WorkerMetrics, counter_totals, latency_percentiles

RATE_WINDOW_S = 5.0
TRENDING_WINDOW_S = 300.0
SERIES_POINTS = 120


def process_rss_bytes() -> int | None:
    """Resident memory of this process (Linux /proc; ``None`` elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def state_sizes(ctx: WorkerContext, users: int) -> dict[str, int]:
    """How much learned state this worker holds: users in its table, co-visitation items
    and (item, neighbour) pairs, trending (scene, item) counts, pages awaiting feedback
    (fatigue counts are in the user state). Each is bounded (TTL eviction or a cap); the soak watches them."""
    covisit, trending = ctx.catalogue.collaborative.covisit, ctx.catalogue.collaborative.trending
    return {"users": users,
            "covisit_items": len(covisit) if covisit is not None else 0,
            "covisit_pairs": covisit.n_pairs if covisit is not None else 0,
            "trending_entries": trending.n_entries if trending is not None else 0,
            "feedback_pages": len(ctx.learning.feedback)}


def _rate(samples: list[dict[str, Any]], value: Any, now: float) -> float:
    """Per-second change of ``value(sample)`` between the newest sample and one ~5 s older."""
    if len(samples) < 2:
        return 0.0
    newest = samples[-1]
    older = next((s for s in reversed(samples[:-1]) if newest["ts"] - s["ts"] >= RATE_WINDOW_S),
                 samples[0])
    dt = newest["ts"] - older["ts"]
    return round(max(value(newest) - value(older), 0.0) / dt, 2) if dt > 0 else 0.0


def series(samples: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Per-second points for the charts: rates between consecutive samples, latency."""
    points = samples[-(SERIES_POINTS + 1):]
    out: dict[str, list[Any]] = {"ts": [], "events_per_s": [], "recs_per_s": [],
                                 "dead_letters_per_s": [], "p50_ms": [], "p99_ms": []}
    for prev, cur in zip(points, points[1:]):
        dt = cur["ts"] - prev["ts"]
        if dt <= 0:
            continue
        out["ts"].append(round(cur["ts"], 2))
        out["events_per_s"].append(round(
            (sum(cur["events"].values()) - sum(prev["events"].values())) / dt, 2))
        out["recs_per_s"].append(round((cur["recommendations"] - prev["recommendations"]) / dt, 2))
        out["dead_letters_per_s"].append(round((cur["dead_letters"] - prev["dead_letters"]) / dt, 2))
        out["p50_ms"].append(cur["latency"]["p50_ms"])
        out["p99_ms"].append(cur["latency"]["p99_ms"])
    return out


def rates(metrics: WorkerMetrics, now: float) -> dict[str, Any]:
    samples = list(metrics.samples)
    kinds = sorted({k for s in samples for k in s["events"]} | {"click", "search", "purchase",
                                                                "impression"})
    by_type = {k: _rate(samples, lambda s, k=k: s["events"].get(k, 0.0), now) for k in kinds}
    return {
        "events_per_s": round(sum(by_type.values()), 2),
        "events_per_s_by_type": by_type,
        "recommendations_per_s": _rate(samples, lambda s: s["recommendations"], now),
        "dead_letters_per_s": _rate(samples, lambda s: s["dead_letters"], now),
    }


def feedback(metrics: WorkerMetrics) -> dict[str, Any]:
    """Click-through and conversion of recommendations, by scene and by model version."""
    counts: dict[tuple[str, str], Tally[str]] = defaultdict(Tally)
    for metric in metrics.feedback.collect():
        for s in metric.samples:
            if s.name.endswith("_total"):
                counts[("scene", s.labels["scene"])][s.labels["type"]] += int(s.value)
                counts[("model_version", s.labels["model_version"])][s.labels["type"]] += int(s.value)
    recs_by_scene = counter_totals(metrics.recommendations, "scene")
    for scene, n in recs_by_scene.items():
        counts[("scene", scene)]["recommendations"] += int(n)

    def row(key: str, tally: Tally[str]) -> dict[str, Any]:
        shown = tally["impression"]
        return {"key": key, "recommendations": tally["recommendations"], "impressions": shown,
                "clicks": tally["click"], "purchases": tally["purchase"],
                "ctr": round(tally["click"] / shown, 4) if shown else None,
                "conversion": round(tally["purchase"] / shown, 4) if shown else None}

    return {
        "by_scene": sorted((row(k, t) for (kind, k), t in counts.items() if kind == "scene"),
                           key=lambda r: -r["recommendations"]),
        "by_model_version": sorted((row(k, t) for (kind, k), t in counts.items()
                                    if kind == "model_version"), key=lambda r: r["key"]),
        "model_timeline": [{"model_version": v, "first_seen": round(ts, 2)}
                           for v, ts in sorted(metrics.model_timeline.items(), key=lambda x: x[1])],
    }


def trending(ctx: WorkerContext, now: float, top: int = 5) -> dict[str, list[dict[str, Any]]]:
    """Per scene, the items most clicked or bought (purchase counts 3) in the last 5 minutes;
    where nobody acted yet, the items most recommended."""
    since = now - TRENDING_WINDOW_S
    acted: dict[str, Tally[str]] = defaultdict(Tally)
    for ts, kind, scene, item_id in list(ctx.metrics.recent_actions):
        if ts >= since:
            acted[scene][item_id] += 3 if kind == "purchase" else 1
    recommended: dict[str, Tally[str]] = defaultdict(Tally)
    for ts, scene, item_ids in list(ctx.metrics.recent_recommendations):
        if ts >= since:
            recommended[scene].update(item_ids)
    out: dict[str, list[dict[str, Any]]] = {}
    for scene in sorted(set(acted) | set(recommended)):
        source, tally = ("actions", acted[scene]) if acted.get(scene) else ("recommended",
                                                                           recommended[scene])
        out[scene] = [{"item_id": item_id, "title": item_title(ctx, item_id), "score": n,
                       "source": source} for item_id, n in tally.most_common(top)]
    return out


def item_title(ctx: WorkerContext, item_id: str) -> str | None:
    info = ctx.catalogue.catalog.get(item_id) if ctx.catalogue.catalog is not None else None
    return info.title if info is not None else None


def partitions(app: Any) -> dict[str, Any]:
    """This worker's assignment, consumer lag per topic-partition, and who owns what."""
    consumer = getattr(app, "consumer", None)
    try:
        assigned = sorted(consumer.assignment()) if consumer is not None else []
    except Exception:  # noqa: BLE001 - not started or rebalancing: show nothing, not a 500
        assigned = []
    try:
        actives = {(tp.topic, tp.partition) for tp in app.assignor.assigned_actives()}
        standbys = {(tp.topic, tp.partition) for tp in app.assignor.assigned_standbys()}
    except Exception:  # noqa: BLE001
        actives, standbys = set(), set()
    try:
        changelogs = set(app.tables.changelog_topics)
    except Exception:  # noqa: BLE001
        changelogs = set()
    read = getattr(consumer, "_read_offset", {}) or {}
    committed = getattr(consumer, "_committed_offset", {}) or {}
    rows = []
    for tp in assigned:
        if tp.topic.endswith("__assignor-__leader"):
            continue  # Faust's own bookkeeping
        key = (tp.topic, tp.partition)
        if tp.topic in changelogs:
            # An active changelog partition is table state this worker owns and writes;
            # it is read only during recovery, so "lag" there would mean nothing.
            rows.append({"topic": tp.topic, "partition": tp.partition, "highwater": None,
                         "position": None, "lag": None, "committed": None,
                         "role": "state" if key in actives else "standby"})
            continue
        try:
            highwater = consumer.highwater(tp)
        except Exception:  # noqa: BLE001 - no fetch yet for this partition
            highwater = None
        last_read = read.get(tp) if hasattr(read, "get") else None
        position = last_read + 1 if last_read is not None else committed.get(tp)
        lag = max(highwater - position, 0) if highwater is not None and position is not None else (
            highwater if highwater is not None and position is None else None)
        rows.append({"topic": tp.topic, "partition": tp.partition, "highwater": highwater,
                     "position": position, "lag": lag, "committed": committed.get(tp),
                     "role": "active" if key in actives else "standby" if key in standbys else "assigned"})
    owners = []
    try:
        me = str(app.conf.canonical_url)
        for url, topics in sorted(app.assignor.tables_metadata().items(), key=lambda x: str(x[0])):
            owners.append({"worker": str(url), "this_worker": str(url) == me,
                           "partitions": {t: sorted(ps) for t, ps in topics.items()}})
    except Exception:  # noqa: BLE001
        pass
    return {"assigned": rows, "total_lag": sum(r["lag"] or 0 for r in rows), "owners": owners}


def build_stats(app: Any, ctx: WorkerContext, user_state: Any, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    m = ctx.metrics
    if not m.samples or now - m.samples[-1]["ts"] >= 1.0:
        m.sample(now)  # the timer samples every second; this covers a worker without it
    catalog = ctx.catalogue.catalog
    last_upsert = catalog.last_upsert_ts if catalog is not None and catalog.last_upsert_ts else None
    users = len(user_state)
    m.users.set(users)
    return {
        "ts": round(now, 3),
        "worker": {"id": ctx.settings.faust_id, "ready": ctx.ready, "status": "ready" if ctx.ready else "starting",
                   "uptime_s": round(now - ctx.started_at, 1),
                   "ready_after_s": round(ctx.ready_at - ctx.started_at, 2) if ctx.ready_at else None,
                   "pid": os.getpid(), "rss_bytes": process_rss_bytes()},
        "totals": {"events_by_type": counter_totals(m.events, "type"),
                   "recommendations": sum(counter_totals(m.recommendations, "scene").values()),
                   "dead_letters": sum(counter_totals(m.dead_letters, "source_topic").values())},
        "rates": rates(m, now),
        "latency_ms": latency_percentiles(m.recent_latencies, now, window_s=60.0),
        "series": series(list(m.samples)),
        "index": {"items": len(catalog) if catalog is not None else 0,
                  "last_upsert_ts": round(last_upsert, 3) if last_upsert else None,
                  "last_upsert_age_s": round(now - last_upsert, 1) if last_upsert else None},
        "users_in_state": users,
        # Events per micro-batch since start -> how many batches had that size (bench reads it).
        "batches": {"sizes": {str(n): c for n, c in sorted(m.batch_sizes.items())},
                    "batches": sum(m.batch_sizes.values()),
                    "events": sum(n * c for n, c in m.batch_sizes.items()),
                    "pages": sum(counter_totals(m.batch_pages, "").values())},
        "recent_errors": list(reversed(m.recent_errors)),
        "recent_users": list(reversed(m.recent_users))[:12],
        "partitions": partitions(app),
        "feedback": feedback(m),
        "model": model_in_service(ctx),
        "trending": trending(ctx, now),
    }


def model_in_service(ctx: WorkerContext) -> dict[str, Any]:
    """The ranking model this worker serves, the control group, and pages awaiting feedback."""
    from stream_apps.worker.agents.training import trainer_status

    model = ctx.catalogue.collaborative.item_model
    return {"version": ctx.learning.scorer.version, "control_share": ctx.settings.control_share,
            "pending_pages": len(ctx.learning.feedback), "unseen_pages_dropped": ctx.learning.feedback.dropped_unseen,
            "next_event": {"waiting_sets": len(ctx.learning.next_event), "labelled": ctx.learning.next_event.positives,
                           "outside_candidates": ctx.learning.next_event.misses},
            "item_model": {"items": len(model) if model is not None else 0, "refits": ctx.learning.refits.refits},
            "trainer": trainer_status(ctx)}


def user_summary(ctx: WorkerContext, user_id: str, raw_state: bytes | None, now: float) -> dict[str, Any]:
    """The events behind a user's recommendations: recent items, purchases, last search."""
    if not raw_state:
        return {"user_id": user_id, "known_user": False}
    state = deserialize_state(raw_state)

    def items(ids: Iterable[str]) -> list[dict[str, Any]]:
        return [{"item_id": i, "title": item_title(ctx, i)} for i in ids]

    return {
        "user_id": user_id, "known_user": True, "events": state.events,
        "last_event_ts": round(state.last_ts, 3) if state.last_ts else None,
        "last_event_age_s": round(now - state.last_ts, 1) if state.last_ts else None,
        "recent_items": items(reversed(state.recent_items)),
        "purchased": items(reversed(state.purchased)),
        "last_query": state.last_query,
        "scenes": sorted(state.scenes),
    }
