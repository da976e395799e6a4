"""engine.recommend on a small catalogue with the hashing encoder: relevance, filters,
search intent, scenes, order independence."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from engine.catalog import Catalog
from engine.config import IndexConfig, InterestConfig, RecommendConfig
from engine.encoder import HashingEncoder
from engine.events import Interaction, ItemUpsert
from engine.features import COLUMN
from engine.index import HnswIndex
from engine.interests import UserState, apply_interaction
from engine.recommend import Collaborative, Recommended, learn_categories, recommend, recommend_page
from engine.trending import Trending, TrendingConfig

ENC = HashingEncoder(dim=256)
ICFG = InterestConfig()
RCFG = RecommendConfig(k=5)
T0 = 1_732_262_400.0

CATALOGUE = {
    "coffee": ["Dark roast coffee beans", "Espresso coffee grinder", "Ceramic coffee mug",
               "Cold brew coffee maker", "Coffee filter papers", "Decaf coffee pods"],
    "shoes": ["Trail running shoes", "Leather dress shoes", "Kids canvas shoes",
              "Waterproof hiking shoes", "Shoes cleaning kit"],
    "tea": ["Green tea leaves", "Cast iron tea kettle", "Herbal tea sampler"],
    "books": ["Mystery novel paperback", "Cookbook for beginners"],
}
ITEMS = [
    ItemUpsert(item_id=f"{cat}-{i}", title=title, categories=(cat,))
    for cat, titles in CATALOGUE.items() for i, title in enumerate(titles)
]
COFFEE = {i.item_id for i in ITEMS if i.categories == ("coffee",)}
SHOES = {i.item_id for i in ITEMS if i.categories == ("shoes",)}


def build_catalog(items: list[ItemUpsert] = ITEMS) -> Catalog:
    catalog = Catalog(HnswIndex(IndexConfig(dim=ENC.dim, initial_capacity=4)))
    catalog.upsert(items, ENC.encode([i.text for i in items]), now=T0)
    return catalog


def act(state: UserState, catalog: Catalog, kind: str, ts: float, item_id: str | None = None,
        query: str | None = None, scene: str | None = None) -> UserState:
    event = Interaction(kind, "u1", ts=ts, item_id=item_id, query=query, scene=scene)
    item_vec = catalog.index.vectors([item_id])[0] if item_id in catalog else None
    query_vec = ENC.encode_query(query) if query else None
    return apply_interaction(state, event, item_vec, query_vec, ICFG)


def ids(recs: list[Recommended]) -> list[str]:
    return [r.item_id for r in recs]


@pytest.fixture
def catalog() -> Catalog:
    return build_catalog()


def coffee_fan(catalog: Catalog) -> UserState:
    state = UserState.new(ENC.dim)
    state = act(state, catalog, "click", T0, "coffee-0")
    return act(state, catalog, "click", T0 + 30, "coffee-1")


def test_a_new_user_or_an_empty_catalogue_gets_nothing(catalog: Catalog) -> None:
    assert recommend(UserState.new(ENC.dim), catalog, T0, None, ICFG, RCFG) == []
    empty = Catalog(HnswIndex(IndexConfig(dim=ENC.dim, initial_capacity=4)))
    assert recommend(coffee_fan(catalog), empty, T0, None, ICFG, RCFG) == []


def test_a_coffee_clicker_gets_coffee_first(catalog: Catalog) -> None:
    recs = recommend(coffee_fan(catalog), catalog, T0 + 60, None, ICFG, RCFG, k=8)
    got = ids(recs)
    assert len(got) == 8 and len(set(got)) == 8
    coffee_left = COFFEE - {"coffee-0", "coffee-1"}
    assert set(got[:len(coffee_left)]) == coffee_left
    scores = [r.score for r in recs]
    assert scores == sorted(scores, reverse=True)
    assert all(r.reason.startswith("similar to ") for r in recs[:4])
    assert "Espresso coffee grinder" in recs[0].reason or "Dark roast" in recs[0].reason


def test_k_is_respected_and_capped(catalog: Catalog) -> None:
    state = coffee_fan(catalog)
    assert len(recommend(state, catalog, T0 + 60, None, ICFG, RCFG)) == RCFG.k
    assert len(recommend(state, catalog, T0 + 60, None, ICFG, RCFG, k=2)) == 2
    capped = RecommendConfig(k=2, max_k=3)
    assert len(recommend(state, catalog, T0 + 60, None, ICFG, capped, k=50)) == 3


def test_recently_clicked_items_are_not_recommended_unless_allowed(catalog: Catalog) -> None:
    state = coffee_fan(catalog)
    excluded = ids(recommend(state, catalog, T0 + 60, None, ICFG, RCFG))
    assert not {"coffee-0", "coffee-1"} & set(excluded)
    allow = RecommendConfig(k=5, exclude_recent=False)
    allowed = ids(recommend(state, catalog, T0 + 60, None, ICFG, allow))
    assert {"coffee-0", "coffee-1"} <= set(allowed)


def test_purchased_items_are_never_recommended(catalog: Catalog) -> None:
    allow_recent = RecommendConfig(k=20, exclude_recent=False)
    state = coffee_fan(catalog)
    state = act(state, catalog, "purchase", T0 + 40, "coffee-2")
    got = ids(recommend(state, catalog, T0 + 60, None, ICFG, allow_recent, k=20))
    assert "coffee-2" not in got
    assert {"coffee-0", "coffee-1"} <= set(got)  # recent, not bought: allowed here
    assert len(got) == len(ITEMS) - 1


def test_unavailable_items_are_never_recommended(catalog: Catalog) -> None:
    state = coffee_fan(catalog)
    before = ids(recommend(state, catalog, T0 + 60, None, ICFG, RCFG))
    assert "coffee-3" in before
    catalog.upsert([ItemUpsert("coffee-3", "Cold brew coffee maker", categories=("coffee",),
                               available=False)],
                   ENC.encode(["Cold brew coffee maker. coffee"]), now=T0 + 50)
    after = ids(recommend(state, catalog, T0 + 60, None, ICFG, RCFG, k=len(ITEMS)))
    assert "coffee-3" not in after and len(after) == len(ITEMS) - 3


def test_deleted_items_are_never_recommended(catalog: Catalog) -> None:
    state = coffee_fan(catalog)
    assert "coffee-4" in ids(recommend(state, catalog, T0 + 60, None, ICFG, RCFG))
    assert catalog.delete(["coffee-4", "coffee-5"]) == 2
    after = ids(recommend(state, catalog, T0 + 60, None, ICFG, RCFG, k=len(ITEMS)))
    assert not {"coffee-4", "coffee-5"} & set(after)
    assert len(after) == len(ITEMS) - 4
    # Slots are reused by new items; the deleted ones stay gone.
    extra = [ItemUpsert(f"new-{i}", f"Coffee gift set {i}", categories=("coffee",))
             for i in range(2)]
    catalog.upsert(extra, ENC.encode([i.text for i in extra]), now=T0 + 70)
    again = ids(recommend(state, catalog, T0 + 80, None, ICFG, RCFG, k=len(ITEMS)))
    assert not {"coffee-4", "coffee-5"} & set(again) and {"new-0", "new-1"} <= set(again)


def test_a_search_shifts_results_toward_the_query(catalog: Catalog) -> None:
    state = UserState.new(ENC.dim)
    for i, item in enumerate(["shoes-0", "shoes-1", "shoes-3"]):
        state = act(state, catalog, "click", T0 + i, item)
    everything = len(ITEMS)
    before = {r.item_id: r.score
              for r in recommend(state, catalog, T0 + 10, None, ICFG, RCFG, k=everything)}
    state = act(state, catalog, "search", T0 + 20, query="tea")
    query_vec = ENC.encode_query("tea")
    after = recommend(state, catalog, T0 + 30, None, ICFG, RCFG, query_vector=query_vec)
    tea = [r for r in after if r.item_id.startswith("tea-")]
    assert len(tea) == 3  # every tea item moved into the top 5
    assert all(r.score > before[r.item_id] + 0.3 for r in tea)
    assert all(r.reason == "because you searched 'tea' just now" for r in tea)
    assert not any(r.reason.startswith("because you searched") for r in after if r.item_id in SHOES)
    # With a weaker history the query leads outright.
    one_click = act(UserState.new(ENC.dim), catalog, "click", T0, "shoes-0")
    searched = act(one_click, catalog, "search", T0 + 20, query="tea")
    top = recommend(searched, catalog, T0 + 30, None, ICFG, RCFG, query_vector=query_vec)
    assert top[0].item_id.startswith("tea-")
    assert top[0].reason == "because you searched 'tea' just now"


def test_an_old_search_stops_being_the_reason(catalog: Catalog) -> None:
    state = act(coffee_fan(catalog), catalog, "search", T0 + 40, query="coffee mug")
    query_vec = ENC.encode_query("coffee mug")
    fresh = recommend(state, catalog, T0 + 50, None, ICFG, RCFG, query_vector=query_vec)
    assert any(r.reason == "because you searched 'coffee mug' just now" for r in fresh)
    state = act(state, catalog, "click", T0 + 10 * 86400, "coffee-3")  # ten days later
    stale = recommend(state, catalog, T0 + 10 * 86400 + 5, None, ICFG, RCFG, query_vector=query_vec)
    assert not any("search" in r.reason for r in stale)


def test_the_scene_changes_the_ranking(catalog: Catalog) -> None:
    state = UserState.new(ENC.dim)
    # Interleaved, so neither interest is clearly newer: only the scene tips the balance.
    for i, (coffee, shoe) in enumerate([("coffee-0", "shoes-0"), ("coffee-1", "shoes-1")]):
        state = act(state, catalog, "click", T0 + 2 * i, coffee, scene="kitchen")
        state = act(state, catalog, "click", T0 + 2 * i + 1, shoe, scene="outdoor")
    kitchen = ids(recommend(state, catalog, T0 + 10, "kitchen", ICFG, RCFG, k=4))
    outdoor = ids(recommend(state, catalog, T0 + 10, "outdoor", ICFG, RCFG, k=4))
    assert kitchen != outdoor
    assert set(kitchen[:3]) <= COFFEE
    assert set(outdoor[:3]) <= SHOES


def test_ranking_does_not_depend_on_event_order(catalog: Catalog) -> None:
    steps = [("click", "coffee-0", None), ("click", "tea-0", None),
             ("purchase", "coffee-2", None), ("search", None, "herbal tea"),
             ("click", "shoes-1", None), ("click", "coffee-4", None)]
    timed = [(T0 + 100 * i, *step) for i, step in enumerate(steps)]
    query_vec = ENC.encode_query("herbal tea")

    def run(order: list) -> list[Recommended]:
        state = UserState.new(ENC.dim)
        for ts, kind, item, query in order:
            state = act(state, catalog, kind, ts, item, query=query)
        return recommend(state, catalog, T0 + 1000, None, ICFG, RCFG, k=8, query_vector=query_vec)

    reference = run(timed)
    assert len(reference) == 8
    for seed in range(6):
        shuffled = timed[:]
        random.Random(seed).shuffle(shuffled)
        recs = run(shuffled)
        assert ids(recs) == ids(reference)
        np.testing.assert_allclose([r.score for r in recs], [r.score for r in reference], atol=1e-4)


def test_recommend_does_not_mutate_the_state(catalog: Catalog) -> None:
    state = coffee_fan(catalog)
    long_before, recent_before = state.long.vector.copy(), state.recent_items
    recommend(state, catalog, T0 + 60, None, ICFG, RCFG)
    np.testing.assert_array_equal(state.long.vector, long_before)
    assert state.recent_items == recent_before and len(catalog) == len(ITEMS)


# --- several candidate sources, the scorer, fatigue, diversity, exploration ---------

def test_trending_and_fresh_items_reach_the_page_tagged_with_their_source(catalog: Catalog) -> None:
    from engine.features import COLUMN
    from engine.recommend import Collaborative
    from engine.trending import Trending

    trending = Trending()
    trending.record("books-1", "home", 5.0, T0)
    fresh = [ItemUpsert("new-kettle", "Glass tea kettle", categories=("tea",), ts=T0 + 50)]
    catalog.upsert(fresh, ENC.encode([i.text for i in fresh]), now=T0 + 50)
    config = RecommendConfig(k=len(ITEMS) + 1, max_k=50, overfetch=1, mmr_strength=0.0)
    recs = {r.item_id: r for r in recommend(coffee_fan(catalog), catalog, T0 + 60, "home", ICFG, config,
                                            collaborative=Collaborative(trending=trending))}
    features = recs["books-1"].features
    assert features is not None and features[COLUMN["src_trending"]] == 1
    assert features[COLUMN["log_trending"]] > 0
    kettle = recs["new-kettle"].features
    assert kettle is not None and kettle[COLUMN["src_fresh"]] == 1
    assert kettle[COLUMN["log_age_h"]] == pytest.approx(np.log1p(10 / 3600) / 8, abs=1e-6)


def test_a_scorer_decides_the_order_and_items_shown_too_often_are_filtered(catalog: Catalog) -> None:
    from engine.features import COLUMN

    class PreferFatigue:
        version = 7

        def score(self, features: np.ndarray) -> np.ndarray:
            return features[:, COLUMN["log_fatigue"]].astype(np.float32)

    state = coffee_fan(catalog)
    config = RecommendConfig(k=3, mmr_strength=0.0, max_shown=5.0)
    shown = {"tea-2": 2.0, "books-0": 1.0, "coffee-2": 5.0}
    recs = recommend(state, catalog, T0 + 60, None, ICFG, config, scorer=PreferFatigue(), shown=shown)
    assert ids(recs)[:2] == ["tea-2", "books-0"]  # the scorer's order, not the cosine's
    default = recommend(state, catalog, T0 + 60, None, ICFG, config, shown=shown)
    assert "coffee-2" not in ids(recs) + ids(default)  # shown 5 times: filtered
    assert ids(default)[0] in COFFEE


def test_mmr_spreads_a_page_over_categories_and_exploration_is_seeded(catalog: Catalog) -> None:
    state = coffee_fan(catalog)
    plain = recommend(state, catalog, T0 + 60, None, ICFG, RecommendConfig(k=4, mmr_strength=0.0))
    capped = recommend(state, catalog, T0 + 60, None, ICFG,
                       RecommendConfig(k=4, mmr_strength=0.0, max_per_category=2))
    assert sum(i in COFFEE for i in ids(plain)) == 4
    assert sum(i in COFFEE for i in ids(capped)) == 2 and len(capped) == 4
    spread = recommend(state, catalog, T0 + 60, None, ICFG, RecommendConfig(k=4, mmr_strength=0.9))
    assert sum(i in COFFEE for i in ids(spread)) < 4
    config = RecommendConfig(k=4, explore_share=0.5)
    runs = [recommend(state, catalog, T0 + 60, None, ICFG, config, rng=np.random.default_rng(3))
            for _ in range(2)]
    assert ids(runs[0]) == ids(runs[1])  # the same seed, the same page
    explored = [r for r in runs[0] if r.explored]
    assert len(explored) == 2 and not runs[0][0].explored  # the top slot is protected
    no_rng = recommend(state, catalog, T0 + 60, None, ICFG, config)
    assert not any(r.explored for r in no_rng)


def test_popular_items_of_the_users_categories_are_candidates_with_their_popularity(catalog: Catalog) -> None:
    categories = Trending(TrendingConfig(half_life_s=86400.0))
    collab = Collaborative(categories=categories)
    # Others bought decaf pods (coffee) three times and the tea sampler once.
    for n, item in enumerate(["coffee-5", "coffee-5", "coffee-5", "tea-2", "coffee-3"]):
        info = catalog.get(item)
        assert info is not None
        learn_categories(collab, info.categories, Interaction("click", f"o{n}", ts=T0, item_id=item), ICFG)
    page = recommend_page(coffee_fan(catalog), catalog, T0 + 60, None, ICFG, replace(RCFG, k=10),
                          collaborative=collab)
    rows = {item: page.features[i] for i, item in enumerate(page.candidates)} if page.features is not None else {}
    assert rows["coffee-5"][COLUMN["src_category"]] == 1.0
    # The user's only category is coffee (share 1): decaf pods are its best, 1.0; coffee-3 a third.
    assert rows["coffee-5"][COLUMN["category_pop"]] == pytest.approx(1.0)
    assert rows["coffee-3"][COLUMN["category_pop"]] == pytest.approx(1 / 3, abs=1e-4)
    assert all(rows[i][COLUMN["category_pop"]] == 0.0 for i in rows if not i.startswith("coffee"))
    # Switched off, the source proposes nothing.
    off = recommend_page(coffee_fan(catalog), catalog, T0 + 60, None, ICFG,
                         replace(RCFG, k=10, category_candidates=0), collaborative=collab)
    if off.features is not None:
        assert not off.features[:, COLUMN["src_category"]].any()

