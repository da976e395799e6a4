"""stream_apps.worker.signals.DecodedRows: a row this worker wrote is not decoded again,
any other bytes are."""

from __future__ import annotations

import orjson
import pytest

from engine.errors import InvalidEvent
from engine.item_signals import ItemRow, row_to_dict
from stream_apps.worker.signals import DecodedRows


def _raw(row: ItemRow) -> bytes:
    return orjson.dumps(row_to_dict(row))


def test_own_bytes_give_the_written_row_and_other_bytes_are_decoded() -> None:
    rows = DecodedRows(capacity=2)
    mine = ItemRow(1.0, 2.0, {"b": 1.0}, {"*": 1.0}, {"ev[0]": 3})
    raw = _raw(mine)
    rows.wrote("a", raw, mine)
    assert rows.decode("a", bytes(raw)) is mine  # equal bytes from the changelog
    theirs = ItemRow(1.0, 5.0, {"c": 2.0}, {}, {"ev[1]": 9})
    decoded = rows.decode("a", _raw(theirs))
    assert decoded is not mine and decoded == theirs
    with pytest.raises(InvalidEvent):
        rows.decode("a", b'{"v": -1}')


def test_capacity_drops_the_least_recently_written() -> None:
    rows = DecodedRows(capacity=2)
    written = {k: ItemRow(1.0, float(n), {}, {}, {}) for n, k in enumerate("abc", start=1)}
    for key in ("a", "b"):
        rows.wrote(key, _raw(written[key]), written[key])
    rows.wrote("a", _raw(written["a"]), written["a"])  # a is now the newest
    rows.wrote("c", _raw(written["c"]), written["c"])  # so b goes
    assert rows.decode("a", _raw(written["a"])) is written["a"]
    assert rows.decode("c", _raw(written["c"])) is written["c"]
    assert rows.decode("b", _raw(written["b"])) is not written["b"]
