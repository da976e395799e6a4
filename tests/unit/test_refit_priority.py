"""The worker's item-model refits stay in the background: their thread runs at a lower
priority than serving, and the fit uses one BLAS thread (not both cores)."""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import stream_apps.worker.learning as learning
from engine.itemmodels import ItemModelConfig, fit_item_model


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread niceness is Linux's")
def test_the_refit_thread_runs_at_a_lower_priority_and_no_other_thread_does() -> None:
    before = _niceness()
    with ThreadPoolExecutor(max_workers=1, initializer=learning.lower_thread_priority) as refits:
        inside = refits.submit(_niceness).result()
    with ThreadPoolExecutor(max_workers=1) as other:
        beside = other.submit(_niceness).result()
    assert inside == max(before, learning.BACKGROUND_NICENESS) and inside > 0
    assert _niceness() == before and beside == before


def _blas_threads() -> list[int]:
    return [int(pool["num_threads"]) for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_a_background_fit_uses_one_blas_thread_and_gives_the_same_model(monkeypatch: pytest.MonkeyPatch) -> None:
    histories = [("a", "b", "c"), ("a", "b"), ("b", "c"), ("a", "c", "d"), ("d", "a")]
    config = ItemModelConfig(l2=1.0)
    seen: list[list[int]] = []

    def observed(*args: Any) -> Any:
        seen.append(_blas_threads())
        return fit_item_model(*args)

    outside = _blas_threads()
    monkeypatch.setattr(learning, "fit_item_model", observed)
    model = learning.fit_in_background(histories, config)
    expected = fit_item_model(histories, config)
    assert seen and seen[0] and all(n == 1 for n in seen[0])
    assert _blas_threads() == outside  # restored after the fit
    assert model is not None and expected is not None
    assert model.item_ids == expected.item_ids
    assert np.allclose(model.weights, expected.weights)
