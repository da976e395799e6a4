"""engine.events: every event and item message parses, and bad ones raise InvalidEvent
naming the field."""

from __future__ import annotations

import math

import pytest

from engine.config import ValidationConfig
from engine.errors import EngineError, InvalidEvent
from engine.events import (
    Impression,
    Interaction,
    ItemDelete,
    ItemUpsert,
    parse_event,
    parse_item,
    parse_timestamp,
)

NOW = 1_732_262_400.0  # 2024-11-22T08:00:00Z

VALID = {
    "click": {"user_id": "u42", "item_id": "sku-9", "ts": NOW - 5, "event_id": "e-1",
              "scene": "home", "rec_id": "r-17"},
    "purchase": {"user_id": "u42", "item_id": "sku-9", "ts": NOW - 5, "quantity": 2,
                 "price": 19.5},
    "search": {"user_id": "u42", "query": "  trail shoes  ", "ts": NOW - 5},
    "impression": {"user_id": "u42", "rec_id": "r-17", "item_ids": ["sku-1", "sku-2"],
                   "ts": NOW - 5, "scene": "home"},
}

REQUIRED = {
    "click": ("user_id", "item_id"),
    "purchase": ("user_id", "item_id"),
    "search": ("user_id", "query"),
    "impression": ("user_id", "item_ids"),
}


def _without(data: dict, field: str) -> dict:
    return {k: v for k, v in data.items() if k != field}


def test_invalid_event_is_an_engine_error_and_a_value_error() -> None:
    assert issubclass(InvalidEvent, EngineError)
    assert issubclass(InvalidEvent, ValueError)


def test_click_parses_every_field() -> None:
    event = parse_event("click", VALID["click"], now=NOW)
    assert event == Interaction(kind="click", user_id="u42", ts=NOW - 5, item_id="sku-9",
                                scene="home", event_id="e-1", rec_id="r-17")


def test_purchase_parses_quantity_and_price() -> None:
    event = parse_event("purchase", VALID["purchase"], now=NOW)
    assert isinstance(event, Interaction)
    assert (event.kind, event.quantity, event.price) == ("purchase", 2, 19.5)
    assert isinstance(event.quantity, int)


def test_purchase_defaults_to_one_unit_and_no_price() -> None:
    event = parse_event("purchase", {"user_id": "u", "item_id": "i"}, now=NOW)
    assert isinstance(event, Interaction)
    assert (event.quantity, event.price) == (1, None)


def test_search_strips_the_query_and_may_carry_an_item() -> None:
    event = parse_event("search", VALID["search"], now=NOW)
    assert isinstance(event, Interaction)
    assert (event.kind, event.query, event.item_id) == ("search", "trail shoes", None)
    clicked = parse_event("search", {**VALID["search"], "item_id": "sku-3"}, now=NOW)
    assert isinstance(clicked, Interaction) and clicked.item_id == "sku-3"


def test_impression_parses_item_ids_as_a_tuple() -> None:
    event = parse_event("impression", VALID["impression"], now=NOW)
    assert event == Impression(user_id="u42", ts=NOW - 5, rec_id="r-17",
                               item_ids=("sku-1", "sku-2"), scene="home")


def test_integer_ids_become_strings() -> None:
    event = parse_event("click", {"user_id": 42, "item_id": 7, "ts": 1}, now=NOW)
    assert isinstance(event, Interaction)
    assert (event.user_id, event.item_id) == ("42", "7")


def test_missing_ts_means_now() -> None:
    event = parse_event("click", _without(VALID["click"], "ts"), now=NOW)
    assert event.ts == NOW


def test_extra_fields_are_ignored() -> None:
    data = {**VALID["click"], "utm_source": "mail", "nested": {"a": [1, 2]}, "ts_ms": "x"}
    assert parse_event("click", data, now=NOW) == parse_event("click", VALID["click"], now=NOW)


def test_inputs_are_not_mutated() -> None:
    data = {**VALID["impression"], "item_ids": list(VALID["impression"]["item_ids"])}
    snapshot = {**data, "item_ids": list(data["item_ids"])}
    parse_event("impression", data, now=NOW)
    assert data == snapshot


@pytest.mark.parametrize(("kind", "field"), [(k, f) for k, fs in REQUIRED.items() for f in fs])
def test_missing_required_field_is_named(kind: str, field: str) -> None:
    with pytest.raises(InvalidEvent, match=field):
        parse_event(kind, _without(VALID[kind], field), now=NOW)


@pytest.mark.parametrize("kind", sorted(REQUIRED))
@pytest.mark.parametrize(
    "bad", [True, False, ["u1"], {"id": "u1"}, 1.5, float("nan"), "", "   ", "x" * 257],
    ids=["true", "false", "list", "dict", "float", "nan", "empty", "blank", "too-long"],
)
def test_bad_user_id_is_rejected_by_name(kind: str, bad: object) -> None:
    with pytest.raises(InvalidEvent, match="user_id"):
        parse_event(kind, {**VALID[kind], "user_id": bad}, now=NOW)


