"""One root for every error the engine raises on purpose."""

from __future__ import annotations


class EngineError(Exception):
    """Root of streamrec's engine errors."""


class InvalidEvent(EngineError, ValueError):
    """A message failed validation; the message names the field and the bad value."""


class DimensionMismatch(EngineError, ValueError):
    """A vector does not have the dimension the index or encoder expects."""


class IndexFull(EngineError):
    """The index cannot grow past its configured maximum capacity."""
