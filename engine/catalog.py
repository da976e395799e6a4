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
    added_ts: float  # the item's own ``ts`` when given, else when this worker first saw it
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
                available=item.available, added_ts=_added_ts(item, old, now), price=item.price,
            )
        if items:
            self.last_upsert_ts = max(self.last_upsert_ts, now)

    def newest(self, k: int, since: float) -> list[str]:
        """Up to ``k`` items first seen at or after ``since``, newest first."""
        out: list[str] = []
        for item_id in reversed(self._items):  # insertion order is first-seen order
            if len(out) >= k or self._items[item_id].added_ts < since:
                break
            out.append(item_id)
        return out

    def delete(self, item_ids: Sequence[str]) -> int:
        for item_id in item_ids:
            self._items.pop(item_id, None)
        return self.index.delete(item_ids)


def _added_ts(item: ItemUpsert, old: ItemInfo | None, now: float) -> float:
    """When the item appeared: its first upsert's ``ts`` (a catalogue owner's clock), else
    the first time this worker saw it. An update never makes an item new again."""
    if old is not None:
        return old.added_ts
    return item.ts if item.ts is not None else now
