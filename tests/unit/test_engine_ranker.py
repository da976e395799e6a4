"""engine.ranker: the feature builder (shapes, columns, no input mutation), the default
scorer against recommend(), and the online ranker (learning, holdout, bytes, seeding)."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
import pytest

from engine.catalog import Catalog
from engine.config import ConfigError, InterestConfig, RecommendConfig
from engine.encoder import HashingEncoder
from engine.errors import DimensionMismatch, InvalidEvent
from engine.events import Interaction, ItemUpsert
from engine.features import (
    COLUMN,
    FEATURE_NAMES,
    N_FEATURES,
    SOURCE_BITS,
    CandidateSignals,
    UserContext,
    build_features,
    category_affinity,
    default_scores,
    merge_sources,
    user_context,
)
from engine.index import BruteForceIndex
from engine.interests import InterestView, UserState, apply_interaction
from engine.ranker import (
    DefaultScorer,
    ModelFormatError,
    OnlineRanker,
    RankerConfig,
    RankerMetrics,
    auc,
    feedback_label,
    is_holdout,
)
from engine.recommend import recommend

MONDAY_6AM = datetime(2024, 11, 25, 6, 0, tzinfo=timezone.utc).timestamp()


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def _view(dim: int, rng: np.random.Generator, scene: bool = True) -> InterestView:
    long, short, sc, blended = (_unit(rng.normal(size=dim)) for _ in range(4))
    return InterestView(blended, long, short, sc if scene else None, 0.5, 0.25 if scene else 0.0)


def _signals(n: int, rng: np.random.Generator, categories: list[tuple[str, ...]]) -> CandidateSignals:
    return CandidateSignals(
        covisit=rng.random(n).astype(np.float32), trending=rng.random(n) * 10,
        age_s=rng.random(n) * 86400 * 30, fatigue=rng.integers(0, 5, n).astype(np.float64),
        sources=rng.integers(1, 16, n).astype(np.uint8), categories=categories)


def test_feature_names_are_unique_and_documented() -> None:
    from engine import features

    assert len(set(FEATURE_NAMES)) == N_FEATURES == len(COLUMN)
    doc = features.__doc__ or ""
    for name in FEATURE_NAMES:
        assert name in doc or name.startswith(("scene_", "src_", "hour_", "dow_"))


def test_features_by_hand() -> None:
    e = np.eye(4, dtype=np.float32)
    view = InterestView(blended=e[0], long=e[1], short=e[2], scene=None, short_strength=0.5,
                        scene_strength=0.0)
    ctx = UserContext(view, MONDAY_6AM, scene="cart", query_vector=e[3], query_intent=0.5,
                      recent_categories=(("tea",), ("mugs",), ("tea", "pots"), ("shoes",)))
    items = _unit(np.array([[1, 1, 0, 0], [0, 0, 1, 1]], dtype=np.float32))
    signals = CandidateSignals(
        covisit=np.array([0.2, 0.0]), trending=np.array([math.e - 1, 0.0]),
        age_s=np.array([3600.0 * (math.e ** 8 - 1), 0.0]), fatigue=np.array([0.0, math.e - 1]),
        sources=np.array([SOURCE_BITS["semantic"] | SOURCE_BITS["fresh"], SOURCE_BITS["covisit"]]),
        categories=[("tea",), ("shoes", "mugs")])
    f = build_features(ctx, items, signals)
    assert f.shape == (2, N_FEATURES) and f.dtype == np.float32
    c = COLUMN
    r = 1 / math.sqrt(2)
    np.testing.assert_allclose(f[:, c["cos_blended"]], [r, 0], atol=1e-6)
    np.testing.assert_allclose(f[:, c["cos_long"]], [r, 0], atol=1e-6)
    np.testing.assert_allclose(f[:, c["cos_short"]], [0, r], atol=1e-6)
    np.testing.assert_allclose(f[:, c["cos_query"]], [0, r], atol=1e-6)
    np.testing.assert_allclose(f[:, c["intent_x_cos_query"]], [0, 0.5 * r], atol=1e-6)
    assert f[:, c["cos_scene"]].tolist() == [0, 0]
    np.testing.assert_allclose(f[:, c["log_trending"]], [1, 0], atol=1e-6)
    np.testing.assert_allclose(f[:, c["log_age_h"]], [1, 0], atol=1e-5)
    np.testing.assert_allclose(f[:, c["log_fatigue"]], [0, 1], atol=1e-6)
    np.testing.assert_allclose(f[:, c["category_affinity"]], [0.5, 0.5])
    scenes = [n for n in FEATURE_NAMES if n.startswith("scene_") and n != "scene_strength"]
    assert {n: f[0, c[n]] for n in scenes} == {"scene_home": 0, "scene_search": 0,
                                                "scene_product": 0, "scene_cart": 1, "scene_other": 0}
    # 06:00 on a Monday: a quarter of the day; a quarter of day 0 (Monday) of the week
    dow = 2 * math.pi * 0.25 / 7
    np.testing.assert_allclose(f[0, c["hour_sin"]:c["dow_cos"] + 1], [1, 0, math.sin(dow), math.cos(dow)],
                               atol=1e-6)
    assert f[:, [c["src_semantic"], c["src_covisit"], c["src_trending"], c["src_fresh"]]].tolist() == [
        [1, 0, 0, 1], [0, 1, 0, 0]]
    unknown = build_features(UserContext(view, MONDAY_6AM, scene="checkout"), items, signals)
    assert unknown[0, c["scene_other"]] == 1 and unknown[0, c["cos_query"]] == 0


def test_build_features_does_not_change_inputs_and_checks_shapes() -> None:
    rng = np.random.default_rng(0)
    view = _view(8, rng)
    items = _unit(rng.normal(size=(5, 8)))
    signals = _signals(5, rng, [("a",), ("b",), ("a", "b"), (), ("c",)])
    before = {k: np.array(getattr(signals, k)) for k in ("covisit", "trending", "age_s", "fatigue", "sources")}
    for arr in (items, view.blended, view.long, view.short, *(getattr(signals, k) for k in before)):
        arr.setflags(write=False)
    ctx = UserContext(view, 1.7e9, "home", _unit(rng.normal(size=8)), 0.3, (("a",), ("c",)))
    f = build_features(ctx, items, signals)
    assert f.shape == (5, N_FEATURES) and np.all(np.isfinite(f))
    for k, v in before.items():
        np.testing.assert_array_equal(getattr(signals, k), v)
    with pytest.raises(DimensionMismatch, match=r"\(n, 8\)"):
        build_features(ctx, items[:, :4], signals)
    bad = CandidateSignals(signals.covisit[:3], signals.trending, signals.age_s, signals.fatigue,
                           signals.sources, signals.categories)
    with pytest.raises(DimensionMismatch, match="covisit"):
        build_features(ctx, items, bad)


def test_merge_sources() -> None:
    ids, bits = merge_sources({"semantic": ["a", "b"], "covisit": ["b"], "fresh": ["c", "a"]})
    assert ids == ["a", "b", "c"] and bits.tolist() == [9, 3, 8]
    with pytest.raises(InvalidEvent, match="'bogus'"):
        merge_sources({"bogus": ["a"]})


# --- the default scorer reproduces recommend() -----------------------------------

ENC = HashingEncoder(dim=128)
# Plain relevance order: no diversity pass and no trending or fresh candidates.
ICFG, RCFG = InterestConfig(), RecommendConfig(k=6, mmr_strength=0.0, trending_candidates=0,
                                               fresh_candidates=0)
TITLES = {"coffee": ["Dark roast coffee beans", "Espresso coffee grinder", "Ceramic coffee mug",
                     "Cold brew coffee maker"],
          "shoes": ["Trail running shoes", "Leather dress shoes", "Waterproof hiking shoes"],
          "tea": ["Green tea leaves", "Cast iron tea kettle", "Herbal tea sampler"]}


def test_default_scores_reproduce_recommend() -> None:
    items = [ItemUpsert(f"{c}-{i}", t, categories=(c,)) for c, ts in TITLES.items() for i, t in enumerate(ts)]
    catalog = Catalog(BruteForceIndex(ENC.dim))
    catalog.upsert(items, ENC.encode([i.text for i in items]), now=0.0)
    state = UserState.new(ENC.dim)
    t0 = 1_732_262_400.0
    for ts, kind, item, query in ((t0, "click", "coffee-0", None), (t0 + 60, "click", "tea-0", None),
                                  (t0 + 120, "search", None, "trail shoes")):
        event = Interaction(kind, "u1", ts=ts, item_id=item, query=query, scene="home")
        item_vec = catalog.index.vectors([item])[0] if item else None
        state = apply_interaction(state, event, item_vec, ENC.encode_query(query) if query else None, ICFG)
    query_vec = ENC.encode_query("trail shoes")
    now = t0 + 600
    recs = recommend(state, catalog, now, "home", ICFG, RCFG, query_vector=query_vec)
    ids = [r.item_id for r in recs]
    ctx = user_context(state, catalog, now, "home", ICFG, RCFG, query_vec)
    assert ctx.query_intent > 0.5 and ctx.recent_categories == (("coffee",), ("tea",))
    n = len(ids)
    zeros = np.zeros(n)
    signals = CandidateSignals(zeros, zeros, zeros, zeros, np.ones(n, np.uint8),
                               [catalog.get(i).categories for i in ids])  # type: ignore[union-attr]
    features = build_features(ctx, catalog.index.vectors(ids), signals)
    scores = DefaultScorer().score(features)
    np.testing.assert_allclose(scores, [r.score for r in recs], atol=1e-4)
    assert np.all(np.diff(scores) <= 1e-6)  # recommend()'s order is the default order


# --- the online ranker -----------------------------------------------------------

CATS = ("tea", "coffee", "shoes", "toys", "books", "garden")


def synthetic(n_users: int, seed: int, per_user: int = 20) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Clicks depend on category affinity only, not on the vector similarities."""
    rng = np.random.default_rng(seed)
    ids, xs, ys = [], [], []
    for u in range(n_users):
        recent = tuple((CATS[int(rng.integers(0, 3)) + (u % 2) * 3],) for _ in range(6))
        scene = ("home", "search", "product", "cart", "checkout", None)[u % 6]
        now = 1.7e9 + float(rng.uniform(0, 7 * 86400))  # any hour, any day
        ctx = UserContext(_view(16, rng), now, scene, recent_categories=recent)
        cats = [(CATS[int(rng.integers(len(CATS)))],) for _ in range(per_user)]
        f = build_features(ctx, _unit(rng.normal(size=(per_user, 16))), _signals(per_user, rng, cats))
        p = 1 / (1 + np.exp(-(-2.5 + 5.0 * f[:, COLUMN["category_affinity"]])))
        ids += [f"rec-{seed}-{u}"] * per_user
        xs.append(f)
        ys.append((rng.random(per_user) < p).astype(np.float32))
    return ids, np.concatenate(xs), np.concatenate(ys)


