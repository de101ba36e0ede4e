"""Runs started and stopped as processes of their own."""

import time

from sentiment_core.core import runs
from sentiment_core.training import dashboard as monitor
from sentiment_core.training import jobs


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
