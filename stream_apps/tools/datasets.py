"""Readers that turn datasets on disk into items and time-ordered interactions.

This is the I/O edge of ``streamrec evaluate``: files in, engine dataclasses out.

- generic: a folder with ``items.jsonl`` (item messages) and ``events.jsonl`` (event
  lines with ``type``), exactly as in the contract. Impressions are skipped.
- MovieLens (``ratings.csv``, ``movies.csv``, optional ``tags.csv``): a rating >= 4
  is a click; a tag is a search whose query is the tag, carrying the tagged movie as
  its item; item text is the title plus genres.
- synthetic (``synthetic`` or ``synthetic:users=600,events=40000,seed=11``): users with
  hidden tastes over the built-in catalogue (:mod:`stream_apps.tools.synthetic`).
- Online Retail (``online_retail.csv[.gz]``): each invoice line of a known customer is
  a purchase (lines of one invoice for the same product are merged); cancellations
  (``C`` invoices), non-positive quantities and non-product stock codes (postage,
  fees, manual lines...) are dropped; item text is the product's most common
  description.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Iterator

import orjson

from engine.errors import InvalidEvent
from engine.events import Interaction, ItemUpsert, parse_event, parse_item

FORMATS = ("generic", "movielens", "online-retail", "synthetic")
MOVIELENS_POSITIVE = 4.0
_RETAIL_PRODUCT = re.compile(r"^\d{5}[A-Za-z]{0,2}$")


class DatasetError(ValueError):
    """The dataset cannot be found or read; the message says what is wrong."""


@dataclass(frozen=True)
class Dataset:
    name: str
    format: str
    items: list[ItemUpsert]
    events: list[Interaction]  # sorted by ts, ties in file order
    skipped: dict[str, int] = field(default_factory=dict)


def _retail_file(path: Path) -> Path | None:
    if path.is_file() and path.name.startswith("online_retail"):
        return path
    for name in ("online_retail.csv.gz", "online_retail.csv"):
        if (path / name).is_file():
            return path / name
    return None


def detect_format(path: Path) -> str:
    """Which reader fits ``path`` (a folder, the Online Retail file itself, or a synthetic spec)."""
    from stream_apps.tools.synthetic import is_synthetic

    if is_synthetic(str(path)):
        return "synthetic"
    if not path.exists():
        raise DatasetError(f"dataset not found: {path}")
    if path.is_dir() and (path / "events.jsonl").is_file() and (path / "items.jsonl").is_file():
        return "generic"
    if path.is_dir() and (path / "ratings.csv").is_file() and (path / "movies.csv").is_file():
        return "movielens"
    if _retail_file(path) is not None:
        return "online-retail"
    raise DatasetError(
        f"{path}: no known dataset here (expected items.jsonl + events.jsonl, MovieLens "
        f"ratings.csv + movies.csv, or online_retail.csv[.gz])")


def load_dataset(path: Path, fmt: str | None = None) -> Dataset:
    """Read ``path`` in format ``fmt`` (detected when ``None``)."""
    fmt = fmt or detect_format(path)
    if fmt == "generic":
        return read_generic(path)
    if fmt == "movielens":
        return read_movielens(path)
    if fmt == "online-retail":
        return read_online_retail(path)
    if fmt == "synthetic":
        return read_synthetic(str(path))
    raise DatasetError(f"unknown dataset format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _sorted(events: list[Interaction]) -> list[Interaction]:
    return sorted(events, key=lambda e: e.ts)  # stable: ties keep file order


def _csv_rows(handle: IO[str]) -> Iterator[dict[str, str]]:
    yield from csv.DictReader(handle)


def read_generic(path: Path) -> Dataset:
    """items.jsonl + events.jsonl; invalid lines are skipped and counted."""
    now = time.time()
    skipped: Counter[str] = Counter()
    items: dict[str, ItemUpsert] = {}
    for line in (path / "items.jsonl").read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            item = parse_item(orjson.loads(line))
        except (InvalidEvent, orjson.JSONDecodeError):
            skipped["invalid item"] += 1
            continue
        if isinstance(item, ItemUpsert):
            items[item.item_id] = item
        else:
            items.pop(item.item_id, None)
    events: list[Interaction] = []
    for line in (path / "events.jsonl").read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
            kind = data.get("type") if isinstance(data, dict) else None
            event = parse_event(str(kind), data, now)
        except (InvalidEvent, orjson.JSONDecodeError):
            skipped["invalid event"] += 1
            continue
        if isinstance(event, Interaction):
            events.append(event)
        else:
            skipped["impression (not replayed)"] += 1
    return Dataset(path.name, "generic", list(items.values()), _sorted(events), dict(skipped))


def read_synthetic(spec: str) -> Dataset:
    """A stream of simulated users with hidden tastes (:mod:`stream_apps.tools.synthetic`)."""
    from stream_apps.tools.synthetic import SyntheticSpec, synthetic_stream

    try:
        parsed = SyntheticSpec.parse(spec)
    except ValueError as exc:
        raise DatasetError(str(exc)) from None
    items, events = synthetic_stream(parsed)
    return Dataset(parsed.name, "synthetic", items, _sorted(events))


def read_movielens(path: Path) -> Dataset:
    """MovieLens: ratings >= 4 as clicks, tags as searches, title + genres as item text."""
    items: list[ItemUpsert] = []
    with open(path / "movies.csv", encoding="utf-8", newline="") as handle:
        for row in _csv_rows(handle):
            genres = tuple(g for g in row["genres"].split("|") if g and g != "(no genres listed)")
            items.append(ItemUpsert(item_id=row["movieId"], title=row["title"].strip(), categories=genres))
    events: list[Interaction] = []
    skipped: Counter[str] = Counter()
    with open(path / "ratings.csv", encoding="utf-8", newline="") as handle:
        for n, row in enumerate(_csv_rows(handle)):
            if float(row["rating"]) < MOVIELENS_POSITIVE:
                skipped["rating below 4"] += 1
                continue
            events.append(Interaction("click", row["userId"], float(row["timestamp"]),
                                      item_id=row["movieId"], event_id=f"ml-r{n}"))
    tags = path / "tags.csv"
    if tags.is_file():
        with open(tags, encoding="utf-8", newline="") as handle:
            for n, row in enumerate(_csv_rows(handle)):
                tag = row["tag"].strip()
                if not tag:
                    skipped["empty tag"] += 1
                    continue
                events.append(Interaction("search", row["userId"], float(row["timestamp"]),
                                          item_id=row["movieId"], query=tag, event_id=f"ml-t{n}"))
    return Dataset(path.name, "movielens", items, _sorted(events), dict(skipped))


def _retail_ts(text: str) -> float:
    # UK local time without a zone; read as UTC: only order and gaps matter here.
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()


def read_online_retail(path: Path) -> Dataset:
    """Online Retail: purchases by known customers, product descriptions as item text."""
    file = _retail_file(path)
    if file is None:
        raise DatasetError(f"{path}: online_retail.csv[.gz] not found")
    raw = gzip.open(file, "rb") if file.suffix == ".gz" else open(file, "rb")
    skipped: Counter[str] = Counter()
    descriptions: dict[str, Counter[str]] = defaultdict(Counter)
    lines: dict[tuple[str, str], list[object]] = {}  # (invoice, code) -> [user, ts, qty, price]
    with raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as handle:
        for row in _csv_rows(handle):
            code, invoice = row["StockCode"].strip(), row["InvoiceNo"].strip()
            if not _RETAIL_PRODUCT.match(code):
                skipped["non-product code"] += 1
                continue
            description = row["Description"].strip()
            counts = descriptions[code]  # every product gets an item, its code as a last-resort text
            if description:
                counts[description] += 1
            customer = row["CustomerID"].strip()
            quantity = int(float(row["Quantity"]))
            if invoice.startswith("C") or quantity <= 0:
                skipped["cancellation or return"] += 1
                continue
            if not customer:
                skipped["no customer id"] += 1
                continue
            key = (invoice, code)
            if key in lines:
                lines[key][2] = int(lines[key][2]) + quantity  # type: ignore[call-overload]
                skipped["merged duplicate line"] += 1
                continue
            lines[key] = [customer.split(".")[0], _retail_ts(row["InvoiceDate"]), quantity,
                          float(row["UnitPrice"])]
    items = [ItemUpsert(item_id=code, title=(counts.most_common(1)[0][0] if counts else code))
             for code, counts in descriptions.items()]
    known = {item.item_id for item in items}
    events = [
        Interaction("purchase", str(user), float(ts), item_id=code, quantity=int(qty),  # type: ignore[call-overload]
                    price=float(price), event_id=f"or-{invoice}-{code}")  # type: ignore[arg-type]
        for (invoice, code), (user, ts, qty, price) in lines.items() if code in known
    ]
    return Dataset(file.name, "online-retail", items, _sorted(events), dict(skipped))
