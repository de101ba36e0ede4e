"""POST /counterfactual: edited reviews with their edits, the same limits, isolation and errors as /explain."""

from __future__ import annotations

import os

import pytest
from fastapi.testclient import TestClient

from sentiment_core.serving import api
from tests.serving.test_api import GOOD, assert_names, blocking_predictor, settings_env, started_pids
from tests.serving_helpers import RUN_ID, install_tiny_run


@pytest.fixture
def client():
    install_tiny_run()
    with TestClient(api.create_app(RUN_ID)) as test_client:
        yield test_client


def test_edits_that_flip_the_prediction_with_spans_into_the_text(client):
    text = GOOD[0]
    body = assert_names(client.post("/counterfactual", json={"text": text, "n": 2}), 200)
    assert body["model"] == RUN_ID and body["text"] == text
    assert body["label_before"] == "positive" and body["target"] == "negative"
    first = body["counterfactuals"][0]
    assert first["flipped"] and first["label_after"] == "negative" and first["edits"]
    assert first["probability_before"] < 0.5 < first["probability_after"]
    for edit in first["edits"]:
        assert text[edit["start"]:edit["end"]] == edit["old"] and edit["kind"] in ("negation", "antonym", "deletion",
                                                                                    "rating", "intensity")
    assert len(body["counterfactuals"]) <= 2
    same = assert_names(client.post("/counterfactual", json={"text": text, "target": "positive"}), 200)
    (unchanged,) = same["counterfactuals"]
    assert unchanged["edited"] == text and unchanged["edits"] == [] and "already predicts" in unchanged["message"]
    schema = client.get("/openapi.json").json()
    assert {"413", "422", "503", "504"} <= set(schema["paths"]["/counterfactual"]["post"]["responses"])


@pytest.mark.parametrize("body, words", [
    ({"text": "great", "n": 0}, ["n", "greater than or equal to 1"]),
    ({"text": "great", "n": 6}, ["n", "less than or equal to 5"]),
    ({"text": "great", "target": "neutral"}, ["target", "positive", "negative"]),
    ({"text": ""}, ["text is empty"]),
    ({"text": "<br />"}, ["text", "no words the model can read"]),
    ({"text": "great", "method": "lime"}, ["method", "Extra inputs"]),
    ({"text": "great", "run": "no such run!"}, ["run"]),
])
def test_bad_bodies_are_422_naming_the_field(client, body, words):
    assert_names(client.post("/counterfactual", json=body), 422, *words)


def test_limits_and_unknown_models(monkeypatch):
    install_tiny_run()
    settings_env(monkeypatch, SENTIMENT_MAX_CHARS=80)
    with TestClient(api.create_app(RUN_ID)) as client:
        assert_names(client.post("/counterfactual", json={"text": "g" * 81}), 413, "SENTIMENT_MAX_CHARS")
        assert_names(client.post("/counterfactual", json={"text": "great", "run": "missing-run"}), 404, "missing-run")


def test_a_search_past_the_time_limit_is_stopped_and_answered_504(monkeypatch, tmp_path):
    install_tiny_run()
    settings_env(monkeypatch, SENTIMENT_EXPLAIN_TIMEOUT_S=1)
    with TestClient(api.create_app(predictor=blocking_predictor(tmp_path))) as client:
        response = client.post("/counterfactual", json={"text": GOOD[0]})
        assert_names(response, 504, "SENTIMENT_EXPLAIN_TIMEOUT_S", "stopped")
        (pid,) = started_pids(tmp_path)
        with pytest.raises(ProcessLookupError):  # killed: the search stopped
            os.kill(pid, 0)
        assert pid != os.getpid()
