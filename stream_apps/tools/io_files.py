"""Files in and out of Kafka for the CLI: catalogues, event files, and tailing recommendations."""

from __future__ import annotations

import csv
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import orjson
from tqdm import tqdm

from engine.errors import InvalidEvent
from engine.events import EVENT_KINDS, parse_event, parse_item
from stream_apps.kafka.topics import TopicNames
from stream_apps.settings import Settings


class InputFileError(ValueError):
    """A file the user gave cannot be used; the message says where and why."""


@dataclass(frozen=True)
class LineError:
    line: int
    error: str


def _open_checked(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file: {p}")
    if not p.is_file():
        raise InputFileError(f"not a file: {p}")
    return p


def read_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object) for each non-blank line; bad JSON raises with the line number."""
    p = _open_checked(path)
    with p.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise InputFileError(f"{p}:{number}: not valid JSON ({exc})") from None


def read_items(path: str | Path) -> list[dict[str, Any]]:
    """Items from JSONL or CSV, validated; the first invalid one raises with its line number."""
    p = _open_checked(path)
    rows: list[tuple[int, Any]]
    if p.suffix.lower() == ".csv":
        with p.open(newline="", encoding="utf-8") as fh:
            rows = [(n + 2, _csv_item(row)) for n, row in enumerate(csv.DictReader(fh))]
    else:
        rows = list(read_jsonl(p))
    items = []
    for number, data in rows:
        try:
            parse_item(data)
        except InvalidEvent as exc:
            raise InputFileError(f"{p}:{number}: {exc}") from None
        items.append(data)
    return items


def _csv_item(row: dict[str, str]) -> dict[str, Any]:
    item: dict[str, Any] = {k: v for k, v in row.items() if k and v not in (None, "")}
    if "categories" in item:
        item["categories"] = [c.strip() for c in item["categories"].replace(";", "|").split("|") if c.strip()]
    if "available" in item:
        item["available"] = item["available"].strip().lower() not in ("0", "false", "no", "n")
    if "price" in item:
        try:
            item["price"] = float(item["price"])
        except ValueError:
            item.pop("price")
    return item


def read_events(path: str | Path, now: float) -> tuple[list[dict[str, Any]], list[LineError]]:
    """Events with a valid ``type`` and fields, and the errors of the lines that are not."""
    events, errors = [], []
    for number, data in read_jsonl(path):
        kind = data.get("type") if isinstance(data, dict) else None
        try:
            if kind not in EVENT_KINDS:
                raise InvalidEvent(f"'type' must be one of {', '.join(EVENT_KINDS)}, got {kind!r}")
            parse_event(kind, data, now)
        except InvalidEvent as exc:
            errors.append(LineError(number, str(exc)))
            continue
        events.append(data)
    return events, errors


def load_items_file(settings: Settings, path: str | Path) -> int:
    from stream_apps.kafka.clients import producer
    from stream_apps.worker.run import wait_for_topics

    items = read_items(path)
    wait_for_topics(settings, max_wait_s=5)
    names = TopicNames.of(settings)
    prod = producer(settings)
    for item in tqdm(items, desc="items", unit="item", disable=len(items) < 500, file=sys.stderr):
        prod.send(names.items, key=str(item["item_id"]).encode(), value=orjson.dumps(item))
    prod.flush()
    prod.close()
    print(f"produced {len(items)} items to {names.items}")
    return 0


def produce_events_file(settings: Settings, path: str | Path, skip_invalid: bool = False,
                        rate: float | None = None) -> int:
    from stream_apps.kafka.clients import producer
    from stream_apps.worker.run import wait_for_topics

    events, errors = read_events(path, time.time())
    for err in errors[:10]:
        print(f"{path}:{err.line}: {err.error}", file=sys.stderr)
    if len(errors) > 10:
        print(f"... and {len(errors) - 10} more invalid lines", file=sys.stderr)
    if errors and not skip_invalid:
        raise InputFileError(f"{len(errors)} invalid lines in {path}; fix them or pass --skip-invalid")
    wait_for_topics(settings, max_wait_s=5)
    names = TopicNames.of(settings)
    prod = producer(settings)
    start = time.monotonic()
    for n, event in enumerate(tqdm(events, desc="events", unit="ev", disable=len(events) < 500,
                                   file=sys.stderr)):
        if rate:
            ahead = start + n / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        prod.send(names.event_topic(event["type"]), key=str(event["user_id"]).encode(),
                  value=orjson.dumps(event))
    prod.flush()
    prod.close()
    print(f"produced {len(events)} events" + (f", skipped {len(errors)} invalid" if errors else ""))
    return 0


def format_recommendation(message: dict[str, Any], width: int = 3,
                          titles: dict[str, str] | None = None) -> str:
    """One line per recommendation message; with ``titles``, each item's title too."""
    items = message.get("items") or []

    def name(item_id: str) -> str:
        return f"{item_id} 「{titles[item_id]}」" if titles and item_id in titles else item_id

    shown = "; ".join(f"{name(i['item_id'])} ({i['score']:.2f}, {i.get('reason', '')})" for i in items[:width])
    trigger = message.get("trigger") or {}
    source = str(trigger.get("topic", "")).rsplit(".", 1)[-1] or "request"
    return f"{message.get('user_id')} [{message.get('scene') or '-'} after {source}] {shown}"


def tail_recommendations(settings: Settings, user: str | None = None, as_json: bool = False,
                         from_beginning: bool = False, max_messages: int | None = None,
                         timeout_s: float | None = None) -> int:
    from stream_apps.kafka.clients import consumer

    names = TopicNames.of(settings)
    cons = consumer(settings, names.recommendations,
                    auto_offset_reset="earliest" if from_beginning else "latest",
                    consumer_timeout_ms=int(timeout_s * 1000) if timeout_s else float("inf"))
    seen = 0
    try:
        for record in cons:
            try:
                message = orjson.loads(record.value)
            except orjson.JSONDecodeError:
                continue
            if user and message.get("user_id") != user:
                continue
            print(record.value.decode() if as_json else format_recommendation(message), flush=True)
            seen += 1
            if max_messages and seen >= max_messages:
                break
    except KeyboardInterrupt:
        pass
    finally:
        cons.close()
    return 0
