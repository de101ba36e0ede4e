import os
import subprocess
import sys

import pytest

from sentiment_core.core import runs


@pytest.mark.parametrize("bad", ["../evil", "/abs/path", "a/b", "..", "", ".hidden", "x" * 101, "a..b",
                                 "name with space"])
def test_bad_run_ids_are_refused(bad):
    with pytest.raises(runs.RunError, match="Invalid run id"):
        runs.run_path(bad)


def test_good_run_ids():
    for good in ("bow-bce-20260101-000000-000", "my_run.v2", "A1"):
        assert runs.run_path(good).name == good


def test_create_refuses_an_existing_run():
    path = runs.create_run("first", {"model": "bow"})
    assert runs.read_status(path)["state"] == "queued"
    assert runs.read_config(path)["model"] == "bow"
    runs.update_status(path, state="running")
    with pytest.raises(runs.RunError, match="already exists.*--resume"):
        runs.create_run("first", {"model": "lstm"})
    assert runs.read_config(path)["model"] == "bow"  # nothing overwritten


def test_status_is_merged_and_states_checked():
    path = runs.create_run("s", {})
    runs.update_status(path, state="running", step=3)
    runs.update_status(path, step=4)
    status = runs.read_status(path)
    assert status["state"] == "running" and status["step"] == 4
    with pytest.raises(ValueError):
        runs.update_status(path, state="exploded")


def test_metrics_append_and_resume_duplicates():
    path = runs.create_run("m", {})
    runs.append_metrics(path, [{"step": 1, "epoch": 0.1, "split": "train", "loss": 0.7}])
    runs.append_metrics(path, [{"step": 2, "epoch": 0.2, "split": "train", "loss": 0.6, "junk": 1}])
    runs.append_metrics(path, [{"step": 2, "epoch": 0.2, "split": "train", "loss": 0.55}])  # after a resume
    frame = runs.read_metrics(path)
    assert frame["step"].tolist() == [1, 2]
    assert frame["loss"].tolist() == [0.7, 0.55]
    assert list(frame.columns) == runs.METRIC_COLUMNS


def test_dead_process_reads_as_failed():
    path = runs.create_run("dead", {})
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    runs.update_status(path, state="running", pid=process.pid)
    status = runs.effective_status(path)
    assert status["state"] == "failed" and "ended without" in status["error"]
    runs.update_status(path, pid=os.getpid())
    assert runs.effective_status(path)["state"] == "running"


def test_list_runs_reports_corrupted_runs():
    good = runs.create_run("good", {"model": "bow", "loss": "bce"})
    runs.update_status(good, state="finished")
    bad = runs.models_dir() / "broken"
    bad.mkdir()
    (bad / "run.json").write_text("{ half written")
    table = runs.list_runs().set_index("run_id")
    assert table.loc["good", "state"] == "finished" and table.loc["good", "family"] == "bow"
    assert table.loc["broken", "state"] == "corrupted" and "corrupted" in table.loc["broken", "error"]


def test_files_in_the_models_folder_are_not_runs():
    runs.create_run("good", {"model": "bow", "loss": "bce"})
    (runs.models_dir() / "README.md").write_text("# trained runs\n")  # the repo's models/ has one
    assert runs.list_runs()["run_id"].tolist() == ["good"]
    assert [p.name for p in runs.run_dirs()] == ["good"]


def test_stop_and_delete():
    path = runs.create_run("x", {})
    runs.update_status(path, state="running", pid=os.getpid())
    runs.request_stop("x")
    assert runs.stop_requested(path)
    with pytest.raises(runs.RunError, match="stop it before deleting"):
        runs.delete_run("x")
    runs.update_status(path, state="stopped")
    runs.delete_run("x")
    assert not path.exists()
    with pytest.raises(runs.RunError, match="No run"):
        runs.delete_run("x")


def test_list_runs_while_every_run_is_half_written():
    (runs.models_dir() / "just-launched").mkdir(parents=True)
    table = runs.list_runs()
    assert table.loc[0, "run_id"] == "just-launched" and table.loc[0, "state"] == "corrupted"


def test_two_sessions_starting_runs_at_once_get_two_runs(monkeypatch):
    import threading

    stamps = iter(["bow-bce-same"] * 4 + [f"bow-bce-later-{i}" for i in range(10)])
    lock = threading.Lock()

    def same_id(family, loss):
        with lock:
            return next(stamps)

    monkeypatch.setattr(runs, "new_run_id", same_id)
    claimed, barrier = [], threading.Barrier(2)

    def start():
        barrier.wait()
        claimed.append(runs.claim_run_id("bow", "bce"))

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(claimed)) == 2 and all(runs.run_path(r).is_dir() for r in claimed)
