"""Evaluate any model source on the IMDB test split into an evaluation-only run directory.

`evaluate_model(source) -> run directory` writes what a training run writes for its test report,
so an off-the-shelf model sits in the runs table beside trained runs and in the comparisons:
- `run.json`: `"kind": "evaluation"`, the source (`source`, `source_kind`, `revision`: the hub
  commit when known), the label mapping (`labels`, the --labels spec it was scored with, and
  `label_map`), `model` (the family: one of ours or "huggingface"), `max_length`, the test subset;
- `status.json`: queued -> running (step = reviews done of total_steps) -> finished, or failed
  with the error, or stopped (a STOP file, as for training);
- `best/`: the model and tokenizer as scored, saved with save_pretrained (safetensors): a copy, so
  `load_run`, export and serve read the run like any other, whatever happens later
  to the folder, the hub repository or the Hugging Face cache it came from;
- `eval.json` (`test`: the same `full_report` as training's) and `predictions.csv` (id,
  probability, label, predicted, length, truncated, in split order).
The test subset is drawn like training's (`max_test_samples`, seeded), so runs with the same
seed and subset size score the same reviews and pair up in McNemar's test.

Paired edits (`pairs`: a pairs file, `evaluation.pairs`) are scored after the test split into the run's
`pairs.json`; `add_pairs` scores them into an existing finished run of the same model instead, changing
nothing else there.
"""

from __future__ import annotations

import os
import platform
import re
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sentiment_core.core import runs
from sentiment_core.core.errors import InputError, RunError
from sentiment_core.core.metrics import full_report
from sentiment_core.core.settings import get_settings
from sentiment_core.data.imdb import column, load_imdb, seeded_subset, source_record
from sentiment_core.evaluation.behaviour.runner import run_fingerprint
from sentiment_core.evaluation.pairs import PairSet, check_readable, pairs_for_run, read_pairs, save_pairs, score_pairs
from sentiment_core.inference.checkpoints import quiet_progress
from sentiment_core.inference.sources import load_predictor, parse_source

EVALUATION_KIND = "evaluation"
STATUS_EVERY_SECONDS = 2.0  # status.json is rewritten at most this often while predicting
BATCH_SIZE = 32


class _Stopped(Exception):
    """A STOP file appeared: end the evaluation as `stopped`."""


