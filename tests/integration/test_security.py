"""Secure connections on a real broker: a worker and the CLI over TLS, and clear errors
(in seconds, not a hang) for a client with the wrong CA, a plaintext client on a TLS
port, and clients of a broker that requires SASL.

What the embedded broker (Tansu 0.6.0) can and cannot do, measured for these tests:

- TLS: no. ``--cert`` and ``--key`` are one mutually exclusive clap group ("the argument
  '--cert <CERT>' cannot be used with '--key <KEY>'"), and ``--cert`` alone starts a
  plaintext listener. So TLS is terminated in front of it (tests/integration/tls_proxy.py)
  and the broker advertises the TLS address: every client byte goes through TLS.
- SASL: ``--authentication`` offers SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER (not
  PLAIN: the connection is closed), and then refuses every request but ApiVersions and
  SASL before authentication, AlterUserScramCredentials included. Its memory store starts
  with no users and ``tansu user create`` fails the same way ("early eof"), so no client
  can ever log in: only the refusals can be tested. Without ``--authentication`` it answers
  every SaslHandshake with UNSUPPORTED_SASL_MECHANISM.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import orjson
import pytest

from stream_apps.kafka.broker import free_port, port_in_use, tansu_binary
from stream_apps.kafka.clients import BrokerRejected, BrokerUnreachable, probe_bootstrap
from stream_apps.settings import Settings
from stream_apps.tools.catalogue import load_builtin_catalogue
from stream_apps.tools.processes import get_json, spawn_worker, stop_process, wait_ready
from tests.integration.tls_proxy import Pki, TlsTerminator, make_pki

pytestmark = pytest.mark.integration

ITEMS = load_builtin_catalogue()[:30]
# A clear error comes from the probe in a few seconds (a refused SASL login: the 10 s
# bootstrap timeout); kafka-python alone waits 30 s per try, and the CLI used to retry.
CLEAR_ERROR_WITHIN_S = 25.0


def security_env(settings: Settings) -> dict[str, str]:
    env = {"KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
           "STREAMREC_TOPIC_PREFIX": settings.topic_prefix,
           "STREAMREC_SECURITY_PROTOCOL": settings.security_protocol,
           "STREAMREC_SSL_CAFILE": settings.ssl_cafile,
           "STREAMREC_SASL_MECHANISM": settings.sasl_mechanism,
           "STREAMREC_SASL_USERNAME": settings.sasl_username,
           "STREAMREC_SASL_PASSWORD": settings.sasl_password}
    return {k: v for k, v in env.items() if v}


def streamrec(settings: Settings, *args: str, timeout: float = 120.0) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the real CLI with ``settings`` given only through the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMREC_")}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    env.update(security_env(settings))
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "stream_apps", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)
    return done, time.monotonic() - started


@contextmanager
def tansu(tmp_path: Path, *extra: str, advertised_port: int | None = None) -> Iterator[int]:
    """A Tansu process on a free port (advertising ``advertised_port`` if given)."""
    port = free_port()
    advertised = advertised_port or port
    log = open(tmp_path / f"tansu-{port}.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [tansu_binary(), "broker", "--listener-url", f"tcp://127.0.0.1:{port}",
         "--advertised-listener-url", f"tcp://127.0.0.1:{advertised}",
         "--storage-engine", "memory://tansu/", *extra],
        stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, RUST_LOG="warn"), start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not port_in_use("127.0.0.1", port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"tansu did not listen: {(tmp_path / f'tansu-{port}.log').read_text()}")
            time.sleep(0.1)
        yield port
    finally:
        proc.kill()  # memory storage: nothing to flush, and it ignores SIGTERM for long
        proc.wait(timeout=10)
        log.close()


@contextmanager
def tls_broker(tmp_path: Path) -> Iterator[tuple[str, Pki, TlsTerminator]]:
    """Tansu behind a TLS terminator; the broker advertises the TLS port."""
    pki = make_pki(tmp_path / "pki", "broker")
    tls_port = free_port()
    with tansu(tmp_path, advertised_port=tls_port) as port:
        terminator = TlsTerminator(tls_port, ("127.0.0.1", port), pki).start_and_wait()
        try:
            bootstrap = f"127.0.0.1:{tls_port}"
            ready = Settings(bootstrap_servers=bootstrap, security_protocol="SSL", ssl_cafile=str(pki.ca_cert))
            deadline = time.monotonic() + 20
            while True:
                try:
                    probe_bootstrap(ready)
                    break
                except BrokerUnreachable:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            yield bootstrap, pki, terminator
        finally:
            terminator.stop()


def tls_settings(bootstrap: str, ca: Path) -> Settings:
    return Settings(bootstrap_servers=bootstrap, topic_prefix=f"tls{uuid.uuid4().hex[:6]}-",
                    security_protocol="SSL", ssl_cafile=str(ca))


def test_worker_and_cli_work_over_tls(tmp_path: Path) -> None:
    with tls_broker(tmp_path) as (bootstrap, pki, terminator):
        settings = tls_settings(bootstrap, pki.ca_cert)
        items_file = tmp_path / "items.jsonl"
        items_file.write_bytes(b"\n".join(orjson.dumps(i) for i in ITEMS) + b"\n")
        done, _ = streamrec(settings, "load-items", str(items_file))
        assert done.returncode == 0, done.stderr
        assert f"produced {len(ITEMS)} items" in done.stdout

        web_port = free_port()
        worker = spawn_worker(settings, web_port, tmp_path / "worker.log", security_env(settings))
        try:
            wait_ready(web_port, worker, timeout=180)
            deadline = time.monotonic() + 120
            while (get_json(f"http://127.0.0.1:{web_port}/health")[1] or {}).get("index_items", 0) < len(ITEMS):
                assert time.monotonic() < deadline, "the worker did not index the catalogue over TLS"
                time.sleep(0.3)
            users = [f"tls-user-{n}" for n in range(3)]
            events_file = tmp_path / "events.jsonl"
            events_file.write_bytes(b"\n".join(
                orjson.dumps({"type": "click", "event_id": f"tls-{n}", "user_id": u,
                              "item_id": ITEMS[n]["item_id"], "scene": "home"})
                for n, u in enumerate(users)) + b"\n")
            done, _ = streamrec(settings, "produce", str(events_file))
            assert done.returncode == 0, done.stderr
            assert "produced 3 events" in done.stdout

            done, _ = streamrec(settings, "tail", "--from-beginning", "--json", "--max", "3",
                                "--timeout", "60", timeout=150)
            assert done.returncode == 0, done.stderr
            recs = [orjson.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
            assert sorted(r["user_id"] for r in recs) == users
            catalogue = {i["item_id"] for i in ITEMS}
            for rec in recs:
                assert rec["items"] and {i["item_id"] for i in rec["items"]} <= catalogue
            assert get_json(f"http://127.0.0.1:{web_port}/recommendations/{users[0]}")[1]["known_user"]
        finally:
            stop_process(worker)
        # Every client connection went through TLS, and none failed its handshake.
        assert terminator.connections >= 4
        assert terminator.handshake_failures == []


def test_wrong_ca_and_plaintext_clients_get_a_clear_error(tmp_path: Path) -> None:
    other_ca = make_pki(tmp_path / "other", "untrusted").ca_cert
    with tls_broker(tmp_path) as (bootstrap, pki, terminator):
        good = tls_settings(bootstrap, pki.ca_cert)
        wrong_ca = tls_settings(bootstrap, other_ca)
        events_file = tmp_path / "events.jsonl"
        events_file.write_text('{"type": "click", "user_id": "u1", "item_id": "sku-00001"}\n')

        done, took = streamrec(wrong_ca, "produce", str(events_file))
        assert done.returncode == 2 and took < CLEAR_ERROR_WITHIN_S, (took, done.stderr)
        assert "certificate verify failed" in done.stderr and "STREAMREC_SSL_CAFILE" in done.stderr
        assert len(done.stderr.strip().splitlines()) <= 3, done.stderr  # one clear line, no traceback

        plaintext = Settings(bootstrap_servers=bootstrap, topic_prefix=good.topic_prefix)
        done, took = streamrec(plaintext, "tail", "--timeout", "5")
        assert done.returncode == 2 and took < CLEAR_ERROR_WITHIN_S, (took, done.stderr)
        assert "does it expect TLS" in done.stderr

        # A worker with the wrong CA exits with the reason instead of waiting for ever.
        web_port = free_port()
        log = tmp_path / "worker-wrong-ca.log"
        worker = spawn_worker(wrong_ca, web_port, log, security_env(wrong_ca))
        try:
            code = worker.wait(timeout=60)
        finally:
            if worker.poll() is None:
                stop_process(worker, kill=True)
        assert code == 2
        assert "certificate verify failed" in log.read_text()
        assert len(terminator.handshake_failures) >= 2  # the clients really tried TLS and were refused


def test_a_broker_that_requires_sasl_refuses_clients_with_a_clear_error(tmp_path: Path) -> None:
    with tansu(tmp_path, "--authentication") as port:
        bootstrap = f"127.0.0.1:{port}"
        prefix = f"sasl{uuid.uuid4().hex[:6]}-"
        events_file = tmp_path / "events.jsonl"
        events_file.write_text('{"type": "click", "user_id": "u1", "item_id": "sku-00001"}\n')
        cases = [
            (Settings(bootstrap_servers=bootstrap, topic_prefix=prefix), "it requires authentication"),
            (Settings(bootstrap_servers=bootstrap, topic_prefix=prefix, security_protocol="SASL_PLAINTEXT",
                      sasl_mechanism="PLAIN", sasl_username="streamrec", sasl_password="secret"),
             "closed the connection at the SASL handshake for PLAIN"),
            # SCRAM is offered, but Tansu's store has no user (none can be created): refused.
            (Settings(bootstrap_servers=bootstrap, topic_prefix=prefix, security_protocol="SASL_PLAINTEXT",
                      sasl_mechanism="SCRAM-SHA-512", sasl_username="streamrec", sasl_password="secret"),
             "check the SASL SCRAM-SHA-512 as 'streamrec' credentials"),
        ]
        for settings, expected in cases:
            done, took = streamrec(settings, "produce", str(events_file))
            assert done.returncode == 2, done.stderr
            assert took < CLEAR_ERROR_WITHIN_S, (settings.security_protocol, took, done.stderr)
            assert expected in done.stderr, done.stderr


def test_sasl_against_a_broker_without_sasl_names_the_problem(bootstrap: str) -> None:
    settings = Settings(bootstrap_servers=bootstrap, security_protocol="SASL_PLAINTEXT",
                        sasl_mechanism="SCRAM-SHA-256", sasl_username="streamrec", sasl_password="x")
    started = time.monotonic()
    with pytest.raises(BrokerRejected, match="does not offer SASL mechanism SCRAM-SHA-256"):
        probe_bootstrap(settings)
    assert time.monotonic() - started < 5
    probe_bootstrap(Settings(bootstrap_servers=bootstrap))  # the same broker, plaintext: fine
