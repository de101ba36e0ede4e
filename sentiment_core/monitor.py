"""What the Train page shows, as pure functions over the run directory (no Streamlit here).

- `train_arguments(form)`: the form's values -> the `train ...` command line, validated by
  `TrainConfig.resolved()` (a bad value raises ValueError naming the field);
- `ema`, `curves`, `best_point`: the loss and accuracy charts (TensorBoard-style smoothing);
- `progress`, `log_tail`, `run_status`: the live view of one run;
- `runs_table`, `compare_curves`, `run_details`: the runs browser;
- `start_run`, `stop_run`: launch, resume and stop runs as their own processes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

import numpy as np
import pandas as pd

from sentiment_core.errors import InputError
from sentiment_core import runs
from sentiment_core.training import FAMILY_DEFAULTS, TrainConfig

# form field -> command line flag, in the order the command is written
FORM_FLAGS = {
    "model": "--model",
    "loss": "--loss",
    "epochs": "--epochs",
    "batch_size": "--batch-size",
    "lr": "--lr",
    "max_length": "--max-length",
    "max_train_samples": "--max-train-samples",
    "max_eval_samples": "--max-eval-samples",
    "max_test_samples": "--max-test-samples",
    "seed": "--seed",
    "backbone": "--backbone",
    "data": "--data",
    "eval_steps": "--eval-steps",
    "early_stopping_patience": "--early-stopping-patience",
    "vocab_size": "--vocab-size",
    "min_frequency": "--min-frequency",
}
CURVE_COLUMNS = ["x", "split", "metric", "value", "raw"]
CURVE_METRICS = ("loss", "accuracy")
TABLE_COLUMNS = ["run_id", "path", "family", "loss", "state", "step", "total_steps", "best_val_accuracy",
                 "test_accuracy", "duration_s", "created", "error"]
GENERIC_FAILURE = "the training process ended without recording a result"
TAIL_BYTES = 256 * 1024  # log_tail reads at most this much of the end of train.log
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # tqdm moves the cursor between its bars


def where_runs_go(kept_in) -> str:
    """One markdown line: the device runs will use, the data source and where results are kept.

    Raises ValueError (naming the setting) when SENTIMENT_DEVICE asks for a device that is missing.
    """
    from sentiment_core.data import describe_source
    from sentiment_core.settings import describe_device, get_settings

    return (f"Runs will use: **{describe_device()}** · data: {describe_source(get_settings().imdb_data)} · "
            f"kept in `{kept_in}`")


# --- the form -> the command line ------------------------------------------------------

def form_defaults(family: str) -> dict:
    """The values the form shows for a family: epochs, batch size, learning rate, max length."""
    if family not in FAMILY_DEFAULTS:
        raise InputError(f"Unknown model family {family!r}: choose one of {', '.join(FAMILY_DEFAULTS)}.")
    defaults = FAMILY_DEFAULTS[family]
    return {"epochs": float(defaults["epochs"]), "batch_size": int(defaults["batch_size"]),
            "lr": float(defaults["lr"]), "max_length": int(defaults["max_length"])}


def train_arguments(form: dict) -> list[str]:
    """`["train", "--model", ..., "--loss", ...]` for the form's values; None or "" = default.

    `family` is accepted for `model`. Every value is checked by `TrainConfig(...).resolved()`,
    so a bad one raises ValueError naming it (epochs, batch_size, lr, ...), before anything runs.
    """
    values = dict(form)
    if "family" in values:
        values.setdefault("model", values.pop("family"))
    unknown = sorted(set(values) - set(FORM_FLAGS))
    if unknown:
        raise InputError(f"Unknown training option(s): {', '.join(unknown)}.")
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items()}
    values = {k: v for k, v in values.items() if v is not None and v != ""}
    values = {k: _whole(v) if k not in ("lr", "epochs", "model", "loss", "backbone", "data") else v
              for k, v in values.items()}
    if values.get("model") != "pretrained":
        values.pop("backbone", None)  # the form keeps it for the pretrained family only
    seed = values.get("seed", 42)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be a whole number >= 0, got {seed!r}.")
    TrainConfig(**values).resolved()  # raises ValueError naming the bad field
    arguments = ["train"]
    for name, flag in FORM_FLAGS.items():
        if name in values:
            arguments += [flag, _format(values[name])]
    return arguments


def _whole(value):
    """4.0 -> 4 (number inputs hand back floats); anything else unchanged, for resolved() to judge."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:g}" if float(f"{value:g}") == value else repr(value)
    return str(value)


