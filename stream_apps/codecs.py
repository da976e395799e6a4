"""Bytes <-> dicts at the edge: orjson for every message, and dead-letter records."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from engine.errors import InvalidEvent


def loads(raw: bytes | None) -> Any:
    """Parse a message value; raises :class:`InvalidEvent` with the reason on bad bytes."""
    if raw is None:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"value is not valid UTF-8 JSON: {exc}") from None


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)


def as_text_or_base64(raw: bytes | None, limit: int) -> tuple[str | None, str]:
    """The original bytes for a dead-letter record: text if UTF-8, else base64.

    Values over ``limit`` bytes are cut (the record says so), so that a huge bad
    message cannot make the dead-letter record itself too big to produce.
    """
    if raw is None:
        return None, "null"
    cut = raw[:limit]
    try:
        return cut.decode("utf-8"), "text"
    except UnicodeDecodeError:
        return base64.b64encode(cut).decode("ascii"), "base64"


def dead_letter_record(
    source_topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
    error: str, limit: int = 65536,
) -> bytes:
    text, encoding = as_text_or_base64(value, limit)
    key_text, key_encoding = as_text_or_base64(key, 1024)
    return dumps({
        "source_topic": source_topic, "partition": partition, "offset": offset,
        "key": key_text, "key_encoding": key_encoding,
        "value": text, "value_encoding": encoding,
        "value_bytes": 0 if value is None else len(value), "truncated": value is not None and len(value) > limit,
        "error": error,
    })
