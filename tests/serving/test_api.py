"""The REST API: every endpoint, every status code it answers, limits, API key, CORS, the micro-batcher."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from sentiment_core import cli
from sentiment_core.core import runs
from sentiment_core.core.errors import BusyError, SettingsError
from sentiment_core.core.settings import get_settings
from sentiment_core.inference.predictor import Predictor
from sentiment_core.inference.sources import load_run
from sentiment_core.serving import api
from sentiment_core.serving.api.explain_pool import EXPLAIN_NICENESS
from tests.serving_helpers import RUN_ID, install_tiny_run

REPO = Path(__file__).resolve().parents[2]
GOOD = ["A wonderful film, I loved it and the actor was brilliant.", "Awful and boring, the worst plot, a waste."]


def settings_env(monkeypatch, **values) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, str(value))
    get_settings.cache_clear()


@pytest.fixture
def run_dir():
    return install_tiny_run()


@pytest.fixture
def client(run_dir):
    with TestClient(api.create_app(RUN_ID)) as test_client:
        yield test_client


def assert_names(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    text = json.dumps(body)
    for word in words:
        assert word in text, f"{word!r} not in {text}"
    return body


# --- good input ------------------------------------------------------------------------------

def test_health_and_models(client):
    health = assert_names(client.get("/health"), 200)
    queues, limits, model = health.pop("queues"), health.pop("limits"), health.pop("model")
    assert model == RUN_ID  # the model that answers, as a source (here a run id)
    assert health == {"status": "ok", "model_loaded": True, "run": RUN_ID, "family": "bow", "device": "cpu",
                      "max_length": 64, "long_text": "truncate", "runtime": "torch", "runtime_note": None}
    assert {key: value for key, value in queues.items() if key != "explainers_ready"} == {
        "predictions_waiting": 0, "predictions_running": 0, "explanations_running": 0, "explanations_waiting": 0}
    assert limits == {"serve_batch_size": 16, "explain_concurrency": 1, "explain_queue": 4,
                      "explain_timeout_s": 60.0, "explain_threads": max(1, len(os.sched_getaffinity(0)) // 2)}
    (model,) = assert_names(client.get("/models"), 200)["models"]
    report = runs.read_json(runs.run_path(RUN_ID) / runs.EVAL_FILE)["test"]
    assert model["run"] == RUN_ID and model["family"] == "bow" and model["serving"] is True
    assert model["test"]["accuracy"] == pytest.approx(report["accuracy"])
    assert model["test"]["ece"] == pytest.approx(report["calibration"]["ece"])


def test_models_lists_evaluation_runs_which_have_no_loss(run_dir, tmp_path):
    from sentiment_core.evaluation.evaluate_model import evaluate_model
    from tests.checkpoint_helpers import bert_checkpoint
    from tests.conftest import write_parquet_dir

    data = str(write_parquet_dir(tmp_path / "data", n_train=20, n_test=8))
    evaluate_model(str(bert_checkpoint(tmp_path / "bert")), data=data, run_id="eval-bert")
    with TestClient(api.create_app(RUN_ID)) as client:
        models = {m["model"]: m for m in assert_names(client.get("/models"), 200)["models"]}
    assert models["eval-bert"]["kind"] == "evaluation" and models["eval-bert"]["loss"] is None
    assert models[RUN_ID]["kind"] == "trained" and models[RUN_ID]["loss"] == "bce"


def test_predict_matches_the_predictor_in_order(client):
    texts = GOOD + ["great " * 100]  # the last one is longer than the run's 64 tokens
    body = assert_names(client.post("/predict", json={"texts": texts}), 200)
    expected = load_run(RUN_ID).predict(texts)
    assert body["run"] == RUN_ID and len(body["predictions"]) == 3
    for got, want in zip(body["predictions"], expected):
        assert got["label"] == want.label and got["probability"] == pytest.approx(want.probability, abs=1e-6)
        assert got["truncated"] == want.truncated
    assert [p["truncated"] for p in body["predictions"]] == [False, False, True]
    assert body["predictions"][2]["tokens_read"] == 64


def test_explain_gives_words_spans_and_delta(client):
    text = GOOD[0]
    default = assert_names(client.post("/explain", json={"text": text}), 200)
    assert default["method"] == "gradient_x_input" and default["run"] == RUN_ID  # the bow family's default
    body = assert_names(client.post("/explain", json={"text": text, "method": "integrated_gradients"}), 200)
    assert body["words"] and all(text[w["start"]:w["end"]] == w["word"] for w in body["words"])
    total = sum(w["score"] for w in body["words"]) - body["delta"]  # Captum: delta = sum - (f(x) - f(b))
    assert total == pytest.approx(body["output"] - body["baseline_output"], abs=1e-4)
    flipped = assert_names(client.post("/explain", json={
        "text": text, "method": "occlusion",
        "target": "negative" if body["target"] == "positive" else "positive"}), 200)
    assert flipped["target"] != body["target"] and flipped["delta"] is None
    assert assert_names(client.post("/explain", json={"text": text, "method": "lime", "steps": 40}), 200)["words"]


def test_explanations_run_at_a_lower_priority_and_startup_objects_skip_the_collector(run_dir):
    import gc

    gc.unfreeze()
    with TestClient(api.create_app(RUN_ID)) as client:
        assert gc.get_freeze_count() > 0  # full collections no longer walk the libraries' and model's objects
        assert_names(client.post("/explain", json={"text": GOOD[0]}), 200)
        pids = [e.process.pid for e in client.app.state.service.explainers._explainers if e.process is not None]
        assert pids
        lower = min(19, os.getpriority(os.PRIO_PROCESS, 0) + EXPLAIN_NICENESS)  # 19 is the lowest priority
        assert all(os.getpriority(os.PRIO_PROCESS, pid) == lower for pid in pids)
    gc.unfreeze()


def test_docs_and_openapi_carry_the_limits(monkeypatch, run_dir):
    settings_env(monkeypatch, SENTIMENT_MAX_TEXTS=7, SENTIMENT_MAX_CHARS=123)
    with TestClient(api.create_app(RUN_ID)) as client:
        assert client.get("/docs").status_code == 200 and "swagger" in client.get("/docs").text.lower()
        schema = client.get("/openapi.json").json()
    assert {"/health", "/models", "/predict", "/explain"} <= set(schema["paths"])
    texts = schema["components"]["schemas"]["PredictRequest"]["properties"]["texts"]
    assert texts["maxItems"] == 7 and texts["minItems"] == 1 and texts["items"]["maxLength"] == 123
    assert {"400", "401", "404", "409", "413", "422"} <= set(schema["paths"]["/predict"]["post"]["responses"])


def test_other_run_can_be_named_and_unknown_or_unusable_runs_are_4xx(client):
    install_tiny_run("second")
    assert assert_names(client.post("/predict", json={"texts": GOOD, "run": "second"}), 200)["run"] == "second"
    assert assert_names(client.post("/explain", json={"text": GOOD[0], "run": "second"}), 200)["run"] == "second"
    assert_names(client.post("/predict", json={"texts": GOOD, "run": "nope"}), 404, "No run 'nope'", "/models")
    assert_names(client.post("/explain", json={"text": GOOD[0], "run": "nope"}), 404, "No run 'nope'")
    unfinished = runs.create_run("queued-run", {"model": "bow", "max_length": 64})
    assert_names(client.post("/predict", json={"texts": GOOD, "run": unfinished.name}), 409, "no trained model yet")
    broken = install_tiny_run("broken")
    (broken / runs.BEST_DIR / "model.safetensors").write_bytes(b"half-written")
    assert_names(client.post("/predict", json={"texts": GOOD, "run": "broken"}), 409, "corrupted")
    (runs.models_dir() / "garbled").mkdir()
    (runs.models_dir() / "garbled" / runs.RUN_FILE).write_text("{not json")
    assert client.get("/models").status_code == 200  # a corrupted run is listed as such elsewhere, never a 500


@pytest.mark.parametrize("bad", ["../tiny-bow", "/etc/passwd", "a/b", "..", "", "comparisons", "x" * 101])
def test_run_ids_are_validated(client, bad):
    body = assert_names(client.post("/predict", json={"texts": GOOD, "run": bad}), 422)
    assert body["detail"][0]["loc"] == ["body", "run"]
    assert_names(client.post("/explain", json={"text": "great", "run": bad}), 422, "run")
    with pytest.raises(runs.RunError, match="Invalid run id"):
        api.create_app(bad or "/")


# --- limits ------------------------------------------------------------------------------------

def test_limits_answer_413_naming_the_setting(monkeypatch, run_dir):
    settings_env(monkeypatch, SENTIMENT_MAX_TEXTS=3, SENTIMENT_MAX_CHARS=80, SENTIMENT_MAX_BODY_BYTES=1000)
    with TestClient(api.create_app(RUN_ID)) as client:
        assert client.post("/predict", json={"texts": ["great"] * 3}).status_code == 200
        assert_names(client.post("/predict", json={"texts": ["great"] * 4}), 413, "SENTIMENT_MAX_TEXTS", "limit is 3")
        assert client.post("/predict", json={"texts": ["g" * 80]}).status_code == 200
        assert_names(client.post("/predict", json={"texts": ["ok", "g" * 81]}), 413, "SENTIMENT_MAX_CHARS", "texts[1]")
        assert_names(client.post("/explain", json={"text": "g" * 81}), 413, "SENTIMENT_MAX_CHARS")
        big = json.dumps({"texts": ["a" * 60] * 20}).encode()
        assert_names(client.post("/predict", content=big, headers={"content-type": "application/json"}),
                     413, "SENTIMENT_MAX_BODY_BYTES", "1000 bytes")

        def chunks():  # no Content-Length: the limit still holds while reading
            for _ in range(30):
                yield b"x" * 100

        assert_names(client.post("/predict", content=chunks(), headers={"content-type": "application/json"}),
                     413, "SENTIMENT_MAX_BODY_BYTES")
        assert_names(client.post("/predict", content=b"{}", headers={"content-type": "application/json",
                                                                     "content-length": "many"}), 400, "Content-Length")


# --- bad input: 4xx with a message saying what to fix, never 500 ----------------------------

@pytest.mark.parametrize("body, status, words", [
    ({"texts": "one string"}, 422, ["texts", "valid list"]),
    ({"texts": [1, 2]}, 422, ["texts.0", "valid string"]),
    ({"texts": [None]}, 422, ["texts.0"]),
    ({}, 422, ["texts", "Field required"]),
    ({"text": "great"}, 422, ["texts", "Extra inputs"]),
    ({"texts": []}, 422, ["texts is empty"]),
    ({"texts": ["great", "   "]}, 422, ["texts[1] is empty"]),
    ({"texts": ["great", "<br /><br />"]}, 422, ["texts[1]", "no words the model can read"]),
    ([1, 2], 422, ["valid dictionary", "send a JSON object"]),
    ("great", 422, ["send a JSON object"]),
])
def test_predict_bad_json_bodies(client, body, status, words):
    assert_names(client.post("/predict", json=body), status, *words)


@pytest.mark.parametrize("body, words", [
    ({"text": "great", "method": "magic"}, ["method", "integrated_gradients", "lime"]),
    ({"text": "great", "target": "neutral"}, ["target", "positive", "negative"]),
    ({"text": "great", "steps": 0}, ["steps", "greater than or equal to 1"]),
    ({"text": "great", "steps": 10_000}, ["steps", "less than or equal to 500"]),
    ({"text": 5}, ["text", "valid string"]),
    ({"text": ""}, ["text is empty"]),
    ({"texts": ["great"]}, ["text", "Field required"]),
    ({"text": "<br />"}, ["text", "no words the model can read"]),
])
def test_explain_bad_bodies(client, body, words):
    assert_names(client.post("/explain", json=body), 422, *words)


@pytest.mark.parametrize("raw, content_type, status, words", [
    (b'{"texts": ["caf\xe9 \xff"]}', "application/json", 400, ["not valid UTF-8", "0xe9"]),
    (b'{"texts": ["good", ', "application/json", 422, ["not valid JSON"]),
    (b"null", "application/json", 422, ["send a JSON object"]),
    (b'{"texts": ["\\ud800 bad"]}', "application/json", 422, ["texts[0]", "surrogate"]),
    (b"a great movie", "text/plain", 422, ["send a JSON object", "application/json"]),
    (b"", "application/json", 422, ["Field required"]),
    (b'{"texts": ' + b"[" * 3000 + b"]" * 3000 + b"}", "application/json", 400, ["nested too deeply"]),
])
def test_raw_bodies(client, raw, content_type, status, words):
    assert_names(client.post("/predict", content=raw, headers={"content-type": content_type}), status, *words)


class Exploding(Predictor):
    def predict(self, texts, batch_size=64, progress=None):
        raise RuntimeError("secret internals")


class Planted(Predictor):  # module level: explanation processes unpickle the served predictor
    def logits(self, *args, **kwargs):
        raise ValueError("planted internal error")


def test_unexpected_errors_are_logged_500s_without_details(run_dir, caplog):
    real = load_run(RUN_ID)
    exploding = Exploding(real.model, real.tokenizer, "bow", 64, "cpu", RUN_ID)
    with TestClient(api.create_app(predictor=exploding), raise_server_exceptions=False) as client:
        response = client.post("/predict", json={"texts": GOOD})
    assert response.status_code == 500 and "secret" not in response.text and "RuntimeError" in response.text
    assert any("unexpected error" in record.message for record in caplog.records)


@pytest.mark.parametrize("path, body", [("/predict", {"texts": GOOD}), ("/explain", {"text": GOOD[0]})])
def test_an_internal_value_error_is_a_500_with_a_request_id(run_dir, caplog, path, body):
    """A ValueError raised inside the model (numpy, torch, a bug) is not the user's mistake: 500, not 422."""
    real = load_run(RUN_ID)
    planted = Planted(real.model, real.tokenizer, "bow", 64, "cpu", RUN_ID)
    with TestClient(api.create_app(predictor=planted), raise_server_exceptions=False) as client:
        response = client.post(path, json=body)
    assert response.status_code == 500, response.text
    request_id = response.json()["request_id"]
    assert response.headers["x-request-id"] == request_id and request_id in response.json()["detail"]
    assert "planted" not in response.text
    assert any(request_id in record.getMessage() and record.exc_info for record in caplog.records)


