"""The ANN part of ``streamrec bench``: HNSW against exact brute force on the same vectors.

The vectors are synthetic but anchored on real ones: each is a real encoder vector of
the built-in catalogue (its cluster centre), moved toward three other real vectors by
random amounts, plus isotropic noise, with a spread drawn per cluster. The defaults
(spread 0.5-1.5, noise 0.8) were chosen so that HNSW's recall against ``ef`` follows
the curve measured on real embeddings (the 9,742 MovieLens titles: recall@10 0.82 /
0.89 / 0.95 / 0.997 at ef 10 / 16 / 32 / 128; these vectors at the same size: 0.84 /
0.89 / 0.95 / 0.995). Plain perturbations of real vectors with small noise are far
easier (recall 1.0 at any ef), and i.i.d. random vectors are far harder (0.1), so
neither says anything about a real catalogue.

The index is hnswlib with the worker's :class:`IndexConfig` (space, M, ef_construction,
ef_search), built directly so the build can use every core (``HnswIndex.upsert`` adds
with one thread: the worker adds a few items at a time). Brute force is
:class:`BruteForceIndex`, the oracle the contract tests use. Both answer one query at a
time, as the worker asks them.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from engine.config import IndexConfig
from engine.index import BruteForceIndex

EF_SWEEP = (16, 32, 64, 128, 256)


def realistic_vectors(base: NDArray[np.float32], n: int, rng: np.random.Generator,
                      spread: tuple[float, float] = (0.5, 1.5), noise: float = 0.8,
                      cluster_seed: int = 42, chunk: int = 50_000) -> NDArray[np.float32]:
    """``n`` unit vectors in clusters around the rows of ``base`` (real embeddings).

    Each vector picks a centre ``c`` and three other rows ``j``, and is
    ``c + sum(w_j * (j - c)) + noise * s_c * N(0, I / dim)`` with ``w_j`` exponential of
    mean ``s_c / 3``. ``s_c`` is the centre's own spread, log-uniform in ``spread`` and
    fixed by ``cluster_seed`` (queries and items share it). Built in chunks of ``chunk``
    rows, so 1M vectors need ~1.5 GB, not four times that.
    """
    count, dim = base.shape
    s = np.exp(np.random.default_rng(cluster_seed).uniform(np.log(spread[0]), np.log(spread[1]), count))
    s = s.astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, chunk):
        m = min(chunk, n - lo)
        c = rng.integers(0, count, m)
        j = rng.integers(0, count, (m, 3))
        w = rng.exponential(1.0, (m, 3)).astype(np.float32) * (s[c, None] / 3)
        x = base[c] + np.einsum("mk,mkd->md", w, base[j] - base[c][:, None, :])
        x += (noise * s[c, None] / np.sqrt(dim)) * rng.standard_normal((m, dim), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[lo:lo + m] = x
    return out


def _recall(found: list[list[str]] | NDArray[Any], truth: list[list[str]], k: int) -> float:
    return float(np.mean([len(set(map(str, f)) & set(t)) / k for f, t in zip(found, truth)]))


def bench_ann(base: NDArray[np.float32], n: int, seed: int = 0, queries: int = 200, k: int = 10,
              config: IndexConfig | None = None, threads: int | None = None,
              progress: bool = False) -> dict[str, Any]:
    """:func:`bench_ann_sizes` at one size."""
    return bench_ann_sizes(base, (n,), seed, queries, k, config, threads, progress)[0]


def bench_ann_sizes(base: NDArray[np.float32], sizes: Sequence[int], seed: int = 0, queries: int = 200,
                    k: int = 10, config: IndexConfig | None = None, threads: int | None = None,
                    progress: bool = False,
                    on_result: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """One HNSW index grown to ``max(sizes)``, compared with brute force at each size.

    The first ``n`` vectors are the same at every size, so the index as it stands at
    ``n`` items is the index a build of ``n`` items makes: one build serves every size.
    At each size, ``queries`` held-out vectors are asked of both one at a time. Each
    result has recall@k at the worker's ``ef_search`` (and at each ``EF_SWEEP`` value),
    per-query times and queries per second of both, the speed-up, the build time so
    far and the saved index size per item; ``on_result`` gets each as it is measured.
    """
    import hnswlib

    sizes = sorted(set(sizes))
    total, dim = sizes[-1], base.shape[1]
    config = config or IndexConfig(dim=dim, initial_capacity=total)
    threads = threads or os.cpu_count() or 1
    vectors = realistic_vectors(base, total, np.random.default_rng(seed))
    probes = realistic_vectors(base, queries, np.random.default_rng(seed + 1))  # not in the index
    index = hnswlib.Index(space="cosine", dim=dim)
    index.init_index(max_elements=total, ef_construction=config.ef_construction, M=config.m)
    results: list[dict[str, Any]] = []
    built, build_s = 0, 0.0
    step = max(min(sizes[0], total // 50), 1000)
    with tqdm(total=total, desc=f"HNSW build to {total:,}", unit="item", disable=not progress,
              file=sys.stderr, mininterval=1.0) as bar:
        for n in sizes:
            started = time.perf_counter()
            for lo in range(built, n, step):
                hi = min(lo + step, n)
                index.add_items(vectors[lo:hi], np.arange(lo, hi, dtype=np.int64), num_threads=threads)
                bar.update(hi - lo)
            build_s += time.perf_counter() - started
            built = n
            result = _compare(index, vectors[:n], probes, k, config, progress)
            result.update({"build_s": round(build_s, 1), "build_threads": threads, "seed": seed})
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results


def _compare(index: Any, vectors: NDArray[np.float32], probes: NDArray[np.float32], k: int,
             config: IndexConfig, progress: bool) -> dict[str, Any]:
    n, queries = len(vectors), len(probes)
    started = time.perf_counter()
    exact = BruteForceIndex(vectors.shape[1])
    exact.upsert([str(i) for i in range(n)], vectors)
    exact_build_s = time.perf_counter() - started
    truth: list[list[str]] = []
    started = time.perf_counter()
    for q in tqdm(probes, desc=f"brute force {n:,}", unit="query", disable=not progress, file=sys.stderr,
                  mininterval=1.0, leave=False):
        truth.append(exact.query(q, k)[0])
    exact_s = (time.perf_counter() - started) / queries
    del exact

    sweep: dict[str, float] = {}
    for ef in sorted({*EF_SWEEP, config.ef_search}):
        index.set_ef(ef)  # hnswlib raises ef to k by itself
        sweep[str(ef)] = round(_recall(index.knn_query(probes, k=k, num_threads=1)[0], truth, k), 4)
    index.set_ef(config.ef_search)
    found = []
    started = time.perf_counter()
    for q in probes:  # one at a time, as the worker asks
        found.append(index.knn_query(q, k=k, num_threads=1)[0][0])
    hnsw_s = (time.perf_counter() - started) / queries

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "index.bin"
        index.save_index(str(path))
        index_bytes = path.stat().st_size  # hnswlib writes the items it holds, not its capacity
    return {
        "items": n, "k": k, "queries": queries, "ef_search": config.ef_search, "m": config.m,
        "ef_construction": config.ef_construction,
        "recall": round(_recall(found, truth, k), 4), "recall_by_ef": sweep,
        "speedup": round(exact_s / hnsw_s, 1),
        "hnsw_query_ms": round(1000 * hnsw_s, 3), "brute_force_query_ms": round(1000 * exact_s, 3),
        "hnsw_qps": round(1 / hnsw_s, 1), "brute_force_qps": round(1 / exact_s, 1),
        "brute_force_build_s": round(exact_build_s, 1), "bytes_per_item": int(index_bytes / n),
    }
