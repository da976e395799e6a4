"""Plain Kafka clients (kafka-python) for the CLI: admin, producer, consumer.

Every client gets its connection settings from :class:`Settings` in one place, so
security settings reach all of them.
"""

from __future__ import annotations

import socket
from typing import Any

from stream_apps.kafka.errors import BrokerRejected, BrokerUnreachable
from stream_apps.settings import Settings

# kafka-python retries a failed bootstrap for 30 s by default; a broker that answered
# the probe but not the client within this long is refusing it.
BOOTSTRAP_TIMEOUT_MS = 10_000


def connection_kwargs(settings: Settings) -> dict[str, Any]:
    from stream_apps.kafka.security import kafka_python_kwargs

    return {"bootstrap_servers": settings.bootstrap_servers.split(","), **kafka_python_kwargs(settings)}


def probe_bootstrap(settings: Settings, timeout_s: float = 2.0) -> None:
    """Fail fast with a clear error when no bootstrap server accepts TCP connections.

    kafka-python retries a refused bootstrap for about 30 s before it gives up.
    """
    from stream_apps.kafka.probe import check_security

    errors = []
    for server in settings.bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            sock = socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s)
        except (OSError, ValueError) as exc:
            errors.append(f"{server}: {exc}")
            continue
        with sock:
            # TLS handshake, a Kafka answer, the SASL mechanism: BrokerRejected in seconds.
            check_security(settings, sock, host or "127.0.0.1", server.strip(), max(timeout_s, 5.0))
        return
    raise BrokerUnreachable(
        f"no Kafka broker answered at {settings.bootstrap_servers} ({'; '.join(errors)}). "
        "Start one with `streamrec broker`, or pass --bootstrap-servers / set KAFKA_BOOTSTRAP_SERVERS."
    )


def _unreachable(settings: Settings, exc: Exception) -> BrokerUnreachable:
    if settings.security_protocol != "PLAINTEXT":
        # The probe got Kafka answers, so the broker is up: it refused this client.
        auth = (f"SASL {settings.sasl_mechanism} as {settings.sasl_username!r} "
                if settings.security_protocol.startswith("SASL") else "")
        return BrokerRejected(
            f"the broker at {settings.bootstrap_servers} answered but refused the connection "
            f"({type(exc).__name__}: {exc}); security_protocol {settings.security_protocol}: "
            + (f"check the {auth}credentials (STREAMREC_SASL_USERNAME, STREAMREC_SASL_PASSWORD)"
               if auth else "does the broker require SASL? set STREAMREC_SECURITY_PROTOCOL and "
               "the STREAMREC_SASL_* settings"))
    # The probe got Kafka answers a moment ago: a broker restarting, or one that wants more.
    return BrokerUnreachable(
        f"no Kafka broker answered at {settings.bootstrap_servers} ({type(exc).__name__}: {exc}). "
        "Start one with `streamrec broker`, or pass --bootstrap-servers / set KAFKA_BOOTSTRAP_SERVERS."
    )


def admin_client(settings: Settings, timeout_s: float = 15.0) -> Any:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    probe_bootstrap(settings)
    try:
        return KafkaAdminClient(
            **connection_kwargs(settings), client_id="streamrec-admin",
            request_timeout_ms=int(timeout_s * 1000), bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
        )
    except (KafkaError, OSError) as exc:
        raise _unreachable(settings, exc) from exc


def producer(settings: Settings, **overrides: Any) -> Any:
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    options: dict[str, Any] = {
        "client_id": "streamrec-cli", "linger_ms": 5, "acks": 1,
        "bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS,
        "max_request_size": settings.max_message_bytes * 11,
    }
    options.update(overrides)
    probe_bootstrap(settings)
    try:
        return KafkaProducer(**connection_kwargs(settings), **options)
    except (KafkaError, OSError) as exc:
        raise _unreachable(settings, exc) from exc


def consumer(settings: Settings, *topics: str, **overrides: Any) -> Any:
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    options: dict[str, Any] = {
        "client_id": "streamrec-cli", "fetch_max_wait_ms": settings.fetch_max_wait_ms,
        "auto_offset_reset": "latest", "enable_auto_commit": False,
        "bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS,
    }
    options.update(overrides)
    probe_bootstrap(settings)
    try:
        return KafkaConsumer(*topics, **connection_kwargs(settings), **options)
    except (KafkaError, OSError) as exc:
        raise _unreachable(settings, exc) from exc
