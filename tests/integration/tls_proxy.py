"""TLS in front of the embedded broker, for the secure-connection tests.

Tansu 0.6.0 (the vendored broker) cannot serve TLS itself: its ``--cert`` and ``--key``
flags are in one mutually exclusive clap group, so both together are refused, and
``--cert`` alone starts a plaintext listener. So the tests terminate TLS the way many
deployments do (stunnel, Envoy, a cloud load balancer): a TLS listener that forwards
the decrypted bytes to the broker, which advertises the TLS address in its metadata so
every client connects through it. The Kafka protocol, the broker and the clients are
all real; only the TLS endpoint is ours.

A self-signed CA and a server certificate for ``127.0.0.1``/``localhost`` are made with
the ``openssl`` command line (Debian's ``openssl`` package, on every machine of ours).
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    server_cert: Path
    server_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        raise RuntimeError("the openssl command is needed to make test certificates (apt-get install openssl)")
    subprocess.run([binary, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(directory: Path, name: str = "test") -> Pki:
    """A fresh CA (``{name}-ca.pem``) and a server certificate it signed for 127.0.0.1."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = f"{name}-ca.key", f"{name}-ca.pem"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_cert,
             "-days", "2", "-subj", f"/CN=streamrec {name} CA", cwd=directory)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-server.key",
             "-out", f"{name}-server.csr", "-subj", "/CN=localhost", cwd=directory)
    (directory / f"{name}-san.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", f"{name}-server.csr", "-CA", ca_cert, "-CAkey", ca_key,
             "-CAcreateserial", "-out", f"{name}-server.pem", "-days", "2",
             "-extfile", f"{name}-san.cnf", cwd=directory)
    return Pki(directory / ca_cert, directory / f"{name}-server.pem", directory / f"{name}-server.key")


class TlsTerminator(threading.Thread):
    """Accepts TLS on ``127.0.0.1:port`` and pipes each connection to ``upstream``.

    Plain threads and blocking sockets: a handful of connections, and every failed
    handshake is seen (the tests check that a refused client really tried TLS)."""

    def __init__(self, port: int, upstream: tuple[str, int], pki: Pki) -> None:
        super().__init__(daemon=True, name="tls-terminator")
        self.port, self.upstream = port, upstream
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(pki.server_cert, pki.server_key)
        self.handshake_failures: list[str] = []
        self.connections = 0  # completed TLS handshakes
        self._listener = socket.create_server(("127.0.0.1", port))
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def start_and_wait(self) -> TlsTerminator:
        self.start()  # the socket already listens: connections queue until accepted
        return self

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed by stop()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError) as exc:
            with self._lock:
                self.handshake_failures.append(f"{type(exc).__name__}: {exc}")
            conn.close()
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            tls.close()
            return
        with self._lock:
            self.connections += 1
        tls.settimeout(None)
        upstream.settimeout(None)

        def pipe(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for sock in (src, dst):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        back = threading.Thread(target=pipe, args=(upstream, tls), daemon=True)
        back.start()
        pipe(tls, upstream)
        back.join(timeout=5)
        tls.close()
        upstream.close()

    def stop(self) -> None:
        self._stopping.set()
        self._listener.close()
        self.join(timeout=5)
