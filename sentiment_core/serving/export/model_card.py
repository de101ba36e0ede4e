"""The model card (README.md) of an export, from the run's run.json and eval.json."""

from __future__ import annotations

import json

import numpy as np


FAMILY_DESCRIPTIONS = {
    "bow": "binarised bag of words plus hashed word bigrams (`nn.EmbeddingBag`), each item scaled by its "
           "Naive Bayes log-count ratio, then a linear head (fastText meets NBSVM)",
    "lstm": "word embeddings -> bidirectional LSTM over the real length of each review -> max and mean "
            "pooling -> linear head",
    "transformer": "word embeddings + learned positions -> pre-norm transformer encoder layers -> masked "
                   "mean pooling -> linear head, trained from scratch",
    "pretrained": "a pretrained encoder (`AutoModel` backbone) fine-tuned with dropout and a linear head on "
                  "the first token",
}


def _fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, (list, dict)):
        return f"`{json.dumps(value)}`"
    return str(value)


LONG_TEXT_CARD = {  # how the model card says a long review is read (the export keeps the run's setting)
    "truncate": "to its first {max_length} tokens, as in training",
    "head_tail": "as its first {head_tokens_text} and last tokens (the middle is skipped), as in training",
    "windows": "as overlapping windows of {max_length} tokens whose log-odds are averaged (trained on head and tail)",
}


def behaviour_section(run_id: str) -> str:
    """The model card's behaviour-suite tables (the suite runs now unless the run has it cached)."""
    from sentiment_core.evaluation import behaviour

    return behaviour.suite_markdown(behaviour.suite_for_run(run_id))


