"""The in-process parts of ``streamrec bench``: percentiles, ANN recall, state size."""

from __future__ import annotations

import numpy as np

from stream_apps.bench import bench_ann, bytes_per_user, percentiles, realistic_vectors


def test_percentiles() -> None:
    assert percentiles([]) == {"p50": None, "p99": None, "p999": None}
    p = percentiles([float(v) for v in range(1, 101)])
    assert p["p50"] == 50.5 and p["p99"] == 99.01 and p["p999"] == 99.9


def test_realistic_vectors_are_unit_and_near_the_base() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(50, 32)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    vectors = realistic_vectors(base, 200, np.random.default_rng(1))
    assert vectors.shape == (200, 32) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float((vectors @ base.T).max(axis=1).min()) > 0.5  # each is close to a real text


def test_bench_ann_reports_recall_against_brute_force() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(100, 32)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    result = bench_ann(base, 2000, queries=30)
    assert result["items"] == 2000 and 0.9 <= result["recall"] <= 1.0
    assert result["speedup"] > 0 and result["bytes_per_item"] > 4 * 32


def test_bytes_per_user_is_a_few_kilobytes() -> None:
    assert 3000 < bytes_per_user(384) <= 4096
