"""Kafka plumbing: the embedded broker, plain clients, topics, security, and the
Faust/aiokafka patches (``stream_apps.kafka.patches``) behind one version-checked boundary.

(Python 3 imports are absolute: ``import kafka`` inside this package still means
kafka-python.)
"""
