"""The partition watchdog repairs a stalled partition on a real broker (issue #7).

A worker subprocess (``stall_app.py``) is put into the state the post-kill stall left
partitions in: aiokafka's position past messages Faust never handed to the stream. We
check that the messages are really stuck (nothing reads them for a while), then that
the watchdog notices, seeks the partition back, counts the repair, and every message
is read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
APP = Path(__file__).with_name("stall_app.py")
STALL_AFTER_S = 8.0

pytestmark = pytest.mark.integration


def _live(out: Path, pid: int) -> dict[str, Any]:
    try:
        return json.loads((out / f"live-{pid}.json").read_text())  # type: ignore[no-any-return]
    except (FileNotFoundError, ValueError):
        return {}


def _wait(what: str, check: Any, proc: subprocess.Popen[bytes], log_path: Path,
          timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"worker exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}")
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout:.0f}s:\n{log_path.read_text()[-3000:]}")


def _send(bootstrap: str, topic: str, partition: int, n: int) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for i in range(n):
            producer.send(topic, value=json.dumps({"n": i}).encode(), partition=partition)
        producer.flush()
    finally:
        producer.close()


def _committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset of each partition of ``topic``."""
    from kafka import KafkaAdminClient, TopicPartition

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="stall-test")
    try:
        offsets = admin.list_group_offsets({group: [TopicPartition(topic, 0), TopicPartition(topic, 1)]})
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets[group].items()}


def test_a_stalled_partition_is_noticed_sought_back_and_read(bootstrap: str, tmp_path: Path) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    app_id = f"stall-{uuid.uuid4().hex[:8]}"
    topic = f"{app_id}-events"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="stall-test")
    try:
        admin.create_topics([NewTopic(topic, 2, 1)])  # Tansu would auto-create 4
    finally:
        admin.close()
    log_path = tmp_path / "worker.log"
    env = dict(os.environ, PYTHONPATH=str(REPO), STALL_BROKER=bootstrap, STALL_APP_ID=app_id,
               STALL_TOPIC=topic, STALL_OUT=str(tmp_path), STALL_AFTER_S=str(STALL_AFTER_S))
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([sys.executable, str(APP), "worker", "-l", "info", "--without-web"],
                                cwd=tmp_path, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        pid = proc.pid

        def read(partition: int) -> list[int]:
            return list(_live(tmp_path, pid).get("offsets", {}).get(str(partition), []))

        # Both partitions flow, and Faust commits what was read.
        _send(bootstrap, topic, 0, 10)
        _send(bootstrap, topic, 1, 10)
        _wait("the first 20 messages not read", lambda: len(read(0)) == 10 and len(read(1)) == 10,
              proc, log_path, 60)
        # The watchdog seeks back to the committed offset: wait for Faust's commit of both.
        _wait("the first 20 messages not committed", lambda: _committed(bootstrap, app_id, topic) == {0: 10, 1: 10},
              proc, log_path, 60)

        (tmp_path / "pause").touch()
        _wait("no pause", lambda: _live(tmp_path, pid).get("sabotage") == "paused", proc, log_path, 10)
        _send(bootstrap, topic, 0, 5)  # offsets 10..14: fetched by aiokafka, not read by Faust
        sent_at = time.monotonic()
        (tmp_path / "skip").write_text("15")
        _wait("no skip", lambda: _live(tmp_path, pid).get("sabotage") == "skipped", proc, log_path, 10)

        # Stuck: nothing reads partition 0 any more, while partition 1 still flows.
        _send(bootstrap, topic, 1, 5)
        _wait("partition 1 stopped flowing", lambda: len(read(1)) == 15, proc, log_path, 10)
        # The watchdog samples every 2 s, so its clock may start up to 2 s before sent_at.
        # A deliberate wait: nothing must repair the partition before the threshold (a
        # loaded machine makes the watchdog later, never earlier).
        time.sleep(max(0.0, sent_at + STALL_AFTER_S - 3.5 - time.monotonic()))
        assert read(0) == list(range(10)), "the sabotage did not stall partition 0"
        assert _live(tmp_path, pid).get("repairs", {}) == {}

        # The watchdog seeks it back to the committed offset: 10..14 are read, once.
        _wait("partition 0 not repaired", lambda: read(0) == list(range(15)), proc, log_path,
              STALL_AFTER_S * 3)
        repaired_after = time.monotonic() - sent_at
        assert _live(tmp_path, pid)["repairs"] == {"seek": 1.0}
        line = next(ln for ln in log_path.read_text().splitlines() if "] stalled: " in ln)
        assert f"{topic}[0] stalled: 5 unread (highwater 15, committed 10" in line, line
        assert "repair: seek" in line, line
        print(f"\npartition 0 read {repaired_after:.1f}s after its messages were sent (threshold "
              f"{STALL_AFTER_S:.0f}s): {line.split('WARNING] ')[-1][:200]}")
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
