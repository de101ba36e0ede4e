"""Export: a self-contained folder with a model card that loads back with identical predictions; ONNX parity."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json

import numpy as np
import pytest
import torch

from sentiment_core import cli
from sentiment_core.core import runs
from sentiment_core.inference.checkpoints import load_checkpoint
from sentiment_core.inference.predictor import Predictor
from sentiment_core.inference.sources import load_run
from sentiment_core.serving.export import folder as export
from sentiment_core.serving.export import onnx_export
from tests.conftest import TINY_OPTIONS, make_reviews
from tests.serving_helpers import RUN_ID, install_tiny_run

HAS_ONNXRUNTIME = (importlib.util.find_spec("onnxruntime") is not None
                   and importlib.util.find_spec("onnxscript") is not None)
TEXTS = ["A wonderful film, I loved it.", "Awful, boring, the worst plot.", "great " * 80]


@pytest.fixture
def run_dir():
    return install_tiny_run()


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


def test_model_card_is_generated_from_the_run(run_dir, tmp_path):
    export.export_run(RUN_ID, tmp_path / "export")
    card = (tmp_path / "export" / "README.md").read_text()
    config = runs.read_config(run_dir)
    report = runs.read_json(run_dir / runs.EVAL_FILE)
    test = report["test"]
    assert card.startswith("---\n") and "pipeline_tag: text-classification" in card
    for heading in ("## Model", "## Training", "## Data", "## Evaluation", "## Intended use", "## Limitations",
                    "## How to use"):
        assert heading in card
    assert "`bow`" in card and f"| lr | {config['lr']:.6f} |" in card and f"| loss | {config['loss']} |" in card
    assert f"| accuracy | {test['accuracy']:.4f} |" in card and f"| ROC-AUC | {test['roc_auc']:.4f} |" in card
    assert f"| ECE (10 bins) | {test['calibration']['ece']:.4f} |" in card
    for bucket in test["length_buckets"]:
        assert f"| {bucket['label']} | {bucket['n']} | {bucket['accuracy']:.4f} |" in card
    assert "Maas et al., 2011" in card and "64 tokens" in card


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


@pytest.mark.skipif(not HAS_ONNXRUNTIME, reason="onnxruntime/onnxscript not installed (pip install .[onnx])")
def test_onnx_export_matches_pytorch(run_dir, tmp_path):
    import onnxruntime

    report = export.export_run(RUN_ID, tmp_path / "export", onnx=True)
    onnx_info = report["onnx"]
    assert onnx_info["exported"] is True, onnx_info
    assert onnx_info["max_abs_logit_diff"] < 1e-4 and onnx_info["onnxruntime_ms_per_batch"] > 0
    assert "onnx/model.onnx" in report["files"]
    assert "onnxruntime==" in (tmp_path / "export" / "requirements.txt").read_text()
    assert "onnx/model.onnx" in (tmp_path / "export" / "README.md").read_text()
    # Our own check on texts the exporter never saw, batch and lengths differing from its example.
    session = onnxruntime.InferenceSession(str(tmp_path / "export" / "onnx" / "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    predictor = load_checkpoint(tmp_path / "export")
    texts = list(make_reviews(6, seed=9).text)
    ids, mask = predictor.batch_tensors([predictor.encode(t) for t in texts])
    got = session.run(["logits"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
    with torch.no_grad():
        expected = predictor.model(input_ids=ids, attention_mask=mask).logits.numpy()
    assert np.abs(got - expected).max() < 1e-4


def test_a_family_that_does_not_export_is_reported_not_raised(run_dir, tmp_path, monkeypatch):
    def fails(*args, **kwargs):
        raise RuntimeError("Unsupported operator 'aten::something'\nmore detail")

    monkeypatch.setattr(onnx_export, "_torch_onnx_export", fails)
    predictor = load_run(RUN_ID)
    info = onnx_export.export_onnx(predictor, tmp_path / "onnx" / "model.onnx")
    if HAS_ONNXRUNTIME:
        assert info["exported"] is False and "aten::something" in info["reason"] and "more detail" not in info["reason"]
    else:
        assert info["exported"] is False and "onnxruntime" in info["reason"]
    assert not (tmp_path / "onnx").exists()
    report = export.export_run(RUN_ID, tmp_path / "export", onnx=True)
    assert report["onnx"]["exported"] is False and "No ONNX model" in (tmp_path / "export" / "README.md").read_text()
    model, served = onnx_export.serving_model(predictor, threads=1)  # a server falls back to torch with the reason
    assert model is None and served["exported"] is False and served["reason"] == info["reason"]


@pytest.mark.slow
@pytest.mark.skipif(not HAS_ONNXRUNTIME, reason="onnxruntime/onnxscript not installed (pip install .[onnx])")
@pytest.mark.parametrize("family", ["lstm", "transformer", "pretrained"])
def test_onnx_for_the_other_families(family, tmp_path, tiny_backbone):
    """Each family either exports within 1e-4 of PyTorch or says why not (benchmark tier: ~20 s each)."""
    from transformers import AutoTokenizer

    from sentiment_core.data.text import TokenizerConfig, build_word_tokenizer
    from sentiment_core.modeling import PretrainedEncoderForSequenceClassification, build_model

    torch.manual_seed(0)
    if family == "pretrained":
        model = PretrainedEncoderForSequenceClassification.from_backbone(tiny_backbone)
        tokenizer = AutoTokenizer.from_pretrained(tiny_backbone)
    else:
        tokenizer = build_word_tokenizer(make_reviews(40).text, TokenizerConfig(vocab_size=200, min_frequency=1))
        options = {**TINY_OPTIONS[family], **({"max_position_embeddings": 64} if family == "transformer" else {})}
        model = build_model(family, vocab_size=len(tokenizer), num_labels=1, pad_token_id=tokenizer.pad_token_id,
                            **options)
    predictor = Predictor(model, tokenizer, family, max_length=48)
    info = onnx_export.export_onnx(predictor, tmp_path / "onnx" / "model.onnx")
    print(family, json.dumps(info))
    if family == "transformer":  # ours must export (an unpadded-batch shortcut once broke its trace)
        assert info["exported"], info["reason"]
    if info["exported"]:
        assert info["max_abs_logit_diff"] < 1e-4 and (tmp_path / "onnx" / "model.onnx").exists()
    else:
        assert info["reason"] and not (tmp_path / "onnx").exists()


def test_an_onnx_model_slower_than_pytorch_is_kept_with_a_plain_warning(run_dir, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")

    def slow(model, session, predictor, texts, repeats, threads=None, budget_s=None):
        return {"timed_batch": [20, 64], "torch_ms_per_batch": 1.6, "onnxruntime_ms_per_batch": 171.0, "speedup": 0.01}

    monkeypatch.setattr(onnx_export, "_time_both", slow)
    report = export.export_run(RUN_ID, tmp_path / "slow", onnx=True)
    assert report["onnx"]["exported"] and "106.9x slower than PyTorch" in report["onnx"]["warning"]
    card = (tmp_path / "slow" / "README.md").read_text()
    assert "Slower than PyTorch" in card and "106.9x slower" in card


def test_the_model_card_names_the_recorded_data_source(run_dir, tmp_path):
    config = runs.read_config(run_dir)
    assert config["data_source"]["splits"]["test"]["fingerprint"]
    export.export_run(RUN_ID, tmp_path / "card")
    card = (tmp_path / "card" / "README.md").read_text()
    assert config["data_source"]["splits"]["test"]["fingerprint"] in card and "parquet folder" in card


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


def test_the_model_card_has_the_behaviour_suite(run_dir, tmp_path):
    export.export_run(RUN_ID, tmp_path / "behaviour")
    card = (tmp_path / "behaviour" / "README.md").read_text()
    assert "## Behaviour tests" in card and "negated_positive" in card and "| capability | failure rate |" in card
