"""Export: a self-contained folder that loads back with identical predictions, refuses bad runs and folders."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json

import pytest
import torch

from sentiment_core import cli
from sentiment_core.core import runs
from sentiment_core.inference.checkpoints import load_checkpoint
from sentiment_core.inference.sources import load_run
from sentiment_core.serving.export import folder as export
from tests.serving_helpers import RUN_ID

HAS_ONNXRUNTIME = (importlib.util.find_spec("onnxruntime") is not None
                   and importlib.util.find_spec("onnxscript") is not None)
TEXTS = ["A wonderful film, I loved it.", "Awful, boring, the worst plot.", "great " * 80]


def test_export_round_trip_gives_identical_predictions(run_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = tmp_path / "export"
    report = export.export_run(RUN_ID, out)
    assert report["round_trip_max_abs_logit_diff"] == 0.0 and report["onnx"] is None
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md", "requirements.txt",
            export.EXPORT_FILE} <= set(report["files"])
    assert not list(out.rglob("*.bin")) and not list(out.rglob("*.pt")) and not list(out.rglob("*.pkl"))
    assert ((out / "code" / "inference.py").exists()
            and (out / "code" / "sentiment_core" / "serving" / "handler.py").exists())

    model = AutoModelForSequenceClassification.from_pretrained(out, use_safetensors=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.model_max_length == 64
    source = load_run(RUN_ID)
    ids, mask = source.batch_tensors([source.encode(t) for t in TEXTS])
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids, attention_mask=mask).logits,
                           source.model(input_ids=ids, attention_mask=mask).logits)
    again = load_checkpoint(out)
    assert again.family == "bow" and again.max_length == 64
    assert [p.probability for p in again.predict(TEXTS)] == [p.probability for p in source.predict(TEXTS)]

    meta = json.loads((out / export.EXPORT_FILE).read_text())
    assert meta["run_id"] == RUN_ID and meta["family"] == "bow" and meta["max_length"] == 64
    assert meta["versions"]["torch"] == importlib.metadata.version("torch")


def test_requirements_pin_the_versions_used(run_dir, tmp_path):
    export.export_run(RUN_ID, tmp_path / "export")
    pins = dict(line.split("  #")[0].split("==")
                for line in (tmp_path / "export" / "requirements.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    for name in ("torch", "transformers", "tokenizers", "safetensors", "numpy"):
        assert pins[name] == importlib.metadata.version(name).split("+")[0]
    code_pins = (tmp_path / "export" / "code" / "requirements.txt").read_text()
    assert "transformers==" in code_pins and "torch==" not in code_pins  # the serving container brings torch


def test_export_refuses_bad_runs_and_folders(run_dir, tmp_path):
    with pytest.raises(runs.RunError, match="Invalid run id"):
        export.export_run("../tiny-bow", tmp_path / "a")
    with pytest.raises(runs.RunError, match="No run 'nope'"):
        export.export_run("nope", tmp_path / "a")
    runs.create_run("queued-run", {"model": "bow", "max_length": 64})
    with pytest.raises(runs.RunError, match="queued, not finished"):
        export.export_run("queued-run", tmp_path / "a")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        export.export_run(RUN_ID, tmp_path / "busy")
    with pytest.raises(ValueError, match="not an earlier export"):
        export.export_run(RUN_ID, tmp_path / "busy", force=True)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    export.export_run(RUN_ID, tmp_path / "done")
    with pytest.raises(ValueError, match="--force"):
        export.export_run(RUN_ID, tmp_path / "done")
    assert export.export_run(RUN_ID, tmp_path / "done", force=True)["round_trip_max_abs_logit_diff"] == 0.0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".done")]  # no half-written leftovers


def test_export_command(run_dir, tmp_path, capsys):
    assert cli.main(["export", "--run", RUN_ID, "--out", str(tmp_path / "cli")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["out"] == str((tmp_path / "cli").resolve()) and printed["family"] == "bow"
    assert cli.main(["export", "--run", "../x", "--out", str(tmp_path / "x")]) == 2
    assert "Invalid run id" in capsys.readouterr().err


def test_the_long_text_reading_round_trips_through_the_export(run_dir, tmp_path):
    from sentiment_core.core import runs
    from sentiment_core.serving import handler

    config = runs.read_config(run_dir)
    runs.write_json(run_dir / runs.RUN_FILE, {**config, "long_text": "head_tail", "head_tokens": 8})
    export.export_run(RUN_ID, tmp_path / "reading")
    meta = json.loads((tmp_path / "reading" / "sentiment_export.json").read_text())
    assert (meta["long_text"], meta["head_tokens"]) == ("head_tail", 8)
    model = handler.model_fn(str(tmp_path / "reading"))
    assert (model.long_text, model.head_tokens) == ("head_tail", 8)
    assert "as its first 8 tokens and last tokens" in (tmp_path / "reading" / "README.md").read_text()