def model_card(config: dict, report: dict, meta: dict, behaviour: str | None = None) -> str:
    """README.md for an export: what the model is, how it was trained and tested, how to use it, its limits."""
    family, run_id = meta["family"], meta["run_id"]
    meta = {**meta, "head_tokens_text": f"{meta['head_tokens']} tokens" if meta.get("head_tokens") else "quarter"}
    test = report.get("test") or {}
    accuracy = test.get("accuracy")
    recorded = config.get("data_source") or {}
    if recorded:
        splits = ", ".join(f"{split} {info['rows']:,} rows (fingerprint `{info['fingerprint']}`)"
                           for split, info in recorded.get("splits", {}).items())
        data = f"Source used: {recorded['kind']} `{recorded['source']}`: {splits}."
    else:  # runs made before the data source was recorded
        data = f"Source used: `{config.get('data') or 'IMDB_DATA (not recorded; the default is stanfordnlp/imdb)'}`."
    lines = [
        "---",
        "language: en",
        "library_name: transformers",
        "pipeline_tag: text-classification",
        "tags: [sentiment-analysis, text-classification, imdb, sentiment-studio, " + family + "]",
        "datasets: [stanfordnlp/imdb]",
        "metrics: [accuracy, f1, roc_auc]",
        "---",
        "",
        f"# IMDB sentiment: `{run_id}` ({family})",
        "",
        f"A binary sentiment classifier for English movie reviews (negative / positive), exported from the run "
        f"`{run_id}` of IMDB Sentiment Studio. Test accuracy {_fmt(accuracy)} on {test.get('n', 'n/a')} IMDB test "
        f"reviews.",
        "",
        "## Model",
        "",
        f"- Family: `{family}`: {FAMILY_DESCRIPTIONS.get(family, family)}.",
        f"- Parameters: {meta['parameters']:,}; model type `{meta['model_type']}`.",
        f"- Output: {'one logit, P(positive) = sigmoid(logit)' if meta['num_labels'] == 1 else 'two logits (negative, positive), P = softmax'}.",
        f"- Reads at most {meta['max_length']} tokens at once; a longer review is read "
        + LONG_TEXT_CARD.get(meta.get("long_text") or "truncate", "").format(**meta) + ".",
        f"- Tokenizer: {'the backbone ' + repr(config.get('backbone')) + ' word pieces' if family == 'pretrained' else 'a word-level tokenizer trained on the training split (lower-cased, HTML tags removed)'}.",
        "",
        "## Training",
        "",
        "| setting | value |",
        "| --- | --- |",
    ]
    for key in ("model", "loss", "epochs", "batch_size", "lr", "max_length", "long_text", "head_tokens", "window_stride",
                "precision_used", "seed", "max_train_samples",
                "vocab_size", "min_frequency", "weight_decay", "warmup_ratio", "early_stopping_patience",
                "backbone", "model_options", "device", "world_size", "torch", "python", "created"):
        if key in config and config[key] not in (None, {}, ""):
            lines.append(f"| {key} | {_fmt(config[key], 6)} |")
    best = report.get("best_validation") or {}
    if best:
        lines += ["", f"The checkpoint kept is the best on validation (accuracy {_fmt(best.get('accuracy'))}, "
                      f"F1 {_fmt(best.get('f1'))}, BCE {_fmt(best.get('bce'))} at epoch {_fmt(best.get('epoch'), 2)}, "
                      f"step {best.get('step')}); the test split was never used to choose it."]
    if report.get("train_seconds"):
        lines.append(f"Training took {report['train_seconds']:.0f} s "
                     f"({_fmt(report.get('train_samples_per_second'), 1)} samples/s) on {config.get('device', 'n/a')}.")
    lines += [
        "",
        "## Data",
        "",
        "The IMDB Large Movie Review Dataset (Maas et al., 2011): 25,000 training and 25,000 test reviews, "
        "balanced, from reviews rated <= 4 (negative) or >= 7 (positive) out of 10, at most 30 reviews per movie; "
        "train and test movies are disjoint.",
        f"{data} Validation is a stratified, seeded share of train; "
        f"{'a seeded subset of ' + str(config['max_train_samples']) + ' training reviews was used' if config.get('max_train_samples') else 'the rest of train was used for training'}.",
        "",
        f"## Evaluation (test split, {test.get('n', 'n/a')} reviews)",
        "",
        "| metric | value |",
        "| --- | --- |",
    ]
    for key, name in (("accuracy", "accuracy"), ("precision", "precision"), ("recall", "recall"), ("f1", "F1"),
                      ("roc_auc", "ROC-AUC"), ("bce", "BCE (unweighted log loss)")):
        lines.append(f"| {name} | {_fmt(test.get(key))} |")
    calibration = test.get("calibration") or {}
    lines.append(f"| ECE ({calibration.get('n_bins', 10)} bins) | {_fmt(calibration.get('ece'))} |")
    if report.get("truncated_fraction") is not None:
        lines.append(f"| reviews truncated at {meta['max_length']} tokens | {report['truncated_fraction']:.2%} |")
    buckets = test.get("length_buckets") or []
    if buckets:
        lines += ["", "Accuracy per review length (token-count quartiles of the test split):", "",
                  "| length bucket | reviews | accuracy |", "| --- | --- | --- |"]
        lines += [f"| {b.get('label', b.get('bucket'))} | {b.get('n')} | {_fmt(b.get('accuracy'))} |" for b in buckets]
    reliability = calibration.get("reliability") or []
    if reliability:
        lines += ["", "Calibration (reliability: mean predicted P(positive) against the share that is positive):", "",
                  "| bin | reviews | mean P(positive) | fraction positive |", "| --- | --- | --- | --- |"]
        lines += [f"| {r.get('bin')} | {r.get('n')} | {_fmt(r.get('mean_probability'), 3)} | "
                  f"{_fmt(r.get('fraction_positive'), 3)} |" for r in reliability if r.get("n")]
    matrix = test.get("confusion_matrix")
    if matrix:
        lines += ["", "Confusion matrix (rows: true negative, positive; columns: predicted):", "",
                  "| | predicted negative | predicted positive |", "| --- | --- | --- |",
                  f"| negative | {matrix[0][0]} | {matrix[0][1]} |", f"| positive | {matrix[1][0]} | {matrix[1][1]} |"]
    if behaviour:
        lines += ["", "## Behaviour tests", "", "How the model handles negation, contrast, intensity, ratings written "
                  "in words, comparisons, typos and names (`python -m sentiment_core check`):", "", behaviour]
    onnx_info = meta.get("onnx")
    lines += [
        "",
        "## Intended use",
        "",
        "Classifying the overall sentiment of English movie reviews of a few sentences to a few paragraphs, in "
        "bulk or one at a time, and showing which words drove a prediction (the studio's explanations).",
        "",
        "## Limitations",
        "",
        "- Trained on IMDB movie reviews only: other domains (products, tweets, news), other languages and very "
        "short texts are outside what it was tested on; the studio adds a note when a text does not look like an "
        "English review.",
        "- Two classes only: mixed, neutral or sarcastic reviews are forced into negative or positive, and its "
        "errors concentrate there.",
        f"- Reviews longer than {meta['max_length']} tokens are judged on "
        + {"head_tail": "their beginning and end only (the middle is skipped)",
           "windows": "overlapping windows whose log-odds are averaged"}.get(meta.get("long_text"), "their start only") + ".",
        "- Probabilities are only as calibrated as the ECE above says, on this test distribution.",
        "- It inherits the biases of IMDB reviewers" + (" and of its pretrained backbone's corpus" if family == "pretrained" else "")
        + "; do not use it to make decisions about people.",
        "",
        "## How to use",
        "",
        "```python",
        "import sys",
        'sys.path.insert(0, "EXPORT_DIR/code")  # the copy of sentiment_core, unless it is installed',
        "from sentiment_core.inference.predictor import Predictor",
        "",
        'predictor = load_checkpoint("EXPORT_DIR")',
        'print(predictor.predict(["A moving, beautifully acted film."])[0])',
        "",
        "# or plain transformers: importing sentiment_core.modeling registers the model type",
        "import sentiment_core.modeling",
        "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
        'model = AutoModelForSequenceClassification.from_pretrained("EXPORT_DIR", use_safetensors=True)',
        'tokenizer = AutoTokenizer.from_pretrained("EXPORT_DIR")',
        "```",
        "",
        "`pip install -r requirements.txt` installs the versions it was exported with. For SageMaker, pack the "
        "folder as `model.tar.gz`: `code/inference.py` gives the PyTorch serving container `model_fn`, `input_fn` "
        "(application/json, text/plain, text/csv), `predict_fn` and `output_fn` (application/json, text/csv).",
    ]
    if onnx_info and onnx_info.get("exported"):
        lines += [
            "",
            f"`onnx/model.onnx` (inputs `input_ids`, `attention_mask`, int64, shape (batch, length); output `logits`) "
            f"matches PyTorch within {onnx_info['max_abs_logit_diff']:.1e} (max absolute logit difference). On the "
            f"exporting machine a batch of {onnx_info['timed_batch'][0]} texts took {onnx_info['onnxruntime_ms_per_batch']} ms "
            f"with onnxruntime against {onnx_info['torch_ms_per_batch']} ms with PyTorch."
            + (f" **Slower than PyTorch:** {onnx_info['warning']}." if onnx_info.get("warning") else ""),
            "",
            "```python",
            "import onnxruntime, numpy as np",
            "from transformers import AutoTokenizer",
            'tokenizer = AutoTokenizer.from_pretrained("EXPORT_DIR")',
            'session = onnxruntime.InferenceSession("EXPORT_DIR/onnx/model.onnx")',
            f'batch = tokenizer(["A moving film."], padding=True, truncation=True, max_length={meta["max_length"]}, '
            f'add_special_tokens={family == "pretrained"}, return_tensors="np")',
            'logits = session.run(["logits"], {"input_ids": batch["input_ids"].astype(np.int64), '
            '"attention_mask": batch["attention_mask"].astype(np.int64)})[0]',
            "```",
        ]
    elif onnx_info:
        lines += ["", f"No ONNX model: {onnx_info.get('reason')}."]
    lines += [
        "",
        "## Files",
        "",
        "`config.json`, `model.safetensors`, tokenizer files; `sentiment_export.json` (family, max length, versions, "
        "checks); `requirements.txt`; `code/` (SageMaker entry point and the sentiment_core package)"
        + ("; `onnx/model.onnx`" if onnx_info and onnx_info.get("exported") else "") + ".",
        f"Exported {meta['exported']}; reloading it gave logits within {meta['round_trip_max_abs_logit_diff']:.1e} "
        "of the run's own model.",
        "",
    ]
    return "\n".join(lines)
