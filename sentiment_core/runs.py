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
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from sentiment_core.errors import RunError, RunNotFoundError
from sentiment_core.settings import get_settings

STATES = ("queued", "running", "finished", "failed", "stopped")
ACTIVE_STATES = ("queued", "running")
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
METRIC_COLUMNS = [
    "step", "epoch", "split", "loss", "accuracy", "f1", "bce", "lr", "samples_per_second", "wall_seconds",
]
RUN_FILE, STATUS_FILE, METRICS_FILE, EVAL_FILE = "run.json", "status.json", "metrics.csv", "eval.json"
PREDICTIONS_FILE, LOG_FILE, STOP_FILE = "predictions.csv", "train.log", "STOP"
BEST_DIR, CHECKPOINTS_DIR = "best", "checkpoints"
COMPARISONS_DIR = "comparisons"  # loss comparisons (sentiment_core/compare.py) live beside the runs
RESERVED_NAMES = frozenset({COMPARISONS_DIR})  # folders under SENTIMENT_MODELS_DIR that are not runs


def validate_run_id(run_id: str) -> str:
    """A plain name: letters, digits, `.`, `_`, `-`; no path separators, no `..`, at most 100 chars."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id) or ".." in run_id:
        raise RunError(
            f"Invalid run id {run_id!r}: use 1-100 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (no '/', no '..', no absolute paths)."
        )
    if run_id in RESERVED_NAMES:
        raise RunError(f"Invalid run id {run_id!r}: that name is reserved for the {run_id} folder; pick another.")
    return run_id


def models_dir() -> Path:
    return Path(get_settings().models_dir)


def run_path(run_id: str) -> Path:
    """The folder of a run, after validating its id."""
    return models_dir() / validate_run_id(run_id)


def new_run_id(family: str, loss: str) -> str:
    """A fresh, readable, sortable id: `<family>-<loss>-<UTC timestamp>`."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")[:-3]
    return f"{family}-{loss}-{stamp}"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --- atomic JSON -----------------------------------------------------------------------

def write_json(path: Path, payload: dict) -> None:
    """Write JSON atomically (temp file + rename): readers never see half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=_json_default), encoding="utf-8")
    os.replace(tmp, path)


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


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

def ensure_new_run(run_id: str) -> Path:
    """The folder for a new run; RunError when the id is taken (a queued, never-started launch is free)."""
    path = run_path(run_id)
    status = read_status(path) if path.exists() else None
    if path.exists() and not (status and status.get("state") == "queued" and not (path / CHECKPOINTS_DIR).exists()):
        raise RunError(
            f"Run {run_id!r} already exists in {models_dir()}: pick another --run-id, "
            f"or continue it with --resume."
        )
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


def read_status(run_dir: Path) -> dict:
    return read_json(Path(run_dir) / STATUS_FILE) or {}


def update_status(run_dir: Path, **fields) -> dict:
    """Merge `fields` into status.json (atomically) and stamp `updated`."""
    if "state" in fields and fields["state"] not in STATES:
        raise ValueError(f"unknown state {fields['state']!r}; one of {STATES}")
    status = {**read_status(run_dir), **fields, "updated": now_iso()}
    write_json(Path(run_dir) / STATUS_FILE, status)
    return status


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


def read_metrics(run_dir: Path) -> pd.DataFrame:
    """metrics.csv as a DataFrame; rows repeated by a resume keep their last value."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=METRIC_COLUMNS)
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError):
        frame = pd.read_csv(path, on_bad_lines="skip")  # a line cut by a crash is skipped
    return frame.drop_duplicates(subset=["step", "split"], keep="last").reset_index(drop=True)


# --- stopping, checking, listing -------------------------------------------------------

def request_stop(run_id: str) -> Path:
    """Ask a run to stop cleanly: write STOP (the trainer checks it every step)."""
    path = run_path(run_id)
    if not path.is_dir():
        raise RunError(f"No run {run_id!r} in {models_dir()}.")
    stop = path / STOP_FILE
    stop.write_text(now_iso(), encoding="utf-8")
    return stop


def stop_requested(run_dir: Path) -> bool:
    return (Path(run_dir) / STOP_FILE).exists()


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


def effective_status(run_dir: Path) -> dict:
    """status.json, with `running`/`queued` turned into `failed` when its process is gone."""
    status = read_status(run_dir)
    if status.get("state") in ACTIVE_STATES and status.get("pid") and not pid_alive(status["pid"]):
        status = {**status, "state": "failed", "error": status.get("error") or
                  "the training process ended without recording a result (killed or crashed); see train.log"}
    return status


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


def run_summary(run_dir: Path) -> dict:
    """One row of the runs table; a corrupted run is reported with its problem, not raised."""
    run_dir = Path(run_dir)
    row = {"run_id": run_dir.name, "path": str(run_dir)}
    try:
        config = read_config(run_dir)
        status = effective_status(run_dir)
        evaluation = read_json(run_dir / EVAL_FILE) or {}
    except RunError as error:
        return {**row, "state": "corrupted", "error": str(error)}
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
                  if p.is_dir() and RUN_ID_PATTERN.match(p.name) and p.name not in RESERVED_NAMES)


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

def launch(arguments: Sequence[str], run_id: str, python: str | None = None) -> subprocess.Popen:
    """Start `python -m sentiment_core train ... --run-id RUN_ID` as its own process.

    The process writes its output to the run's train.log and survives the caller (its own
    session), so the app stays responsive, and a reload or a closed tab loses nothing.
    """
    path = run_path(run_id)
    path.mkdir(parents=True, exist_ok=True)
    command = [python or sys.executable, "-m", "sentiment_core", *arguments, "--run-id", run_id]
    if not (path / STATUS_FILE).exists():  # before the child starts: it records its own pid
        update_status(path, state="queued", created=now_iso(), command=command)
    with (path / LOG_FILE).open("ab") as log:
        return subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=os.getcwd(),
        )


def terminate(run_id: str, grace_seconds: float = 10.0) -> None:
    """SIGTERM a run's process (it stops cleanly, like STOP); SIGKILL after the grace period."""
    status = read_status(run_path(run_id))
    pid = status.get("pid")
    if not pid_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.2)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