# --- charts ----------------------------------------------------------------------------

def ema(series, smoothing: float) -> pd.Series:
    """TensorBoard's debiased exponential moving average; smoothing 0 returns the values as they are.

    smoothed_t = m_t / (1 - smoothing ** n_t) with m_t = smoothing * m_(t-1) + (1 - smoothing) * x_t,
    n_t counting the finite values so far. NaN values stay NaN and do not move the average.
    """
    if isinstance(smoothing, bool) or not 0 <= float(smoothing) < 1:
        raise InputError(f"smoothing must be in [0, 1), got {smoothing!r}.")
    values = pd.Series(series, dtype=float)
    if smoothing == 0:
        return values.copy()
    out, last, count = [], 0.0, 0
    for value in values.to_numpy():
        if not np.isfinite(value):
            out.append(value)
            continue
        last = last * smoothing + (1 - smoothing) * value
        count += 1
        out.append(last / (1 - smoothing ** count))
    return pd.Series(out, index=values.index, dtype=float)


def curves(metrics: pd.DataFrame, x: str = "step", smoothing: float = 0.0) -> pd.DataFrame:
    """Tidy rows (x, split, metric, value, raw) for the loss and accuracy charts.

    Train rows are smoothed with `ema`; validation rows (one per evaluation, few and far
    between) are kept raw, so value == raw for them.
    """
    if x not in ("step", "epoch"):
        raise InputError(f"x must be 'step' or 'epoch', got {x!r}.")
    parts = []
    if metrics is not None and not metrics.empty:
        for (split, metric) in [(s, m) for s in ("train", "validation") for m in CURVE_METRICS]:
            rows = metrics[metrics["split"] == split].sort_values("step")
            raw = pd.to_numeric(rows[metric], errors="coerce")
            keep = raw.notna()
            if not keep.any():
                continue
            raw = raw[keep]
            value = ema(raw, smoothing) if split == "train" else raw
            parts.append(pd.DataFrame({"x": pd.to_numeric(rows.loc[keep, x]).to_numpy(), "split": split,
                                       "metric": metric, "value": value.to_numpy(), "raw": raw.to_numpy()}))
    if not parts:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    return pd.concat(parts, ignore_index=True)


def best_point(metrics: pd.DataFrame) -> pd.Series | None:
    """The validation row with the best accuracy (the earliest on ties, as the Trainer keeps it)."""
    if metrics is None or metrics.empty:
        return None
    validation = metrics[metrics["split"] == "validation"].sort_values("step")
    accuracy = pd.to_numeric(validation["accuracy"], errors="coerce")
    if accuracy.notna().sum() == 0:
        return None
    return validation.loc[accuracy.idxmax()]


# --- the live view ---------------------------------------------------------------------

@dataclass(frozen=True)
class Progress:
    fraction: float  # 0..1, for st.progress
    step_text: str  # "step 120 / 400 (30%)"
    speed_text: str  # "1,234 samples/s"
    eta_text: str  # "about 1 min 05 s left"


