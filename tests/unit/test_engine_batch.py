"""engine.batch.recommend_batch gives every request the page recommend_page gives it alone:
same items, scores, reasons, exploration and candidates, on a real HNSW index with
co-visitation, trending, searches, scenes, fatigue and cold starts in one batch."""

from __future__ import annotations

import numpy as np
import pytest

from engine.batch import PageRequest, recommend_batch
from engine.catalog import Catalog
from engine.config import IndexConfig, InterestConfig, RecommendConfig
from engine.covisit import Covisitation
from engine.events import Interaction, ItemUpsert
from engine.features import N_FEATURES
from engine.index import HnswIndex
from engine.interests import UserState, apply_interaction
from engine.ranker import OnlineRanker, RankerConfig
from engine.recommend import Collaborative, Page, learn_collaborative, recommend_page
from engine.trending import Trending

DIM = 32
T0 = 1_732_262_400.0
ICFG = InterestConfig()
SCENES = (None, "home", "search", "cart")


def build(ef_search: int, seed: int = 0) -> tuple[Catalog, Collaborative, list[PageRequest]]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((8, DIM)).astype(np.float32)
    which = rng.integers(0, 8, 400)
    vectors = centres[which] + 0.4 * rng.standard_normal((400, DIM)).astype(np.float32)
    items = [ItemUpsert(item_id=f"i{n}", title=f"item {n}", categories=(f"c{which[n]}",),
                        available=n % 37 != 0) for n in range(400)]
    catalog = Catalog(HnswIndex(IndexConfig(dim=DIM, initial_capacity=64, ef_search=ef_search)))
    catalog.upsert(items, vectors, now=T0 - 3600)
    catalog.upsert(items[390:], vectors[390:], now=T0)  # re-sent: not fresh again
    collab = Collaborative(Covisitation(), Trending())
    requests: list[PageRequest] = []
    for u in range(24):
        state = UserState.new(DIM)
        for n in range(int(rng.integers(1, 14))):
            item = f"i{int(rng.integers(0, 400))}"
            kind = ("click", "purchase", "search")[int(rng.integers(0, 3))] if n else "click"
            query_vec = rng.standard_normal(DIM).astype(np.float32) if kind == "search" else None
            if query_vec is not None:
                query_vec /= np.linalg.norm(query_vec)
            event = Interaction(kind, f"u{u}", ts=T0 + 10 * n, item_id=item,
                                query="something" if kind == "search" else None,
                                scene=SCENES[(u + n) % 4], event_id=f"e{u}-{n}")
            learn_collaborative(collab, state, event, ICFG)
            state = apply_interaction(state, event, catalog.index.vectors([item])[0], query_vec, ICFG)
        query = (rng.standard_normal(DIM).astype(np.float32) if state.last_query else None)
        shown = {f"i{int(j)}": float(rng.integers(0, 9)) for j in rng.integers(0, 400, 20)}
        requests.append(PageRequest(state, SCENES[u % 4], query, shown if u % 3 == 0 else {},
                                    had=("i1", "i2") if u % 5 == 0 else ()))
    requests.append(PageRequest(UserState.new(DIM), "home"))  # cold start: trending
    requests.append(PageRequest(UserState.new(DIM), "video"))  # a scene nobody saw: global top-up
    return catalog, collab, requests


def alone(request: PageRequest, catalog: Catalog, collab: Collaborative, config: RecommendConfig,
          rng: np.random.Generator | None) -> Page:
    return recommend_page(request.state, catalog, T0 + 300, request.scene, ICFG, config,
                          query_vector=request.query_vector, collaborative=collab, scorer=request.scorer,
                          shown=request.shown, rng=rng, had=request.had)


def shape(page: Page) -> list[tuple[str, float, str, bool]]:
    return [(r.item_id, r.score, r.reason, r.explored) for r in page.items]


@pytest.mark.parametrize("ef_search", [16, 128])  # 16: fetches above ef get their own queries
@pytest.mark.parametrize("repeats", ["never", "allow"])
def test_a_batch_gives_each_request_its_own_page(ef_search: int, repeats: str) -> None:
    catalog, collab, requests = build(ef_search)
    config = RecommendConfig(k=6, explore_share=0.2, repeats=repeats)
    rng_single, rng_batch = np.random.default_rng(7), np.random.default_rng(7)
    single = [alone(r, catalog, collab, config, rng_single) for r in requests]
    batch = recommend_batch(requests, catalog, T0 + 300, ICFG, config, collaborative=collab, rng=rng_batch)
    assert len(batch) == len(requests)
    assert sum(bool(p.items) for p in single) >= len(requests) - 2  # the example is not vacuous
    assert any(r.explored for p in single for r in p.items)
    assert any("trending" in r.reason for p in single for r in p.items)
    for one, many in zip(single, batch):
        assert shape(many) == shape(one)
        assert many.candidates == one.candidates
        if one.features is not None:
            assert many.features is not None and np.array_equal(many.features, one.features)
    assert rng_batch.random() == rng_single.random()  # the same draws were taken


def test_a_learned_model_scores_the_whole_batch_in_one_pass() -> None:
    catalog, collab, requests = build(128, seed=3)
    ranker = OnlineRanker(RankerConfig(min_batch=8))
    rows = np.random.default_rng(1).standard_normal((64, N_FEATURES)).astype(np.float32)
    ranker.update([f"x{n}" for n in range(64)], rows, (rows[:, 3] > 0).astype(np.float32))
    calls: list[int] = []

    class Counting:
        version = 3

        def score(self, features: np.ndarray) -> np.ndarray:
            calls.append(features.shape[0])
            return ranker.score(features)

    scorer = Counting()
    requests = [PageRequest(r.state, r.scene, r.query_vector, r.shown, scorer if n % 2 else None, r.had)
                for n, r in enumerate(requests)]
    config = RecommendConfig(k=5)
    batch = recommend_batch(requests, catalog, T0 + 300, ICFG, config, collaborative=collab)
    assert len(calls) == 1  # every request the model ranks, in one call
    calls.clear()
    for request, many in zip(requests, batch):
        one = alone(request, catalog, collab, config, None)
        assert [r.item_id for r in many.items] == [r.item_id for r in one.items]
        assert np.allclose([r.score for r in many.items], [r.score for r in one.items], atol=1e-4)


def test_an_empty_catalogue_or_batch() -> None:
    catalog, collab, requests = build(128)
    empty = Catalog(HnswIndex(IndexConfig(dim=DIM, initial_capacity=4)))
    assert [p.items for p in recommend_batch(requests[:3], empty, T0, ICFG, RecommendConfig())] == [[]] * 3
    assert recommend_batch([], catalog, T0, ICFG, RecommendConfig(), collaborative=collab) == []


def test_query_many_matches_query_one_at_a_time() -> None:
    catalog, _, requests = build(32)
    index = catalog.index
    assert isinstance(index, HnswIndex)
    index.delete([f"i{n}" for n in range(0, 400, 3)])
    probes = np.stack([r.state.long.vector if np.any(r.state.long.vector) else np.ones(DIM, np.float32)
                       for r in requests] + [np.zeros(DIM, np.float32)])
    ks = [5, 20, 31, 32, 33, 60, 200, 1000] * 4
    ks = ks[:len(probes)]
    many = index.query_many(probes, ks)
    for vector, k, (ids, sims) in zip(probes, ks, many):
        one_ids, one_sims = index.query(vector, k)
        assert ids == one_ids
        assert np.allclose(sims, one_sims)
    assert many[-1][0] == []  # a zero vector finds nothing, as alone