@pytest.mark.parametrize(
    "bad", [True, ["sku-1"], {"sku": 1}, 2.0, "", "s" * 10_000],
    ids=["bool", "list", "dict", "float", "empty", "huge"],
)
def test_bad_item_id_is_rejected_by_name(bad: object) -> None:
    with pytest.raises(InvalidEvent, match="item_id"):
        parse_event("click", {**VALID["click"], "item_id": bad}, now=NOW)


@pytest.mark.parametrize("field", ["scene", "event_id", "rec_id"])
@pytest.mark.parametrize("bad", [True, ["a"], {"a": 1}, 0.5, "", "z" * 300])
def test_bad_optional_ids_are_rejected_by_name(field: str, bad: object) -> None:
    with pytest.raises(InvalidEvent, match=field):
        parse_event("click", {**VALID["click"], field: bad}, now=NOW)


def test_id_length_limit_is_configurable() -> None:
    limits = ValidationConfig(max_id_length=4)
    assert parse_event("click", {"user_id": "abcd", "item_id": "i"}, now=NOW, limits=limits)
    with pytest.raises(InvalidEvent, match="user_id is 5 characters long, limit 4"):
        parse_event("click", {"user_id": "abcde", "item_id": "i"}, now=NOW, limits=limits)


@pytest.mark.parametrize(
    "bad",
    [float("nan"), float("inf"), -float("inf"), -1, True, [NOW], {"s": 1}, "yesterday",
     "2024-13-45T99:00:00Z", 10**400],
    ids=["nan", "inf", "-inf", "negative", "bool", "list", "dict", "words", "bad-iso",
         "huge-int"],
)
def test_bad_ts_is_rejected_by_name(bad: object) -> None:
    with pytest.raises(InvalidEvent, match="ts"):
        parse_event("click", {**VALID["click"], "ts": bad}, now=NOW)


def test_millisecond_timestamps_are_rejected_with_a_hint() -> None:
    with pytest.raises(InvalidEvent, match=r"ts .*too far in the future \(milliseconds"):
        parse_event("click", {**VALID["click"], "ts": NOW * 1000}, now=NOW)


def test_future_skew_limit() -> None:
    limits = ValidationConfig(max_future_skew_s=60)
    ok = parse_event("click", {**VALID["click"], "ts": NOW + 59}, now=NOW, limits=limits)
    assert ok.ts == NOW + 59
    with pytest.raises(InvalidEvent, match="ts .* too far in the future"):
        parse_event("click", {**VALID["click"], "ts": NOW + 61}, now=NOW, limits=limits)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-11-22T08:00:00Z", NOW),
        ("2024-11-22T08:00:00+00:00", NOW),
        ("2024-11-22T09:00:00+01:00", NOW),
        ("2024-11-22T08:00:00", NOW),  # naive means UTC
        ("2024-11-22T07:59:59.500Z", NOW - 0.5),
        (" 2024-11-22T08:00:00Z ", NOW),
    ],
)
def test_iso_timestamps(text: str, expected: float) -> None:
    assert parse_timestamp(text, now=NOW + 10) == pytest.approx(expected, abs=1e-6)
    event = parse_event("click", {**VALID["click"], "ts": text}, now=NOW + 10)
    assert event.ts == pytest.approx(expected, abs=1e-6)


def test_unknown_event_type_is_rejected() -> None:
    with pytest.raises(InvalidEvent, match="unknown event type 'like'"):
        parse_event("like", VALID["click"], now=NOW)


@pytest.mark.parametrize("bad", [None, "click", ["user_id"], 42, b"{}"])
def test_non_object_message_is_rejected(bad: object) -> None:
    with pytest.raises(InvalidEvent, match="JSON object"):
        parse_event("click", bad, now=NOW)


@pytest.mark.parametrize("bad", [None, "", "   ", 5, ["coffee"], True])
def test_search_needs_a_text_query(bad: object) -> None:
    with pytest.raises(InvalidEvent, match="query"):
        parse_event("search", {**VALID["search"], "query": bad}, now=NOW)


def test_huge_query_is_rejected_by_name() -> None:
    with pytest.raises(InvalidEvent, match="query is 2001 characters long"):
        parse_event("search", {**VALID["search"], "query": "q" * 2001}, now=NOW)


@pytest.mark.parametrize(
    "bad", [0, -1, 1.5, "2", True, None, float("nan"), float("inf"), 10**400],
    ids=["zero", "negative", "fraction", "string", "bool", "null", "nan", "inf", "huge-int"],
)
def test_bad_quantity_is_rejected_by_name(bad: object) -> None:
    with pytest.raises(InvalidEvent, match="quantity"):
        parse_event("purchase", {**VALID["purchase"], "quantity": bad}, now=NOW)


