"""Validate event and item dicts into frozen dataclasses.

Every rejection raises :class:`~engine.errors.InvalidEvent` naming the field and the
bad value, so the stream layer can put the message on ``dead-letter`` with a reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from engine.config import ValidationConfig
from engine.errors import InvalidEvent

INTERACTION_KINDS = ("click", "search", "purchase")
EVENT_KINDS = (*INTERACTION_KINDS, "impression")
_DEFAULT_LIMITS = ValidationConfig()


@dataclass(frozen=True)
class Interaction:
    """A click, search or purchase by one user."""

    kind: str
    user_id: str
    ts: float
    item_id: str | None = None
    query: str | None = None
    scene: str | None = None
    event_id: str | None = None
    rec_id: str | None = None
    quantity: int = 1
    price: float | None = None


@dataclass(frozen=True)
class Impression:
    """Recommended items that were shown to a user."""

    user_id: str
    ts: float
    rec_id: str | None
    item_ids: tuple[str, ...]
    scene: str | None = None
    event_id: str | None = None


@dataclass(frozen=True)
class ItemUpsert:
    item_id: str
    title: str
    description: str = ""
    categories: tuple[str, ...] = ()
    available: bool = True
    price: float | None = None
    ts: float | None = None

    @property
    def text(self) -> str:
        """The text the encoder embeds: title, description and categories."""
        parts = [self.title, self.description, ", ".join(self.categories)]
        return ". ".join(p for p in parts if p)


@dataclass(frozen=True)
class ItemDelete:
    item_id: str


def _require_mapping(value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidEvent(f"message must be a JSON object, got {type(value).__name__}")
    return value


def _id(data: Mapping[str, Any], field: str, limits: ValidationConfig, required: bool) -> str | None:
    value = data.get(field)
    if value is None:
        if required:
            raise InvalidEvent(f"missing required field {field!r}")
        return None
    # Integer ids (MovieLens, SQL keys) are common and unambiguous; bools are not ids.
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) >= 10 ** limits.max_id_length:
            # str() of a huge int is slow, and raises ValueError past 4300 digits.
            raise InvalidEvent(f"{field} is an integer longer than {limits.max_id_length} digits")
        value = str(value)
    if not isinstance(value, str):
        raise InvalidEvent(f"{field} must be a string, got {type(value).__name__} {value!r:.80}")
    if not value.strip():
        raise InvalidEvent(f"{field} must not be empty")
    if len(value) > limits.max_id_length:
        raise InvalidEvent(f"{field} is {len(value)} characters long, limit {limits.max_id_length}")
    return value


def _text(data: Mapping[str, Any], field: str, limits: ValidationConfig) -> str | None:
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEvent(f"{field} must be a string, got {type(value).__name__} {value!r:.80}")
    if len(value) > limits.max_text_length:
        raise InvalidEvent(f"{field} is {len(value)} characters long, limit {limits.max_text_length}")
    return value


def parse_timestamp(value: object, now: float, limits: ValidationConfig = _DEFAULT_LIMITS) -> float:
    """Epoch seconds from a number or an ISO-8601 string; ``None`` means ``now``.

    >>> parse_timestamp("2024-11-22T08:00:00Z", now=1.8e9)
    1732262400.0
    >>> parse_timestamp(None, now=5.0)
    5.0
    """
    if value is None:
        return float(now)
    if isinstance(value, bool):
        raise InvalidEvent(f"ts must be epoch seconds or ISO-8601, got {value!r}")
    if isinstance(value, (int, float)):
        try:
            ts = float(value)
        except OverflowError:  # an int too large for a float (and maybe for repr)
            raise InvalidEvent("ts must be a finite epoch time, got a huge integer") from None
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidEvent(f"ts is not ISO-8601: {value!r:.80}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        ts = parsed.timestamp()
    else:
        raise InvalidEvent(f"ts must be epoch seconds or ISO-8601, got {type(value).__name__}")
    if not math.isfinite(ts) or ts < 0:
        raise InvalidEvent(f"ts must be a finite, non-negative epoch time, got {value!r}")
    if ts > now + limits.max_future_skew_s:
        hint = " (milliseconds? ts is in seconds)" if ts > 1e11 else ""
        raise InvalidEvent(f"ts {ts:.0f} is too far in the future{hint}")
    return ts


def parse_event(
    kind: str, data: object, now: float, limits: ValidationConfig = _DEFAULT_LIMITS
) -> Interaction | Impression:
    """Validate one event of ``kind`` (click, search, purchase, impression).

    Unknown extra fields are ignored.

    >>> parse_event("click", {"user_id": "u1", "item_id": "sku-9", "ts": 10}, now=20).item_id
    'sku-9'
    >>> parse_event("click", {"user_id": "u1"}, now=20)
    Traceback (most recent call last):
    ...
    engine.errors.InvalidEvent: missing required field 'item_id'
    """
    if kind not in EVENT_KINDS:
        raise InvalidEvent(f"unknown event type {kind!r}; expected one of {', '.join(EVENT_KINDS)}")
    msg = _require_mapping(data)
    user_id = _id(msg, "user_id", limits, required=True) or ""
    ts = parse_timestamp(msg.get("ts"), now, limits)
    scene = _id(msg, "scene", limits, required=False)
    event_id = _id(msg, "event_id", limits, required=False)
    rec_id = _id(msg, "rec_id", limits, required=False)
    if kind == "impression":
        raw_items = msg.get("item_ids")
        if not isinstance(raw_items, list) or not raw_items:
            raise InvalidEvent("impression needs item_ids, a non-empty list of item ids")
        if len(raw_items) > limits.max_items_per_impression:
            raise InvalidEvent(f"impression has {len(raw_items)} item_ids, limit {limits.max_items_per_impression}")
        item_ids = tuple(_id({"item_ids": v}, "item_ids", limits, required=True) or "" for v in raw_items)
        return Impression(user_id, ts, rec_id, item_ids, scene, event_id)

    item_id = _id(msg, "item_id", limits, required=kind != "search")
    query = _text(msg, "query", limits)
    if kind == "search" and (query is None or not query.strip()):
        raise InvalidEvent("search needs a non-empty 'query'")
    quantity: float = 1
    price = None
    if kind == "purchase":
        quantity = _number(msg, "quantity", default=1)
        if quantity != int(quantity) or quantity < 1:
            raise InvalidEvent(f"quantity must be a positive integer, got {msg.get('quantity')!r}")
        price_value = msg.get("price")
        price = None if price_value is None else _number(msg, "price", default=0.0)
        if price is not None and price < 0:
            raise InvalidEvent(f"price must be >= 0, got {price_value!r}")
    return Interaction(
        kind=kind, user_id=user_id, ts=ts, item_id=item_id,
        query=query.strip() if query else None, scene=scene, event_id=event_id,
        rec_id=rec_id, quantity=int(quantity), price=price,
    )


def _number(msg: Mapping[str, Any], field: str, default: float) -> float:
    value = msg.get(field, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidEvent(f"{field} must be a finite number, got {value!r:.80}")
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float (and maybe for repr)
        raise InvalidEvent(f"{field} must be a finite number, got a huge integer") from None
    if not math.isfinite(number):
        raise InvalidEvent(f"{field} must be a finite number, got {value!r:.80}")
    return number


def parse_item(
    data: object, key: str | None = None, limits: ValidationConfig = _DEFAULT_LIMITS
) -> ItemUpsert | ItemDelete:
    """Validate an item message; ``None`` (a Kafka tombstone) with a key deletes it.

    >>> parse_item({"item_id": "sku-9", "deleted": True})
    ItemDelete(item_id='sku-9')
    >>> parse_item({"item_id": "sku-9", "title": "Trail shoes", "categories": ["shoes"]}).text
    'Trail shoes. shoes'
    """
    if data is None:
        if not key:
            raise InvalidEvent("a tombstone (null value) needs the item id as its key")
        return ItemDelete(key)
    msg = _require_mapping(data)
    item_id = _id(msg, "item_id", limits, required=True) or ""
    deleted = msg.get("deleted", False)
    if not isinstance(deleted, bool):
        raise InvalidEvent(f"deleted must be true or false, got {deleted!r:.80}")
    if deleted:
        return ItemDelete(item_id)
    title = _text(msg, "title", limits) or ""
    description = _text(msg, "description", limits) or ""
    if not title.strip() and not description.strip():
        raise InvalidEvent(f"item {item_id!r} needs a title or a description to be embedded")
    raw_categories = msg.get("categories", [])
    if isinstance(raw_categories, str):
        raw_categories = [raw_categories]
    if not isinstance(raw_categories, list) or not all(isinstance(c, str) for c in raw_categories):
        raise InvalidEvent(f"categories must be a list of strings, got {raw_categories!r:.80}")
    available = msg.get("available", True)
    if not isinstance(available, bool):
        raise InvalidEvent(f"available must be true or false, got {available!r:.80}")
    price_value = msg.get("price")
    price = None if price_value is None else _number(msg, "price", default=0.0)
    ts_value = msg.get("ts")
    ts = None if ts_value is None else parse_timestamp(ts_value, now=float("inf"), limits=limits)
    return ItemUpsert(
        item_id=item_id, title=title.strip(), description=description.strip(),
        categories=tuple(c.strip() for c in raw_categories if c.strip()),
        available=available, price=price, ts=ts,
    )
