"""Kafka TLS and SASL settings, translated once for each client library we use.

The worker's Faust consumer and producer, its groupless item-vector consumer, and the
CLI's kafka-python clients all connect with the same :class:`Settings`.
"""

from __future__ import annotations

import ssl
from typing import Any

from stream_apps.settings import Settings


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if "SSL" not in settings.security_protocol:
        return None
    context = ssl.create_default_context(cafile=settings.ssl_cafile or None)
    if settings.ssl_certfile:
        context.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile or None)
    return context


def faust_credentials(settings: Settings) -> Any:
    """``broker_credentials`` for ``faust.App`` (None for PLAINTEXT)."""
    import faust

    context = ssl_context(settings)
    if settings.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.sasl_username, password=settings.sasl_password,
            mechanism=settings.sasl_mechanism, ssl_context=context)
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def aiokafka_kwargs(settings: Settings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"security_protocol": settings.security_protocol}
    context = ssl_context(settings)
    if context is not None:
        kwargs["ssl_context"] = context
    if settings.security_protocol.startswith("SASL"):
        kwargs.update(sasl_mechanism=settings.sasl_mechanism,
                      sasl_plain_username=settings.sasl_username,
                      sasl_plain_password=settings.sasl_password)
    return kwargs


def kafka_python_kwargs(settings: Settings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"security_protocol": settings.security_protocol}
    if "SSL" in settings.security_protocol:
        kwargs.update({k: v for k, v in (("ssl_cafile", settings.ssl_cafile),
                                         ("ssl_certfile", settings.ssl_certfile),
                                         ("ssl_keyfile", settings.ssl_keyfile)) if v})
    if settings.security_protocol.startswith("SASL"):
        kwargs.update(sasl_mechanism=settings.sasl_mechanism,
                      sasl_plain_username=settings.sasl_username,
                      sasl_plain_password=settings.sasl_password)
    return kwargs
