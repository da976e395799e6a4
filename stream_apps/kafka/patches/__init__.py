"""Every change streamrec makes to Faust and aiokafka internals, behind one boundary.

The patches reach private attributes of exactly the library versions pinned in
``pyproject.toml``. :func:`apply_patches` checks those versions, and that the private
attributes :mod:`.passive_stream`, :mod:`.current_event` and :mod:`.partition_watchdog` list
are still there, before it touches anything: a worker on other versions stops at start-up
with a message saying what differs, instead of running with half-applied fixes.

* :mod:`.tansu_compat`: the embedded Tansu broker's wrong latest offsets, fetch wait and
  slow group leave (``apply_kafka_compat``, ``faust_broker_settings``);
* :mod:`.faust_fixes`: failover bugs that drop events or commit past them;
* :mod:`.partition_watchdog`: notices and repairs a partition the consumer stopped reading;
* :mod:`.passive_stream`: Faust's background drain of a stream with acks left to the caller
  (``drain_passively``, for ``stream_apps.kafka.batches.take_batches``);
* :mod:`.current_event`: a batch's table writes "as" one of its events (``current_event_as``).
"""

from __future__ import annotations

from importlib import metadata

from stream_apps.kafka.patches import current_event, partition_watchdog, passive_stream
from stream_apps.kafka.patches.faust_fixes import apply_faust_fixes, faust_fixes_applied
from stream_apps.kafka.patches.tansu_compat import (
    apply_kafka_compat,
    faust_broker_settings,
    kafka_compat_applied,
)

__all__ = ["PATCHED_VERSIONS", "UnsupportedLibraryVersion", "apply_patches", "check_attributes",
           "check_versions", "faust_broker_settings", "missing_attributes", "patches_applied"]

#: The versions whose internals the patches were written against and tested on.
PATCHED_VERSIONS = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}


class UnsupportedLibraryVersion(RuntimeError):
    """An installed Faust or aiokafka is not the version the patches were written for."""


def check_versions(installed: dict[str, str] | None = None) -> None:
    """Raise :class:`UnsupportedLibraryVersion` unless every patched library is the pinned
    version (``installed`` maps package -> version; default: what is installed here)."""
    if installed is None:
        installed = {name: metadata.version(name) for name in PATCHED_VERSIONS}
    wrong = {name: installed.get(name) for name, want in PATCHED_VERSIONS.items()
             if installed.get(name) != want}
    if wrong:
        found = ", ".join(f"{name} {version}" for name, version in wrong.items())
        wanted = ", ".join(f"{name}=={PATCHED_VERSIONS[name]}" for name in wrong)
        raise UnsupportedLibraryVersion(
            f"streamrec patches private internals of {wanted}, but found {found}. "
            f"Install the pinned versions (pip install {' '.join(repr(n + '==' + PATCHED_VERSIONS[n]) for n in wrong)}); "
            "running with other versions could lose events on failover.")


def missing_attributes() -> list[str]:
    """The private attributes listed by :mod:`.passive_stream`, :mod:`.current_event` and
    :mod:`.partition_watchdog` that the installed libraries lack."""
    listed = current_event.PRIVATE_ATTRIBUTES + partition_watchdog.PRIVATE_ATTRIBUTES
    return passive_stream.missing_attributes() + [
        f"{getattr(owner, '__qualname__', getattr(owner, '__name__', owner))}.{name}"
        for owner, name in listed if not hasattr(owner, name)]


def check_attributes(missing: list[str] | None = None) -> None:
    """Raise :class:`UnsupportedLibraryVersion` if a private attribute the patches use is
    gone (``missing``: the names; default: :func:`missing_attributes`)."""
    if missing is None:
        missing = missing_attributes()
    if missing:
        raise UnsupportedLibraryVersion(
            f"streamrec uses private internals of faust-streaming that this install lacks: "
            f"{', '.join(missing)}. Install faust-streaming=={PATCHED_VERSIONS['faust-streaming']}.")


def apply_patches(fetch_max_wait_ms: int) -> None:
    """Check the library versions and private attributes, then apply every patch (idempotent)."""
    check_versions()
    check_attributes()
    apply_kafka_compat(fetch_max_wait_ms=fetch_max_wait_ms)
    apply_faust_fixes()


def patches_applied() -> bool:
    return kafka_compat_applied() and faust_fixes_applied()
