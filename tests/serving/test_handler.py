"""The SageMaker-style handler, called as the PyTorch serving container calls it, on an exported folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sentiment_core.core.settings import get_settings
from sentiment_core.inference.sources import load_run
from sentiment_core.serving import handler
from sentiment_core.serving.export.folder import export_run
from tests.serving_helpers import RUN_ID, install_tiny_run

TEXTS = ["A wonderful film, I loved it and the actor was brilliant.", "Awful and boring, the worst plot, a waste."]


@pytest.fixture
def export_dir(tmp_path):
    install_tiny_run()
    export_run(RUN_ID, tmp_path / "export")
    return tmp_path / "export"


def container_call(model, body, content_type, accept):
    """What the container does for one request, in its order."""
    data = handler.input_fn(body, content_type)
    prediction = handler.predict_fn(data, model)
    return handler.output_fn(prediction, accept)


def test_the_four_functions_in_container_order(export_dir):
    model = handler.model_fn(str(export_dir))
    assert model.family == "bow" and model.run_id == RUN_ID and model.max_length == 64
    expected = load_run(RUN_ID).predict(TEXTS)

    body = json.loads(container_call(model, json.dumps({"texts": TEXTS}).encode(), "application/json",
                                     "application/json"))
    got = body["predictions"]
    assert [p["label"] for p in got] == [p.label for p in expected]
    assert [p["probability"] for p in got] == pytest.approx([p.probability for p in expected], abs=1e-6)
    assert set(got[0]) >= {"label", "probability", "truncated", "notes"}

    for payload in ({"text": TEXTS[0]}, {"inputs": TEXTS[0]}, TEXTS[0], [TEXTS[0]]):
        (one,) = json.loads(container_call(model, json.dumps(payload), "application/json; charset=utf-8",
                                           "*/*"))["predictions"]
        assert one["probability"] == pytest.approx(expected[0].probability, abs=1e-6)

    (plain,) = json.loads(container_call(model, TEXTS[1].encode(), "text/plain", "application/json"))["predictions"]
    assert plain["probability"] == pytest.approx(expected[1].probability, abs=1e-6)

    with_header = "id,review\n1,\"" + TEXTS[0] + "\"\n2,\"" + TEXTS[1] + "\"\n"
    csv_out = container_call(model, with_header.encode(), "text/csv", "text/csv")
    rows = [line.split(",") for line in csv_out.strip().splitlines()]
    assert [r[0] for r in rows] == [p.label for p in expected] and all(r[2] in ("true", "false") for r in rows)
    assert float(rows[0][1]) == pytest.approx(expected[0].probability, abs=1e-5)
    headerless = "\"" + TEXTS[0] + "\"\n\"" + TEXTS[1] + "\"\n"  # batch transform sends bare rows
    assert container_call(model, headerless, "text/csv", "text/csv") == csv_out
    assert container_call(model, headerless, "text/csv", "application/xml, text/csv") == csv_out


@pytest.mark.parametrize("body, content_type, message", [
    (b"{}", "application/xml", "Unsupported content type"),
    (b'{"texts": ["caf\xe9"]}', "application/json", "not valid UTF-8"),
    (b'{"texts": [', "application/json", "not valid JSON"),
    (b'{"reviews": ["good"]}', "application/json", "no 'texts'"),
    (b'{"texts": 5}', "application/json", "Expected a list"),
    (b'{"texts": []}', "application/json", "No review texts"),
    (b'{"texts": ["good", 7]}', "application/json", "texts[1] is a int"),
    (b'{"texts": ["good", "  "]}', "application/json", "texts[1] is empty"),
    (b"", "text/csv", "No review texts"),
])
def test_input_fn_refuses_bad_requests_with_the_fix(body, content_type, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        handler.input_fn(body, content_type)


def test_input_fn_applies_the_limits(monkeypatch):
    monkeypatch.setenv("SENTIMENT_MAX_TEXTS", "2")
    monkeypatch.setenv("SENTIMENT_MAX_CHARS", "10")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="SENTIMENT_MAX_TEXTS"):
        handler.input_fn(json.dumps({"texts": ["a", "b", "c"]}), "application/json")
    with pytest.raises(ValueError, match="SENTIMENT_MAX_CHARS"):
        handler.input_fn("x" * 11, "text/plain")
    assert handler.input_fn("x" * 10, "text/plain") == ["x" * 10]


def test_predict_fn_names_an_unreadable_text_and_output_fn_refuses_unknown_types(export_dir):
    model = handler.model_fn(export_dir)
    with pytest.raises(ValueError, match=r"texts\[1\].*no words the model can read"):
        handler.predict_fn(["great", "<br />"], model)
    with pytest.raises(handler.UnsupportedFormatError, match="Unsupported accept"):
        handler.output_fn([], "application/x-protobuf")


def test_model_fn_reports_a_broken_folder(tmp_path):
    with pytest.raises(ValueError, match="Cannot load the model"):
        handler.model_fn(tmp_path)
    (tmp_path / "sentiment_export.json").write_text("{oops")
    with pytest.raises(ValueError, match="corrupted"):
        handler.model_fn(tmp_path)


def test_the_export_runs_on_its_own_code_copy(export_dir, tmp_path):
    """As in the container: code/ first on sys.path, so sentiment_core is the copy shipped in the export."""
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1] + '/code')\n"
        "import inference, sentiment_core\n"
        "assert sentiment_core.__file__.startswith(sys.argv[1]), sentiment_core.__file__\n"
        "model = inference.model_fn(sys.argv[1])\n"
        "data = inference.input_fn(json.dumps({'texts': json.loads(sys.argv[2])}), 'application/json')\n"
        "print(inference.output_fn(inference.predict_fn(data, model), 'application/json'))\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", script, str(export_dir), json.dumps(TEXTS)], capture_output=True,
                            text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])["predictions"]
    expected = load_run(RUN_ID).predict(TEXTS)
    assert [p["probability"] for p in got] == pytest.approx([p.probability for p in expected], abs=1e-6)


def test_headerless_csv_keeps_commas_inside_reviews(export_dir):
    """A one-column CSV whose rows hold commas: quoted or not, each row is one whole review."""
    model = handler.model_fn(str(export_dir))
    data = handler.input_fn("Great film, loved it\nAwful, boring\n", "text/csv")
    assert data == ["Great film, loved it", "Awful, boring"]
    prediction = handler.predict_fn(data, model)
    expected = load_run(RUN_ID).predict(data)
    out = handler.output_fn(prediction, "text/csv").strip().splitlines()
    assert [line.split(",")[0] for line in out] == [p.label for p in expected]
    assert handler.input_fn(b'"Great film, loved it"\r\n"He said ""wow"", twice"\n', "text/csv") == [
        "Great film, loved it", 'He said "wow", twice']
    assert handler.input_fn('"A review\nover two lines, still one"\n', "text/csv") == [
        "A review\nover two lines, still one"]


def test_ambiguous_csv_rows_are_refused():
    with pytest.raises(handler.InputError, match="row 1 has 2 quoted columns"):
        handler.input_fn('"first, part","second part"\n', "text/csv")
