"""The model card: huggingface_hub metadata that loads back, and facts taken from the run, never a local path."""

from huggingface_hub import ModelCard

from sentiment_core.core import runs
from sentiment_core.serving.export import folder as export
from sentiment_core.serving.export.model_card import backbone_hub_id, model_card
from tests.serving_helpers import RUN_ID

REPORT = {"test": {"n": 25000, "accuracy": 0.9151, "precision": 0.91, "recall": 0.92, "f1": 0.9155, "roc_auc": 0.97,
                   "bce": 0.22, "calibration": {"n_bins": 10, "ece": 0.03, "reliability": []},
                   "length_buckets": [], "confusion_matrix": [[11400, 1100], [1000, 11500]]}}
META = {"run_id": "minilm-mean", "family": "pretrained", "max_length": 256, "long_text": "head_tail",
        "head_tokens": None, "num_labels": 1, "parameters": 22_713_601, "model_type": "sentiment-pretrained",
        "exported": "2026-12-05T10:00:00+00:00", "round_trip_max_abs_logit_diff": 0.0, "onnx": None}
MODEL_CONFIG = {"pooling": "mean", "classifier_dropout": 0.1, "backbone_config": {"model_type": "bert"}}


def _local_backbone(tmp_path):
    folder = tmp_path / "site-packages" / "some_package" / "model"
    folder.mkdir(parents=True)
    (folder / "README.md").write_text("# all-MiniLM-L6-v2\n\n```python\nmodel = SentenceTransformer("
                                      "'sentence-transformers/all-MiniLM-L6-v2')\ntokenizer = AutoTokenizer."
                                      "from_pretrained('sentence-transformers/all-MiniLM-L6-v2')\n```\n")
    return folder


def test_a_mean_pooled_run_on_a_local_backbone_is_described_as_it_was_trained(tmp_path):
    folder = _local_backbone(tmp_path)
    config = {"model": "pretrained", "loss": "bce", "backbone": str(folder), "pooling": "mean", "lr": 5e-5}
    card = model_card(config, REPORT, META, MODEL_CONFIG, behaviour=None)
    assert "the mean of all tokens' last hidden states" in card and "first token" not in card
    assert "sentence-transformers/all-MiniLM-L6-v2" in card and str(tmp_path) not in card
    assert "as its first quarter and last tokens" in card  # head_tail with the default head
    loaded = ModelCard(card)
    assert loaded.data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert loaded.data.pipeline_tag == "text-classification" and "imdb" in loaded.data.tags
    results = {result.metric_type: result.metric_value for result in loaded.data.eval_results}
    assert results == {"accuracy": 0.9151, "f1": 0.9155, "roc_auc": 0.97}


def test_a_backbone_is_named_by_its_hub_id_or_its_folder_name_never_its_path(tmp_path):
    assert backbone_hub_id("distilbert-base-uncased") == "distilbert-base-uncased"
    assert backbone_hub_id("org/encoder") == "org/encoder"
    assert backbone_hub_id(str(_local_backbone(tmp_path))) == "sentence-transformers/all-MiniLM-L6-v2"
    bare = tmp_path / "my-encoder"
    bare.mkdir()
    assert backbone_hub_id(str(bare)) is None
    config = {"model": "pretrained", "backbone": str(bare), "pooling": "cls"}
    card = model_card(config, REPORT, META, {**MODEL_CONFIG, "pooling": "cls"})
    assert "a local encoder folder named 'my-encoder'" in card and str(bare) not in card
    assert "the first token's last hidden state" in card and "base_model" not in card


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


def test_the_model_card_names_the_recorded_data_source(run_dir, tmp_path):
    config = runs.read_config(run_dir)
    assert config["data_source"]["splits"]["test"]["fingerprint"]
    export.export_run(RUN_ID, tmp_path / "card")
    card = (tmp_path / "card" / "README.md").read_text()
    assert config["data_source"]["splits"]["test"]["fingerprint"] in card and "parquet folder" in card


def test_the_model_card_has_the_behaviour_suite(run_dir, tmp_path):
    export.export_run(RUN_ID, tmp_path / "behaviour")
    card = (tmp_path / "behaviour" / "README.md").read_text()
    assert "## Behaviour tests" in card and "negated_positive" in card and "| capability | failure rate |" in card
