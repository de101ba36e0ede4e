"""The run directory: the contract between the trainer, the app, the command line and the API.

`SENTIMENT_MODELS_DIR/<run_id>/` holds:
- `run.json`: the full training config (plus family, device, versions);
- `status.json`: state (queued, running, finished, failed, stopped), step, total steps,
  epoch, samples/s, ETA, pid, error, timestamps; rewritten atomically at every log step;
- `metrics.csv`: append-only rows (step, epoch, split, loss, accuracy, f1, bce, lr,
  samples_per_second, wall_seconds) for the train and validation splits;
- `checkpoints/checkpoint-<step>/`: the resumable Trainer checkpoints (last and best);
- `best/`: the best model on validation, with its tokenizer;
- `eval.json` and `predictions.csv`: the final test report and test predictions;
- `train.log`: what the training process printed; `STOP`: asks the trainer to stop.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from sentiment_core.core.errors import RunError, RunNotFoundError, SettingsError
from sentiment_core.core.jsonio import write_json  # noqa: F401 - runs.write_json is how the package writes its files
from sentiment_core.core.settings import get_settings

STATES = ("queued", "running", "finished", "failed", "stopped")
ACTIVE_STATES = ("queued", "running")
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
METRIC_COLUMNS = [
    "step", "epoch", "split", "loss", "accuracy", "f1", "bce", "lr", "samples_per_second", "wall_seconds",
]
RUN_FILE, STATUS_FILE, METRICS_FILE, EVAL_FILE = "run.json", "status.json", "metrics.csv", "eval.json"
PREDICTIONS_FILE, LOG_FILE, STOP_FILE = "predictions.csv", "train.log", "STOP"
BEST_DIR, CHECKPOINTS_DIR = "best", "checkpoints"
TAIL_BYTES = 256 * 1024  # log_tail reads at most this much of the end of a log
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # tqdm moves the cursor between its bars
COMPARISONS_DIR = "comparisons"  # loss comparisons (evaluation.compare) live beside the runs
RESERVED_NAMES = frozenset({COMPARISONS_DIR})  # folders under SENTIMENT_MODELS_DIR that are not runs


def is_plain_name(name) -> bool:
    """Letters, digits, `.`, `_`, `-`, starting with a letter or digit; no path separators, no `..`, at most 100
    characters: a run id or a comparison id can never point outside SENTIMENT_MODELS_DIR."""
    return isinstance(name, str) and bool(RUN_ID_PATTERN.match(name)) and ".." not in name


def is_run_id(name) -> bool:
    """A plain name that is not reserved for a folder of another kind (`comparisons`)."""
    return is_plain_name(name) and name not in RESERVED_NAMES


def validate_run_id(run_id: str) -> str:
    """`run_id` when it is a valid run id (`is_run_id`), else a RunError saying what a run id may hold."""
    if not is_plain_name(run_id):
        raise RunError(
            f"Invalid run id {run_id!r}: use 1-100 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (no '/', no '..', no absolute paths)."
        )
    if run_id in RESERVED_NAMES:
        raise RunError(f"Invalid run id {run_id!r}: that name is reserved for the {run_id} folder; pick another.")
    return run_id


def models_dir() -> Path:
    """SENTIMENT_MODELS_DIR (created when a run is made); a SettingsError when it names something not a folder."""
    path = Path(get_settings().models_dir)
    if path.exists() and not path.is_dir():
        raise SettingsError(f"SENTIMENT_MODELS_DIR={str(path)!r} is a file, not a folder: point it at a folder for "
                            "the runs (it is created when missing).")
    return path


def run_path(run_id: str) -> Path:
    """The folder of a run, after validating its id."""
    return models_dir() / validate_run_id(run_id)


def new_run_id(family: str, loss: str) -> str:
    """A fresh, readable, sortable id: `<family>-<loss>-<UTC timestamp>`."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")[:-3]
    return f"{family}-{loss}-{stamp}"


def claim_run_id(family: str, loss: str) -> str:
    """A fresh run id whose folder this call created (atomically), for a run launched in its own process:
    two sessions starting runs in the same millisecond get two ids, never one folder."""
    models_dir().mkdir(parents=True, exist_ok=True)
    for _ in range(1000):
        run_id = new_run_id(family, loss)
        try:
            run_path(run_id).mkdir()
            return run_id
        except FileExistsError:
            time.sleep(0.001)
    raise RunError(f"Could not find a free run id under {models_dir()}: pass one with --run-id.")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --- atomic JSON -----------------------------------------------------------------------

