"""The model card (README.md) of an export: `huggingface_hub.ModelCard` filled from the run.

The metadata (`ModelCardData`: language, tags, datasets, base model, test results as a model-index) is
validated by huggingface_hub; the text comes from `model_card_template.md` with facts read from the run's
run.json, eval.json and the exported model's config: its pooling and head, how it reads long reviews, its
backbone by hub id (never a local path), the data it was trained on and its behaviour-suite tables.
"""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path

import numpy as np

TEMPLATE = Path(__file__).with_name("model_card_template.md")
TRAINING_KEYS = ("model", "loss", "epochs", "batch_size", "lr", "max_length", "long_text", "head_tokens",
                 "window_stride", "pooling", "precision_used", "seed", "max_train_samples", "vocab_size",
                 "min_frequency", "weight_decay", "warmup_ratio", "early_stopping_patience", "augment", "augment_share",
                 "augment_eval", "backbone",
                 "model_options", "device", "world_size", "torch", "python", "created")
TEST_METRICS = (("accuracy", "accuracy"), ("precision", "precision"), ("recall", "recall"), ("f1", "F1"),
                ("roc_auc", "ROC-AUC"), ("bce", "BCE (unweighted log loss)"))
LONG_TEXT_READING = {  # how a review longer than max_length is read (the export keeps the run's setting)
    "truncate": "to its first {max_length} tokens, as in training",
    "head_tail": "as its first {head} and last tokens (the middle is skipped), as in training",
    "windows": "as overlapping windows of {max_length} tokens whose log-odds are averaged (trained on head and tail)",
}
LONG_TEXT_LIMIT = {"head_tail": "their beginning and end only (the middle is skipped)",
                   "windows": "overlapping windows whose log-odds are averaged"}
# A model card names its own repository in its usage code: from_pretrained('org/name'), SentenceTransformer(...).
_HUB_REFERENCE = re.compile(r"""(?:from_pretrained|SentenceTransformer)\(\s*['"]([\w.-]+/[\w.-]+)['"]""")


def _fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, (list, dict)):
        return f"`{json.dumps(value)}`"
    return str(value)


def backbone_hub_id(backbone: str | None) -> str | None:
    """The hub id of a pretrained backbone: the id it was given by, or, for a local folder, the repository its
    own model card names in its usage code; None when neither says."""
    if not backbone:
        return None
    folder = Path(backbone).expanduser()
    if not folder.exists():  # a hub id (`org/name`, or a legacy name such as `distilbert-base-uncased`)
        return None if backbone.startswith(("/", ".", "~")) or "\\" in backbone else backbone
    card = folder / "README.md"
    names = _HUB_REFERENCE.findall(card.read_text(encoding="utf-8", errors="replace")) if card.is_file() else []
    return collections.Counter(names).most_common(1)[0][0] if names else None


def backbone_name(backbone: str | None) -> str | None:
    """How a card names a backbone: its hub id, else the local folder's name (never its path)."""
    if not backbone:
        return None
    return backbone_hub_id(backbone) or f"a local encoder folder named {Path(backbone).name!r} (no hub id found)"


def architecture(family: str, model_config: dict, backbone: str | None) -> str:
    """What the network is, from the exported model's config."""
    c = model_config
    if family == "bow":
        weighting = ", each item scaled by its Naive Bayes log-count ratio" if c.get("nb_weighting") else ""
        hidden = c.get("hidden_sizes") or []
        head = f"{len(hidden)} hidden layer(s) of {', '.join(map(str, hidden))} units -> linear head" if hidden \
            else "linear head"
        return (f"binarised bag of words plus {c.get('bigram_buckets', 0):,} hashed word-bigram buckets "
                f"(`nn.EmbeddingBag`, {c.get('embed_dim')} dimensions){weighting} -> {head}")
    if family == "lstm":
        kind = "bidirectional LSTM" if c.get("bidirectional", True) else "LSTM"
        return (f"{c.get('embed_dim')}-dimensional word embeddings -> {c.get('num_layers')}-layer {kind} "
                f"({c.get('hidden_size')} units) over the real length of each review -> max and mean pooling -> "
                "linear head")
    if family == "transformer":
        return (f"{c.get('d_model')}-dimensional word embeddings + learned positions -> {c.get('num_layers')} "
                f"pre-norm transformer encoder layers ({c.get('nhead')} heads) -> masked mean pooling -> linear "
                "head, trained from scratch")
    if family == "pretrained":
        pooled = "the mean of all tokens' last hidden states" if c.get("pooling") == "mean" else \
            "the first token's last hidden state"
        kind = (c.get("backbone_config") or {}).get("model_type", "encoder")
        return (f"the pretrained {kind} encoder {backbone_name(backbone)}, fine-tuned -> {pooled} -> dropout "
                f"{c.get('classifier_dropout')} -> linear head")
    return f"a {c.get('model_type', 'Hugging Face')} sequence classifier"


