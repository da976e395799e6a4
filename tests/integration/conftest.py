"""Fixtures shared by the integration tests."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.integration.web_stack import broker


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real broker for the module: ``KAFKA_BOOTSTRAP_SERVERS`` when set, else an
    embedded Tansu process on a free port."""
    with broker(tmp_path_factory.mktemp("broker")) as servers:
        yield servers