def evaluate_model(source, max_test_samples: int | None = None, run_id: str | None = None, labels: str | None = None,
                   data: str | None = None, progress: Callable[[int, int], None] | None = None,
                   seed: int | None = None, device: str | None = None, batch_size: int = BATCH_SIZE,
                   long_text: str | None = None, head_tokens: int | None = None,
                   window_stride: int | None = None, pairs: PairSet | str | Path | None = None) -> Path:
    """Score `source` (run id, folder or hub id) on the IMDB test split; return the new run directory.

    max_test_samples: a seeded random subset of the test split (as training's --max-test-samples).
    run_id: the run's name (default eval-<source name>-<timestamp>); a taken id is refused.
    labels: a --labels mapping for the model's classes. data: the IMDB source (default IMDB_DATA).
    progress(done, total) after each batch (default: a tqdm bar on stderr). long_text, head_tokens,
    window_stride: read long reviews another way than the model's own setting (`Predictor.views`).
    pairs: a pairs file (or a `PairSet`) scored after the test split, into the run's pairs.json.
    Bad input (pairs file, source, run id, data, labels) raises before anything is written.
    """
    if max_test_samples is not None and (isinstance(max_test_samples, bool) or not isinstance(max_test_samples, int)
                                         or max_test_samples < 1):
        raise InputError(f"max_test_samples must be a positive whole number, got {max_test_samples!r}.")
    if pairs is not None and not isinstance(pairs, PairSet):
        pairs = read_pairs(pairs)  # before any model loads
    parsed = parse_source(source)
    seed = get_settings().seed if seed is None else seed
    run_id = run_id or runs.new_run_id("eval", _slug(parsed.value))
    runs.ensure_new_run(run_id, resumable=False)
    dataset = load_imdb(data)
    test = seeded_subset(dataset["test"], max_test_samples, seed)
    predictor = load_predictor(parsed, labels=labels, device=device)
    if long_text is not None or head_tokens is not None or window_stride is not None:
        predictor = predictor.with_reading(long_text, head_tokens, window_stride)
    if pairs is not None:
        check_readable(predictor, pairs)
    config = {
        "kind": EVALUATION_KIND, "model": predictor.family, "loss": None,
        "source": parsed.text, "source_kind": parsed.kind, "revision": predictor.revision,
        "labels": predictor.label_map.spec() or None, "label_map": predictor.label_map.to_dict(),
        "max_length": predictor.max_length, "long_text": predictor.long_text, "head_tokens": predictor.head_tokens,
        "window_stride": predictor.window_stride, "max_test_samples": max_test_samples, "seed": seed,
        "data": data, "data_source": source_record(data), "device": predictor.device,
        "precision_used": predictor.batch_precision(), "torch": _torch_version(), "python": platform.python_version(),
        "pairs_file": pairs.file if pairs is not None else None,
    }
    run_dir = runs.create_run(run_id, config)
    runs.update_status(run_dir, state="running", phase="testing", pid=os.getpid(), started=runs.now_iso(),
                       device=predictor.device, step=0, total_steps=test.num_rows, error=None, ended=None)
    try:
        (run_dir / runs.BEST_DIR).mkdir()
        with quiet_progress():  # the command's own bar follows the test split, not the file writes
            predictor.model.save_pretrained(run_dir / runs.BEST_DIR)  # safetensors
        predictor.tokenizer.save_pretrained(run_dir / runs.BEST_DIR)
        started = time.monotonic()
        predictions = predictor.predict(column(test, "text"), batch_size=batch_size,
                                        progress=_reporter(run_dir, progress, started), batch=True)
        seconds = time.monotonic() - started
        specials = 0 if predictor.word_level else predictor.tokenizer.num_special_tokens_to_add()
        _write_report(run_dir, config, np.asarray(column(test, "label"), dtype=int), predictions, specials, seconds)
        if pairs is not None:
            runs.update_status(run_dir, phase="pairs", step=0, total_steps=2 * len(pairs.pairs))
            result = score_pairs(predictor, pairs, batch_size=batch_size, model=run_id,
                                 progress=_reporter(run_dir, progress, time.monotonic(), "paired edits"),
                                 fingerprint=run_fingerprint(run_id))
            save_pairs(run_dir, result)
        runs.update_status(run_dir, state="finished", phase=None, ended=runs.now_iso(), step=test.num_rows,
                           eta_seconds=None)
    except (_Stopped, KeyboardInterrupt):
        runs.update_status(run_dir, state="stopped", phase=None, ended=runs.now_iso())
        (run_dir / runs.STOP_FILE).unlink(missing_ok=True)
    except BaseException as error:
        runs.update_status(run_dir, state="failed", phase=None, ended=runs.now_iso(),
                           error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc(limit=8))
        raise
    return run_dir


def add_pairs(run_id: str, pairs: PairSet | str | Path, source=None, progress: Callable[[int, int], None] | None = None,
              batch_size: int = BATCH_SIZE) -> Path:
    """Score a pairs file into an existing finished run (`pairs.json`), with the run's own model as it reads
    (label mapping, long-text setting); return the run directory. Nothing else in the run changes.
    progress(done, total) in texts (default: none).

    source: the model the caller meant (None: the run's): the run's id, or the source an evaluation run scored;
    another model is refused, so the run never holds results of a model it does not hold.
    """
    if not isinstance(pairs, PairSet):
        pairs = read_pairs(pairs)  # before any model loads
    run_dir = runs.run_path(run_id)
    if not run_dir.is_dir():
        raise runs.RunNotFoundError(f"No run {run_id!r} in {runs.models_dir()}: pick one from "
                                    "`python -m sentiment_core runs list`.")
    config = runs.read_config(run_dir)
    if source is not None:
        parsed = parse_source(source)
        if not ((parsed.kind == "run" and parsed.value == run_id)
                or (config.get("kind") == EVALUATION_KIND and config.get("source") == parsed.text)):
            held = (f"the evaluation of {config.get('source')}" if config.get("kind") == EVALUATION_KIND
                    else "its own trained model")
            raise RunError(f"Run {run_id!r} holds {held}, not {parsed.text}: paired edits go into a run only with its "
                           f"own model. Drop --model to score them with run {run_id}'s model, or drop --run-id to "
                           f"evaluate {parsed.text} into a new run.")
    pairs_for_run(run_id, pairs, progress=progress, batch_size=batch_size)
    return run_dir


