"""``streamrec evaluate --through-kafka`` scores what a real worker publishes, and a paced
replay gives the same scores as the in-process engine on the same events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stream_apps.cli import main
from tests.integration.test_evaluate_generic import write_dataset

pytestmark = pytest.mark.integration


def test_through_kafka_matches_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)  # the command starts its own broker
    monkeypatch.setenv("STREAMREC_DATA_DIR", str(tmp_path / "var"))
    data = tmp_path / "shop"
    # Events 50 ms apart: the worker decays interests to its wall clock, the in-process
    # replay to each event's time; with gaps this small both see the same interests.
    write_dataset(data, gap_s=0.05)
    out = tmp_path / "report.json"
    code = main(["evaluate", str(data), "--k", "3", "--warmup", "6", "--quiet", "--through-kafka",
                 "--json", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["mode"] == "through-kafka"
    kafka, local = report["results"]["streamrec"], report["results"]["streamrec-in-process"]
    assert kafka["scored"] == local["scored"] == report["scored_events"] > 0
    assert kafka["empty_lists"] == local["empty_lists"]
    for metric in ("recall", "ndcg", "mrr", "coverage"):
        assert kafka[metric] == pytest.approx(local[metric], abs=1e-9), metric
    assert kafka["recall"] > 0.3


@pytest.mark.timeout(600)  # three workers start on two shared cores
def test_three_workers_through_kafka_score_like_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The production path with three workers and shared signals: every worker recommends
    from the co-visitation of all events, so the scores match the single-process replay
    (within 2 %; the replay waits for each event's shared signals to reach every worker)."""
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("STREAMREC_DATA_DIR", str(tmp_path / "var"))
    data = tmp_path / "shop"
    write_dataset(data, gap_s=0.05)
    out = tmp_path / "report.json"
    code = main(["evaluate", str(data), "--k", "3", "--warmup", "6", "--quiet", "--through-kafka",
                 "--workers", "3", "--json", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    kafka, local = report["results"]["streamrec"], report["results"]["streamrec-in-process"]
    assert kafka["workers"] == 3 and kafka["shared_signals"] is True
    assert kafka["scored"] == local["scored"] > 0
    assert kafka["recall"] == pytest.approx(local["recall"], rel=0.02)
    assert kafka["recall"] > 0.3
