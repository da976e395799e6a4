"""Plain Kafka clients (kafka-python) for the CLI: admin, producer, consumer.

Every client gets its connection settings from :class:`Settings` in one place, so
security settings reach all of them.
"""

from __future__ import annotations

import socket
from typing import Any

from stream_apps.settings import Settings


class BrokerUnreachable(RuntimeError):
    """No Kafka broker answered at the configured bootstrap servers."""


def connection_kwargs(settings: Settings) -> dict[str, Any]:
    from stream_apps.security import kafka_python_kwargs

    return {"bootstrap_servers": settings.bootstrap_servers.split(","), **kafka_python_kwargs(settings)}


def probe_bootstrap(settings: Settings, timeout_s: float = 2.0) -> None:
    """Fail fast with a clear error when no bootstrap server accepts TCP connections.

    kafka-python retries a refused bootstrap for about 30 s before it gives up.
    """
    errors = []
    for server in settings.bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
                return
        except (OSError, ValueError) as exc:
            errors.append(f"{server}: {exc}")
    raise BrokerUnreachable(
        f"no Kafka broker answered at {settings.bootstrap_servers} ({'; '.join(errors)}). "
        "Start one with `streamrec broker`, or pass --bootstrap-servers / set KAFKA_BOOTSTRAP_SERVERS."
    )


def _unreachable(settings: Settings, exc: Exception) -> BrokerUnreachable:
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
            request_timeout_ms=int(timeout_s * 1000),
        )
    except (KafkaError, OSError) as exc:
        raise _unreachable(settings, exc) from exc


def producer(settings: Settings, **overrides: Any) -> Any:
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    options: dict[str, Any] = {
        "client_id": "streamrec-cli", "linger_ms": 5, "acks": 1,
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
    }
    options.update(overrides)
    probe_bootstrap(settings)
    try:
        return KafkaConsumer(*topics, **connection_kwargs(settings), **options)
    except (KafkaError, OSError) as exc:
        raise _unreachable(settings, exc) from exc