# --- API key and CORS ---------------------------------------------------------------------------

def test_the_docs_pages_load_their_assets_from_this_server(monkeypatch, run_dir):
    """/docs and /redoc work offline: no CDN, the JavaScript and CSS come from the server (open without a key)."""
    settings_env(monkeypatch, SENTIMENT_API_KEY="s3cret")
    with TestClient(api.create_app(RUN_ID)) as client:
        for page, asset in (("/docs", "/docs-assets/swagger-ui-bundle.js"),
                            ("/redoc", "/docs-assets/redoc.standalone.js")):
            html = client.get(page).text
            assert asset in html and "cdn." not in html and "googleapis" not in html
            script = client.get(asset)
            assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        assert client.get("/docs-assets/swagger-ui.css").status_code == 200
        assert client.get("/docs/oauth2-redirect").status_code == 200


def test_api_key(monkeypatch, run_dir):
    settings_env(monkeypatch, SENTIMENT_API_KEY="s3cret")
    with TestClient(api.create_app(RUN_ID)) as client:
        assert client.get("/health").status_code == 200  # open for health checks
        assert client.get("/openapi.json").status_code == 200 and client.get("/docs").status_code == 200
        assert_names(client.get("/models"), 401, "no API key was sent", "X-API-Key")
        assert_names(client.post("/predict", json={"texts": GOOD}), 401, "no API key")
        assert_names(client.post("/predict", json={"texts": GOOD}, headers={"X-API-Key": "wrong"}), 401, "wrong")
        assert_names(client.post("/predict", content=b"{broken", headers={"content-type": "application/json"}),
                     401)  # the key is checked before the body is read
        assert client.post("/predict", json={"texts": GOOD}, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert client.post("/explain", json={"text": GOOD[0]},
                           headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert client.get("/models", headers={"X-API-Key": "s3cret"}).status_code == 200


def test_openapi_declares_the_api_key_when_one_is_set(monkeypatch, run_dir):
    with TestClient(api.create_app(RUN_ID)) as client:
        schema = client.get("/openapi.json").json()
    assert "securitySchemes" not in schema.get("components", {})
    assert all("security" not in operation for path in schema["paths"].values() for operation in path.values())
    settings_env(monkeypatch, SENTIMENT_API_KEY="s3cret")
    with TestClient(api.create_app(RUN_ID)) as client:
        schema = client.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {**schemes["APIKeyHeader"], "type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["HTTPBearer"] == {**schemes["HTTPBearer"], "type": "http", "scheme": "bearer"}
    either = [{"APIKeyHeader": []}, {"HTTPBearer": []}]
    for path, method in (("/models", "get"), ("/predict", "post"), ("/explain", "post")):
        assert schema["paths"][path][method]["security"] == either, path
    assert "security" not in schema["paths"]["/health"]["get"]  # open for health checks


def test_the_routers_check_the_key_as_the_guard_does(monkeypatch, run_dir):
    """The security dependency alone (the guard taken out) refuses and admits exactly what the guard does."""
    from sentiment_core.serving.api.security import RequestGuard

    settings_env(monkeypatch, SENTIMENT_API_KEY="s3cret")
    app = api.create_app(RUN_ID)
    app.user_middleware = [middleware for middleware in app.user_middleware if middleware.cls is not RequestGuard]
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        refused = assert_names(client.post("/predict", json={"texts": GOOD}), 401, "no API key was sent", "X-API-Key")
        assert client.post("/predict", json={"texts": GOOD}).headers["www-authenticate"] == "ApiKey"
        assert refused == {"detail": "This API needs a key and no API key was sent: send it in the X-API-Key header "
                                     "(or as Authorization: Bearer <key>)."}
        for headers in ({"X-API-Key": "wrong"}, {"X-API-Key": ""}, {"Authorization": "Bearer wrong"}):
            assert_names(client.get("/models", headers=headers), 401, "the API key is wrong")
        assert client.get("/models", headers={"Authorization": "bearer  s3cret "}).status_code == 200
        assert client.post("/predict", json={"texts": GOOD}, headers={"X-API-Key": "s3cret"}).status_code == 200


def test_cors_is_off_by_default_and_on_for_listed_origins(monkeypatch, run_dir):
    preflight = {"Origin": "https://studio.example", "Access-Control-Request-Method": "POST"}
    with TestClient(api.create_app(RUN_ID)) as client:
        assert "access-control-allow-origin" not in client.options("/predict", headers=preflight).headers
        assert "access-control-allow-origin" not in client.get("/health", headers={"Origin": "https://a.example"}).headers
    settings_env(monkeypatch, SENTIMENT_CORS_ORIGINS="https://studio.example, https://other.example")
    with TestClient(api.create_app(RUN_ID)) as client:
        response = client.options("/predict", headers=preflight)
        assert response.headers["access-control-allow-origin"] == "https://studio.example"
        assert "access-control-allow-origin" not in client.get("/health", headers={"Origin": "https://evil.example"}).headers


# --- the micro-batcher and concurrency ------------------------------------------------------------

def test_micro_batcher_groups_concurrent_requests_and_keeps_order():
    calls, threads = [], set()

    def predict(texts):
        calls.append(list(texts))
        threads.add(threading.get_ident())
        time.sleep(0.01)
        if any("bad" in text for text in texts):
            raise ValueError("bad text")
        return [text.upper() for text in texts]

    async def scenario():
        batcher = api.MicroBatcher(predict, max_batch=8, max_wait_ms=5)
        await batcher.start()
        try:
            requests = [[f"r{i}-a", f"r{i}-b"] if i % 3 == 0 else [f"r{i}"] for i in range(12)]
            results = await asyncio.gather(*(batcher.predict(r) for r in requests))
            assert results == [[text.upper() for text in r] for r in requests]
            assert batcher.batches < len(requests) and all(len(call) <= 8 for call in calls)
            big = await batcher.predict([f"big{i}" for i in range(20)])  # larger than max_batch: runs alone
            assert len(big) == 20 and calls[-1] == [f"big{i}" for i in range(20)]
            mixed = await asyncio.gather(batcher.predict(["fine"]), batcher.predict(["bad one"]),
                                         batcher.predict(["also fine"]), return_exceptions=True)
            assert mixed[0] == ["FINE"] and mixed[2] == ["ALSO FINE"] and isinstance(mixed[1], ValueError)
            assert threading.get_ident() not in threads  # the model ran off the event loop's thread
        finally:
            await batcher.close()
        with pytest.raises(RuntimeError, match="not running"):
            await batcher.predict(["late"])

    asyncio.run(scenario())


def test_concurrent_requests_are_batched_and_answered_correctly(run_dir):
    app = api.create_app(RUN_ID)
    texts = [f"{GOOD[i % 2]} number {i}" for i in range(24)]

    async def scenario():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                responses = await asyncio.gather(*(client.post("/predict", json={"texts": [t]}) for t in texts))
                return [r.json() for r in responses], app.state.service.batcher.batches

    bodies, batches = asyncio.run(scenario())
    expected = load_run(RUN_ID).predict(texts)
    for body, want in zip(bodies, expected):
        assert body["predictions"][0]["probability"] == pytest.approx(want.probability, abs=1e-6)
    assert batches < len(texts)


def test_the_server_uses_serve_threads_and_gives_them_back(monkeypatch, run_dir):
    import torch

    seen = []
    real_predict = Predictor.predict

    def predict(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_predict(self, *args, **kwargs)

    monkeypatch.setattr(Predictor, "predict", predict)
    before = torch.get_num_threads()
    for threads, expected in ((None, 1), (2, 2)):  # unset: one thread for a bow model
        if threads:
            settings_env(monkeypatch, SENTIMENT_SERVE_THREADS=threads)
        seen.clear()
        with TestClient(api.create_app(RUN_ID)) as client:
            assert client.post("/predict", json={"texts": GOOD}).status_code == 200
            assert client.post("/predict", json={"texts": GOOD, "run": RUN_ID}).status_code == 200
        assert seen == [expected, expected]
        assert torch.get_num_threads() == before


def test_serve_threads_default_to_one_for_the_small_families_and_to_torchs_for_a_backbone(monkeypatch):
    from types import SimpleNamespace

    service = api.Service(get_settings(), None)
    service.default_threads = 4
    assert [service.threads_for(SimpleNamespace(family=f)) for f in ("bow", "lstm", "transformer")] == [1, 1, 1]
    assert service.threads_for(SimpleNamespace(family="pretrained")) == 4
    settings_env(monkeypatch, SENTIMENT_SERVE_THREADS=3)
    assert api.Service(get_settings(), None).threads_for(SimpleNamespace(family="pretrained")) == 3


def tiny_transformer_predictor() -> Predictor:
    import torch

    from sentiment_core.data.text import TokenizerConfig, build_word_tokenizer
    from sentiment_core.modeling import build_model
    from tests.conftest import TINY_OPTIONS, make_reviews

    torch.manual_seed(0)
    tokenizer = build_word_tokenizer(make_reviews(40).text, TokenizerConfig(vocab_size=200, min_frequency=1))
    model = build_model("transformer", vocab_size=len(tokenizer), num_labels=1, pad_token_id=tokenizer.pad_token_id,
                        **{**TINY_OPTIONS["transformer"], "max_position_embeddings": 64})
    return Predictor(model, tokenizer, "transformer", max_length=48)


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnxscript") is None,
                    reason="onnxruntime/onnxscript not installed (pip install .[onnx])")
def test_predictions_on_onnxruntime_answer_as_torch_does_and_explanations_keep_torch(monkeypatch):
    predictor = tiny_transformer_predictor()
    texts = GOOD + ["Fine.", "the plot was dull " * 30]
    expected = predictor.predict(texts)
    settings_env(monkeypatch, SENTIMENT_SERVE_RUNTIME="onnxruntime")
    with TestClient(api.create_app(predictor=predictor)) as client:
        health = client.get("/health").json()
        assert health["runtime"] == "onnxruntime" and "ms against torch's" in health["runtime_note"]
        service = client.app.state.service
        assert service.served.runtime == "onnxruntime" and service.predictor.runtime == "torch"
        got = client.post("/predict", json={"texts": texts}).json()["predictions"]
        assert [g["label"] for g in got] == [e.label for e in expected]
        for answer, want in zip(got, expected):
            assert answer["probability"] == pytest.approx(want.probability, abs=1e-5)
        assert all(explainer.predictor is service.predictor for explainer in service.explainers._explainers)


def test_auto_keeps_torch_with_the_reason_and_onnxruntime_refuses_to_start(monkeypatch, run_dir):
    from sentiment_core.serving.export import onnx_export as export

    reason = "torch.onnx.export failed: SomeError: no"
    monkeypatch.setattr(export, "serving_model", lambda predictor, threads: (None, {"reason": reason}))
    with TestClient(api.create_app(predictor=tiny_transformer_predictor())) as client:  # the tests' default: torch
        assert client.get("/health").json()["runtime_note"] is None
    settings_env(monkeypatch, SENTIMENT_SERVE_RUNTIME="auto")
    with TestClient(api.create_app(predictor=tiny_transformer_predictor())) as client:
        health = client.get("/health").json()
        assert health["runtime"] == "torch" and health["runtime_note"] == f"torch: {reason}"
        assert client.post("/predict", json={"texts": GOOD}).status_code == 200
    slower = {"exported": True, "speedup": 0.5, "onnxruntime_ms_per_batch": 2.0, "torch_ms_per_batch": 1.0,
              "timed_batch": [20, 48], "max_abs_logit_diff": 1e-6}
    monkeypatch.setattr(export, "serving_model", lambda predictor, threads: (object(), slower))
    with TestClient(api.create_app(predictor=tiny_transformer_predictor())) as client:
        assert client.get("/health").json()["runtime_note"].startswith("torch: faster than onnxruntime here (2.0 ms")
    with TestClient(api.create_app(RUN_ID)) as client:  # bow: auto does not even export it
        assert client.get("/health").json()["runtime_note"] == (
            "torch: auto tries onnxruntime for transformer models only; "
            "SENTIMENT_SERVE_RUNTIME=onnxruntime tries it for bow")
    monkeypatch.setattr(export, "serving_model", lambda predictor, threads: (None, {"reason": reason}))
    settings_env(monkeypatch, SENTIMENT_SERVE_RUNTIME="ONNXRuntime")
    with pytest.raises(SettingsError, match=r"SENTIMENT_SERVE_RUNTIME=onnxruntime, but torch.onnx.export failed.*"
                                            r"SENTIMENT_SERVE_RUNTIME=torch"):
        with TestClient(api.create_app(predictor=tiny_transformer_predictor())):
            pass


def test_a_bad_serve_runtime_names_the_setting(monkeypatch):
    settings_env(monkeypatch, SENTIMENT_SERVE_RUNTIME="tensorrt")
    with pytest.raises(SettingsError, match="SENTIMENT_SERVE_RUNTIME"):
        get_settings()


# --- choosing the run, the command line and a real server ----------------------------------------

def test_the_served_run_defaults_to_the_setting_then_the_best_run(monkeypatch, run_dir):
    install_tiny_run("second")
    settings_env(monkeypatch, SENTIMENT_SERVE_RUN="second")
    with TestClient(api.create_app()) as client:
        assert client.get("/health").json()["run"] == "second"
    monkeypatch.delenv("SENTIMENT_SERVE_RUN")
    get_settings.cache_clear()
    with TestClient(api.create_app()) as client:
        assert client.get("/health").json()["run"] in (RUN_ID, "second")


def test_no_finished_run_fails_startup_clearly():
    with pytest.raises(runs.RunError, match="No finished run to serve"):
        with TestClient(api.create_app()):
            pass


def test_serve_command_checks_the_run_before_starting(monkeypatch, run_dir, capsys):
    started = {}
    monkeypatch.setattr(api, "serve", lambda run_id, **options: started.update(run=run_id, **options))
    assert cli.main(["serve", "--run", RUN_ID, "--port", "8123", "--workers", "2", "--no-access-log"]) == 0
    assert started == {"run": RUN_ID, "host": "127.0.0.1", "port": 8123, "workers": 2, "access_log": False,
                       "log_level": "info"}
    started.clear()
    assert cli.main(["serve"]) == 0 and started["run"] == RUN_ID  # the best finished run
    for bad, message in (("nope", "No run 'nope'"), ("../x", "Invalid run id")):
        assert cli.main(["serve", "--run", bad]) == 2
        assert message in capsys.readouterr().err
    assert not started.get("run") == "nope"


def test_serve_refuses_a_port_it_cannot_listen_on_before_loading_a_model(monkeypatch, capsys):
    import socket

    monkeypatch.setattr(api, "serve", lambda *args, **options: pytest.fail("the server must not start"))
    assert cli.main(["serve", "--port", "99999"]) == 2  # no run exists: the port is refused first
    assert "--port must be a whole number from 1 to 65535, got 99999" in capsys.readouterr().err
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert cli.main(["serve", "--port", str(port)]) == 2
        err = capsys.readouterr().err
    assert f"Port {port} on 127.0.0.1 is already in use" in err and err.count("\n") == 1  # one line, no log


def test_real_server_with_two_workers(run_dir, tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (tmp_path / "server.log").open("wb")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen([sys.executable, "-m", "sentiment_core", "serve", "--run", RUN_ID, "--port", str(port),
                               "--workers", "2", "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT,
                              env=env, cwd=tmp_path)
    try:
        deadline, health = time.monotonic() + 180, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                if health.status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        assert health is not None and health.status_code == 200, (tmp_path / "server.log").read_text()
        assert health.json()["run"] == RUN_ID
        answers = [httpx.post(f"http://127.0.0.1:{port}/predict", json={"texts": GOOD}, timeout=30) for _ in range(6)]
        assert all(a.status_code == 200 for a in answers)
        assert len({json.dumps(a.json()) for a in answers}) == 1  # both workers give the same answer
        explained = httpx.post(f"http://127.0.0.1:{port}/explain", json={"text": GOOD[0]}, timeout=120)
        assert explained.status_code == 200 and explained.json()["words"]  # in that worker's own process
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=30).json()
        assert health["limits"]["explain_concurrency"] == 1 and health["queues"]["explanations_running"] == 0
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


# --- hardening --------------------------------------------------------------------------------------

def test_checkpoints_are_never_unpickled():
    """Models load as safetensors; any torch.load in the package must say weights_only=True."""
    for path in (REPO / "sentiment_core").rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if re.search(r"torch\.load\(", line):
                assert "weights_only=True" in line, f"{path.name}: {line.strip()}"
            assert "pickle.load" not in line, f"{path.name}: {line.strip()}"
    assert "use_safetensors=True" in (REPO / "sentiment_core" / "inference" / "checkpoints.py").read_text()


def test_a_half_written_run_is_reported_not_crashed_on(client):
    half = runs.models_dir() / "half"
    shutil.copytree(runs.run_path(RUN_ID), half)
    (half / runs.BEST_DIR / "config.json").write_text('{"model_type": ')
    assert_names(client.post("/predict", json={"texts": GOOD, "run": "half"}), 409, "half-written or corrupted")
    (half / runs.RUN_FILE).unlink()
    assert_names(client.post("/predict", json={"texts": GOOD, "run": "half"}), 409, "run.json")


# --- explanations in their own processes: limits, 503, 504, isolation -----------------------------

class BlockingPredictor(Predictor):
    """The fake slow explainer: an explanation's first forward pass writes `started-<pid>` in
    `self.folder`, then waits for a `release` file there, bumping `heartbeat` every 20 ms while it
    waits. Predictions never call `positive_log_odds`, so they are not slowed."""

    folder = ""

    def positive_log_odds(self, *args, **kwargs):
        folder = Path(self.folder)
        (folder / f"started-{os.getpid()}").touch()
        beats = 0
        while not (folder / "release").exists():
            beats += 1
            (folder / "heartbeat").write_text(str(beats))
            time.sleep(0.02)
        return super().positive_log_odds(*args, **kwargs)


def blocking_predictor(folder: Path) -> BlockingPredictor:
    real = load_run(RUN_ID)
    slow = BlockingPredictor(real.model, real.tokenizer, "bow", 64, "cpu", RUN_ID)
    slow.folder = str(folder)
    return slow


async def wait_until(check, seconds: float = 120.0) -> None:
    """Poll `check()` (sync or async) every 20 ms (a session's first explanation process may take a while)."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


def started_pids(folder: Path) -> list[int]:
    return sorted(int(path.name.split("-")[1]) for path in folder.glob("started-*"))


def test_explanations_are_bounded_and_never_hold_up_predictions(monkeypatch, run_dir, tmp_path):
    settings_env(monkeypatch, SENTIMENT_EXPLAIN_CONCURRENCY=1, SENTIMENT_EXPLAIN_QUEUE=1,
                 SENTIMENT_EXPLAIN_TIMEOUT_S=60)
    app = api.create_app(predictor=blocking_predictor(tmp_path))

    async def scenario():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=120) as client:
                async def queues() -> dict:
                    return (await client.get("/health")).json()["queues"]

                async def one_waits() -> bool:
                    return (await queues())["explanations_waiting"] == 1

                first = asyncio.create_task(client.post("/explain", json={"text": GOOD[0]}))
                await wait_until(lambda: started_pids(tmp_path))
                assert (await queues())["explanations_running"] == 1
                second = asyncio.create_task(client.post("/explain", json={"text": GOOD[1]}))
                await wait_until(one_waits)

                refused = await client.post("/explain", json={"text": GOOD[0]})  # the queue (1) is full
                assert refused.status_code == 503, refused.text
                assert int(refused.headers["retry-after"]) >= 1
                assert "SENTIMENT_EXPLAIN_QUEUE=1" in refused.text and "SENTIMENT_EXPLAIN_CONCURRENCY=1" in refused.text

                began = time.perf_counter()  # an explanation is running: a prediction is answered anyway
                predicted = await client.post("/predict", json={"texts": GOOD})
                assert predicted.status_code == 200 and time.perf_counter() - began < 10
                assert not first.done() and not second.done()

                (tmp_path / "release").touch()
                answers = [await first, await second]
                assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
                assert [a.json()["text"] for a in answers] == GOOD[:2] and answers[0].json()["words"]
                assert await queues() == {"predictions_waiting": 0, "predictions_running": 0,
                                          "explanations_running": 0, "explanations_waiting": 0, "explainers_ready": 1}
                assert started_pids(tmp_path) and os.getpid() not in started_pids(tmp_path)  # another process

    asyncio.run(scenario())


def test_an_explanation_past_its_time_limit_is_stopped_and_answered_504(monkeypatch, run_dir, tmp_path):
    settings_env(monkeypatch, SENTIMENT_EXPLAIN_TIMEOUT_S=1)
    with TestClient(api.create_app(predictor=blocking_predictor(tmp_path))) as client:
        response = client.post("/explain", json={"text": GOOD[0]})
        assert_names(response, 504, "longer than 1 s", "SENTIMENT_EXPLAIN_TIMEOUT_S", "stopped")
        (pid,) = started_pids(tmp_path)
        with pytest.raises(ProcessLookupError):  # killed and reaped: the work stopped
            os.kill(pid, 0)
        beats = (tmp_path / "heartbeat").read_text()
        time.sleep(0.2)
        assert (tmp_path / "heartbeat").read_text() == beats
        assert client.get("/health").json()["queues"]["explanations_running"] == 0
        (tmp_path / "release").touch()  # the next request gets a fresh process
        assert assert_names(client.post("/explain", json={"text": GOOD[0]}), 200)["words"]
        assert len(started_pids(tmp_path)) == 2


def test_a_request_that_waited_the_time_limit_for_a_process_gets_503(run_dir):
    pool = api.ExplainPool(load_run(RUN_ID), concurrency=1, queue=2, timeout_s=0.2, threads=1)

    async def scenario():
        held = await pool._acquire()  # the only process is taken (as by a long explanation)
        with pytest.raises(BusyError, match="Waited 0.2 s .*SENTIMENT_EXPLAIN_TIMEOUT_S") as caught:
            await pool.explain(None, GOOD[0], "integrated_gradients", None, {})
        assert caught.value.retry_after >= 1 and pool.waiting == 0
        pool._release(held)
        assert pool.running == 0 and len(pool._idle) == 1
        await pool.close()

    asyncio.run(scenario())


def test_explain_threads_default_to_half_the_cores_shared_by_the_processes(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert api.Service(get_settings(), None).explain_threads() == 4
    settings_env(monkeypatch, SENTIMENT_EXPLAIN_CONCURRENCY=3)
    assert api.Service(get_settings(), None).explain_threads() == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    settings_env(monkeypatch, SENTIMENT_EXPLAIN_CONCURRENCY=1)
    assert api.Service(get_settings(), None).explain_threads() == 1  # 2 cores: one stays for predictions
    settings_env(monkeypatch, SENTIMENT_EXPLAIN_THREADS=2)
    assert api.Service(get_settings(), None).explain_threads() == 2



# --- any model source (issue 12) -----------------------------------------------------------------

def test_a_checkpoint_folder_is_served_and_listed(run_dir, tmp_path):
    from sentiment_core.inference import sources
    from tests.checkpoint_helpers import roberta_checkpoint

    sources.clear_loaded_models()
    folder = str(roberta_checkpoint(tmp_path / "three-classes").resolve())
    with TestClient(api.create_app(model=folder)) as client:
        health = assert_names(client.get("/health"), 200)
        assert health["model"] == folder and health["run"] is None and health["family"] == "huggingface"
        assert health["long_text"] == "truncate"
        listed = assert_names(client.get("/models"), 200)["models"]
        assert listed[0] == {**listed[0], "model": folder, "kind": "served", "serving": True}
        assert any(row["model"] == RUN_ID and row["kind"] == "trained" and not row["serving"] for row in listed)
        body = assert_names(client.post("/predict", json={"texts": GOOD}), 200)
        assert body["model"] == folder and len(body["predictions"]) == 2
        assert set(body["predictions"][0]["class_probabilities"]) == {"negative", "neutral", "positive"}
        other = assert_names(client.post("/predict", json={"texts": GOOD, "model": RUN_ID}), 200)
        assert other["model"] == RUN_ID and other["run"] == RUN_ID
        explained = assert_names(client.post("/explain", json={"text": GOOD[0], "steps": 8}), 200)
        assert explained["model"] == folder and explained["words"]
        assert_names(client.post("/predict", json={"texts": GOOD, "model": "/etc"}), 404, "does not serve")
        assert_names(client.post("/predict", json={"texts": GOOD, "model": RUN_ID, "run": "other"}), 422,
                     "not both")
