"""streamrec's recommendation core: pure Python, numpy and torch, no Kafka.

Everything here takes plain dicts, dataclasses and arrays, and receives time and
randomness as parameters, so it can be tested, replayed and evaluated without a broker.
"""
