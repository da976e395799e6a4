"""One quick, honest look at a bootstrap server before a Kafka client is built.

kafka-python and aiokafka retry a failed bootstrap for up to 30 s and then say only
"Unable to bootstrap", whether the cause is a TLS certificate the client does not trust,
a plaintext client on a TLS port, or a SASL mechanism the broker does not offer. This
probe finds those in one round trip each, on its own socket, and raises
:class:`BrokerRejected` with what to change:

1. with SSL, the TLS handshake, verified against ``ssl_cafile`` (and the host name);
2. an ApiVersions v0 request (every Kafka answers it, also before authentication): no
   Kafka answer on a plaintext socket usually means the port expects TLS;
3. without SASL, a Metadata v4 request: a broker that requires authentication hangs up;
4. with SASL, a SaslHandshake v1 naming ``sasl_mechanism``: the broker says whether it
   offers it. The credentials themselves are checked by the client afterwards.
"""

from __future__ import annotations

import socket
import ssl
import struct

from stream_apps.kafka.errors import BrokerRejected
from stream_apps.settings import Settings

_CLIENT_ID = b"streamrec-probe"


def _request(api_key: int, api_version: int, correlation_id: int, body: bytes) -> bytes:
    header = struct.pack(">hhih", api_key, api_version, correlation_id, len(_CLIENT_ID)) + _CLIENT_ID
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        data += chunk
    return data


def _exchange(sock: socket.socket, request: bytes, correlation_id: int) -> bytes:
    """Send one request; the response body after the correlation id."""
    sock.sendall(request)
    head = _read_exact(sock, 4)
    (size,) = struct.unpack(">i", head)
    if not 4 <= size <= 1 << 24:
        # A TLS alert (0x15 0x03 ...) or some other protocol, not a Kafka frame.
        raise ValueError(f"not a Kafka response (first bytes {head.hex()})")
    frame = _read_exact(sock, size)
    (got,) = struct.unpack(">i", frame[:4])
    if got != correlation_id:
        raise ValueError(f"correlation id {got}, expected {correlation_id}")
    return frame[4:]


def _mechanisms(body: bytes) -> tuple[int, list[str]]:
    """SaslHandshake v1 response: (error code, mechanisms the broker offers)."""
    (error,) = struct.unpack(">h", body[:2])
    (count,) = struct.unpack(">i", body[2:6])
    names, pos = [], 6
    for _ in range(max(count, 0)):
        (length,) = struct.unpack(">h", body[pos:pos + 2])
        names.append(body[pos + 2:pos + 2 + length].decode("utf-8", "replace"))
        pos += 2 + length
    return error, names


def check_security(settings: Settings, sock: socket.socket, host: str, server: str,
                   timeout_s: float) -> None:
    """Run the probe on a connected TCP ``sock``; raises :class:`BrokerRejected`."""
    from stream_apps.kafka.security import ssl_context

    sock.settimeout(timeout_s)
    context = ssl_context(settings)
    if context is None:
        _probe(settings, sock, server, None)
        return
    try:
        tls = context.wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        raise BrokerRejected(
            f"TLS handshake with {server} failed: certificate verify failed, {exc.verify_message} "
            f"(security_protocol "
            f"{settings.security_protocol}, ssl_cafile {settings.ssl_cafile or 'the system CAs'}): "
            "point STREAMREC_SSL_CAFILE at the CA that signed the broker's certificate") from None
    except (ssl.SSLError, OSError) as exc:
        raise BrokerRejected(
            f"TLS handshake with {server} failed ({exc}): is this a TLS listener? "
            f"(security_protocol {settings.security_protocol})") from None
    with tls:
        _probe(settings, tls, server, context)


def _probe(settings: Settings, sock: socket.socket, server: str, context: ssl.SSLContext | None) -> None:
    protocol = settings.security_protocol
    try:
        _exchange(sock, _request(18, 0, 1, b""), 1)  # ApiVersions v0
    except (OSError, ValueError) as exc:
        hint = ("does it expect TLS? set STREAMREC_SECURITY_PROTOCOL=SSL or SASL_SSL and "
                "STREAMREC_SSL_CAFILE" if context is None else "is it a Kafka listener?")
        raise BrokerRejected(f"{server} accepted a TCP connection but gave no Kafka answer ({exc}): "
                             f"{hint} (security_protocol {protocol})") from None
    if not protocol.startswith("SASL"):
        try:  # Metadata v4, all topics: a broker that wants SASL first hangs up here
            _exchange(sock, _request(3, 4, 2, struct.pack(">ib", -1, 0)), 2)
        except (OSError, ValueError) as exc:
            raise BrokerRejected(
                f"{server} answered ApiVersions but refused a Metadata request ({exc}): it requires "
                f"authentication; set STREAMREC_SECURITY_PROTOCOL=SASL_PLAINTEXT or SASL_SSL and the "
                f"STREAMREC_SASL_* settings (security_protocol {protocol})") from None
        return
    mechanism = settings.sasl_mechanism.encode()
    try:
        body = _exchange(sock, _request(17, 1, 2, struct.pack(">h", len(mechanism)) + mechanism), 2)
        error, offered = _mechanisms(body)
    except (OSError, ValueError, struct.error) as exc:
        raise BrokerRejected(f"{server} closed the connection at the SASL handshake for "
                             f"{settings.sasl_mechanism} ({exc}): it does not accept this mechanism "
                             f"(security_protocol {protocol})") from None
    if error:
        raise BrokerRejected(
            f"{server} does not offer SASL mechanism {settings.sasl_mechanism} (error code {error}; "
            f"it offers {', '.join(offered) or 'none'}): set STREAMREC_SASL_MECHANISM accordingly, "
            "or the broker does not use SASL on this listener")
