"""The item catalogue: metadata beside the vector index, kept in step with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from engine.events import ItemUpsert
from engine.types import AnnIndex, Matrix


@dataclass(frozen=True)
class ItemInfo:
    item_id: str
    title: str
    categories: tuple[str, ...]
    available: bool
    added_ts: float  # when this worker first saw the item (for freshness)
    price: float | None = None


class Catalog:
    """Item metadata plus the ANN index of item vectors.

    Every change goes through :meth:`upsert` and :meth:`delete`, so an item is in the
    index exactly when it is in the metadata. Not thread-safe (see the index's note).
    """

    def __init__(self, index: AnnIndex) -> None:
        self.index = index
        self._items: dict[str, ItemInfo] = {}
        self.last_upsert_ts = 0.0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def get(self, item_id: str) -> ItemInfo | None:
        return self._items.get(item_id)

    def upsert(self, items: Sequence[ItemUpsert], vectors: Matrix, now: float) -> None:
        """Add or replace items with their text embeddings, shape ``(len(items), dim)``."""
        self.index.upsert([i.item_id for i in items], vectors)
        for item in items:
            old = self._items.get(item.item_id)
            self._items[item.item_id] = ItemInfo(
                item_id=item.item_id, title=item.title, categories=item.categories,
                available=item.available, added_ts=old.added_ts if old else now, price=item.price,
            )
        if items:
            self.last_upsert_ts = max(self.last_upsert_ts, now)

    def delete(self, item_ids: Sequence[str]) -> int:
        for item_id in item_ids:
            self._items.pop(item_id, None)
        return self.index.delete(item_ids)
