"""The item encoder agent on Faust's test context (``agent.test_context()``, a memory
store; the app is never started, so no broker). Only what leaves the process is replaced: the sends to
``item-vectors`` and ``dead-letter`` are recorded instead of produced. The encoder is
the real default one."""

from __future__ import annotations

import asyncio
import base64
from typing import Any, Iterator
from unittest.mock import patch

import faust
import numpy as np
import orjson
import pytest

from stream_apps.kafka.topics import TopicNames
from stream_apps.settings import Settings
from stream_apps.worker.agents.items import register_item_encoder
from stream_apps.worker.context import WorkerContext, vector_from_wire

Sent = list[tuple[str, bytes | None, bytes | None]]


class Harness:
    def __init__(self) -> None:
        self.settings = Settings(topic_prefix="agents-")
        self.ctx = WorkerContext(settings=self.settings, names=TopicNames.of(self.settings))
        self.app = faust.App("streamrec-agent-tests", broker="kafka://127.0.0.1:9", store="memory://",  # never connected
                             autodiscover=False)

        def raw(name: str) -> Any:
            return self.app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                                  value_serializer="raw")

        names = self.ctx.names
        self.topics = {"items": raw(names.items), "vectors": raw(names.item_vectors),
                       "dead": raw(names.dead_letter)}
        self.agent = register_item_encoder(self.app, self.ctx, self.topics["items"],
                                           self.topics["vectors"], self.topics["dead"])
        self.sent: Sent = []

    def recorder(self, where: str) -> Any:
        async def send(key: bytes | None = None, value: bytes | None = None, **_: Any) -> None:
            self.sent.append((where, key, value))
        return send

    def of(self, where: str) -> list[tuple[bytes | None, Any]]:
        return [(k, orjson.loads(v) if v else None) for w, k, v in self.sent if w == where]


@pytest.fixture()
def harness() -> Iterator[Harness]:
    h = Harness()
    with patch.object(h.topics["vectors"], "send", h.recorder("vectors")), \
            patch.object(h.topics["dead"], "send", h.recorder("dead")):
        yield h
    h.ctx.shutdown()


async def _until(condition: Any, timeout: float = 60.0) -> None:
    """Poll (the agent takes items in batches of up to 50 ms, then encodes on a thread)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("the agent did not get there in time")
        await asyncio.sleep(0.02)


def test_items_become_vectors_in_order_and_bad_items_go_to_dead_letter(harness: Harness) -> None:
    async def run() -> None:
        async with harness.agent.test_context() as agent:
            await agent.put(orjson.dumps({"item_id": "sku-1", "title": "Trail running shoes",
                                          "categories": ["running"]}), key=b"sku-1")
            await agent.put(b'{"item_id": "sku-2", "title": "Mug", "categories": 5}', key=b"sku-2")
            await agent.put(orjson.dumps({"item_id": "sku-3", "title": "Espresso beans"}), key=b"sku-3")
            await agent.put(orjson.dumps({"item_id": "sku-1", "deleted": True}), key=b"sku-1")
            await _until(lambda: len(harness.of("vectors")) == 3 and len(harness.of("dead")) == 1)

    asyncio.run(run())
    vectors = harness.of("vectors")
    assert [(k, m["item_id"]) for k, m in vectors] == [(b"sku-1", "sku-1"), (b"sku-3", "sku-3"),
                                                       (b"sku-1", "sku-1")]
    first, third, delete = (m for _, m in vectors)
    assert delete == {"item_id": "sku-1", "deleted": True}  # after its upsert: still a delete
    assert first["encoder"] == harness.settings.model and first["dim"] == 384
    shoes = vector_from_wire(base64.b64decode(first["vector"]), 384)
    beans = vector_from_wire(base64.b64decode(third["vector"]), 384)
    assert abs(float(np.linalg.norm(shoes)) - 1.0) < 1e-3
    assert float(shoes @ beans) < 0.9  # two different texts, two different vectors
    [(key, dead)] = harness.of("dead")
    assert key == b"sku-2" and "categories" in dead["error"], dead
    assert dead["source_topic"] == harness.ctx.names.items and dead["offset"] == 1
    assert orjson.loads(dead["value"]) == {"item_id": "sku-2", "title": "Mug", "categories": 5}
