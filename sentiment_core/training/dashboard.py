"""What the Train page shows, as pure functions over the run directory (no Streamlit here).

- `form_defaults`, `train_arguments(form)`: the form's family defaults, and its values -> the
  `train ...` command line, validated by `TrainConfig.resolved()` (a bad value raises InputError
  naming the field); both derived from `sentiment_core.train_config`;
- `ema`, `curves`, `best_point`: the loss and accuracy charts (TensorBoard-style smoothing);
- `progress`, `log_tail`, `run_status`: the live view of one run;
- `runs_table`, `compare_curves`, `run_details`: the runs browser.
Starting and stopping runs is `training.jobs`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sentiment_core.core import runs
from sentiment_core.core.errors import InputError
from sentiment_core.training.options import AUGMENT_ONLY, command_arguments, form_fields

CURVE_COLUMNS = ["x", "split", "metric", "value", "raw"]
CURVE_METRICS = ("loss", "accuracy")
TABLE_COLUMNS = ["run_id", "path", "family", "loss", "state", "step", "total_steps", "best_val_accuracy",
                 "test_accuracy", "duration_s", "created", "error"]


def where_runs_go(kept_in) -> str:
    """One markdown line: the device runs will use, the data source and where results are kept.

    Raises ValueError (naming the setting) when SENTIMENT_DEVICE asks for a device that is missing.
    """
    from sentiment_core.core.settings import describe_device, get_settings
    from sentiment_core.data.imdb import describe_source

    return (f"Runs will use: **{describe_device()}** · data: {describe_source(get_settings().imdb_data)} · "
            f"kept in `{kept_in}`")


# --- the form -> the command line ------------------------------------------------------

FORM_OPTIONS = ("loss", "epochs", "batch_size", "lr", "max_length", "max_train_samples", "seed", "long_text",
                "precision", "backbone", "pooling", "augment", "augment_share", "augment_eval")
PRETRAINED_FORM_OPTIONS = ("backbone", "pooling")  # shown for the pretrained family only
# filled in again when the family changes
FAMILY_FORM_OPTIONS = ("epochs", "batch_size", "lr", "max_length", "augment_share")


def form_defaults(family: str) -> dict:
    """The values the form fills in when a family is chosen: epochs, batch size, learning rate, max length and the
    augmented share."""
    return {spec.name: spec.default for spec in form_fields(family, FAMILY_FORM_OPTIONS)}


def train_arguments(form: dict) -> list[str]:
    """`["train", "--model", ..., "--loss", ...]` for the form's values; None or "" = default.

    `family` is accepted for `model`. Every value is checked by `TrainConfig(...).resolved()`,
    so a bad one raises InputError naming it (epochs, batch_size, lr, ...), before anything runs.
    """
    values = dict(form)
    if "family" in values:
        values.setdefault("model", values.pop("family"))
    if values.get("model") != "pretrained":  # the form keeps them for the pretrained family only
        for name in PRETRAINED_FORM_OPTIONS:
            values.pop(name, None)
    if values.get("augment") in (None, "", "none"):  # a share typed in before augmentation was turned off
        for name in AUGMENT_ONLY:
            values.pop(name, None)
    return command_arguments(values)


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
    elif status.get("phase") == "augmenting":
        done, planned = int(status.get("augment_done") or 0), int(status.get("augment_total") or 0)
        fraction = done / planned if planned else 0.0
        step_text = f"counterfactual edits: {done:,} / {planned:,} reviews"
        eta_text = "augmenting the training data…"
    elif state == "queued":
        eta_text = "starting…"
    elif isinstance(eta, (int, float)) and total:
        eta_text = f"about {format_seconds(eta)} left"
    else:
        eta_text = "estimating…"
    return Progress(fraction, step_text, speed_text, eta_text)


log_tail = runs.log_tail  # the pages read a run's (or a comparison's) log through here


def run_status(run_id: str) -> dict:
    """effective_status() of a run: a dead process shows as failed with the error it printed."""
    return runs.effective_status(runs.run_path(run_id))


# --- starting and stopping -------------------------------------------------------------


# --- the runs browser ------------------------------------------------------------------

def runs_table() -> pd.DataFrame:
    """`runs.list_runs()`'s rows with every column the page shows, newest first."""
    rows = [runs.run_summary(path) for path in runs.run_dirs()]
    if not rows:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    table = pd.DataFrame(rows).reindex(columns=list(dict.fromkeys([*TABLE_COLUMNS, *rows[0]])))
    for column in ("family", "loss", "state", "created", "error"):
        table[column] = table[column].astype(object)
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
