"""Fixtures shared by the integration tests."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.integration.harness import Stack
from tests.integration.web_stack import broker


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real broker for the module: ``KAFKA_BOOTSTRAP_SERVERS`` when set, else an
    embedded Tansu process on a free port."""
    with broker(tmp_path_factory.mktemp("broker")) as servers:
        yield servers


@pytest.fixture(scope="module")
def worker_env() -> dict[str, str]:
    """Settings of the module's worker as environment variables; a module overrides this
    fixture to change them."""
    return {}


@pytest.fixture(scope="module")
def stack(bootstrap: str, catalogue: dict[str, dict[str, Any]], worker_env: dict[str, str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One worker for the module, on a fresh topic prefix, with the module's ``catalogue``
    fixture (item id -> item) indexed before the first test."""
    s = Stack(bootstrap, tmp_path_factory.mktemp("logs"))
    try:
        s.load_items(catalogue.values())
        s.start_worker(env=worker_env or None)
        s.wait_index_size(len(catalogue))
        yield s
    finally:
        s.close()
