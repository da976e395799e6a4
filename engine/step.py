"""One event of one user, as a pure step: the user's state before, the event and the
vectors it names in; the state after and what else must happen out.

The interactions agent reads the state, looks up the vectors, calls :func:`handle_event`
once with one ``now``, then carries out the :class:`Effects`: count a duplicate, join an
action to its page's feedback, learn co-visitation and trending from the event (against
the state *before* it), store the new state, serve a new page. Everything that decides
is here, testable without Kafka; the agent only moves bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.config import ConfigError, InterestConfig
from engine.events import Impression, Interaction
from engine.interests import UserState, apply_interaction, record_shown, seen_at
from engine.types import Vector

__all__ = ["Effects", "StepConfig", "handle_event"]


@dataclass(frozen=True)
class StepConfig:
    """What a step needs besides the event: interest decay and weights, and the fatigue
    counts' half-life and bound (:func:`engine.interests.record_shown`)."""

    interest: InterestConfig = InterestConfig()
    shown_half_life_s: float = 6 * 3600.0  # as engine.feedback.FeedbackConfig
    max_shown_items: int = 64

    def __post_init__(self) -> None:
        if not self.shown_half_life_s > 0 or self.max_shown_items < 1:
            raise ConfigError("shown_half_life_s must be > 0 and max_shown_items >= 1, got "
                              f"{self.shown_half_life_s!r}, {self.max_shown_items!r}")


@dataclass(frozen=True)
class Effects:
    """What the worker does besides storing the returned state.

    ``duplicate``: a redelivered event (same ``event_id``), nothing changed.
    ``feedback``: ``(rec_id, item_id, kind)`` of an action on a served page.
    ``learn``: the event teaches co-visitation and trending (a known item, not a replay);
    learn it against the state before the event (its recent items are the co-visited ones).
    ``serve``: the user's interests moved: publish a new page.
    """

    duplicate: bool = False
    feedback: tuple[str, str, str] | None = None
    learn: bool = False
    serve: bool = False


DUPLICATE = Effects(duplicate=True)


def handle_event(state: UserState | None, event: Interaction | Impression, item_vector: Vector | None,
                 query_vector: Vector | None, dim: int | None, config: StepConfig, now: float,
                 ) -> tuple[UserState | None, Effects]:
    """The user's state after ``event`` (``None``: nothing to store) and its effects.

    ``state`` is the stored state (``None`` for a new user), ``item_vector`` the embedding
    of ``event.item_id`` (``None`` when the item is not in the index), ``query_vector`` the
    search query's, ``dim`` the index dimension (``None`` before any item is indexed), and
    ``now`` the worker's clock, read once for the event (eviction goes by it). Neither
    the state nor the event is changed.

    >>> import numpy as np
    >>> click = Interaction("click", "u1", 10.0, item_id="mug", event_id="e1", rec_id="r1")
    >>> mug = np.array([1.0, 0.0], dtype=np.float32)
    >>> state, fx = handle_event(None, click, mug, None, 2, StepConfig(), now=99.0)
    >>> state.recent_items, state.last_seen, fx.learn, fx.serve, fx.feedback
    (('mug',), 99.0, True, True, ('r1', 'mug', 'click'))
    >>> handle_event(state, click, mug, None, 2, StepConfig(), now=100.0)[1].duplicate
    True
    """
    if state is not None and state.has_seen(event.event_id):
        return None, DUPLICATE
    if isinstance(event, Impression):
        return _impression(state, event, dim, config, now)
    feedback = ((event.rec_id, event.item_id, event.kind)
                if event.rec_id and event.item_id else None)
    learn = item_vector is not None  # unknown ids would only fill the counts with noise
    if state is None:
        known = next((int(v.shape[0]) for v in (item_vector, query_vector) if v is not None), None)
        if known is None:  # an unknown item for an unknown user: nothing to keep yet
            return None, Effects(feedback=feedback)
        state = UserState.new(known)
    new_state = seen_at(apply_interaction(state, event, item_vector, query_vector, config.interest), now)
    # History changed either way; interests only with a vector, and only then a new page.
    moved = item_vector is not None or query_vector is not None
    return new_state, Effects(feedback=feedback, learn=learn, serve=moved)


def _impression(state: UserState | None, event: Impression, dim: int | None, config: StepConfig,
                now: float) -> tuple[UserState | None, Effects]:
    """Shown items count toward the user's fatigue, in the state (shown before any
    action still counts); interests do not move, so no page."""
    if state is None:
        if dim is None:
            return None, Effects()  # no catalogue yet: nothing could have been shown
        state = UserState.new(dim)
    shown = record_shown(state, event.item_ids, event.ts, event.event_id, config.shown_half_life_s,
                         config.max_shown_items, config.interest)
    return seen_at(shown, now), Effects()