def model_lines(config: dict, meta: dict, model_config: dict) -> list[str]:
    """The card's "Model" bullets."""
    family = meta["family"]
    head = f"{meta['head_tokens']} tokens" if meta.get("head_tokens") else "quarter"
    reading = LONG_TEXT_READING[meta.get("long_text") or "truncate"].format(max_length=meta["max_length"], head=head)
    output = "one logit, P(positive) = sigmoid(logit)" if meta["num_labels"] == 1 else \
        "two logits (negative, positive), P = softmax"
    tokenizer = (f"the backbone's word pieces ({backbone_name(config.get('backbone'))})" if family == "pretrained"
                 else "a word-level tokenizer trained on the training split (lower-cased, HTML tags removed)")
    return [f"Family: `{family}`: {architecture(family, model_config, config.get('backbone'))}.",
            f"Parameters: {meta['parameters']:,}; model type `{meta['model_type']}`.",
            f"Output: {output}.",
            f"Reads at most {meta['max_length']} tokens at once; a longer review is read {reading}.",
            f"Tokenizer: {tokenizer}."]


def training_rows(config: dict) -> list[tuple[str, str]]:
    """The run's settings, as recorded; a local backbone folder is named, not located."""
    rows = []
    for key in TRAINING_KEYS:
        value = config.get(key)
        if value in (None, {}, ""):
            continue
        rows.append((key, backbone_name(value) if key == "backbone" else _fmt(value, 6)))
    return rows


def augmentation_note(config: dict) -> str | None:
    """What run.json records of counterfactual augmentation: how many edits of which kind, on which splits."""
    record = config.get("augmentation") or {}
    if config.get("augment", "none") == "none" or not record.get("train"):
        return None
    train = record["train"]
    edits = ", ".join(f"{count:,} {kind}" for kind, count in (train.get("edits") or {}).items()) or "no edits"
    skipped = "; ".join(f"{reason}: {count:,}" for reason, count in (train.get("skipped") or {}).items())
    validation = record.get("validation")
    where = (f" The validation split got {validation['added']:,} pairs the same way." if validation
             else " The validation split was not augmented.")
    return (f"Counterfactual augmentation: {train['chosen']:,} of the {train['reviews']:,} training reviews (a share "
            f"{_fmt(record.get('share'), 2)} drawn with seed {record.get('seed')}, and every review that writes a "
            f"score) were each cut into a minimal pair, one of their sentences as written with the review's label "
            f"and turned over with the flipped label; {train['added']:,} of them were added as two rows each ("
            f"{edits}{'; skipped: ' + skipped if skipped else ''}). The edits never use a word of the behaviour "
            f"suite's held-out half (lexicon `{record.get('lexicon')}`, split `{record.get('held_out_split')}`)."
            f"{where} The test split was never augmented.")


def training_notes(config: dict, report: dict) -> list[str]:
    best, notes = report.get("best_validation") or {}, []
    if (augmented := augmentation_note(config)) is not None:
        notes.append(augmented)
    if best:
        notes.append(f"The checkpoint kept is the best on validation (accuracy {_fmt(best.get('accuracy'))}, F1 "
                     f"{_fmt(best.get('f1'))}, BCE {_fmt(best.get('bce'))} at epoch {_fmt(best.get('epoch'), 2)}, "
                     f"step {best.get('step')}); the test split was never used to choose it.")
    if report.get("train_seconds"):
        notes.append(f"Training took {report['train_seconds']:.0f} s "
                     f"({_fmt(report.get('train_samples_per_second'), 1)} "
                     f"samples/s) on {config.get('device', 'n/a')}.")
    return notes


