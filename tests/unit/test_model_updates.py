"""The wire formats of model-updates and ranker-examples round-trip exactly."""

from __future__ import annotations

import base64

import numpy as np
import orjson
import pytest

from engine.features import N_FEATURES
from engine.feedback import Example
from engine.ranker import OnlineRanker, RankerConfig, RankerMetrics
from engine.trainer import Published
from stream_apps.worker.model_updates import (
    MODEL_FORMAT,
    example_from_wire,
    example_to_wire,
    model_message,
    parse_model_message,
)


def test_a_published_version_round_trips_and_loads() -> None:
    ranker = OnlineRanker(RankerConfig(hidden=4))
    state = ranker.publish()
    published = Published(1, state, RankerMetrics(300, 0.2, 0.7, float("nan")), None, 1234, 56)
    value = model_message(published, now=1.7e9)
    msg = orjson.loads(value)
    assert msg["model"] == "ranker" and msg["format"] == MODEL_FORMAT and msg["version"] == 1
    assert msg["metrics"] == {"holdout_rows": 300, "logloss": 0.2, "auc": 0.7, "default_auc": None}
    version, loaded = parse_model_message(value)
    assert version == 1 and loaded == state
    other = OnlineRanker(RankerConfig(hidden=4, seed=9))
    other.load_state_dict(loaded)
    x = np.random.default_rng(0).normal(size=(5, N_FEATURES)).astype(np.float32)
    np.testing.assert_array_equal(other.score(x), ranker.score(x))


@pytest.mark.parametrize("value", [b"{}", b'{"format": "other/1"}', b"not json",
                                   orjson.dumps({"format": MODEL_FORMAT, "version": 2, "weights": "!!"})])
def test_anything_else_on_model_updates_is_refused(value: bytes) -> None:
    with pytest.raises(ValueError):
        parse_model_message(value)


def test_an_example_round_trips_without_the_user_id() -> None:
    rng = np.random.default_rng(1)
    example = Example("r-1", "u-secret", 3, ("a", "b"), rng.normal(size=(2, N_FEATURES)).astype(np.float32),
                      np.array([0, 1], np.float32), np.array([1, 3], np.float32))
    wire = example_to_wire(example)
    assert b"u-secret" not in wire  # a forgotten user must not linger in the trainer's topic
    back = example_from_wire(wire)
    assert (back.rec_id, back.model_version, back.item_ids) == ("r-1", 3, ("a", "b"))
    np.testing.assert_array_equal(back.features, example.features)
    np.testing.assert_array_equal(back.labels, example.labels)
    np.testing.assert_array_equal(back.weights, example.weights)
    broken = orjson.loads(wire) | {"features": base64.b64encode(b"\0" * 12).decode()}
    with pytest.raises(ValueError):
        example_from_wire(orjson.dumps(broken))
