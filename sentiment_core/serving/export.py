"""Export a run as a self-contained model folder, with a model card, and optionally ONNX.

    python -m sentiment_core export --run R --out DIR [--onnx] [--force]

DIR holds:
- `config.json`, `model.safetensors`, the tokenizer files: `from_pretrained(DIR)` loads them
  (after `import sentiment_core.modeling`, which registers the families with the Auto classes);
- `sentiment_export.json`: family, max_length, run id, labels, versions, checks;
- `requirements.txt`: the versions this export was made with;
- `README.md`: the model card, written from the run's run.json and eval.json;
- `code/`: a SageMaker PyTorch entry point (`inference.py`) with a copy of the `sentiment_core`
  package it needs, so the folder runs without this repository (see `sentiment_core.handler`);
- with `--onnx`, `onnx/model.onnx` (inputs input_ids and attention_mask, output logits), only
  when onnxruntime reproduces the PyTorch logits within 1e-4 on several batch and sequence shapes.

The folder is written beside DIR and renamed into place, so a crash never leaves half an export.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
import logging
import os
import platform
import shutil
import tempfile
import time
import types
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from sentiment_core.core.errors import InputError, ModelSourceError
from sentiment_core.core import runs
from sentiment_core.inference.checkpoints import load_checkpoint
from sentiment_core.inference.sources import load_run

EXPORT_FILE = "sentiment_export.json"
ONNX_DIR, ONNX_FILE = "onnx", "model.onnx"
CODE_DIR = "code"
ONNX_TOLERANCE = 1e-4
SERVING_TIMING_BUDGET_S = 3.0  # how long a server's startup times PyTorch against onnxruntime (serving_model)
# What loading and predicting needs (inference -> runs, settings, text, modeling); captum only explains.
REQUIREMENTS = ("torch", "transformers", "tokenizers", "safetensors", "numpy", "pandas", "pydantic",
                "pydantic-settings", "scikit-learn", "captum")
ONNX_REQUIREMENTS = ("onnx", "onnxruntime")
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
CHECK_TEXTS = (
    "What a wonderful film! The acting is superb and the story is moving. I loved every minute of it.",
    "Two hours I will never get back. The plot makes no sense and the dialogue is awful.",
    "The cinematography is beautiful, but the ending is a lazy mess. Not terrible, not good either.",
    "Great.",
    "A <br /><br />long review that keeps going: " + " ".join(["the acting was fine and the plot was dull"] * 120),
)


def export_model(source: str, out: str | Path, onnx: bool = False, force: bool = False) -> dict:
    """Export a model source: a run as it is; a checkpoint folder or hub id from its newest finished
    evaluation run (`evaluate --model SRC`), whose test report the model card is written from."""
    from sentiment_core.evaluation.evaluate_model import evaluation_runs
    from sentiment_core.inference.sources import parse_source

    parsed = parse_source(source)
    if parsed.kind == "run":
        return export_run(parsed.value, out, onnx=onnx, force=force)
    evaluated = evaluation_runs(parsed)
    if not evaluated:
        raise ModelSourceError(
            f"{parsed.text} has not been evaluated on IMDB yet, and the model card needs its test metrics: run "
            f"`python -m sentiment_core evaluate --model {parsed.text}` (add --max-test-samples N for a quicker, "
            "smaller test), then export again.")
    return export_run(evaluated[0], out, onnx=onnx, force=force)


def export_run(run_id: str, out: str | Path, onnx: bool = False, force: bool = False) -> dict:
    """Write the export of a finished run to `out`; return what was written and checked."""

    run_dir = runs.run_path(run_id)
    if not run_dir.is_dir():
        raise runs.RunError(f"No run {run_id!r} in {runs.models_dir()}: pick one from `python -m sentiment_core runs list`.")
    config = runs.read_config(run_dir)
    status = runs.effective_status(run_dir)
    if status.get("state") != "finished":
        raise runs.RunError(
            f"Run {run_id!r} is {status.get('state', 'unknown')}, not finished: the model card needs its test "
            "report, so finish it (train --resume) or export a finished run.")
    report = runs.read_json(run_dir / runs.EVAL_FILE)
    if not report:
        raise runs.RunError(f"Run {run_id!r} has no {runs.EVAL_FILE}: it was half-written; retrain it.")
    out = _prepare_out(Path(out), force)
    source = load_run(run_id, device="cpu")

    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        result = _write_export(tmp, run_id, config, report, source, onnx)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result["out"] = str(out)
    result["files"] = sorted(str(p.relative_to(out)) for p in out.rglob("*")
                             if p.is_file() and CODE_DIR not in p.relative_to(out).parts[:1])
    return result


def _prepare_out(out: Path, force: bool) -> Path:
    out = out.expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file: give a folder path.")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise InputError(f"--out {out} exists and is not empty: choose another folder, or pass --force to "
                             "replace an earlier export there.")
        if not (out / EXPORT_FILE).exists():
            raise InputError(f"--out {out} is not an earlier export (no {EXPORT_FILE}): --force only replaces "
                             "exports; choose an empty folder.")
    return out


def _write_export(folder: Path, run_id: str, config: dict, report: dict, source, onnx: bool) -> dict:

    family, max_length = source.family, source.max_length
    from transformers import AutoTokenizer

    source.model.save_pretrained(folder, safe_serialization=True)
    tokenizer = AutoTokenizer.from_pretrained(runs.run_path(run_id) / runs.BEST_DIR)  # a copy: the cached one stays as it is
    tokenizer.model_max_length = max_length  # what load_checkpoint reads back as max_length
    tokenizer.save_pretrained(folder)
    for leftover in folder.glob("*.bin"):  # only safetensors ship; nothing in the export is a pickle
        leftover.unlink()

    exported = load_checkpoint(folder, device="cpu", run_id=run_id)
    if exported.family != family or exported.max_length != max_length:
        raise RuntimeError(f"the export reads as {exported.family}/{exported.max_length}, not {family}/{max_length}")
    round_trip = _max_logit_difference(source, exported, CHECK_TEXTS)
    meta = {
        "run_id": run_id, "family": family, "max_length": max_length, "long_text": source.long_text,
        "head_tokens": source.head_tokens, "window_stride": source.window_stride,
        "labels": ["negative", "positive"], "label_map": source.label_map.spec() or None,
        "p_positive": source.label_map.describe(), "num_labels": int(source.model.config.num_labels),
        "data_source": config.get("data_source"),
        "model_type": source.model.config.model_type,
        "parameters": int(sum(p.numel() for p in source.model.parameters())),
        "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(REQUIREMENTS), "round_trip_max_abs_logit_diff": round_trip,
        "onnx": None,
    }
    if onnx:
        meta["onnx"] = export_onnx(source, folder / ONNX_DIR / ONNX_FILE)
    (folder / "requirements.txt").write_text(_requirements(meta["onnx"]), encoding="utf-8")
    _write_code(folder / CODE_DIR)
    (folder / "README.md").write_text(model_card(config, report, meta, behaviour_section(run_id)), encoding="utf-8")
    runs.write_json(folder / EXPORT_FILE, meta)
    return {"run_id": run_id, "family": family, "round_trip_max_abs_logit_diff": round_trip, "onnx": meta["onnx"]}


@torch.no_grad()
def _logits(predictor, texts) -> np.ndarray:
    encoded = [predictor.encode(text) for text in texts]
    return predictor.logits(*predictor.batch_tensors(encoded)).float().cpu().numpy()


def _max_logit_difference(first, second, texts) -> float:
    return float(np.abs(_logits(first, texts) - _logits(second, texts)).max())


def _versions(names) -> dict[str, str]:
    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    found["python"] = platform.python_version()
    return found


def _requirements(onnx_info: dict | None) -> str:
    versions = _versions(REQUIREMENTS + (ONNX_REQUIREMENTS if onnx_info and onnx_info.get("exported") else ()))
    lines = ["# The versions this model was exported with (python " + versions.pop("python") + ").",
             "# torch: for a CPU-only machine, install it first from https://download.pytorch.org/whl/cpu"]
    for name, version in versions.items():
        public = version.split("+")[0]  # 2.13.0+cpu -> 2.13.0: the local build tag is not on PyPI
        note = f"  # built as {version}" if public != version else ""
        lines.append(f"{name}=={public}{note}")
    return "\n".join(lines) + "\n"


def _write_code(folder: Path) -> None:
    """A SageMaker PyTorch entry point plus a copy of this package, so the export runs on its own."""
    package = Path(__file__).resolve().parent
    target = folder / "sentiment_core"
    for path in package.rglob("*.py"):
        relative = path.relative_to(package)
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / relative)
    (folder / "inference.py").write_text(
        '"""SageMaker entry point: the PyTorch serving container imports this file and calls\n'
        "model_fn(model_dir), input_fn(body, content_type), predict_fn(data, model) and\n"
        'output_fn(prediction, accept). code/ is on sys.path, so sentiment_core is the copy beside it."""\n\n'
        "from sentiment_core.serving.handler import input_fn, model_fn, output_fn, predict_fn  # noqa: F401\n",
        encoding="utf-8")
    requirements = [line for line in _requirements(None).splitlines()
                    if not line.startswith(("torch==", "# torch"))]  # the container brings torch
    (folder / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")


# --- ONNX ------------------------------------------------------------------------------------

class _LogitsOnly(torch.nn.Module):
    """(input_ids, attention_mask) -> logits: the graph ONNX exports."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def export_onnx(predictor, path: Path, repeats: int = 20) -> dict:
    """Export the predictor's model to ONNX, check it against PyTorch and time it with onnxruntime.

    Returns {"exported": bool, "path", "max_abs_logit_diff", "shapes_checked", timings...} or, when the
    family does not export or the check fails, {"exported": False, "reason": ...} (no file is kept).
    """
    info, _ = _export_and_check(predictor, Path(path), repeats)
    if info["exported"]:
        info = {**info, "path": f"{ONNX_DIR}/{ONNX_FILE}"}
    return info


class OnnxModel:
    """An onnxruntime session called like the model it was exported from: model(input_ids=, attention_mask=).logits
    (torch tensors in and out, on the CPU). Predictor.view_log_odds runs it in place of PyTorch (see `serving_model`)."""

    runtime = "onnxruntime"

    def __init__(self, session):
        self.session = session

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids=None):
        feeds = {"input_ids": input_ids.cpu().numpy(), "attention_mask": attention_mask.cpu().numpy()}
        logits = self.session.run(["logits"], feeds)[0]  # (batch, num_labels)
        return types.SimpleNamespace(logits=torch.from_numpy(logits))


def serving_model(predictor, threads: int, repeats: int = 20) -> tuple[OnnxModel | None, dict]:
    """The predictor's model exported to ONNX and loaded in onnxruntime on `threads` threads, for predictions
    (the file lives in a temporary folder only while it loads). -> (the model, or None when it does not export
    or fails the 1e-4 check, and the export's report: its reason, or its timing against PyTorch on `threads`
    for what a server mostly runs, one review, here a long one read to max_length)."""
    with tempfile.TemporaryDirectory(prefix="sentiment-onnx-") as folder:
        report, model = _export_and_check(predictor, Path(folder) / ONNX_FILE, repeats, threads, CHECK_TEXTS[-1:],
                                          SERVING_TIMING_BUDGET_S)
    return model, report


def _export_and_check(predictor, path: Path, repeats: int, threads: int | None = None,
                      timed_texts: tuple[str, ...] = CHECK_TEXTS * 4,
                      budget_s: float | None = None) -> tuple[dict, OnnxModel | None]:
    """Export, check within ONNX_TOLERANCE on several shapes, time on `timed_texts` (20 texts, one of them long)
    against PyTorch (on `threads` threads, else each library's default; see `_time_both`).
    -> (report, the loaded model or None); a failed export's folder is removed."""
    try:
        import onnxruntime
    except ImportError:
        return {"exported": False, "family": predictor.family,
                "reason": "onnxruntime is not installed: pip install onnx onnxruntime onnxscript"}, None
    model = _LogitsOnly(predictor.model.to("cpu").eval())
    texts = list(CHECK_TEXTS)
    example = [predictor.encode(text) for text in texts[:3]]
    input_ids, attention_mask = (t.cpu() for t in predictor.batch_tensors(example))
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        _torch_onnx_export(model, (input_ids, attention_mask), path)
    except Exception as error:  # noqa: BLE001 - an exporter failure is reported, not raised
        shutil.rmtree(path.parent, ignore_errors=True)
        return {"exported": False, "family": predictor.family,
                "reason": f"torch.onnx.export failed: {type(error).__name__}: {_first_line(error)}"}, None
    export_seconds = time.perf_counter() - started
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle threads leave the cores
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        worst, shapes = 0.0, []
        for batch in (texts, texts[:1], texts[3:4], texts * 4):  # padded batch, one text, one word, 20 texts
            ids, mask = (t.cpu() for t in predictor.batch_tensors([predictor.encode(text) for text in batch]))
            with torch.no_grad():
                expected = model(ids, mask).float().numpy()
            got = session.run(["logits"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
            worst = max(worst, float(np.abs(got - expected).max()))
            shapes.append(list(ids.shape))
    except Exception as error:  # noqa: BLE001 - e.g. a shape the exporter fixed at export time
        shutil.rmtree(path.parent, ignore_errors=True)
        return {"exported": False, "family": predictor.family,
                "reason": f"onnxruntime could not run the export on other shapes: {type(error).__name__}: "
                          f"{_first_line(error)}"}, None
    if not worst <= ONNX_TOLERANCE:
        shutil.rmtree(path.parent, ignore_errors=True)
        return {"exported": False, "family": predictor.family, "max_abs_logit_diff": worst,
                "reason": f"onnxruntime's logits differ from PyTorch's by {worst:.2e} (> {ONNX_TOLERANCE:g})"}, None
    timing = _time_both(model, session, predictor, list(timed_texts), repeats, threads, budget_s)
    warning = None
    if timing["speedup"] is not None and timing["speedup"] < 1:
        warning = (f"onnxruntime is {timing['onnxruntime_ms_per_batch'] / timing['torch_ms_per_batch']:.1f}x slower than PyTorch for this model on the exporting "
                   f"machine ({timing['onnxruntime_ms_per_batch']} ms against {timing['torch_ms_per_batch']} ms for a "
                   f"batch of {timing['timed_batch'][0]}): serve model.safetensors with PyTorch for speed; the ONNX file "
                   "is for runtimes without Python or PyTorch")
    return {"exported": True, "family": predictor.family,
            "max_abs_logit_diff": worst, "tolerance": ONNX_TOLERANCE, "shapes_checked": shapes,
            "export_seconds": round(export_seconds, 2), "onnxruntime": onnxruntime.__version__, **timing,
            "warning": warning}, OnnxModel(session)


def _torch_onnx_export(model, example, path: Path) -> None:
    """torch.onnx.export with the dynamo exporter (the default in torch 2.9+), batch and length dynamic."""
    batch, length = torch.export.Dim("batch", min=1, max=4096), torch.export.Dim("length", min=1, max=100_000)
    quiet = io.StringIO()
    onnx_logger = logging.getLogger("torch.onnx")
    level = onnx_logger.level
    onnx_logger.setLevel(logging.ERROR)  # e.g. "torchvision is not installed. Skipping torchvision::nms"
    try:
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model, example, str(path), input_names=["input_ids", "attention_mask"], output_names=["logits"],
                dynamo=True, external_data=False,
                dynamic_shapes={"input_ids": {0: batch, 1: length}, "attention_mask": {0: batch, 1: length}},
            )
    finally:
        onnx_logger.setLevel(level)


def _time_both(model, session, predictor, texts, repeats: int, threads: int | None = None,
               budget_s: float | None = None) -> dict:
    """Median ms of PyTorch and onnxruntime on one batch of `texts`, on `threads` threads (else each library's
    default), taken in turns so that a change in the machine's speed hits both; `repeats` turns, or fewer
    (at least 3) once `budget_s` seconds have passed."""
    ids, mask = (t.cpu() for t in predictor.batch_tensors([predictor.encode(text) for text in texts]))
    feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}

    def seconds(function) -> float:
        started = time.perf_counter()
        function()
        return time.perf_counter() - started

    default_threads = torch.get_num_threads()
    torch_times, onnx_times = [], []
    started = time.perf_counter()
    try:
        for repeat in range(repeats + 1):  # the first of each is a warm-up
            if budget_s is not None and repeat > 3 and time.perf_counter() - started > budget_s:
                break
            torch.set_num_threads(threads or default_threads)
            with torch.no_grad():
                torch_time = seconds(lambda: model(ids, mask))
            torch.set_num_threads(default_threads)
            onnx_time = seconds(lambda: session.run(["logits"], feeds))
            if repeat:
                torch_times.append(torch_time)
                onnx_times.append(onnx_time)
    finally:
        torch.set_num_threads(default_threads)
    torch_ms, onnx_ms = (round(float(np.median(times)) * 1000, 3) for times in (torch_times, onnx_times))
    return {"timed_batch": list(ids.shape), "torch_ms_per_batch": torch_ms, "onnxruntime_ms_per_batch": onnx_ms,
            "speedup": round(torch_ms / onnx_ms, 2) if onnx_ms else None}


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else repr(error))[:300]


# --- the model card --------------------------------------------------------------------------

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