@pytest.fixture(scope="module")
def trained() -> OnlineRanker:
    ranker = OnlineRanker(RankerConfig(holdout_share=0.2, min_holdout=100, seed=3))
    ids, x, y = synthetic(300, seed=1)
    for start in range(0, len(y), 100):  # feedback arrives in small slices
        ranker.update(ids[start:start + 100], x[start:start + 100], y[start:start + 100])
    return ranker


def test_ranker_learns_what_the_default_cannot(trained: OnlineRanker) -> None:
    metrics = trained.evaluate()
    assert metrics.n > 500
    assert metrics.auc > 0.75, metrics
    assert metrics.auc > metrics.default_auc + 0.15, metrics
    assert abs(metrics.default_auc - 0.5) < 0.08
    x, y, w = trained.holdout.arrays()
    oracle = auc(y, x[:, COLUMN["category_affinity"]], w)  # the true click model's ranking
    assert metrics.auc > oracle - 0.03, (metrics, oracle)
    # a fresh sample of the same task agrees
    _, x, y = synthetic(100, seed=9)
    assert auc(y, trained.score(x)) > auc(y, default_scores(x)) + 0.15
    weights = trained.model.weight.detach().numpy()[0]  # type: ignore[operator]
    assert int(np.argmax(np.abs(weights))) == COLUMN["category_affinity"]