def evaluation_runs(source) -> list[str]:
    """Finished evaluation runs of a model source (`parse_source`'s), newest first."""
    from sentiment_core.inference.sources import parse_source

    wanted = parse_source(source).text
    table = runs.list_runs()
    found = []
    for row in table.to_dict("records") if not table.empty else []:
        if row.get("state") != "finished":
            continue
        config = runs.read_json(Path(row["path"]) / runs.RUN_FILE) or {}
        if config.get("kind") == EVALUATION_KIND and config.get("source") == wanted:
            found.append(row["run_id"])
    return found


def _slug(value: str) -> str:
    """The last part of a run id, folder or hub id, as a run-id-safe name."""
    name = re.split(r"[/\\]", value.rstrip("/\\"))[-1] or "model"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._")[:40] or "model"


def _torch_version() -> str:
    import torch

    return torch.__version__


def _reporter(run_dir: Path, progress: Callable[[int, int], None] | None, started: float,
              description: str = "evaluating") -> Callable[[int, int], None]:
    """After each batch: the caller's progress (or a tqdm bar), status.json every few seconds, the STOP check."""
    bar = None
    last_status = [0.0]

    def report(done: int, total: int) -> None:
        nonlocal bar
        if progress is not None:
            progress(done, total)
        else:
            if bar is None:
                from tqdm.auto import tqdm

                bar = tqdm(total=total, desc=description, unit="review", file=sys.stderr)
            bar.update(done - bar.n)
            if done >= total:
                bar.close()
        now = time.monotonic()
        if now - last_status[0] >= STATUS_EVERY_SECONDS or done >= total:
            last_status[0] = now
            rate = done / max(now - started, 1e-9)
            runs.update_status(run_dir, step=done, total_steps=total, samples_per_second=round(rate, 2),
                               eta_seconds=round((total - done) / rate, 1) if rate else None)
        if runs.stop_requested(run_dir):
            raise _Stopped()

    return report


def _write_report(run_dir: Path, config: dict, labels: np.ndarray, predictions, specials: int, seconds: float) -> None:
    """predictions.csv and eval.json, with the columns and keys training's test report has
    (twin: training._write_test_report). specials: special tokens added to each review."""
    probabilities = np.array([p.probability for p in predictions])
    # Tokens of each review counted as training counts them (with the special tokens of sub-word
    # tokenizers), so the length quartiles line up with a trained run's.
    lengths = np.array([p.total_tokens + specials for p in predictions])
    runs.write_predictions(run_dir, probabilities, labels, lengths, [p.truncated for p in predictions])
    report = {
        "run_id": run_dir.name,
        "kind": EVALUATION_KIND,
        "model": config["model"],
        "loss": None,
        "source": config["source"],
        "test": full_report(labels, probabilities, lengths),
        "best_validation": None,
        "best_checkpoint": None,
        "eval_seconds": round(seconds, 2),
        "test_samples_per_second": round(len(labels) / seconds, 2) if seconds > 0 else None,
        "long_text": config["long_text"], "precision": config["precision_used"],
        "truncated_fraction": float(np.mean([p.truncated for p in predictions])),
    }
    runs.write_json(run_dir / runs.EVAL_FILE, report)