@pytest.mark.parametrize(
    "bad", [-0.01, "9.99", True, float("nan"), float("inf"), [1], 10**400],
    ids=["negative", "string", "bool", "nan", "inf", "list", "huge-int"],
)
def test_bad_price_is_rejected_by_name(bad: object) -> None:
    with pytest.raises(InvalidEvent, match="price"):
        parse_event("purchase", {**VALID["purchase"], "price": bad}, now=NOW)


def test_huge_integer_ids_are_rejected_by_name() -> None:
    with pytest.raises(InvalidEvent, match="user_id"):
        parse_event("click", {**VALID["click"], "user_id": 10**5000}, now=NOW)


@pytest.mark.parametrize(
    "bad", [[], "sku-1", None, {"a": 1}, ["sku-1", True], ["sku-1", ""], ["ok", ["nested"]]],
    ids=["empty", "string", "null", "dict", "bool-inside", "empty-inside", "list-inside"],
)
def test_bad_impression_item_ids_are_rejected_by_name(bad: object) -> None:
    with pytest.raises(InvalidEvent, match="item_ids"):
        parse_event("impression", {**VALID["impression"], "item_ids": bad}, now=NOW)


def test_impression_item_count_limit() -> None:
    many = [f"sku-{i}" for i in range(501)]
    with pytest.raises(InvalidEvent, match="item_ids, limit 500"):
        parse_event("impression", {**VALID["impression"], "item_ids": many}, now=NOW)


# --- items -------------------------------------------------------------------------

ITEM = {"item_id": "sku-9", "title": " Trail running shoes ", "description": "Grippy.",
        "categories": ["shoes", " outdoor ", "  "], "available": False, "price": 89.0,
        "ts": "2024-11-22T08:00:00Z"}


def test_item_upsert_parses_and_normalises() -> None:
    item = parse_item(ITEM)
    assert item == ItemUpsert(item_id="sku-9", title="Trail running shoes", description="Grippy.",
                              categories=("shoes", "outdoor"), available=False, price=89.0, ts=NOW)
    assert item.text == "Trail running shoes. Grippy.. shoes, outdoor"


def test_item_defaults() -> None:
    item = parse_item({"item_id": 12, "title": "Mug", "extra": {"ignored": True}})
    assert item == ItemUpsert(item_id="12", title="Mug")
    assert item.available is True and item.categories == ()


def test_a_single_category_string_is_accepted() -> None:
    item = parse_item({"item_id": "a", "title": "Mug", "categories": "kitchen"})
    assert isinstance(item, ItemUpsert) and item.categories == ("kitchen",)


def test_item_description_alone_is_enough() -> None:
    item = parse_item({"item_id": "a", "description": "A mug"})
    assert isinstance(item, ItemUpsert) and item.text == "A mug"


def test_item_delete_flag() -> None:
    assert parse_item({"item_id": "sku-9", "deleted": True}) == ItemDelete("sku-9")


def test_deleted_false_is_an_upsert() -> None:
    assert isinstance(parse_item({**ITEM, "deleted": False}), ItemUpsert)


def test_tombstone_with_key_deletes() -> None:
    assert parse_item(None, key="sku-9") == ItemDelete("sku-9")


@pytest.mark.parametrize("key", [None, ""])
def test_tombstone_without_key_is_rejected(key: str | None) -> None:
    with pytest.raises(InvalidEvent, match="tombstone"):
        parse_item(None, key=key)


@pytest.mark.parametrize(
    "bad", [[1, 2], ["ok", None], {"a": "b"}, 5, True],
    ids=["ints", "null-inside", "dict", "int", "bool"],
)
def test_bad_categories_are_rejected_by_name(bad: object) -> None:
    with pytest.raises(InvalidEvent, match="categories"):
        parse_item({**ITEM, "categories": bad})


@pytest.mark.parametrize(
    ("field", "bad"),
    [("item_id", None), ("item_id", True), ("item_id", ""), ("deleted", "yes"),
     ("deleted", 1), ("available", "no"), ("available", 0), ("price", float("nan")),
     ("price", "cheap"), ("title", 5), ("description", ["x"]), ("title", "t" * 2001),
     ("ts", "soon"), ("ts", float("inf")), ("ts", -5)],
)
def test_bad_item_fields_are_rejected_by_name(field: str, bad: object) -> None:
    with pytest.raises(InvalidEvent, match=field):
        parse_item({**ITEM, field: bad})


@pytest.mark.parametrize("blank", [{}, {"title": "  "}, {"title": "", "description": " "}])
def test_item_without_text_is_rejected(blank: dict) -> None:
    with pytest.raises(InvalidEvent, match="sku-1.*title or a description"):
        parse_item({"item_id": "sku-1", **blank})


def test_parse_timestamp_never_returns_non_finite() -> None:
    for value in (0, 1, 1.5, NOW, "1970-01-01T00:00:00Z"):
        assert math.isfinite(parse_timestamp(value, now=NOW))