def test_holdout_split_is_deterministic_and_by_id() -> None:
    ids = [f"rec-{i}" for i in range(4000)]
    held = [is_holdout(i, 0.1) for i in ids]
    assert held == [is_holdout(i, 0.1) for i in ids]
    assert 0.08 < np.mean(held) < 0.12


def test_min_batch_and_step_count() -> None:
    ranker = OnlineRanker(RankerConfig(min_batch=50, holdout_share=0.0))
    ids, x, y = synthetic(5, seed=2)  # 100 examples
    assert ranker.update(ids[:40], x[:40], y[:40]) == 0
    assert ranker.step == 0 and ranker.score(x[:3]).tolist() == [0.5, 0.5, 0.5]
    assert ranker.update(ids[40:], x[40:], y[40:]) == 2  # 100 pending -> 2 batches
    assert ranker.step == 2 and len(ranker.holdout) == 0


def test_learning_rate_warms_up_then_decays() -> None:
    ranker = OnlineRanker(RankerConfig(lr=0.1, warmup_steps=10, decay_steps=100))
    assert ranker.lr_at(0) == pytest.approx(0.01)
    assert ranker.lr_at(9) == pytest.approx(0.1 / math.sqrt(1.09))
    assert ranker.lr_at(300) == pytest.approx(0.05)