def format_seconds(seconds: float | None) -> str:
    """45 -> '45 s', 65 -> '1 min 05 s', 3720 -> '1 h 02 min'."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def progress(status: dict) -> Progress:
    """Progress bar fraction, step/total text, throughput and ETA of a status.json."""
    state = status.get("state")
    step = int(status.get("step") or 0)
    total = int(status.get("total_steps") or 0)
    if total:
        fraction = min(1.0, max(0.0, step / total))
        step_text = f"step {step:,} / {total:,} ({fraction:.0%})"
    else:
        fraction = 1.0 if state == "finished" else 0.0
        step_text = "preparing the data…" if state in runs.ACTIVE_STATES else f"step {step:,}"
    speed = status.get("samples_per_second")
    speed_text = f"{speed:,.0f} samples/s" if isinstance(speed, (int, float)) and speed > 0 else "–"
    eta = status.get("eta_seconds")
    if state == "finished":
        eta_text = "done"
    elif state in ("stopped", "failed"):
        eta_text = state
    elif status.get("phase") == "testing":
        eta_text = "evaluating on test…"
    elif state == "queued":
        eta_text = "starting…"
    elif isinstance(eta, (int, float)) and total:
        eta_text = f"about {format_seconds(eta)} left"
    else:
        eta_text = "estimating…"
    return Progress(fraction, step_text, speed_text, eta_text)


def log_tail(run_dir, lines: int = 20, name: str = runs.LOG_FILE) -> str:
    """The last `lines` lines of train.log (or the log `name`) as a terminal shows them.

    tqdm redraws its bar with carriage returns: within each line only the text after the
    last `\\r` is kept (what the terminal would show), so one bar is one line, not hundreds;
    cursor-moving escape codes are dropped.
    """
    path = Path(run_dir) / name
    if not path.exists():
        return ""
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - TAIL_BYTES))
        text = ANSI_ESCAPE.sub("", handle.read().decode("utf-8", errors="replace"))
    shown = []
    for line in re.split(r"\r?\n", text):
        segments = [segment for segment in line.split("\r") if segment.strip()]
        if segments:
            shown.append(segments[-1].rstrip())
    return "\n".join(shown[-lines:]) if lines > 0 else ""


def run_status(run_id: str) -> dict:
    """effective_status() of a run, with the command line's own error when the process died early."""
    run_dir = runs.run_path(run_id)
    status = runs.effective_status(run_dir)
    if status.get("state") == "failed" and GENERIC_FAILURE in (status.get("error") or ""):
        errors = [line for line in log_tail(run_dir, lines=200).splitlines() if line.startswith("error: ")]
        if errors:
            status = {**status, "error": errors[-1][len("error: "):]}
    return status


# --- starting and stopping -------------------------------------------------------------

def start_run(arguments: list[str], run_id: str) -> Popen:
    """`runs.launch` and record the process id at once, so a process that dies before it
    writes its status (bad data source, no checkpoint) shows as failed instead of queued forever."""
    run_dir = runs.run_path(run_id)
    resume = "--resume" in arguments
    before = runs.read_status(run_dir) if resume else {}
    process = runs.launch(arguments, run_id)
    fields = {"pid": process.pid}
    if resume:
        fields.update(state="queued", error=None, traceback=None, ended=None,
                      resumed_from=before.get("state"))
    current = runs.read_status(run_dir)
    if current.get("pid") in (None, before.get("pid")):  # the child has not written its own yet
        runs.update_status(run_dir, **fields)
    return process


def stop_run(run_id: str, grace_seconds: float = 5.0) -> dict:
    """Ask a run to stop (STOP file: it saves a checkpoint and ends `stopped` within a step).

    A run still queued (loading data, before the trainer removes old STOP files) is sent
    SIGTERM instead and, once its process is gone, marked stopped (there is nothing to resume).
    """
    run_dir = runs.run_path(run_id)
    status = runs.effective_status(run_dir)
    runs.request_stop(run_id)
    if status.get("state") == "queued" and status.get("pid"):
        runs.terminate(run_id, grace_seconds=grace_seconds)
        after = runs.read_status(run_dir)
        if after.get("state") in runs.ACTIVE_STATES and not runs.pid_alive(after.get("pid")):
            runs.update_status(run_dir, state="stopped", ended=runs.now_iso(), error=None)
    return runs.effective_status(run_dir)


