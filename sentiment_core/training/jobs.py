"""Jobs: training runs (and comparisons) started, stopped and resumed as processes of their own.

A job is its folder (`core.runs`: status.json, a log, a STOP file) plus a process started in its own
session, so it survives the app, a closed tab or a reload; a page, the CLI or a comparison drives it here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from subprocess import Popen

from sentiment_core.core import runs
from sentiment_core.core.runs import LOG_FILE, STATUS_FILE, now_iso, pid_alive, read_status, run_path, update_status


def start_process(command: Sequence[str], job_dir: Path, log_name: str = LOG_FILE) -> subprocess.Popen:
    """Start `command` as its own process (own session: it survives the caller, a closed tab, a reload),
    its output appended to the job's log."""
    with (Path(job_dir) / log_name).open("ab") as log:
        return subprocess.Popen(list(command), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=os.getcwd())


def terminate_process(pid: int | None, grace_seconds: float = 10.0) -> None:
    """SIGTERM a job's process (it stops cleanly, like STOP); SIGKILL after the grace period."""
    if not pid_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.2)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


class TerminationFlag:
    """Set by SIGTERM or a first Ctrl+C (SIGINT) in a job's process; its loop checks it with the STOP file and stops
    cleanly, saving a checkpoint. A second Ctrl+C stops at once."""

    requested = False

    @classmethod
    @contextlib.contextmanager
    def installed(cls):
        """The handlers, for the duration of a job; the previous ones come back afterwards."""
        cls.requested = False
        try:
            previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, cls._terminate),
                        signal.SIGINT: signal.signal(signal.SIGINT, cls._interrupt)}
        except ValueError:  # not the main thread (e.g. inside a test runner thread): STOP files still work
            previous = {}
        try:
            yield cls
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    @classmethod
    def _terminate(cls, signum, frame) -> None:
        cls.requested = True

    @classmethod
    def _interrupt(cls, signum, frame) -> None:
        if cls.requested:
            raise KeyboardInterrupt
        cls.requested = True
        print("\nstopping after this step, with a checkpoint to resume from (Ctrl+C again to stop at once)",
              file=sys.stderr, flush=True)


def launch(arguments: Sequence[str], run_id: str, python: str | None = None) -> subprocess.Popen:
    """Start `python -m sentiment_core train ... --run-id RUN_ID` as its own process (output in train.log)."""
    path = run_path(run_id)
    path.mkdir(parents=True, exist_ok=True)
    command = [python or sys.executable, "-m", "sentiment_core", *arguments, "--run-id", run_id]
    if not (path / STATUS_FILE).exists():  # before the child starts: it records its own pid
        update_status(path, state="queued", created=now_iso(), command=command)
    return start_process(command, path)


def terminate(run_id: str, grace_seconds: float = 10.0) -> None:
    """SIGTERM a run's process (it stops cleanly, like STOP); SIGKILL after the grace period."""
    terminate_process(read_status(run_path(run_id)).get("pid"), grace_seconds)


def start_run(arguments: list[str], run_id: str) -> Popen:
    """`launch` and record the process id at once, so a process that dies before it
    writes its status (bad data source, no checkpoint) shows as failed instead of queued forever."""
    run_dir = runs.run_path(run_id)
    resume = "--resume" in arguments
    before = runs.read_status(run_dir) if resume else {}
    process = launch(arguments, run_id)
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
        terminate(run_id, grace_seconds=grace_seconds)
        after = runs.read_status(run_dir)
        if after.get("state") in runs.ACTIVE_STATES and not runs.pid_alive(after.get("pid")):
            runs.update_status(run_dir, state="stopped", ended=runs.now_iso(), error=None)
    return runs.effective_status(run_dir)