def test_update_does_not_change_inputs_and_rejects_bad_examples() -> None:
    ranker = OnlineRanker(RankerConfig(min_batch=8))
    ids, x, y = synthetic(2, seed=4)
    x0, y0 = x.copy(), y.copy()
    x.setflags(write=False)
    ranker.update(ids, x, y, np.full(len(y), 2.0))
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)
    with pytest.raises(DimensionMismatch):
        ranker.update(ids, x[:, :5], y)
    with pytest.raises(InvalidEvent):
        ranker.update(ids, x, y + 0.5)
    with pytest.raises(InvalidEvent):
        ranker.update(ids, x, y, np.full(len(y), -1.0))


def test_state_bytes_round_trip_gives_identical_scores(trained: OnlineRanker) -> None:
    blob = trained.publish()
    assert trained.version == 1 and isinstance(blob, bytes)
    other = OnlineRanker(trained.config)
    other.load_state_dict(blob)
    _, x, _ = synthetic(20, seed=5)
    np.testing.assert_array_equal(other.score(x), trained.score(x))
    assert other.version == 1 and other.step == trained.step
    assert other.state_dict() == blob


@pytest.mark.parametrize("hidden", [0, 8])
def test_seeding_gives_the_same_model_twice(hidden: int) -> None:
    ids, x, y = synthetic(40, seed=6)
    blobs = []
    for _ in range(2):
        ranker = OnlineRanker(RankerConfig(hidden=hidden, min_batch=32, seed=11))
        ranker.update(ids, x, y)
        assert ranker.step > 0
        blobs.append(ranker.state_dict())
    assert blobs[0] == blobs[1]
    if hidden:
        different = OnlineRanker(RankerConfig(hidden=hidden, min_batch=32, seed=12))
        different.update(ids, x, y)
        assert different.state_dict() != blobs[0]


def test_bad_model_bytes_are_rejected() -> None:
    ranker = OnlineRanker()
    with pytest.raises(ModelFormatError):
        ranker.load_state_dict(b"\x05\x00\x00\x00hello")
    with pytest.raises(ModelFormatError, match="hidden"):
        ranker.load_state_dict(OnlineRanker(RankerConfig(hidden=4)).state_dict())
    with pytest.raises(ModelFormatError, match="inside tensor"):
        ranker.load_state_dict(ranker.state_dict()[:-4])


