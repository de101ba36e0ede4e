"""Loss comparison: train one run per loss and seed, everything else identical, and judge the losses.

`python -m sentiment_core compare-losses --model transformer --losses bce,length_weighted_bce --seeds 3`
plans one run per (loss, seed) pair, trains them one after another (each a normal run directory,
`<comparison-id>-<loss>-s<seed>`, visible in the runs browser) and writes
`SENTIMENT_MODELS_DIR/comparisons/<comparison-id>/`:

- `plan.json`: the losses, seeds, shared training options and the planned run ids (fixed at creation);
- `status.json`: queued / running / finished / failed / stopped, pid, the run in progress, error;
- `comparison.json`: plan, runs, and `results` (rewritten each time a run ends):
  per loss mean and standard deviation over seeds of test accuracy, F1, ROC-AUC and unweighted BCE;
  accuracy per review-length quartile (one set of token-count edges for every run); calibration
  (ECE, pooled reliability curve); paired significance tests (McNemar per seed pair, paired t-test
  across seeds, overall and per length bucket); convergence (epochs to best, did the validation
  BCE plateau?); and a plain-language verdict that only claims what the p-values support;
- `compare.log`: what the comparison process printed; `STOP`: asks it to stop.

Within a pair (same seed) the runs share the data split, the training subset, the data order and
the initial weights (`training._build_model` seeds torch with the run's seed whatever the loss), so
the only difference is the loss. Raw training losses are never compared: the weighted loss is
smaller by construction. A comparison is resumable: finished runs are kept, stopped runs resume
from their last checkpoint, missing ones start.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from sentiment_core import monitor, runs
from sentiment_core.errors import ComparisonError, InputError, SentimentError
from sentiment_core.evaluation import N_CALIBRATION_BINS, assign_buckets, calibration, length_bucket_edges
from sentiment_core.losses import LOSSES, check_loss_name
from sentiment_core.training import FAMILIES, TrainConfig

COMPARISONS_DIR = runs.COMPARISONS_DIR  # under SENTIMENT_MODELS_DIR; runs.RESERVED_NAMES keeps it out of the runs
PLAN_FILE, STATUS_FILE, COMPARISON_FILE = "plan.json", "status.json", "comparison.json"
LOG_FILE, STOP_FILE = "compare.log", "STOP"
DEFAULT_LOSSES = ("bce", "length_weighted_bce")
DEFAULT_SEEDS = 3
DEFAULT_FIRST_SEED = 42
ALPHA = 0.05
PLATEAU_TOLERANCE = 0.01  # relative change of validation BCE that counts as "still moving"
LONG_BUCKET = "Q4"
COMPARISON_ID_MAX = 60  # leaves room for "-length_weighted_bce-s<seed>" within a 100-character run id
SUMMARY_METRICS = ("accuracy", "f1", "roc_auc", "bce", "precision", "recall")
# shared training options a plan may set (the `train` command's flags); model_options only in-process
OPTION_NAMES = ("epochs", "batch_size", "lr", "max_length", "max_train_samples", "max_eval_samples",
                "max_test_samples", "backbone", "data", "eval_steps", "early_stopping_patience",
                "vocab_size", "min_frequency")
LOSS_SCALE_NOTE = (
    "Raw training losses are not on one scale: length_weighted_bce multiplies each review's BCE by "
    "length / longest length in its batch (every weight at most 1), so its values are smaller by "
    "construction. The runs are compared on unweighted yardsticks only: test accuracy, F1, ROC-AUC, "
    "unweighted BCE, and the unweighted validation BCE for convergence."
)


# --- ids, paths, plans -----------------------------------------------------------------

def comparisons_dir() -> Path:
    return runs.models_dir() / COMPARISONS_DIR


def validate_comparison_id(comparison_id: str) -> str:
    if (not isinstance(comparison_id, str) or not runs.RUN_ID_PATTERN.match(comparison_id) or ".." in comparison_id
            or len(comparison_id) > COMPARISON_ID_MAX):
        raise ComparisonError(
            f"Invalid comparison id {comparison_id!r}: use 1-{COMPARISON_ID_MAX} letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return comparison_id


def comparison_path(comparison_id: str) -> Path:
    return comparisons_dir() / validate_comparison_id(comparison_id)


def new_comparison_id(model: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"cmp-{model}-{stamp}"


def comparison_run_id(comparison_id: str, loss: str, seed: int) -> str:
    return f"{comparison_id}-{loss}-s{seed}"


def parse_losses(losses: str | Sequence[str]) -> list[str]:
    """`"bce,length_weighted_bce"` or a list -> a list of two or more distinct known losses."""
    names = [n.strip() for n in (losses.split(",") if isinstance(losses, str) else losses) if str(n).strip()]
    for name in names:
        check_loss_name(name)
    if len(set(names)) != len(names):
        raise InputError(f"losses must be distinct, got {', '.join(names)}.")
    if len(names) < 2:
        raise InputError(f"A comparison needs two or more losses (of {', '.join(LOSSES)}), got {names or 'none'}.")
    return names


def parse_seeds(seeds: int | str | Sequence[int], first_seed: int = DEFAULT_FIRST_SEED) -> list[int]:
    """How many seeds (`3` -> first_seed, first_seed + 1, first_seed + 2) or which (`"1,7,9"`, a list)."""
    if isinstance(seeds, str):
        text = seeds.strip()
        values = [part.strip() for part in text.split(",") if part.strip()]
        try:
            numbers = [int(v) for v in values]
        except ValueError:
            raise InputError(f"seeds must be a count (e.g. 3) or a comma-separated list of seeds, got {seeds!r}.") from None
        seeds = numbers[0] if len(numbers) == 1 and "," not in text else numbers
    if isinstance(seeds, bool):
        raise InputError(f"seeds must be a count or a list of seeds, got {seeds!r}.")
    if isinstance(seeds, (int, np.integer)):
        if seeds < 1:
            raise InputError(f"seeds must be at least 1, got {seeds}.")
        if isinstance(first_seed, bool) or not isinstance(first_seed, (int, np.integer)) or first_seed < 0:
            raise InputError(f"the first seed must be a whole number >= 0, got {first_seed!r}.")
        return [int(first_seed) + i for i in range(int(seeds))]
    seeds = list(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in seeds):
        raise InputError(f"seeds must be whole numbers >= 0, got {seeds!r}.")
    if len(set(seeds)) != len(seeds):
        raise InputError(f"seeds must be distinct, got {seeds!r}.")
    return [int(s) for s in seeds]


def make_plan(model: str, losses: str | Sequence[str] = DEFAULT_LOSSES, seeds: int | str | Sequence[int] = DEFAULT_SEEDS,
              first_seed: int = DEFAULT_FIRST_SEED, comparison_id: str | None = None,
              model_options: dict | None = None, **options) -> dict:
    """The plan of a comparison: every (loss, seed) run with the same options. Bad values raise ValueError.

    `options` are the `train` command's shared settings (epochs, batch_size, lr, max_length,
    max_train_samples, ..., data); None means the family default. Runs are ordered seed by seed,
    so each finished pair already gives a paired result.
    """
    if model not in FAMILIES:
        raise InputError(f"Unknown model family {model!r}: choose one of {', '.join(FAMILIES)}.")
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise InputError(f"Unknown comparison option(s): {', '.join(unknown)}; known: {', '.join(OPTION_NAMES)}.")
    loss_names = parse_losses(losses)
    seed_list = parse_seeds(seeds, first_seed)
    options = {k: (v.strip() if isinstance(v, str) else v) for k, v in options.items()}
    options = {k: monitor._whole(v) if k not in ("lr", "epochs", "backbone", "data") else v
               for k, v in options.items() if v is not None and v != ""}
    comparison_id = validate_comparison_id(comparison_id or new_comparison_id(model))
    planned = []
    for seed in seed_list:
        for loss in loss_names:
            run_id = comparison_run_id(comparison_id, loss, seed)
            TrainConfig(model=model, loss=loss, seed=seed, run_id=run_id, model_options=dict(model_options or {}),
                        **options).resolved()  # raises ValueError naming the bad field
            planned.append({"run_id": run_id, "loss": loss, "seed": seed})
    return {"comparison_id": comparison_id, "model": model, "losses": loss_names, "seeds": seed_list,
            "options": options, "model_options": dict(model_options or {}), "runs": planned,
            "created": runs.now_iso()}


def _same_plan(a: dict, b: dict) -> bool:
    keys = ("model", "losses", "seeds", "options", "model_options", "runs")
    return all(a.get(k) == b.get(k) for k in keys)


def create_comparison(plan: dict) -> Path:
    """Write the comparison folder (plan.json, a queued status); the same plan again is accepted
    (it resumes), a different plan under a taken id is refused."""
    comparison_id = plan["comparison_id"]
    path = comparison_path(comparison_id)
    saved = runs.read_json(path / PLAN_FILE)
    if saved is not None:
        if not _same_plan(saved, plan):
            raise ComparisonError(
                f"Comparison {comparison_id!r} already exists with a different plan: continue it with "
                f"`compare-losses --resume {comparison_id}`, or pick another --id."
            )
        return path
    path.mkdir(parents=True, exist_ok=True)
    runs.write_json(path / PLAN_FILE, plan)
    update_status(comparison_id, state="queued", created=plan.get("created") or runs.now_iso())
    write_comparison(comparison_id)
    return path


def read_plan(comparison_id: str) -> dict:
    path = comparison_path(comparison_id)
    plan = runs.read_json(path / PLAN_FILE)
    if plan is None:
        raise ComparisonError(f"No comparison {comparison_id!r} in {comparisons_dir()} (no {PLAN_FILE}).")
    return plan


def train_config(plan: dict, entry: dict) -> TrainConfig:
    return TrainConfig(model=plan["model"], loss=entry["loss"], seed=entry["seed"], run_id=entry["run_id"],
                       model_options=dict(plan.get("model_options") or {}), **plan["options"])


def train_arguments(plan: dict, entry: dict) -> list[str]:
    """`["train", "--model", ..., "--loss", ..., "--seed", ...]` for one planned run (no --run-id)."""
    if plan.get("model_options"):
        raise InputError("model_options cannot be passed to `python -m sentiment_core train`: "
                         "run this comparison in-process (compare-losses --in-process, or "
                         "run_comparison(..., in_process=True)).")
    return monitor.train_arguments({"model": plan["model"], "loss": entry["loss"], "seed": entry["seed"],
                                    **plan["options"]})


# --- status ----------------------------------------------------------------------------

def read_status(comparison_id: str) -> dict:
    return runs.read_json(comparison_path(comparison_id) / STATUS_FILE) or {}


def update_status(comparison_id: str, **fields) -> dict:
    if "state" in fields and fields["state"] not in runs.STATES:
        raise ValueError(f"unknown state {fields['state']!r}; one of {runs.STATES}")
    status = {**read_status(comparison_id), **fields, "updated": runs.now_iso()}
    runs.write_json(comparison_path(comparison_id) / STATUS_FILE, status)
    return status


def effective_status(comparison_id: str) -> dict:
    """status.json, with an active state turned into `failed` when its process is gone (error from the log)."""
    status = read_status(comparison_id)
    if status.get("state") in runs.ACTIVE_STATES and status.get("pid") and not runs.pid_alive(status["pid"]):
        path = comparison_path(comparison_id)
        errors = [line for line in monitor.log_tail(path, lines=200, name=LOG_FILE).splitlines()
                  if line.startswith("error: ")] if (path / LOG_FILE).exists() else []
        status = {**status, "state": "failed", "error": status.get("error") or (
            errors[-1][len("error: "):] if errors else
            "the comparison process ended without recording a result (killed or crashed); see compare.log")}
    return status


def stop_requested(comparison_id: str) -> bool:
    return (comparison_path(comparison_id) / STOP_FILE).exists()


def request_stop(comparison_id: str) -> dict:
    """Stop a comparison: its STOP file (no further run starts) and a stop of the run in progress
    (it saves a checkpoint and ends `stopped`; resuming the comparison resumes it)."""
    plan = read_plan(comparison_id)
    (comparison_path(comparison_id) / STOP_FILE).write_text(runs.now_iso(), encoding="utf-8")
    for entry in plan["runs"]:
        run_dir = runs.run_path(entry["run_id"])
        if run_dir.is_dir() and runs.effective_status(run_dir).get("state") in runs.ACTIVE_STATES:
            monitor.stop_run(entry["run_id"])
    status = effective_status(comparison_id)
    if status.get("state") == "queued" and not runs.pid_alive(status.get("pid")):
        status = update_status(comparison_id, state="stopped", ended=runs.now_iso())
    return status


def launch_comparison(comparison_id: str, parallel: int = 1, python: str | None = None) -> subprocess.Popen:
    """Start `python -m sentiment_core compare-losses --resume ID` as its own process (own session,
    output to compare.log): it trains the planned runs one after another, then writes the results."""
    read_plan(comparison_id)
    status = effective_status(comparison_id)
    if status.get("state") in runs.ACTIVE_STATES and runs.pid_alive(status.get("pid")):
        raise ComparisonError(f"Comparison {comparison_id!r} is already {status['state']} (process {status['pid']}).")
    path = comparison_path(comparison_id)
    (path / STOP_FILE).unlink(missing_ok=True)
    command = [python or sys.executable, "-m", "sentiment_core", "compare-losses", "--resume", comparison_id]
    if parallel != 1:
        command += ["--parallel", str(parallel)]
    with (path / LOG_FILE).open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, cwd=os.getcwd())
    update_status(comparison_id, state="queued", pid=process.pid, command=command, error=None, ended=None)
    return process


# --- running the plan ------------------------------------------------------------------

class _Termination:
    requested = False

    @classmethod
    def install(cls) -> None:
        try:
            signal.signal(signal.SIGTERM, lambda signum, frame: setattr(cls, "requested", True))
        except ValueError:  # not the main thread
            pass


def run_state(run_id: str) -> str:
    """What the runner should do with a planned run: finished, resume, start, or wait (running elsewhere)."""
    run_dir = runs.run_path(run_id)
    if not run_dir.is_dir():
        return "start"
    status = runs.effective_status(run_dir)
    state = status.get("state")
    if state == "finished" and (run_dir / runs.EVAL_FILE).exists():
        return "finished"
    if state in runs.ACTIVE_STATES and runs.pid_alive(status.get("pid")):
        return "wait"
    if runs.last_checkpoint(run_dir) is not None and (run_dir / runs.RUN_FILE).exists():
        return "resume"
    return "start"


def _clear_unusable_run(run_id: str) -> None:
    """A planned run that died before its first checkpoint: start it again from scratch."""
    run_dir = runs.run_path(run_id)
    if run_dir.is_dir():
        status = runs.read_status(run_dir)
        if runs.pid_alive(status.get("pid")) and status.get("state") in runs.ACTIVE_STATES:
            raise ComparisonError(f"Run {run_id!r} is still running (process {status['pid']}).")
        shutil.rmtree(run_dir)


def run_comparison(comparison_id: str, in_process: bool = False, parallel: int = 1, poll_seconds: float = 1.0,
                   log: Callable[[str], None] = print) -> dict:
    """Train the runs of a comparison that are not finished yet, then write comparison.json.

    Finished runs are kept; stopped (or crashed) runs with a checkpoint resume; the rest start.
    By default each run is `python -m sentiment_core train ...` in its own process, `parallel` at a
    time (1: one after another, so a small machine is not oversubscribed); `in_process=True` calls
    `train()` here instead (used by the tests; a STOP then takes effect between runs). A STOP
    (or SIGTERM) stops the run in progress and starts no other. Returns comparison.json.
    """
    plan = read_plan(comparison_id)
    if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
        raise InputError(f"parallel must be a whole number >= 1, got {parallel!r}.")
    if in_process and parallel != 1:
        raise InputError("in-process comparisons train one run at a time (parallel 1).")
    if not in_process:
        for entry in plan["runs"]:
            if run_state(entry["run_id"]) != "finished":
                train_arguments(plan, entry)  # model_options are refused here, before anything runs
    status = effective_status(comparison_id)
    if status.get("state") in runs.ACTIVE_STATES and status.get("pid") not in (None, os.getpid()) \
            and runs.pid_alive(status["pid"]):
        raise ComparisonError(f"Comparison {comparison_id!r} is already running in process {status['pid']}.")
    update_status(comparison_id, state="running", pid=os.getpid(), error=None, traceback=None, ended=None,
                  started=status.get("started") or runs.now_iso(), parallel=parallel)
    _Termination.requested = False
    _Termination.install()
    failed: list[str] = []
    try:
        from sentiment_core.data import load_imdb

        load_imdb(plan["options"].get("data"))  # a bad source fails once, clearly, before any run
        if in_process:
            failed = _run_in_process(comparison_id, plan, log)
        else:
            failed = _run_subprocesses(comparison_id, plan, parallel, poll_seconds, log)
    except BaseException as error:
        stopped = isinstance(error, KeyboardInterrupt)
        update_status(comparison_id, state="stopped" if stopped else "failed", ended=runs.now_iso(), current_run=None,
                      error=None if stopped else f"{type(error).__name__}: {error}")
        write_comparison(comparison_id)
        raise
    states = {e["run_id"]: run_state(e["run_id"]) for e in plan["runs"]}
    if failed:
        final = dict(state="failed", error=f"run {failed[0]} failed: {_run_error(failed[0])}; fix it and resume "
                                          f"with `python -m sentiment_core compare-losses --resume {comparison_id}`")
    elif all(state == "finished" for state in states.values()):
        final = dict(state="finished", error=None)
    else:
        final = dict(state="stopped", error=None)
    (comparison_path(comparison_id) / STOP_FILE).unlink(missing_ok=True)  # handled: a resume starts clean
    update_status(comparison_id, ended=runs.now_iso(), current_run=None, **final)
    result = write_comparison(comparison_id)
    log(f"comparison {comparison_id}: {final['state']}")
    return result


def _stop_wanted(comparison_id: str) -> bool:
    from sentiment_core.training import _TerminationFlag

    return stop_requested(comparison_id) or _Termination.requested or _TerminationFlag.requested


def _run_error(run_id: str) -> str:
    try:
        return monitor.run_status(run_id).get("error") or "see its train.log"
    except runs.RunError as error:
        return str(error)


def _run_in_process(comparison_id: str, plan: dict, log) -> list[str]:
    from sentiment_core.training import train

    for index, entry in enumerate(plan["runs"], start=1):
        run_id = entry["run_id"]
        action = run_state(run_id)
        if action == "finished":
            continue
        if _stop_wanted(comparison_id):
            break
        if action == "wait":
            raise ComparisonError(f"Run {run_id!r} is running in another process; resume the comparison when it ends.")
        update_status(comparison_id, current_run=run_id)
        log(f"[{index}/{len(plan['runs'])}] {'resuming' if action == 'resume' else 'training'} {run_id}")
        try:
            if action == "resume":
                train(TrainConfig(run_id=run_id, resume=True))
            else:
                _clear_unusable_run(run_id)
                train(train_config(plan, entry))
        except Exception as error:  # recorded in the run's status.json by train()
            log(f"run {run_id} failed: {type(error).__name__}: {error}")
            return [run_id]
        finally:
            write_comparison(comparison_id)
        if runs.read_status(runs.run_path(run_id)).get("state") == "stopped":
            log(f"{run_id}: stopped")
            break
    return []


def _run_subprocesses(comparison_id: str, plan: dict, parallel: int, poll_seconds: float, log) -> list[str]:
    pending = [e for e in plan["runs"] if run_state(e["run_id"]) != "finished"]
    active: dict[str, Callable[[], bool]] = {}  # run id -> "still running?"
    stopping: set[str] = set()
    failed: list[str] = []
    try:
        _poll_runs(comparison_id, plan, parallel, poll_seconds, log, pending, active, stopping, failed)
    except KeyboardInterrupt:  # Ctrl-C in the foreground: the runs live in their own sessions, stop them too
        for run_id in active:
            if run_id not in stopping:
                monitor.stop_run(run_id)
        raise
    return failed


def _poll_runs(comparison_id, plan, parallel, poll_seconds, log, pending, active, stopping, failed) -> None:
    total = len(plan["runs"])
    while pending or active:
        stop = _stop_wanted(comparison_id)
        if stop:
            for run_id in active:
                if run_id not in stopping:
                    log(f"stopping {run_id}")
                    monitor.stop_run(run_id)
                    stopping.add(run_id)
        while pending and not stop and not failed and len(active) < parallel:
            entry = pending.pop(0)
            run_id = entry["run_id"]
            action = run_state(run_id)
            index = plan["runs"].index(entry) + 1
            if action == "finished":
                continue
            if action == "wait":
                pid = runs.read_status(runs.run_path(run_id)).get("pid")
                log(f"[{index}/{total}] waiting for {run_id} (running in process {pid})")
                active[run_id] = lambda pid=pid: runs.pid_alive(pid)
            else:
                if action == "resume":
                    log(f"[{index}/{total}] resuming {run_id}")
                    process = monitor.start_run(["train", "--resume"], run_id)
                else:
                    _clear_unusable_run(run_id)
                    log(f"[{index}/{total}] training {run_id}")
                    process = monitor.start_run(train_arguments(plan, entry), run_id)
                active[run_id] = lambda process=process: process.poll() is None
            update_status(comparison_id, current_run=run_id)
        if not active:
            break
        time.sleep(poll_seconds)
        for run_id in [r for r, alive in active.items() if not alive()]:
            del active[run_id]
            state = monitor.run_status(run_id).get("state")
            log(f"{run_id}: {state}")
            if state == "failed":
                failed.append(run_id)
            elif state == "stopped" and run_id not in stopping:  # stopped from the Train page: stop here too
                log(f"{run_id} was stopped from outside: the comparison stops too")
                (comparison_path(comparison_id) / STOP_FILE).write_text(runs.now_iso(), encoding="utf-8")
            write_comparison(comparison_id)


# --- reading results -------------------------------------------------------------------

@dataclasses.dataclass
class RunResult:
    """A finished run's test report, test predictions and validation history."""

    run_id: str
    group: str
    seed: int | None
    loss: str | None
    report: dict
    predictions: pd.DataFrame
    metrics: pd.DataFrame
    config: dict


