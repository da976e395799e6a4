"""Hypothesis properties of the engine: interest vectors stay sane, parsing only ever
raises InvalidEvent, and recommendations never include excluded items."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.catalog import Catalog
from engine.config import IndexConfig, InterestConfig, RecommendConfig
from engine.encoder import HashingEncoder
from engine.errors import InvalidEvent
from engine.events import EVENT_KINDS, Interaction, ItemUpsert, parse_event, parse_item
from engine.index import HnswIndex
from engine.interests import UserState, apply_interaction, interest_at
from engine.recommend import recommend

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DIM = 8
NOW = 1_732_262_400.0

# --- interest vectors -------------------------------------------------------------------

finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=32)
vectors = st.lists(finite, min_size=DIM, max_size=DIM).map(lambda v: np.asarray(v, np.float32))
timestamps = st.floats(0, 3e9, allow_nan=False)


@st.composite
def interactions(draw: st.DrawFn) -> tuple[Interaction, np.ndarray | None, np.ndarray | None]:
    kind = draw(st.sampled_from(["click", "search", "purchase"]))
    event = Interaction(
        kind, "u1", ts=draw(timestamps),
        item_id=None if kind == "search" else draw(st.sampled_from(["a", "b", "c", "d"])),
        query="q" if kind == "search" else None,
        scene=draw(st.sampled_from([None, "home", "cart", "video"])),
        event_id=draw(st.none() | st.sampled_from([f"e{i}" for i in range(10)])),
        quantity=draw(st.integers(1, 9)),
    )
    vec = draw(vectors)
    if kind == "search":
        return event, draw(st.none() | vectors), vec
    return event, draw(st.none() | st.just(vec)), None


def _check_view(state: UserState, now: float, scene: str | None, config: InterestConfig) -> None:
    view = interest_at(state, now, scene, config)
    for vec in (view.blended, view.long, view.short):
        assert vec.shape == (DIM,) and np.all(np.isfinite(vec))
    norm = float(np.linalg.norm(view.blended))
    assert norm == 0.0 or math.isclose(norm, 1.0, abs_tol=1e-5), norm
    assert 0.0 <= view.short_strength < 1.0 + 1e-9 and 0.0 <= view.scene_strength < 1.0 + 1e-9


@FAST
@given(events=st.lists(interactions(), max_size=25), now=timestamps,
       scene=st.sampled_from([None, "home", "cart", "video", "unseen"]),
       blends=st.tuples(st.floats(0, 3), st.floats(0, 3), st.floats(0, 3)))
def test_interest_vectors_stay_finite_and_blended_is_unit_or_zero(
    events: list, now: float, scene: str | None, blends: tuple[float, float, float],
) -> None:
    config = InterestConfig(long_blend=blends[0], short_blend=blends[1], scene_blend=blends[2])
    state = UserState.new(DIM)
    for event, item_vec, query_vec in events:
        item_copy = None if item_vec is None else item_vec.copy()
        query_copy = None if query_vec is None else query_vec.copy()
        long_before = state.long.vector.copy()
        new = apply_interaction(state, event, item_vec, query_vec, config)
        # No function changes its inputs.
        np.testing.assert_array_equal(state.long.vector, long_before)
        if item_copy is not None:
            np.testing.assert_array_equal(item_vec, item_copy)
        if query_copy is not None:
            np.testing.assert_array_equal(query_vec, query_copy)
        state = new
        for dv in (state.long, state.short, *state.scenes.values()):
            assert np.all(np.isfinite(dv.vector)) and dv.vector.dtype == np.float32
        assert len(state.scenes) <= config.max_scenes
        assert len(state.recent_items) <= config.recent_items
        assert len(state.purchased) <= config.max_purchased
        _check_view(state, now, scene, config)
        _check_view(state, state.last_ts, scene, config)


# --- parsing ------------------------------------------------------------------------

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.integers(-(10**400), 10**400)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
    | st.sampled_from(["", " ", "2024-11-22T08:00:00Z", "2024-13-01", "1732262400",
                       "x" * 3000, "sku-1"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (st.lists(inner, max_size=4)
                   | st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=10,
)
FIELDS = ["user_id", "item_id", "ts", "query", "scene", "event_id", "rec_id", "quantity",
          "price", "item_ids", "title", "description", "categories", "available", "deleted"]
messages = st.one_of(
    json_values,
    st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), json_values, max_size=10),
    # Mostly-valid messages with one field replaced by anything.
    st.builds(lambda field, value: {"user_id": "u1", "item_id": "sku-1", "query": "q",
                                    "item_ids": ["a"], "title": "t", field: value},
              st.sampled_from(FIELDS), json_values),
)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from([*EVENT_KINDS, "like", ""]), message=messages)
def test_parse_event_raises_nothing_but_invalid_event(kind: str, message: object) -> None:
    try:
        event = parse_event(kind, message, now=NOW)
    except InvalidEvent as exc:
        assert str(exc)
        return
    assert event.user_id.strip() and math.isfinite(event.ts) and 0 <= event.ts <= NOW + 86400


@settings(max_examples=200, deadline=None)
@given(message=messages | st.none(), key=st.none() | st.text(max_size=10))
def test_parse_item_raises_nothing_but_invalid_event(message: object, key: str | None) -> None:
    try:
        item = parse_item(message, key=key)
    except InvalidEvent as exc:
        assert str(exc)
        return
    assert item.item_id
    if isinstance(item, ItemUpsert):
        assert item.text.strip() and all(isinstance(c, str) and c for c in item.categories)


# --- recommendations ------------------------------------------------------------------

ENC = HashingEncoder(dim=64)
ITEM_IDS = [f"sku-{i:03d}" for i in range(24)]
TITLES = [f"{a} {b}" for a in ("red", "blue", "green", "black", "white", "small")
          for b in ("coffee mug", "running shoes", "tea kettle", "desk lamp")]
ITEM_VECTORS = ENC.encode(TITLES)


@FAST
@given(
    steps=st.lists(st.tuples(st.sampled_from(["click", "purchase"]), st.integers(0, 23),
                             st.floats(0, 1e6)), min_size=1, max_size=20),
    unavailable=st.sets(st.integers(0, 23), max_size=8),
    deleted=st.sets(st.integers(0, 23), max_size=8),
    exclude_recent=st.booleans(),
    k=st.integers(1, 30),
)
def test_recommend_never_returns_excluded_items(
    steps: list, unavailable: set[int], deleted: set[int], exclude_recent: bool, k: int,
) -> None:
    catalog = Catalog(HnswIndex(IndexConfig(dim=ENC.dim, initial_capacity=4)))
    items = [ItemUpsert(item_id, title, available=i not in unavailable)
             for i, (item_id, title) in enumerate(zip(ITEM_IDS, TITLES))]
    catalog.upsert(items, ITEM_VECTORS, now=NOW)
    catalog.delete([ITEM_IDS[i] for i in deleted])
    config = InterestConfig()
    state = UserState.new(ENC.dim)
    for kind, i, dt in steps:
        vec = ITEM_VECTORS[i] if ITEM_IDS[i] in catalog else None
        state = apply_interaction(state, Interaction(kind, "u", ts=NOW + dt, item_id=ITEM_IDS[i]),
                                  vec, None, config)
    rconfig = RecommendConfig(k=10, max_k=30, exclude_recent=exclude_recent, mmr_strength=0.0)
    recs = recommend(state, catalog, NOW + 2e6, None, config, rconfig, k=k)
    got = [r.item_id for r in recs]
    excluded = set(state.purchased) | {ITEM_IDS[i] for i in unavailable | deleted}
    if exclude_recent:
        excluded |= set(state.recent_items)
    assert not excluded & set(got)
    assert len(got) == len(set(got)) <= k
    assert all(item_id in catalog for item_id in got)
    scores = [r.score for r in recs]
    assert scores == sorted(scores, reverse=True)
    # Nothing allowed is left out when there is room for it (the catalogue is tiny).
    allowed = set(ITEM_IDS) - excluded
    if np.any(interest_at(state, NOW + 2e6, None, config).blended):
        assert len(got) == min(k, len(allowed))
