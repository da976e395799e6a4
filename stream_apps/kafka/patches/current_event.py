"""Table writes for an event of a batch taken with ``Stream.take_events``.

A Faust table writes a key's changelog record to the partition of the *current* event
(``faust.streams.current_event()``, a context variable set while a stream iterates one
event). A batch is handled after its events were taken, when there is no current event
(``TypeError: Cannot modify table key from outside of stream iteration``). Writing a
user's state "as" one of that user's events of the batch puts the record on the same
partition as the per-event path did (events and table are co-partitioned by user).

Faust has no public setter for the current event: the private context variable is listed
in :data:`PRIVATE_ATTRIBUTES`, which :func:`stream_apps.kafka.patches.apply_patches`
checks at start-up.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust import streams as faust_streams

__all__ = ["PRIVATE_ATTRIBUTES", "current_event_as"]

#: (owner, attribute) pairs this module relies on beyond Faust's public API.
PRIVATE_ATTRIBUTES: tuple[tuple[Any, str], ...] = ((faust_streams, "_current_event"),)


@contextmanager
def current_event_as(event: Any) -> Iterator[None]:
    """Make ``event`` Faust's current event inside the ``with`` block."""
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)
