"""The catalogue path: ``items`` -> encoder -> ``item-vectors`` -> every worker's index.

Encoding happens once per item, in whichever worker owns the item's partition of
``items``; every worker then reads all of ``item-vectors`` (no consumer group), so each
holds the whole catalogue without running the transformer on all of it.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from engine.errors import InvalidEvent
from engine.events import ItemDelete, ItemUpsert, parse_item
from stream_apps.codecs import dumps, loads
from stream_apps.worker.context import WorkerContext, vector_to_wire
from stream_apps.worker.dead_letter import send_to_dead_letter

log = logging.getLogger(__name__)

BATCH = 64


def register_item_encoder(app: Any, ctx: WorkerContext, items_topic: Any,
                          vectors_topic: Any, dead_letter_topic: Any) -> Any:
    @app.agent(items_topic, name="encode-items")
    async def encode_items(stream: Any) -> None:
        async for events in stream.take_events(BATCH, within=0.05):
            parsed: list[ItemUpsert | ItemDelete] = []
            for event in events:
                try:
                    key = event.key.decode("utf-8", "replace") if event.key else None
                    parsed.append(parse_item(loads(event.value), key, ctx.settings.validation_config()))
                except InvalidEvent as exc:
                    await send_to_dead_letter(ctx, dead_letter_topic, event, str(exc))
            upserts = [p for p in parsed if isinstance(p, ItemUpsert)]
            vectors = iter(await ctx.encode_texts([u.text for u in upserts]) if upserts else [])
            encoder = (await ctx.encoder()).name
            for item in parsed:  # in arrival order: an upsert then a delete must stay a delete
                await vectors_topic.send(key=item.item_id.encode(), value=item_vector_message(item, vectors, encoder))

    return encode_items


def item_vector_message(item: ItemUpsert | ItemDelete, vectors: Any, encoder: str) -> bytes:
    """The ``item-vectors`` record; an upsert names the encoder that made its vector, so a
    worker configured with another encoder refuses the topic instead of mixing spaces."""
    if isinstance(item, ItemDelete):
        return dumps({"item_id": item.item_id, "deleted": True})
    vector = next(vectors)
    return dumps({
        "item_id": item.item_id, "title": item.title, "categories": item.categories,
        "available": item.available, "price": item.price, "ts": item.ts,
        "encoder": encoder, "dim": int(vector.shape[0]),
        "vector": base64.b64encode(vector_to_wire(vector)).decode("ascii"),
    })
