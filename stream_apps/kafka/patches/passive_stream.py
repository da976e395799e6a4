"""Drain a Faust stream in the background, its acks left to the caller: the set-up Faust's
``Stream.take_events`` does before its loop, for :func:`stream_apps.kafka.batches.take_batches`.

Faust has no public call for it: ``take_events`` starts the background drain with the
private ``Stream._enable_passive``, listed in :data:`PRIVATE_ATTRIBUTES` so that
:func:`stream_apps.kafka.patches.apply_patches` stops a worker at start-up if it is gone.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from faust import Stream

__all__ = ["PRIVATE_ATTRIBUTES", "drain_passively", "missing_attributes"]

#: (owner, attribute) pairs this module relies on beyond Faust's public API.
PRIVATE_ATTRIBUTES: tuple[tuple[Any, str], ...] = ((Stream, "_enable_passive"),)


def missing_attributes() -> list[str]:
    """The attributes :func:`drain_passively` uses that the installed Faust lacks."""
    missing = [f"{owner.__qualname__}.{name}" for owner, name in PRIVATE_ATTRIBUTES
               if not hasattr(owner, name)]
    if "enable_acks" not in inspect.signature(Stream.__init__).parameters:
        missing.append("Stream.enable_acks")  # an instance attribute: Faust's constructor takes it
    return missing


def drain_passively(stream: Any, processor: Callable[[Any], Awaitable[Any]]) -> None:
    """Run ``processor`` on every value of ``stream`` in a background task of the stream
    (as ``take_events`` does), with automatic acks off: the caller acks each event
    (``stream.ack``) once it was handled."""
    stream.enable_acks = False
    stream.add_processor(processor)
    stream._enable_passive(aiter(stream.channel))
