"""A synthetic stream with a known answer, for ``streamrec evaluate synthetic[:...]``.

Users with hidden tastes (:class:`stream_apps.tools.simulate.TrafficSimulator`: each likes
1-3 top categories of the built-in catalogue, clicks popular items of them, follows the
sub-category of the last item on product pages, searches and buys what they clicked)
produce organic traffic at ``rate`` events per second of event time. The answer is known:
a recommender that learns each user's taste (and the items that go together) ranks the
next item high; one that does not, cannot. The stream is a function of its spec: the same
``users``, ``events``, ``rate`` and ``seed`` give the same events.

Spec: ``synthetic`` or ``synthetic:users=600,events=40000,rate=20,seed=11``.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import InvalidEvent
from engine.events import Interaction, ItemUpsert, parse_event, parse_item
from stream_apps.tools.catalogue import load_builtin_catalogue
from stream_apps.tools.simulate import TrafficSimulator

START_TS = 1_767_225_600.0  # 2026-01-01 UTC: any fixed origin; the stream only needs order


@dataclass(frozen=True)
class SyntheticSpec:
    """How many users and events, their rate in events per second, and the seed."""

    users: int = 600
    events: int = 40_000
    rate: float = 20.0
    seed: int = 11

    @classmethod
    def parse(cls, spec: str) -> SyntheticSpec:
        """``"synthetic"`` or ``"synthetic:users=100,events=5000"``.

        >>> SyntheticSpec.parse("synthetic:users=100,events=5000")
        SyntheticSpec(users=100, events=5000, rate=20.0, seed=11)
        """
        name, _, rest = spec.partition(":")
        if name != "synthetic":
            raise ValueError(f"not a synthetic spec: {spec!r}")
        values: dict[str, float] = {}
        for part in (p.strip() for p in rest.split(",") if p.strip()):
            key, _, value = part.partition("=")
            if key not in ("users", "events", "rate", "seed"):
                raise ValueError(f"{spec!r}: unknown key {key!r} (users, events, rate, seed)")
            try:
                values[key] = float(value)
            except ValueError:
                raise ValueError(f"{spec!r}: {key}={value!r} is not a number") from None
        out = cls(users=int(values.get("users", cls.users)), events=int(values.get("events", cls.events)),
                  rate=values.get("rate", cls.rate), seed=int(values.get("seed", cls.seed)))
        if out.users < 1 or out.events < 1 or not out.rate > 0:
            raise ValueError(f"{spec!r}: users and events must be >= 1 and rate > 0")
        return out

    @property
    def name(self) -> str:
        return f"synthetic-u{self.users}-e{self.events}-s{self.seed}"


def is_synthetic(spec: str) -> bool:
    return spec == "synthetic" or spec.startswith("synthetic:")


def synthetic_stream(spec: SyntheticSpec) -> tuple[list[ItemUpsert], list[Interaction]]:
    """The built-in catalogue and ``spec.events`` organic events in time order."""
    catalogue = load_builtin_catalogue()
    items = [item for item in (parse_item(i) for i in catalogue) if isinstance(item, ItemUpsert)]
    sim = TrafficSimulator(catalogue, n_users=spec.users, seed=spec.seed)
    events: list[Interaction] = []
    per_tick = max(int(round(spec.rate)), 1)  # one batch per second of event time
    second = 0
    while len(events) < spec.events:
        now = START_TS + second
        for raw in sim.next_events(now, min(per_tick, spec.events - len(events))):
            try:
                event = parse_event(str(raw["type"]), raw, now)
            except InvalidEvent as exc:  # the simulator writes the contract: a bug, say so
                raise RuntimeError(f"the simulator wrote an invalid event {raw!r}: {exc}") from exc
            if isinstance(event, Interaction):
                events.append(event)
        second += 1
    return items, events
