"""Runs started and stopped as processes of their own."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sentiment_core.core import runs
from sentiment_core.training import dashboard as monitor
from sentiment_core.training import jobs
from tests.conftest import write_parquet_dir


def test_a_process_that_dies_before_writing_its_status_fails_with_its_own_error(tmp_path):
    arguments = ["train", "--model", "bow", "--data", str(tmp_path / "nowhere"), "--epochs", "1"]
    process = jobs.start_run(arguments, "early-death")
    assert runs.read_status(runs.run_path("early-death"))["pid"] == process.pid
    process.wait(timeout=120)
    status = monitor.run_status("early-death")
    assert status["state"] == "failed"
    assert "does not exist" in status["error"]  # the CLI's message, read from train.log
    table = monitor.runs_table()
    row = table.set_index("run_id").loc["early-death"]
    assert (row["state"], row["family"], row["loss"]) == ("failed", "bow", "bce")
    assert monitor.active_run(table) is None


def test_stopping_a_queued_run_ends_it_stopped(tmp_path):
    # a process that never trains stands in for a run still loading its data
    import subprocess
    import sys

    path = runs.run_path("slow-start")
    path.mkdir(parents=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    runs.update_status(path, state="queued", pid=sleeper.pid, created=runs.now_iso())
    started = time.monotonic()
    status = jobs.stop_run("slow-start", grace_seconds=5)
    assert time.monotonic() - started < 10
    assert status["state"] == "stopped" and not status.get("error")
    assert sleeper.poll() is not None


def _foreground_train(tmp_path, run_id: str) -> tuple[subprocess.Popen, Path]:
    """`python -m sentiment_core train ...` in the foreground (this process's session, as a terminal runs it)."""
    data = str(write_parquet_dir(tmp_path / "data", n_train=400, n_test=40))
    command = [sys.executable, "-m", "sentiment_core", "train", "--model", "bow", "--data", data, "--epochs", "200",
               "--batch-size", "8", "--max-length", "64", "--vocab-size", "200", "--min-frequency", "1",
               "--run-id", run_id]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_dir = runs.run_path(run_id)
    deadline = time.monotonic() + 120
    while (runs.read_status(run_dir).get("step") or 0) < 5:
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.2)
    return process, run_dir


def test_ctrl_c_on_a_foreground_run_saves_a_checkpoint_as_sigterm_does(tmp_path):
    process, run_dir = _foreground_train(tmp_path, "ctrl-c")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    status = runs.read_status(run_dir)
    assert process.returncode == 0 and status["state"] == "stopped", (out, err)
    assert runs.last_checkpoint(run_dir) is not None and "stopping after this step" in err
    assert "resume with: python -m sentiment_core train --resume --run-id ctrl-c" in out


def test_a_second_ctrl_c_stops_at_once_and_the_handlers_come_back():
    before = signal.getsignal(signal.SIGINT)
    with jobs.TerminationFlag.installed() as flag:
        assert not flag.requested
        signal.raise_signal(signal.SIGINT)
        assert flag.requested  # the first asks for a clean stop
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before
