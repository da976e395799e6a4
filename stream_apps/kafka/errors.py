"""Why a Kafka connection failed: shared by the plain clients and the connection probe."""

from __future__ import annotations


class BrokerUnreachable(RuntimeError):
    """No Kafka broker answered at the configured bootstrap servers."""


class BrokerRejected(BrokerUnreachable):
    """A broker answered but the connection failed on security (TLS, SASL): retrying
    does not help, the settings must change. Workers exit on it instead of waiting."""