def test_should_publish_only_when_holdout_is_not_worse() -> None:
    ranker = OnlineRanker(RankerConfig(min_holdout=100, publish_tolerance=0.001))
    good = RankerMetrics(500, 0.40, 0.80, 0.5)
    assert ranker.should_publish(good, None)
    assert not ranker.should_publish(RankerMetrics(50, 0.3, 0.9, 0.5), None)  # too few
    assert ranker.should_publish(good, RankerMetrics(500, 0.4005, 0.8005, 0.5))  # within tolerance
    assert not ranker.should_publish(good, RankerMetrics(500, 0.39, 0.79, 0.5))  # logloss worse
    assert not ranker.should_publish(good, RankerMetrics(500, 0.41, 0.82, 0.5))  # AUC worse
    assert not ranker.should_publish(RankerMetrics(500, float("nan"), 0.8, 0.5), None)


def test_a_trained_model_beats_the_published_untrained_one_on_the_same_holdout(
        trained: OnlineRanker) -> None:
    published = OnlineRanker(trained.config)  # version 0: all scores 0.5
    current = published.evaluate(trained.holdout)
    assert trained.should_publish(trained.evaluate(), current)
    assert not published.should_publish(current, trained.evaluate())


def test_feedback_labels_and_auc() -> None:
    cfg = RankerConfig()
    assert feedback_label("impression", cfg) == (0.0, 1.0)
    assert feedback_label("click", cfg) == (1.0, 1.0)
    with pytest.raises(InvalidEvent, match="'search'"):
        feedback_label("search", cfg)
    rng = np.random.default_rng(0)
    y, s = rng.random(200) < 0.3, np.round(rng.random(200), 1)  # many ties
    pairs = [(1.0 if a > b else 0.5 if a == b else 0.0) for a in s[y] for b in s[~y]]
    assert auc(y.astype(float), s) == pytest.approx(np.mean(pairs))
    assert math.isnan(auc(np.ones(3), np.arange(3.0)))


def test_bad_config_is_rejected() -> None:
    for kwargs in ({"lr": 0.0}, {"min_batch": 0}, {"holdout_share": 1.0},
                   {"purchase_weight": 0.5}, {"hidden": -1}):
        with pytest.raises(ConfigError):
            RankerConfig(**kwargs)  # type: ignore[arg-type]


def test_a_linear_ranker_started_at_the_default_ranks_like_it_before_any_step() -> None:
    from engine.trainer import Trainer

    rng = np.random.default_rng(3)
    x = np.zeros((200, N_FEATURES), np.float32)
    for name in ("cos_blended", "covisit", "item_model"):
        x[:, COLUMN[name]] = rng.random(200)
    default = DefaultScorer(covisit_weight=1.5, item_model_weight=1.0)
    started = Trainer(RankerConfig(), publish_interval_s=0.0, default=default).ranker
    np.testing.assert_array_equal(np.argsort(-started.score(x)), np.argsort(-default.score(x)))
    # From zero (no start weights) every row ties: the start is what makes it rank.
    assert np.unique(OnlineRanker(RankerConfig()).score(x)).size == 1
    with pytest.raises(ConfigError):
        OnlineRanker(RankerConfig(), start={"no_such_feature": 1.0})


def test_category_affinity_is_the_share_of_recent_items_sharing_a_category() -> None:
    rng = np.random.default_rng(3)
    names = ["tea", "mugs", "books", "poetry", "toys"]

    def paths(n: int) -> list[tuple[str, ...]]:
        return [tuple(rng.choice(names, size=int(rng.integers(0, 3)), replace=False)) for _ in range(n)]

    for _ in range(50):
        recent, candidates = paths(int(rng.integers(1, 8))), paths(int(rng.integers(0, 30)))
        expected = [sum(1 for r in recent if set(r) & set(c)) / len(recent) for c in candidates]
        got = category_affinity(recent, candidates)
        assert got.dtype == np.float32 and got.shape == (len(candidates),)
        np.testing.assert_array_equal(got, np.array(expected, dtype=np.float32))
    assert category_affinity([], [("tea",)]).tolist() == [0.0]