def read_json(path: Path) -> dict | None:
    """The JSON at `path`, or None when missing; a corrupt file raises RunError naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunError(f"{path} is corrupted ({error}); delete the run or restore the file.") from None


# --- creating and updating runs --------------------------------------------------------

def ensure_new_run(run_id: str, resumable: bool = True) -> Path:
    """The folder for a new run; RunError when the id is taken (a queued, never-started launch is free). The
    message offers `--resume` only where the command has it (`resumable`: train, not evaluate)."""
    path = run_path(run_id)
    status = read_status(path) if path.exists() else None
    if path.exists() and not (status and status.get("state") == "queued" and not (path / CHECKPOINTS_DIR).exists()):
        other = ("or continue it with --resume" if resumable
                 else f"or delete it (python -m sentiment_core runs delete {run_id})")
        raise RunError(f"Run {run_id!r} already exists in {models_dir()}: pick another --run-id, {other}.")
    return path


def create_run(run_id: str, config: dict) -> Path:
    """Make the run folder with run.json and a `queued` status; refuse an id that exists."""
    path = ensure_new_run(run_id)
    status = read_status(path) if path.exists() else None
    path.mkdir(parents=True, exist_ok=True)
    write_json(path / RUN_FILE, {**config, "run_id": run_id, "created": (status or {}).get("created", now_iso())})
    update_status(path, state="queued", created=(status or {}).get("created", now_iso()))
    return path


def read_config(run_dir: Path) -> dict:
    config = read_json(Path(run_dir) / RUN_FILE)
    if config is None:
        raise RunError(f"{run_dir} has no {RUN_FILE}: it is not a run folder, or it was half-written.")
    return config


# --- job directories: a run's folder, or a comparison's -------------------------------------
# Both keep status.json (state, pid, error, ...), a log file and an optional STOP file; both are
# started as their own process, marked failed when that process is gone, and stopped by STOP or SIGTERM.

def read_status(job_dir: Path) -> dict:
    return read_json(Path(job_dir) / STATUS_FILE) or {}


def update_status(job_dir: Path, **fields) -> dict:
    """Merge `fields` into status.json (atomically) and stamp `updated`."""
    if "state" in fields and fields["state"] not in STATES:
        raise ValueError(f"unknown state {fields['state']!r}; one of {STATES}")
    status = {**read_status(job_dir), **fields, "updated": now_iso()}
    write_json(Path(job_dir) / STATUS_FILE, status)
    return status


def stop_requested(job_dir: Path) -> bool:
    return (Path(job_dir) / STOP_FILE).exists()


def write_stop(job_dir: Path) -> Path:
    stop = Path(job_dir) / STOP_FILE
    stop.write_text(now_iso(), encoding="utf-8")
    return stop


def clear_stop(job_dir: Path) -> None:
    """Forget a STOP left from before this process started (or one already handled)."""
    (Path(job_dir) / STOP_FILE).unlink(missing_ok=True)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of this process counts as dead
    try:
        finished, _ = os.waitpid(int(pid), os.WNOHANG)
        return finished == 0
    except ChildProcessError:
        return True


def effective_status(job_dir: Path, log_name: str = LOG_FILE) -> dict:
    """status.json, with `running`/`queued` turned into `failed` when its process is gone; the error is
    the last `error: ...` line the process printed to its log, else a note that it was killed or crashed."""
    status = read_status(job_dir)
    if status.get("state") in ACTIVE_STATES and status.get("pid") and not pid_alive(status["pid"]):
        printed = [line[len("error: "):] for line in log_tail(job_dir, lines=200, name=log_name).splitlines()
                   if line.startswith("error: ")]
        status = {**status, "state": "failed", "error": status.get("error") or (printed[-1] if printed else
                  f"the process ended without recording a result (killed or crashed); see {log_name}")}
    return status


def log_tail(job_dir: Path, lines: int = 20, name: str = LOG_FILE) -> str:
    """The last `lines` lines of the job's log as a terminal shows them.

    tqdm redraws its bar with carriage returns: within each line only the text after the
    last `\r` is kept (what the terminal would show), so one bar is one line, not hundreds;
    cursor-moving escape codes are dropped.
    """
    path = Path(job_dir) / name
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


def append_metrics(run_dir: Path, rows: Iterable[dict]) -> None:
    """Append rows to metrics.csv (header written once); unknown keys are dropped."""
    path = Path(run_dir) / METRICS_FILE
    new_file = not path.exists()
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=METRIC_COLUMNS, extrasaction="ignore")
        if new_file:
            writer.writeheader()
        for row in rows:
            writer.writerow({key: row.get(key, "") for key in METRIC_COLUMNS})
        handle.flush()


def write_predictions(run_dir: Path, probabilities, labels, lengths, truncated) -> None:
    """predictions.csv: one row per test review in split order (id, probability of positive, label,
    predicted, length in tokens, truncated)."""
    probabilities = np.asarray(probabilities, dtype=float)
    pd.DataFrame({
        "id": np.arange(len(probabilities)),
        "probability": probabilities,
        "label": np.asarray(labels, dtype=int),
        "predicted": (probabilities >= 0.5).astype(int),
        "length": np.asarray(lengths),
        "truncated": np.asarray(truncated, dtype=bool),
    }).to_csv(Path(run_dir) / PREDICTIONS_FILE, index=False)


def drop_metrics_after(run_dir: Path, step: int) -> int:
    """Remove the metrics.csv rows logged after `step` (a resume from that step's checkpoint logs them again),
    rewriting the file atomically; -> how many rows went."""
    path = Path(run_dir) / METRICS_FILE
    frame = _metrics_file(path)
    if frame.empty:
        return 0
    kept = frame[pd.to_numeric(frame["step"], errors="coerce") <= step]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    kept.reindex(columns=METRIC_COLUMNS).to_csv(tmp, index=False)
    os.replace(tmp, path)
    return len(frame) - len(kept)


def read_metrics(run_dir: Path) -> pd.DataFrame:
    """metrics.csv as a DataFrame (a resume drops the rows logged after its checkpoint, so a step appears
    once; rows a run written by an older version repeated keep their last value)."""
    frame = _metrics_file(Path(run_dir) / METRICS_FILE)
    return frame.drop_duplicates(subset=["step", "split"], keep="last").reset_index(drop=True)


def _metrics_file(path: Path) -> pd.DataFrame:
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=METRIC_COLUMNS)
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError):
        return pd.read_csv(path, on_bad_lines="skip")  # a line cut by a crash is skipped


# --- stopping, checking, listing -------------------------------------------------------

def request_stop(run_id: str) -> Path:
    """Ask a running run to stop cleanly: write STOP (the trainer checks it every step).

    A run that is not running is refused: a STOP left behind would otherwise stop its next resume.
    """
    path = run_path(run_id)
    if not path.is_dir():
        raise RunNotFoundError(f"No run {run_id!r} in {models_dir()}.")
    state = effective_status(path).get("state", "unknown")
    if state not in ACTIVE_STATES:
        raise RunError(f"Run {run_id!r} is not running (it is {state}): there is nothing to stop.")
    return write_stop(path)


def checkpoint_step(checkpoint: Path) -> int:
    """The training step a `checkpoint-<step>` folder was saved at."""
    return int(Path(checkpoint).name.rsplit("-", 1)[1])


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest `checkpoint-<step>` folder that holds a model, or None."""
    folder = Path(run_dir) / CHECKPOINTS_DIR
    if not folder.is_dir():
        return None
    found = []
    for child in folder.iterdir():
        match = re.fullmatch(r"checkpoint-(\d+)", child.name)
        if match and (child / "trainer_state.json").exists():
            found.append((int(match.group(1)), child))
    return max(found)[1] if found else None


def _launched_summary(row: dict, run_dir: Path) -> dict | None:
    """The row of a run that was launched but has no run.json yet (queued, or its process died before writing
    one), described from the command it was started with; None when it is not such a run."""
    try:
        status = effective_status(run_dir)
    except RunError:
        return None
    command = status.get("command") or []
    if not command or (status.get("state") not in ACTIVE_STATES and status.get("state") != "failed"):
        return None
    flags = dict(zip(command, command[1:]))
    return {**row, "family": flags.get("--model", "bow"), "loss": flags.get("--loss", "bce"), "state": status["state"],
            "created": status.get("created"), "error": status.get("error")}


def run_summary(run_dir: Path) -> dict:
    """One row of the runs table; a corrupted run is reported with its problem, not raised."""
    run_dir = Path(run_dir)
    row = {"run_id": run_dir.name, "path": str(run_dir)}
    try:
        config = read_config(run_dir)
        status = effective_status(run_dir)
        evaluation = read_json(run_dir / EVAL_FILE) or {}
    except RunError as error:
        return _launched_summary(row, run_dir) or {**row, "state": "corrupted", "error": str(error)}
    metrics = read_metrics(run_dir)
    validation = metrics[metrics["split"] == "validation"] if not metrics.empty else metrics
    started, ended = status.get("started"), status.get("ended") or status.get("updated")
    duration = None
    if started and ended:
        duration = (datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds()
    return {
        **row,
        "family": config.get("model"),
        "loss": config.get("loss"),
        "state": status.get("state", "unknown"),
        "step": status.get("step"),
        "total_steps": status.get("total_steps"),
        "best_val_accuracy": float(validation["accuracy"].max()) if len(validation) else None,
        "test_accuracy": (evaluation.get("test") or {}).get("accuracy"),
        "test_reviews": (evaluation.get("test") or {}).get("n"),
        "duration_s": duration,
        "created": config.get("created"),
        "error": status.get("error"),
    }


def run_dirs() -> list[Path]:
    """The run folders under SENTIMENT_MODELS_DIR, by name (files such as README.md and the
    comparisons folder are not runs)."""
    root = models_dir()
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir()
                  if p.is_dir() and is_run_id(p.name))


def list_runs() -> pd.DataFrame:
    """All runs under SENTIMENT_MODELS_DIR, newest first."""
    rows = [run_summary(p) for p in run_dirs()]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    if "created" not in frame:  # every run still half-written (no run.json yet)
        frame["created"] = None
    return frame.sort_values("created", ascending=False, na_position="last").reset_index(drop=True)


def delete_run(run_id: str) -> None:
    """Remove a run folder; refuse while its process is still alive."""
    path = run_path(run_id)
    if not path.is_dir():
        raise RunError(f"No run {run_id!r} in {models_dir()}.")
    status = effective_status(path)
    if status.get("state") in ACTIVE_STATES:
        raise RunError(f"Run {run_id!r} is {status['state']}: stop it before deleting it.")
    shutil.rmtree(path)


# --- launching -------------------------------------------------------------------------
