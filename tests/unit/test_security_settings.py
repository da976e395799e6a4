"""stream_apps.kafka.security: one set of settings, translated for faust, aiokafka and kafka-python.

The TLS path runs for real in tests/integration/test_security.py; SASL cannot (the embedded
broker has no usable SASL), so here the SASL translation is checked as far as the clients'
own auth builders, which is where a wrong key name would break a real cluster.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from stream_apps.kafka.security import aiokafka_kwargs, faust_credentials, kafka_python_kwargs, ssl_context
from stream_apps.settings import Settings
from tests.integration.tls_proxy import make_pki


def sasl_ssl(ca: Path) -> Settings:
    return Settings(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                    sasl_username="streamrec", sasl_password="s3cret", ssl_cafile=str(ca))


def test_plaintext_adds_nothing() -> None:
    plain = Settings()
    assert faust_credentials(plain) is None and ssl_context(plain) is None
    assert aiokafka_kwargs(plain) == {"security_protocol": "PLAINTEXT"}
    assert kafka_python_kwargs(plain) == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_reaches_every_client_library(tmp_path: Path) -> None:
    ca = make_pki(tmp_path, "unit").ca_cert
    settings = sasl_ssl(ca)
    context = ssl_context(settings)
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.get_ca_certs()[0]["subject"] == ((("commonName", "streamrec unit CA"),),)

    creds = faust_credentials(settings)
    assert isinstance(creds, faust.SASLCredentials)
    # What Faust hands to aiokafka for its consumer and producer.
    auth = faust_aiokafka.credentials_to_aiokafka_auth(creds)
    assert auth["security_protocol"] == "SASL_SSL" and auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert auth["sasl_plain_username"] == "streamrec" and auth["sasl_plain_password"] == "s3cret"
    assert isinstance(auth["ssl_context"], ssl.SSLContext)

    direct = aiokafka_kwargs(settings)  # the groupless item-vector consumer
    assert direct["security_protocol"] == "SASL_SSL" and direct["sasl_mechanism"] == "SCRAM-SHA-512"
    assert direct["sasl_plain_username"] == "streamrec" and isinstance(direct["ssl_context"], ssl.SSLContext)

    cli = kafka_python_kwargs(settings)
    assert cli == {"security_protocol": "SASL_SSL", "ssl_cafile": str(ca), "sasl_mechanism": "SCRAM-SHA-512",
                   "sasl_plain_username": "streamrec", "sasl_plain_password": "s3cret"}
    from kafka import KafkaProducer

    unknown = set(cli) - set(KafkaProducer.DEFAULT_CONFIG)
    assert not unknown, unknown  # kafka-python rejects unknown keys only when it connects