# --- the runs browser ------------------------------------------------------------------

def runs_table() -> pd.DataFrame:
    """`runs.list_runs()`'s rows, with a run that is launched but has no run.json yet shown as
    queued (list_runs calls it corrupted, and fails when every run is such a one)."""
    rows = [runs.run_summary(path) for path in runs.run_dirs()]
    if not rows:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    table = pd.DataFrame(rows).reindex(columns=list(dict.fromkeys([*TABLE_COLUMNS, *rows[0]])))
    for column in ("family", "loss", "state", "created", "error"):
        table[column] = table[column].astype(object)
    for index, row in table[table["state"] == "corrupted"].iterrows():
        try:
            status = run_status(row["run_id"])
        except runs.RunError:
            continue
        if status.get("state") not in runs.ACTIVE_STATES and status.get("state") != "failed":
            continue
        command = status.get("command") or []
        flags = dict(zip(command, command[1:]))
        table.loc[index, ["family", "loss", "state", "created", "error"]] = [
            flags.get("--model", "bow"), flags.get("--loss", "bce"), status["state"],
            status.get("created"), status.get("error"),
        ]
    return table.sort_values("created", ascending=False, na_position="last").reset_index(drop=True)


def active_run(table: pd.DataFrame) -> str | None:
    """The most recent queued or running run of a runs table, or None."""
    if table is None or table.empty:
        return None
    active = table[table["state"].isin(runs.ACTIVE_STATES)]
    return None if active.empty else str(active.iloc[0]["run_id"])


def compare_curves(run_ids: list[str], x: str = "step") -> pd.DataFrame:
    """Validation loss and accuracy of several runs: tidy rows (run_id, x, metric, value)."""
    parts = []
    for run_id in run_ids:
        frame = curves(runs.read_metrics(runs.run_path(run_id)), x=x)
        frame = frame[frame["split"] == "validation"]
        if not frame.empty:
            parts.append(frame.assign(run_id=run_id)[["run_id", "x", "metric", "value"]])
    if not parts:
        return pd.DataFrame(columns=["run_id", "x", "metric", "value"])
    return pd.concat(parts, ignore_index=True)


def run_details(run_id: str) -> dict:
    """A run's config, status and test report (eval.json) in the shapes the page draws.

    Keys: config, status, report (eval.json or None), overall (test metrics or None),
    buckets (DataFrame: bucket, label, n, accuracy), confusion (2x2 DataFrame, rows true
    neg/pos, columns predicted), best_validation, can_resume, has_model.
    """
    run_dir = runs.run_path(run_id)
    if not run_dir.is_dir():
        raise runs.RunError(f"No run {run_id!r} in {runs.models_dir()}.")
    config = runs.read_json(run_dir / runs.RUN_FILE) or {}
    status = run_status(run_id)
    report = runs.read_json(run_dir / runs.EVAL_FILE)
    details = {
        "run_id": run_id, "config": config, "status": status, "report": report, "overall": None,
        "buckets": None, "confusion": None, "best_validation": None,
        "can_resume": status.get("state") in ("stopped", "failed") and runs.last_checkpoint(run_dir) is not None,
        "has_model": (run_dir / runs.BEST_DIR).is_dir() and status.get("state") == "finished",
    }
    if report:
        test = report.get("test") or {}
        details["overall"] = {k: test[k] for k in ("n", "accuracy", "precision", "recall", "f1", "roc_auc", "bce")
                              if k in test}
        details["buckets"] = pd.DataFrame(test.get("length_buckets") or [],
                                          columns=["bucket", "label", "min_tokens", "max_tokens", "n", "accuracy"])
        if test.get("confusion_matrix"):
            details["confusion"] = pd.DataFrame(test["confusion_matrix"], index=["true neg", "true pos"],
                                                columns=["predicted neg", "predicted pos"])
        details["best_validation"] = report.get("best_validation")
    return details