def load_run(run_id: str, group: str | None = None) -> RunResult:
    """A finished run's results; ValueError naming the run when it has none yet."""
    run_dir = runs.run_path(run_id)
    if not run_dir.is_dir():
        raise ComparisonError(f"No run {run_id!r} in {runs.models_dir()}.")
    config = runs.read_config(run_dir)
    report = runs.read_json(run_dir / runs.EVAL_FILE)
    predictions_file = run_dir / runs.PREDICTIONS_FILE
    if report is None or not predictions_file.exists():
        state = runs.effective_status(run_dir).get("state", "unknown")
        raise ComparisonError(f"Run {run_id!r} has no test report yet (it is {state}): only finished runs can be compared.")
    predictions = pd.read_csv(predictions_file)
    return RunResult(run_id=run_id, group=group or config.get("loss") or run_id, seed=config.get("seed"),
                     loss=config.get("loss"), report=report, predictions=predictions,
                     metrics=runs.read_metrics(run_dir), config=config)


def _aligned(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Two prediction tables on the same test reviews (same ids, labels and lengths, in order)."""
    return (len(a) == len(b) and np.array_equal(a["id"].to_numpy(), b["id"].to_numpy())
            and np.array_equal(a["label"].to_numpy(), b["label"].to_numpy())
            and np.array_equal(a["length"].to_numpy(), b["length"].to_numpy()))


def shared_edges(results: Sequence[RunResult]) -> tuple[list[float], bool]:
    """One set of token-count quartile edges for every run, and whether all were tested on the same reviews.

    When every run saw the same test reviews, these are exactly the edges in each run's eval.json.
    """
    first = results[0].predictions
    shared = all(_aligned(first, r.predictions) for r in results[1:])
    if shared:
        return length_bucket_edges(first["length"]), True
    tables, seen = [], set()
    for result in results:
        key = (len(result.predictions), tuple(result.predictions["length"].head(50)))
        if key not in seen:
            seen.add(key)
            tables.append(result.predictions["length"])
    return length_bucket_edges(pd.concat(tables)), False


def _summary(values: Sequence[float]) -> dict:
    """Mean and sample standard deviation (ddof 1; None with one value) over seeds."""
    array = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    return {"mean": float(array.mean()) if array.size else None,
            "std": float(array.std(ddof=1)) if array.size > 1 else None,
            "values": [float(v) if v is not None else None for v in values], "runs": int(array.size)}


def _bucket_accuracy(predictions: pd.DataFrame, edges: list[float]) -> list[float]:
    buckets = assign_buckets(predictions["length"], edges)
    correct = (predictions["probability"].to_numpy() >= 0.5).astype(int) == predictions["label"].to_numpy()
    return [float(correct[buckets == i].mean()) if (buckets == i).any() else float("nan")
            for i in range(len(edges) - 1)]


def bucket_labels(edges: list[float]) -> list[dict]:
    return [{"bucket": f"Q{i + 1}", "label": f"Q{i + 1}: {int(edges[i])}-{int(edges[i + 1])} tokens",
             "min_tokens": edges[i], "max_tokens": edges[i + 1]} for i in range(len(edges) - 1)]


# --- significance ----------------------------------------------------------------------

def mcnemar(correct_a, correct_b) -> dict:
    """McNemar's exact test on paired correctness (two-sided binomial test on the discordant pairs).

    a_only: reviews A gets right and B wrong; b_only: the reverse. p = 1 when there are none.
    """
    correct_a = np.asarray(correct_a, dtype=bool)
    correct_b = np.asarray(correct_b, dtype=bool)
    if correct_a.shape != correct_b.shape:
        raise ValueError(f"McNemar needs paired predictions, got {correct_a.size} and {correct_b.size}.")
    a_only = int((correct_a & ~correct_b).sum())
    b_only = int((~correct_a & correct_b).sum())
    discordant = a_only + b_only
    p_value = float(stats.binomtest(a_only, discordant, 0.5).pvalue) if discordant else 1.0
    return {"n": int(correct_a.size), "both_correct": int((correct_a & correct_b).sum()), "a_only": a_only,
            "b_only": b_only, "both_wrong": int((~correct_a & ~correct_b).sum()),
            "accuracy_a": float(correct_a.mean()) if correct_a.size else None,
            "accuracy_b": float(correct_b.mean()) if correct_b.size else None,
            "difference": float(correct_a.mean() - correct_b.mean()) if correct_a.size else None,
            "p_value": min(1.0, p_value)}


def paired_t_test(values_a: Sequence[float], values_b: Sequence[float]) -> dict:
    """Paired t-test across seeds on a - b; p is None (with the reason) when it cannot be computed."""
    a = np.asarray(values_a, dtype=float)
    b = np.asarray(values_b, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    differences = a - b
    out = {"test": "paired t-test", "n_pairs": int(differences.size),
           "mean_difference": float(differences.mean()) if differences.size else None,
           "std_difference": float(differences.std(ddof=1)) if differences.size > 1 else None,
           "statistic": None, "p_value": None, "reason": None}
    if differences.size < 2:
        out["reason"] = "needs two or more seeds"
    elif np.allclose(differences, differences[0], rtol=0, atol=1e-12):
        if abs(differences[0]) < 1e-12:
            out.update(statistic=0.0, p_value=1.0)
        else:
            out["reason"] = "the difference is the same in every seed (no spread): the t-test is undefined"
    else:
        result = stats.ttest_rel(a, b)
        out.update(statistic=float(result.statistic), p_value=float(result.pvalue))
    return out


def _decide(t_test: dict, tests: list[dict], alpha: float) -> dict:
    """Which test decides, its p-value, and whether the difference is significant at alpha.

    Two or more seeds: the paired t-test across seeds. One seed (or no spread across seeds): McNemar,
    which must agree in every seed (p < alpha, same direction) to count.
    """
    mcnemar_ps = [t["p_value"] for t in tests]
    significant_seeds = sum(p < alpha for p in mcnemar_ps)
    differences = [t["difference"] for t in tests]
    if t_test.get("p_value") is not None:
        return {"test": "paired t-test across seeds", "p_value": t_test["p_value"],
                "significant": t_test["p_value"] < alpha, "mean_difference": t_test["mean_difference"],
                "mcnemar_significant": significant_seeds, "mcnemar_pairs": len(tests)}
    if tests:
        same_direction = all(d > 0 for d in differences) or all(d < 0 for d in differences)
        return {"test": "McNemar" if len(tests) == 1 else "McNemar in every seed", "p_value": max(mcnemar_ps),
                "significant": significant_seeds == len(tests) and same_direction,
                "mean_difference": float(np.mean(differences)),
                "mcnemar_significant": significant_seeds, "mcnemar_pairs": len(tests)}
    return {"test": None, "p_value": None, "significant": False,
            "mean_difference": t_test.get("mean_difference"), "mcnemar_significant": 0, "mcnemar_pairs": 0,
            "reason": t_test.get("reason")}


def _pairs(a: list[RunResult], b: list[RunResult]) -> tuple[list[tuple[RunResult, RunResult]], str]:
    """Runs of two groups paired by seed (or by order when no seed matches and the sizes agree)."""
    by_seed_b = {r.seed: r for r in b}
    matched = [(r, by_seed_b[r.seed]) for r in a if r.seed in by_seed_b]
    if matched and len({r.seed for r in a}) == len(a) and len(by_seed_b) == len(b):
        return matched, "seed"
    if len(a) == len(b):
        return list(zip(a, b)), "order"
    return [], "none"


def pair_significance(name_a: str, group_a: list[RunResult], name_b: str, group_b: list[RunResult],
                      edges: list[float], alpha: float = ALPHA) -> dict:
    """McNemar per seed pair (overall and per length bucket), paired t-tests across seeds, the decision."""
    pairs, paired_by = _pairs(group_a, group_b)
    labels = bucket_labels(edges)
    per_pair, bucket_tests = [], {row["bucket"]: [] for row in labels}
    for run_a, run_b in pairs:
        row = {"seed": run_a.seed if paired_by == "seed" else None, "run_a": run_a.run_id, "run_b": run_b.run_id}
        if not _aligned(run_a.predictions, run_b.predictions):
            per_pair.append({**row, "p_value": None, "reason": "the two runs were tested on different reviews"})
            continue
        correct_a = (run_a.predictions["probability"].to_numpy() >= 0.5) == run_a.predictions["label"].to_numpy().astype(bool)
        correct_b = (run_b.predictions["probability"].to_numpy() >= 0.5) == run_b.predictions["label"].to_numpy().astype(bool)
        test = mcnemar(correct_a, correct_b)
        buckets = assign_buckets(run_a.predictions["length"], edges)
        per_bucket = {}
        for index, info in enumerate(labels):
            chosen = buckets == index
            per_bucket[info["bucket"]] = mcnemar(correct_a[chosen], correct_b[chosen])
            bucket_tests[info["bucket"]].append(per_bucket[info["bucket"]])
        per_pair.append({**row, **test, "significant": test["p_value"] < alpha, "buckets": per_bucket})
    tested = [p for p in per_pair if p.get("p_value") is not None]
    accuracy_a = [float(a.report["test"]["accuracy"]) for a, _ in pairs]
    accuracy_b = [float(b.report["test"]["accuracy"]) for _, b in pairs]
    if paired_by == "none":
        t_test = _welch([float(r.report["test"]["accuracy"]) for r in group_a],
                        [float(r.report["test"]["accuracy"]) for r in group_b])
    else:
        t_test = paired_t_test(accuracy_a, accuracy_b)
    overall = {**_decide(t_test, [p for p in tested], alpha), "t_test": t_test}
    bucket_rows = []
    for index, info in enumerate(labels):
        if paired_by == "none":
            bucket_t = _welch([_bucket_accuracy(r.predictions, edges)[index] for r in group_a],
                              [_bucket_accuracy(r.predictions, edges)[index] for r in group_b])
        else:
            bucket_t = paired_t_test([_bucket_accuracy(a.predictions, edges)[index] for a, _ in pairs],
                                     [_bucket_accuracy(b.predictions, edges)[index] for _, b in pairs])
        bucket_rows.append({**info, **_decide(bucket_t, bucket_tests[info["bucket"]], alpha), "t_test": bucket_t,
                            "mcnemar_p_values": [t["p_value"] for t in bucket_tests[info["bucket"]]]})
    return {"a": name_a, "b": name_b, "paired_by": paired_by, "pairs": per_pair, "overall": overall,
            "buckets": bucket_rows, "alpha": alpha}


def _welch(values_a: Sequence[float], values_b: Sequence[float]) -> dict:
    """Unpaired (Welch) t-test, for two groups of runs that cannot be paired."""
    a = np.asarray([v for v in values_a if np.isfinite(v)], dtype=float)
    b = np.asarray([v for v in values_b if np.isfinite(v)], dtype=float)
    out = {"test": "Welch t-test", "n_pairs": 0, "mean_difference": float(a.mean() - b.mean()) if a.size and b.size else None,
           "std_difference": None, "statistic": None, "p_value": None, "reason": None}
    if a.size < 2 or b.size < 2:
        out["reason"] = "needs two or more runs in each group"
    elif np.ptp(a) == 0 and np.ptp(b) == 0:
        out["reason"] = "no spread within the groups: the t-test is undefined"
    else:
        result = stats.ttest_ind(a, b, equal_var=False)
        out.update(statistic=float(result.statistic), p_value=float(result.pvalue))
    return out


# --- convergence -----------------------------------------------------------------------

def convergence(metrics: pd.DataFrame, tolerance: float = PLATEAU_TOLERANCE) -> dict:
    """Did the unweighted validation BCE plateau, and when was the best epoch?

    trend: `still improving` (the last evaluation beat every earlier one by more than `tolerance`,
    relative: train longer), `rising` (the last is more than `tolerance` above the minimum:
    overfitting), `plateaued` (within `tolerance` of the minimum), or `unknown` (fewer than two
    evaluations). The best epoch by accuracy is the checkpoint the Trainer keeps.
    """
    validation = metrics[metrics["split"] == "validation"].sort_values("step") if not metrics.empty else metrics
    out = {"evaluations": int(len(validation)), "best_accuracy_epoch": None, "best_accuracy_step": None,
           "best_accuracy": None, "best_bce_epoch": None, "best_bce": None, "last_bce": None, "last_epoch": None,
           "trend": "unknown", "plateaued": None, "loss_column": None}
    if validation.empty:
        return out
    accuracy = pd.to_numeric(validation["accuracy"], errors="coerce")
    if accuracy.notna().any():
        best = validation.loc[accuracy.idxmax()]
        out.update(best_accuracy_epoch=float(best["epoch"]), best_accuracy_step=int(best["step"]),
                   best_accuracy=float(best["accuracy"]))
    column = "bce" if pd.to_numeric(validation["bce"], errors="coerce").notna().any() else "loss"
    loss = pd.to_numeric(validation[column], errors="coerce")
    keep = loss.notna()
    loss, epochs = loss[keep].to_numpy(), pd.to_numeric(validation.loc[keep, "epoch"]).to_numpy()
    out["loss_column"] = column
    out["last_epoch"] = float(epochs[-1]) if len(epochs) else None
    if not len(loss):
        return out
    best_index = int(np.argmin(loss))
    out.update(best_bce_epoch=float(epochs[best_index]), best_bce=float(loss[best_index]), last_bce=float(loss[-1]))
    if len(loss) < 2:
        return out
    earlier_best = float(loss[:-1].min())
    if loss[-1] < earlier_best * (1 - tolerance):
        out.update(trend="still improving", plateaued=False)
    elif loss[-1] > float(loss.min()) * (1 + tolerance):
        out.update(trend="rising", plateaued=True)
    else:
        out.update(trend="plateaued", plateaued=True)
    return out


# --- the analysis ----------------------------------------------------------------------

def analyze(groups: dict[str, Sequence[str]], alpha: float = ALPHA) -> dict:
    """Compare groups of finished runs (e.g. {"bce": [...], "length_weighted_bce": [...]}).

    Returns metrics (mean/std over runs), length_buckets, calibration, significance (every pair of
    groups), convergence and a verdict, all on unweighted yardsticks. ValueError when a group is
    empty or a run has no test report.
    """
    if len(groups) < 2:
        raise InputError(f"Compare two or more groups of runs, got {len(groups)}.")
    loaded: dict[str, list[RunResult]] = {}
    for name, run_ids in groups.items():
        if not run_ids:
            raise InputError(f"Group {name!r} has no runs: pick at least one finished run.")
        loaded[name] = [load_run(r, name) for r in run_ids]
    everyone = [r for results in loaded.values() for r in results]
    if len({r.run_id for r in everyone}) != len(everyone):
        raise InputError("A run is in two groups: each run can be in one group only.")
    edges, shared = shared_edges(everyone)
    labels = bucket_labels(edges)

    metrics = {name: {m: _summary([r.report["test"].get(m) for r in results]) for m in SUMMARY_METRICS}
               for name, results in loaded.items()}
    bucket_rows = []
    for name, results in loaded.items():
        per_run = [_bucket_accuracy(r.predictions, edges) for r in results]
        counts = np.bincount(assign_buckets(results[0].predictions["length"], edges), minlength=len(labels))
        for index, info in enumerate(labels):
            bucket_rows.append({**info, "group": name, "n": int(counts[index]),
                                **_summary([values[index] for values in per_run])})
    calibration_rows = {}
    for name, results in loaded.items():
        pooled = calibration(np.concatenate([r.predictions["label"].to_numpy() for r in results]),
                             np.concatenate([r.predictions["probability"].to_numpy() for r in results]),
                             N_CALIBRATION_BINS)
        calibration_rows[name] = {"ece": _summary([r.report["test"].get("calibration", {}).get("ece") for r in results]),
                                  "pooled_ece": pooled["ece"], "n_bins": pooled["n_bins"],
                                  "reliability": pooled["reliability"]}
        metrics[name]["ece"] = calibration_rows[name]["ece"]
    significance = [pair_significance(a, loaded[a], b, loaded[b], edges, alpha)
                    for a, b in itertools.combinations(loaded, 2)]
    convergence_rows = [{"run_id": r.run_id, "group": r.group, "seed": r.seed, **convergence(r.metrics)}
                        for r in everyone]
    convergence_groups = {}
    for name in loaded:
        rows = [row for row in convergence_rows if row["group"] == name]
        convergence_groups[name] = {
            "runs": len(rows),
            "epochs_to_best": _summary([row["best_accuracy_epoch"] for row in rows]),
            "still_improving": sum(row["trend"] == "still improving" for row in rows),
            "plateaued": sum(bool(row["plateaued"]) for row in rows),
        }
    result = {
        "groups": {name: [r.run_id for r in results] for name, results in loaded.items()},
        "seeds": {name: [r.seed for r in results] for name, results in loaded.items()},
        "alpha": alpha,
        "note": LOSS_SCALE_NOTE,
        "metrics": metrics,
        "length_buckets": {"edges": edges, "shared_test_set": shared, "long_bucket": LONG_BUCKET,
                           "buckets": labels, "rows": bucket_rows},
        "calibration": calibration_rows,
        "significance": significance,
        "convergence": {"tolerance": PLATEAU_TOLERANCE, "runs": convergence_rows, "groups": convergence_groups},
    }
    result["verdict"] = verdict(result)
    return _finite(result)


def _finite(value):
    """NaN and infinities -> None, so comparison.json is strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def format_p(p: float | None) -> str:
    if p is None:
        return "p not computable"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _mean_std(summary: dict) -> str:
    if summary.get("mean") is None:
        return "–"
    return f"{summary['mean']:.3f}" + (f" ± {summary['std']:.3f}" if summary.get("std") is not None else "")


def verdict(result: dict) -> dict:
    """Plain-language sentences that follow from the numbers; only significant differences are claimed."""
    alpha = result["alpha"]
    sentences, findings = [], []
    long_label = next((b["label"] for b in result["length_buckets"]["buckets"] if b["bucket"] == LONG_BUCKET), LONG_BUCKET)
    long_text = long_label
    for pair in result["significance"]:
        a, b = pair["a"], pair["b"]
        overall = pair["overall"]
        acc_a, acc_b = result["metrics"][a]["accuracy"], result["metrics"][b]["accuracy"]
        test = f"{overall['test']} {format_p(overall['p_value'])}" if overall["test"] else format_p(None)
        mcnemar_note = (f"; McNemar p < {alpha:g} in {overall['mcnemar_significant']}/{overall['mcnemar_pairs']} seeds"
                        if overall["mcnemar_pairs"] and overall["test"] != "McNemar" else "")
        if overall["significant"]:
            winner, loser = (a, b) if overall["mean_difference"] > 0 else (b, a)
            points = abs(overall["mean_difference"]) * 100
            sentence = (f"{winner} is better overall by {points:.1f} points of test accuracy "
                        f"({winner} {_mean_std(result['metrics'][winner]['accuracy'])} vs "
                        f"{loser} {_mean_std(result['metrics'][loser]['accuracy'])}; {test}{mcnemar_note}).")
            findings.append(sentence)
        else:
            sentence = (f"No significant difference in test accuracy between {a} and {b} "
                        f"({a} {_mean_std(acc_a)} vs {b} {_mean_std(acc_b)}; {test}{mcnemar_note}).")
        sentences.append(sentence)
        long = next((row for row in pair["buckets"] if row["bucket"] == LONG_BUCKET), None)
        if long is not None:
            rows = {row["group"]: row for row in result["length_buckets"]["rows"] if row["bucket"] == LONG_BUCKET}
            long_test = f"{long['test']} {format_p(long['p_value'])}" if long["test"] else format_p(None)
            if long["significant"]:
                winner, loser = (a, b) if long["mean_difference"] > 0 else (b, a)
                sentence = (f"{winner} is better on long reviews ({long_text}) by "
                            f"{abs(long['mean_difference']) * 100:.1f} points ({winner} {_mean_std(rows[winner])} vs "
                            f"{loser} {_mean_std(rows[loser])}; {long_test}).")
                findings.insert(0, sentence)
            else:
                sentence = (f"No significant difference on long reviews ({long_text}): "
                            f"{a} {_mean_std(rows[a])} vs {b} {_mean_std(rows[b])} ({long_test}).")
            sentences.append(sentence)
    caveats = []
    seeds = [len(v) for v in result["groups"].values()]
    if min(seeds) < 2:
        caveats.append("With one run per loss the across-seed t-test cannot be computed; the verdict rests on "
                       "McNemar's test on that seed's test predictions. Use --seeds 3 or more for a firmer answer.")
    runs_info = result["convergence"]["runs"]
    improving = [row for row in runs_info if row["trend"] == "still improving"]
    if improving:
        caveats.append(f"{len(improving)} of {len(runs_info)} runs were still improving (validation BCE) when "
                       "training ended: more epochs could change the verdict.")
    elif runs_info and all(row["plateaued"] for row in runs_info):
        caveats.append("Every run's validation BCE had plateaued (or started rising) by the end of training.")
    if not result["length_buckets"]["shared_test_set"]:
        caveats.append("The runs were not tested on the same reviews (different --max-test-samples or seeds), "
                       "so McNemar's test is skipped where they differ.")
    names = list(result["groups"])
    headline = findings[0] if findings else (
        f"No significant difference between {' and '.join(names)} (alpha {alpha:g}).")
    return {"headline": headline, "sentences": sentences, "caveats": caveats,
            "text": " ".join([*sentences, *caveats])}


# --- comparison.json -------------------------------------------------------------------

def comparison_runs(comparison_id: str, plan: dict | None = None) -> pd.DataFrame:
    """One row per planned run: run_id, loss, seed, state, step, total_steps, test_accuracy, error."""
    plan = plan or read_plan(comparison_id)
    rows = []
    for entry in plan["runs"]:
        run_dir = runs.run_path(entry["run_id"])
        row = {**entry, "state": "not started", "step": None, "total_steps": None, "epoch": None,
               "test_accuracy": None, "error": None}
        if run_dir.is_dir():
            status = monitor.run_status(entry["run_id"])
            report = runs.read_json(run_dir / runs.EVAL_FILE) or {}
            row.update(state=status.get("state", "queued"), step=status.get("step"), total_steps=status.get("total_steps"),
                       epoch=status.get("epoch"), test_accuracy=(report.get("test") or {}).get("accuracy"),
                       error=status.get("error"))
        rows.append(row)
    return pd.DataFrame(rows, columns=["run_id", "loss", "seed", "state", "step", "total_steps", "epoch",
                                       "test_accuracy", "error"])


def write_comparison(comparison_id: str) -> dict:
    """(Re)write comparison.json: plan, status, runs, and results once every loss has a finished run."""
    plan = read_plan(comparison_id)
    table = comparison_runs(comparison_id, plan)
    finished = table[table["state"] == "finished"]
    groups = {loss: finished.loc[finished["loss"] == loss, "run_id"].tolist() for loss in plan["losses"]}
    results, problem = None, None
    if all(groups.values()):
        try:
            results = analyze(groups)
        except SentimentError as error:
            problem = str(error)
    else:
        waiting = [loss for loss, ids in groups.items() if not ids]
        problem = f"waiting for a finished run of {', '.join(waiting)}"
    payload = _finite({
        "comparison_id": comparison_id,
        "state": effective_status(comparison_id).get("state"),
        "complete": len(finished) == len(plan["runs"]),
        "plan": plan,
        "status": read_status(comparison_id),
        "runs": table.astype(object).where(table.notna(), None).to_dict(orient="records"),
        "note": LOSS_SCALE_NOTE,
        "results": results,
        "results_problem": problem,
        "updated": runs.now_iso(),
    })
    runs.write_json(comparison_path(comparison_id) / COMPARISON_FILE, payload)
    return payload


def read_comparison(comparison_id: str) -> dict:
    """comparison.json (written when missing), with the live state of the comparison and its runs."""
    path = comparison_path(comparison_id)
    read_plan(comparison_id)
    payload = runs.read_json(path / COMPARISON_FILE) or write_comparison(comparison_id)
    return {**payload, "state": effective_status(comparison_id).get("state"), "status": effective_status(comparison_id)}


def list_comparisons() -> pd.DataFrame:
    """Every comparison folder, newest first: id, model, losses, seeds, state, finished/total runs, verdict."""
    columns = ["comparison_id", "model", "losses", "seeds", "state", "finished", "total", "created", "headline"]
    root = comparisons_dir()
    rows = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if not path.is_dir() or not runs.RUN_ID_PATTERN.match(path.name):
            continue
        try:
            plan = read_plan(path.name)
            payload = runs.read_json(path / COMPARISON_FILE) or {}
        except (runs.RunError, KeyError):
            continue
        finished = sum(r.get("state") == "finished" for r in payload.get("runs") or [])
        rows.append({"comparison_id": path.name, "model": plan["model"], "losses": ", ".join(plan["losses"]),
                     "seeds": len(plan["seeds"]), "state": effective_status(path.name).get("state"),
                     "finished": finished, "total": len(plan["runs"]), "created": plan.get("created"),
                     "headline": ((payload.get("results") or {}).get("verdict") or {}).get("headline")})
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("created", ascending=False, na_position="last").reset_index(drop=True)


# --- what the page draws ---------------------------------------------------------------

def metrics_table(results: dict) -> pd.DataFrame:
    """Rows = groups, columns = `mean ± std` strings of the unweighted test metrics, plus the means."""
    rows = []
    for name, metrics in results["metrics"].items():
        row = {"loss": name, "runs": metrics["accuracy"]["runs"]}
        for metric in ("accuracy", "f1", "roc_auc", "bce", "ece"):
            row[metric] = _mean_std(metrics[metric])
            row[f"{metric}_mean"] = metrics[metric]["mean"]
        rows.append(row)
    return pd.DataFrame(rows)


def buckets_frame(results: dict) -> pd.DataFrame:
    """Accuracy per length bucket and group: bucket, label, group, n, mean, std."""
    rows = results["length_buckets"]["rows"]
    return pd.DataFrame([{k: row.get(k) for k in ("bucket", "label", "group", "n", "mean", "std")} for row in rows])


def reliability_frame(results: dict) -> pd.DataFrame:
    """Pooled reliability curves: group, mean_probability, fraction_positive, n."""
    rows = [{"group": name, **point} for name, info in results["calibration"].items() for point in info["reliability"]]
    return pd.DataFrame(rows, columns=["group", "bin", "mean_probability", "fraction_positive", "n"])


def significance_table(results: dict) -> pd.DataFrame:
    """One row per seed pair: the McNemar counts and p-values, overall and on long reviews."""
    rows = []
    for pair in results["significance"]:
        for item in pair["pairs"]:
            long = (item.get("buckets") or {}).get(LONG_BUCKET) or {}
            rows.append({"a": pair["a"], "b": pair["b"], "seed": item.get("seed"), "run_a": item["run_a"],
                         "run_b": item["run_b"], "accuracy_a": item.get("accuracy_a"), "accuracy_b": item.get("accuracy_b"),
                         "a_only": item.get("a_only"), "b_only": item.get("b_only"), "p_value": item.get("p_value"),
                         "long_a_only": long.get("a_only"), "long_b_only": long.get("b_only"),
                         "long_p_value": long.get("p_value"), "note": item.get("reason")})
    return pd.DataFrame(rows)


def tests_table(results: dict) -> pd.DataFrame:
    """The decisions: one row per pair of groups and scope (all reviews, each length bucket)."""
    rows = []
    for pair in results["significance"]:
        for scope, decision in [("all reviews", pair["overall"])] + [(b["label"], b) for b in pair["buckets"]]:
            rows.append({"a": pair["a"], "b": pair["b"], "reviews": scope,
                         "difference_points": None if decision.get("mean_difference") is None
                         else decision["mean_difference"] * 100,
                         "test": decision.get("test") or "–", "p_value": decision.get("p_value"),
                         "significant": bool(decision.get("significant"))})
    return pd.DataFrame(rows)


def convergence_table(results: dict) -> pd.DataFrame:
    columns = ["run_id", "group", "seed", "evaluations", "best_accuracy_epoch", "best_accuracy", "best_bce_epoch",
               "best_bce", "last_bce", "trend"]
    return pd.DataFrame(results["convergence"]["runs"]).reindex(columns=columns)


def disagreements(run_a: str, run_b: str, min_tokens: float | None = None, max_tokens: float | None = None,
                  edges: list[float] | None = None) -> pd.DataFrame:
    """Test reviews the two runs classify differently: id, length, bucket, label, both probabilities, who is right."""
    a, b = load_run(run_a), load_run(run_b)
    if not _aligned(a.predictions, b.predictions):
        raise ComparisonError(f"Runs {run_a!r} and {run_b!r} were tested on different reviews: their predictions cannot be paired.")
    edges = edges or length_bucket_edges(a.predictions["length"])
    frame = pd.DataFrame({
        "id": a.predictions["id"], "length": a.predictions["length"], "label": a.predictions["label"],
        "probability_a": a.predictions["probability"], "probability_b": b.predictions["probability"],
    })
    frame["bucket"] = [f"Q{i + 1}" for i in assign_buckets(frame["length"], edges)]
    predicted_a = frame["probability_a"] >= 0.5
    predicted_b = frame["probability_b"] >= 0.5
    frame = frame[predicted_a != predicted_b].copy()
    frame["right"] = np.where((frame["probability_a"] >= 0.5) == frame["label"].astype(bool), run_a, run_b)
    if min_tokens is not None:
        frame = frame[frame["length"] >= min_tokens]
    if max_tokens is not None:
        frame = frame[frame["length"] <= max_tokens]
    frame["confidence_gap"] = (frame["probability_a"] - frame["probability_b"]).abs()
    return frame.sort_values("confidence_gap", ascending=False).reset_index(drop=True)[
        ["id", "length", "bucket", "label", "probability_a", "probability_b", "right"]]


def review_texts(run_id: str) -> list[str]:
    """The test reviews of a run in its predictions' order (its seeded test subset, if any)."""
    from sentiment_core.data import load_imdb
    from sentiment_core.training import _subset

    config = runs.read_config(runs.run_path(run_id))
    test = _subset(load_imdb(config.get("data"))["test"], config.get("max_test_samples"), config.get("seed", 42))
    return list(test["text"])


def comparison_curves(entries: Sequence[dict], x: str = "step", smoothing: float = 0.0) -> pd.DataFrame:
    """Train/validation curves of several runs for the live charts, on `monitor.curves`' smoothing.

    entries: dicts with run_id, group (the loss) and seed. Train loss is the loss each run
    optimised (not comparable across losses); validation loss is the unweighted BCE (comparable).
    Rows: group, seed, run_id, x, split, metric, value, raw.
    """
    parts = []
    for entry in entries:
        run_dir = runs.run_path(entry["run_id"])
        if not run_dir.is_dir():
            continue
        metrics = runs.read_metrics(run_dir)
        if metrics.empty:
            continue
        bce = pd.to_numeric(metrics["bce"], errors="coerce")
        use_bce = (metrics["split"] == "validation") & bce.notna()
        metrics = metrics.assign(loss=np.where(use_bce, bce, pd.to_numeric(metrics["loss"], errors="coerce")))
        frame = monitor.curves(metrics, x=x, smoothing=smoothing)
        if not frame.empty:
            parts.append(frame.assign(group=entry.get("group") or entry.get("loss"), seed=entry.get("seed"),
                                      run_id=entry["run_id"]))
    columns = ["group", "seed", "run_id", "x", "split", "metric", "value", "raw"]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def mean_curves(frame: pd.DataFrame) -> pd.DataFrame:
    """The mean over seeds at each x of each group, split and metric (where at least one seed has a point)."""
    if frame.empty:
        return pd.DataFrame(columns=["group", "split", "metric", "x", "value", "seeds"])
    grouped = frame.groupby(["group", "split", "metric", "x"], sort=True)["value"]
    return grouped.agg(value="mean", seeds="count").reset_index()


def group_names(group_a: Sequence[str], group_b: Sequence[str]) -> tuple[str, str]:
    """Names for two hand-picked groups: their loss when each group has one, else A and B."""
    def loss_of(ids):
        losses = set()
        for run_id in ids:
            try:
                losses.add(runs.read_config(runs.run_path(run_id)).get("loss"))
            except runs.RunError:
                losses.add(None)
        return losses.pop() if len(losses) == 1 else None

    a, b = loss_of(group_a), loss_of(group_b)
    if a and b and a != b:
        return a, b
    return (f"A ({a})" if a else "A"), (f"B ({b})" if b else "B")
