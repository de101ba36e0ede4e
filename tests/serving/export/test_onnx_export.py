"""ONNX: the export matches PyTorch on every family, a failure is reported, a slower model is kept with a warning."""

import importlib.util
import json

import numpy as np
import pytest
import torch

from sentiment_core.inference.checkpoints import load_checkpoint
from sentiment_core.inference.predictor import Predictor
from sentiment_core.inference.sources import load_run
from sentiment_core.serving.export import folder as export
from sentiment_core.serving.export import onnx_export
from tests.conftest import TINY_OPTIONS, make_reviews
from tests.serving_helpers import RUN_ID

HAS_ONNXRUNTIME = (importlib.util.find_spec("onnxruntime") is not None
                   and importlib.util.find_spec("onnxscript") is not None)


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


def _word_predictor(family: str, **options) -> Predictor:
    """An untrained word-family model with negation scopes, whose tokenizer knows the export's check texts."""
    from sentiment_core.data.opposites import NEGATION_CUES, NEGATION_SCOPE_ENDS
    from sentiment_core.data.text import TokenizerConfig, build_word_tokenizer, vocabulary_ids
    from sentiment_core.modeling import build_model

    torch.manual_seed(0)
    texts = list(make_reviews(40).text) + list(onnx_export.CHECK_TEXTS)
    tokenizer = build_word_tokenizer(texts, TokenizerConfig(vocab_size=200, min_frequency=1))
    if family != "lstm":
        options.update(negation_cue_ids=vocabulary_ids(tokenizer, NEGATION_CUES),
                       scope_end_ids=vocabulary_ids(tokenizer, NEGATION_SCOPE_ENDS))
    model = build_model(family, vocab_size=len(tokenizer), num_labels=1, pad_token_id=tokenizer.pad_token_id,
                        **TINY_OPTIONS[family], **options)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "negation" in name or "scope" in name:
                parameter.fill_(-0.7)  # a scope that changes the logits
    return Predictor(model, tokenizer, family, max_length=48)


@pytest.mark.skipif(not HAS_ONNXRUNTIME, reason="onnxruntime/onnxscript not installed (pip install .[onnx])")
def test_bow_with_negation_scopes_exports(tmp_path):
    predictor = _word_predictor("bow", sparse=False)
    assert predictor.model.config.negation_cue_ids
    info = onnx_export.export_onnx(predictor, tmp_path / "onnx" / "model.onnx")
    assert info["exported"], info["reason"]
    assert info["max_abs_logit_diff"] < 1e-4


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

    from sentiment_core.modeling import PretrainedEncoderForSequenceClassification

    torch.manual_seed(0)
    if family == "pretrained":
        model = PretrainedEncoderForSequenceClassification.from_backbone(tiny_backbone)
        predictor = Predictor(model, AutoTokenizer.from_pretrained(tiny_backbone), family, max_length=48)
    else:  # the transformer with negation scopes
        predictor = _word_predictor(family, **({"max_position_embeddings": 64} if family == "transformer" else {}))
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