def data_line(config: dict) -> str:
    recorded = config.get("data_source") or {}
    if recorded:
        splits = ", ".join(f"{split} {info['rows']:,} rows (fingerprint `{info['fingerprint']}`)"
                           for split, info in recorded.get("splits", {}).items())
        used = f"Source used: {recorded['kind']} `{recorded['source']}`: {splits}."
    else:  # runs made before the data source was recorded
        used = f"Source used: `{config.get('data') or 'IMDB_DATA (not recorded; the default is stanfordnlp/imdb)'}`."
    subset = (f"a seeded subset of {config['max_train_samples']} training reviews was used"
              if config.get("max_train_samples") else "the rest of train was used for training")
    return f"{used} Validation is a stratified, seeded share of train; {subset}."


def evaluation_tables(report: dict, meta: dict) -> dict:
    """The template's evaluation rows: metrics, per-length buckets, reliability bins, confusion matrix."""
    test = report.get("test") or {}
    calibration = test.get("calibration") or {}
    metrics = [(name, _fmt(test.get(key))) for key, name in TEST_METRICS]
    metrics.append((f"ECE ({calibration.get('n_bins', 10)} bins)", _fmt(calibration.get("ece"))))
    if report.get("truncated_fraction") is not None:
        metrics.append((f"reviews truncated at {meta['max_length']} tokens", f"{report['truncated_fraction']:.2%}"))
    return {
        "metric_rows": metrics,
        "bucket_rows": [(b.get("label", b.get("bucket")), b.get("n"), _fmt(b.get("accuracy")))
                        for b in test.get("length_buckets") or []],
        "reliability_rows": [(r.get("bin"), r.get("n"), _fmt(r.get("mean_probability"), 3),
                              _fmt(r.get("fraction_positive"), 3)) for r in calibration.get("reliability") or []
                             if r.get("n")],
        "confusion": test.get("confusion_matrix"),
    }


def card_data(config: dict, report: dict, meta: dict):
    """The card's metadata: validated by huggingface_hub, with the test results as a model-index."""
    from huggingface_hub import EvalResult, ModelCardData

    test = report.get("test") or {}
    results = [EvalResult(task_type="text-classification", task_name="Sentiment analysis",
                          dataset_type="stanfordnlp/imdb", dataset_name="IMDB", dataset_split="test",
                          metric_type=key, metric_name=name, metric_value=round(float(test[key]), 4))
               for key, name in (("accuracy", "accuracy"), ("f1", "F1"), ("roc_auc", "ROC-AUC"))
               if isinstance(test.get(key), (int, float)) and np.isfinite(test[key])]
    base_model = backbone_hub_id(config.get("backbone")) if meta["family"] == "pretrained" else None
    return ModelCardData(
        language="en", library_name="transformers", pipeline_tag="text-classification",
        tags=["sentiment-analysis", "text-classification", "imdb", "sentiment-studio", meta["family"]],
        datasets=["stanfordnlp/imdb"], metrics=["accuracy", "f1", "roc_auc"], base_model=base_model,
        model_name=f"imdb-sentiment-{meta['run_id']}", eval_results=results or None)


def behaviour_section(run_id: str) -> str:
    """The card's behaviour-suite tables (the suite runs now unless the run has it cached)."""
    from sentiment_core.evaluation import behaviour

    return behaviour.suite_markdown(behaviour.suite_for_run(run_id))


def model_card(config: dict, report: dict, meta: dict, model_config: dict, behaviour: str | None = None) -> str:
    """README.md for an export: what the model is, how it was trained and tested, how to use it, its limits."""
    from huggingface_hub import ModelCard

    test = report.get("test") or {}
    card = ModelCard.from_template(
        card_data(config, report, meta), template_path=str(TEMPLATE),
        run_id=meta["run_id"], family=meta["family"], accuracy=_fmt(test.get("accuracy")),
        test_reviews=test.get("n", "n/a"), model_lines=model_lines(config, meta, model_config),
        training_rows=training_rows(config), training_notes=training_notes(config, report),
        data_line=data_line(config), **evaluation_tables(report, meta), behaviour=behaviour,
        max_length=meta["max_length"],
        long_reviews_limit=LONG_TEXT_LIMIT.get(meta.get("long_text"), "their start only"),
        backbone=config.get("backbone") if meta["family"] == "pretrained" else None, onnx=meta.get("onnx"),
        special_tokens=meta["family"] == "pretrained", exported=meta["exported"],
        round_trip=meta["round_trip_max_abs_logit_diff"])
    return str(card)
