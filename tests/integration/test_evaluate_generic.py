"""``streamrec evaluate`` end to end, in process, on a tiny generic-format dataset."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from stream_apps.cli import main

THEMES = {
    "coffee": ["espresso beans", "coffee grinder", "milk frother", "pour-over kettle", "coffee mug",
               "french press"],
    "running": ["trail running shoes", "running socks", "sports watch", "hydration vest",
                "running shorts", "reflective jacket"],
    "garden": ["garden hose", "pruning shears", "flower seeds", "watering can", "garden gloves",
               "compost bin"],
}


def write_dataset(folder: Path, gap_s: float = 60.0) -> None:
    folder.mkdir()
    items, events = [], []
    for theme, names in THEMES.items():
        for n, name in enumerate(names):
            items.append({"item_id": f"{theme}-{n}", "title": name, "categories": [theme]})
    ts = 1_700_000_000.0
    for u in range(12):
        theme = list(THEMES)[u % 3]
        for n in range(len(THEMES[theme])):
            ts += gap_s
            events.append({"type": "click", "user_id": f"u{u}", "item_id": f"{theme}-{(n + u) % 6}", "ts": ts})
    events.insert(3, {"type": "search", "user_id": "u0", "query": "coffee", "ts": 1_700_000_001.0})
    events.append({"type": "impression", "user_id": "u1", "item_ids": ["coffee-1"], "ts": ts})
    events.append({"type": "click", "user_id": "u1"})  # invalid: no item_id
    (folder / "items.jsonl").write_bytes(b"\n".join(orjson.dumps(i) for i in items) + b"\n")
    # Any order in the file: the replay sorts by ts.
    (folder / "events.jsonl").write_bytes(b"\n".join(orjson.dumps(e) for e in reversed(events)) + b"\n")


@pytest.mark.slow  # a whole replay: 5-10 s
def test_evaluate_generic_in_process(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "shop"
    write_dataset(data)
    out, png = tmp_path / "report.json", tmp_path / "plot.png"
    code = main(["evaluate", str(data), "--k", "3", "--warmup", "6", "--quiet",
                 "--json", str(out), "--plot", str(png)])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["dataset"] == "shop" and report["k"] == 3
    assert report["events"] == 73 and report["items"] == 18
    assert report["skipped_input"] == {"invalid event": 1, "impression (not replayed)": 1}
    assert set(report["results"]) >= {"popular", "covisit", "content", "streamrec"}
    for result in report["results"].values():
        assert {"recall", "ndcg", "mrr", "coverage"} <= set(result)
        assert 0 <= result["ndcg"] <= result["recall"] <= 1 and 0 <= result["mrr"] <= result["recall"]
        assert result["scored"] == report["scored_events"] > 0
    # Every user stays in one theme: the text of the items alone finds their next click.
    assert report["results"]["content"]["recall"] > report["results"]["popular"]["recall"]
    assert report["results"]["streamrec"]["recall"] > 0.3
    assert png.stat().st_size > 10_000
    assert "recall@3" in capsys.readouterr().out


def test_evaluate_reports_a_missing_dataset(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["evaluate", str(tmp_path / "nope")]) == 2
    assert "dataset not found" in capsys.readouterr().err
