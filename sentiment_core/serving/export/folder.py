"""Export a run as a self-contained model folder, with a model card, and optionally ONNX.

    python -m sentiment_core export --run R --out DIR [--onnx] [--force]

DIR holds:
- `config.json`, `model.safetensors`, the tokenizer files: `from_pretrained(DIR)` loads them
  (after `import sentiment_core.modeling`, which registers the families with the Auto classes);
- `sentiment_export.json`: family, max_length, run id, labels, versions, checks;
- `requirements.txt`: the versions this export was made with;
- `README.md`: the model card, written from the run's run.json and eval.json;
- `code/`: a SageMaker PyTorch entry point (`inference.py`) with a copy of the `sentiment_core`
  package it needs, so the folder runs without this repository (see `serving.handler`);
- with `--onnx`, `onnx/model.onnx` (inputs input_ids and attention_mask, output logits), only
  when onnxruntime reproduces the PyTorch logits within 1e-4 on several batch and sequence shapes.

The folder is written beside DIR and renamed into place, so a crash never leaves half an export.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

import sentiment_core
from sentiment_core.core import runs
from sentiment_core.core.errors import InputError, ModelSourceError
from sentiment_core.data import LABELS
from sentiment_core.inference.checkpoints import load_checkpoint, quiet_progress
from sentiment_core.inference.sources import load_run
from sentiment_core.serving.export.model_card import behaviour_section, model_card
from sentiment_core.serving.export.onnx_export import CHECK_TEXTS, ONNX_DIR, ONNX_FILE, ONNX_REQUIREMENTS, export_onnx

EXPORT_FILE = "sentiment_export.json"
CODE_DIR = "code"
# What loading and predicting needs (inference -> runs, settings, text, modeling); captum only explains.
REQUIREMENTS = ("torch", "transformers", "tokenizers", "safetensors", "numpy", "pandas", "pydantic",
                "pydantic-settings", "scikit-learn", "captum")


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
        raise runs.RunError(f"No run {run_id!r} in {runs.models_dir()}: "
                            "pick one from `python -m sentiment_core runs list`.")
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
    from transformers import AutoTokenizer

    family, max_length = source.family, source.max_length
    with quiet_progress():
        source.model.save_pretrained(folder, safe_serialization=True)
    # a copy: the cached one stays as it is
    tokenizer = AutoTokenizer.from_pretrained(runs.run_path(run_id) / runs.BEST_DIR)
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
        "labels": list(LABELS), "label_map": source.label_map.spec() or None,
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
    card = model_card(config, report, meta, source.model.config.to_dict(), behaviour_section(run_id))
    (folder / "README.md").write_text(card, encoding="utf-8")
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
    package = Path(sentiment_core.__file__).resolve().parent
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


# --- the model card --------------------------------------------------------------------------
