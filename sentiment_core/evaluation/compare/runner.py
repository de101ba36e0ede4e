"""Running a comparison: its runs one after another (or `parallel` at a time), each in its own process,
stopped by the comparison's STOP file or SIGTERM, resumable. The comparison folder is a job directory
like a run's (status.json, compare.log, STOP; `runs` owns that mechanism).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from subprocess import Popen

from sentiment_core.core import runs
from sentiment_core.core.errors import ComparisonError, InputError
from sentiment_core.data.imdb import source_record
from sentiment_core.evaluation.compare.plan import (
    LOG_FILE,
    PLAN_FILE,
    comparison_path,
    effective_status,
    make_plan,
    read_plan,
    read_status,
    same_plan,
    stop_requested,
    train_arguments,
    train_config,
    update_status,
)
from sentiment_core.evaluation.compare.report import write_comparison
from sentiment_core.training import dashboard as monitor
from sentiment_core.training import jobs
from sentiment_core.training.options import TrainConfig, normalise


def check_parallel(parallel, in_process: bool = False) -> int:
    """`parallel` when it is a whole number >= 1 (1 only in-process), else an InputError saying what is allowed."""
    if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
        raise InputError(f"--parallel must be a whole number >= 1 (runs trained at the same time), got {parallel!r}.")
    if in_process and parallel != 1:
        raise InputError("in-process comparisons train one run at a time: leave --parallel out with --in-process.")
    return parallel


def check_plan(plan: dict, in_process: bool = False) -> None:
    """What every run of a comparison needs, checked before anything is written or started, as `train` checks it:
    each run's arguments, the data source, and a pretrained family's backbone (it must load)."""
    from sentiment_core.data.imdb import load_imdb
    from sentiment_core.training.run import load_backbone_tokenizer

    for entry in plan["runs"]:
        config = train_config(plan, entry).resolved()
        if not in_process and run_state(entry["run_id"]) != "finished":
            train_arguments(plan, entry)  # model_options cannot cross a process boundary
    load_imdb(plan["options"].get("data"))
    if plan["model"] == "pretrained":
        load_backbone_tokenizer(config.backbone)


def revise_plan(comparison_id: str, options: dict) -> dict:
    """Comparison ID's plan with `options` (shared training options given again on --resume) in place of its own,
    checked as a new plan is; allowed while none of its runs has trained anything (a finished run, or a checkpoint),
    refused naming what to do otherwise. Nothing is written here."""
    plan = read_plan(comparison_id)
    changed = {name: value for name, value in normalise(options).items() if plan["options"].get(name) != value}
    if not changed:
        return plan
    trained = [e["run_id"] for e in plan["runs"] if run_state(e["run_id"]) in ("finished", "resume", "wait")]
    if trained:
        flags = " ".join(f"--{name.replace('_', '-')}" for name in sorted(changed))
        raise ComparisonError(
            f"Comparison {comparison_id!r} has already trained {', '.join(trained)} with its own settings, so "
            f"{flags} cannot change now (its runs would no longer be comparable): resume it without {flags}, or "
            "start a new comparison with them (the same command without --resume, and a new --id).")
    revised = make_plan(plan["model"], seeds=plan["seeds"], vary=(plan["vary"], plan["values"]),
                        comparison_id=comparison_id, model_options=plan.get("model_options"),
                        **{**plan["options"], **changed})
    return {**revised, "created": plan.get("created", revised["created"])}


def create_comparison(plan: dict, revised: bool = False) -> Path:
    """Write the comparison folder (plan.json, a queued status); the same plan again is accepted
    (it resumes), a different plan under a taken id is refused unless `revised` (by `revise_plan`)."""
    comparison_id = plan["comparison_id"]
    path = comparison_path(comparison_id)
    saved = runs.read_json(path / PLAN_FILE)
    if saved is not None and not revised:
        if not same_plan(saved, plan):
            raise ComparisonError(
                f"Comparison {comparison_id!r} already exists with a different plan: continue it with "
                f"`compare-losses --resume {comparison_id}`, or pick another --id."
            )
        return path
    path.mkdir(parents=True, exist_ok=True)
    runs.write_json(path / PLAN_FILE, plan)
    if saved is None:
        update_status(comparison_id, state="queued", created=plan.get("created") or runs.now_iso())
    write_comparison(comparison_id)
    return path


def request_stop(comparison_id: str) -> dict:
    """Stop a comparison: its STOP file (no further run starts) and a stop of the run in progress
    (it saves a checkpoint and ends `stopped`; resuming the comparison resumes it)."""
    plan = read_plan(comparison_id)
    state = effective_status(comparison_id).get("state", "unknown")
    if state not in runs.ACTIVE_STATES:
        raise ComparisonError(f"Comparison {comparison_id!r} is not running (it is {state}): there is nothing to stop.")
    runs.write_stop(comparison_path(comparison_id))
    for entry in plan["runs"]:
        run_dir = runs.run_path(entry["run_id"])
        if run_dir.is_dir() and runs.effective_status(run_dir).get("state") in runs.ACTIVE_STATES:
            jobs.stop_run(entry["run_id"])
    status = effective_status(comparison_id)
    if status.get("state") == "queued" and not runs.pid_alive(status.get("pid")):
        status = update_status(comparison_id, state="stopped", ended=runs.now_iso())
    return status


def launch_comparison(comparison_id: str, parallel: int = 1, python: str | None = None) -> Popen:
    """Start `python -m sentiment_core compare-losses --resume ID` as its own process (own session,
    output to compare.log): it trains the planned runs one after another, then writes the results (a comparison
    of any setting: the plan says which)."""
    read_plan(comparison_id)
    status = effective_status(comparison_id)
    if status.get("state") in runs.ACTIVE_STATES and runs.pid_alive(status.get("pid")):
        raise ComparisonError(f"Comparison {comparison_id!r} is already {status['state']} (process {status['pid']}).")
    path = comparison_path(comparison_id)
    runs.clear_stop(path)
    command = [python or sys.executable, "-m", "sentiment_core", "compare-losses", "--resume", comparison_id]
    if parallel != 1:
        command += ["--parallel", str(parallel)]
    process = jobs.start_process(command, path, LOG_FILE)
    update_status(comparison_id, state="queued", pid=process.pid, command=command, error=None, ended=None)
    return process



def wait_started(comparison_id: str, process: Popen, timeout_s: float = 60.0) -> dict:
    """The status of a comparison launched in the background once its process runs; a ComparisonError with the
    process's own error when it ended first (so a launch never reports success for a process that died)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            status = effective_status(comparison_id)
            if status.get("state") in ("failed", *runs.ACTIVE_STATES):
                log = runs.log_tail(comparison_path(comparison_id), lines=3, name=LOG_FILE)
                raise ComparisonError(f"The comparison's process ended at once: {status.get('error') or log}")
            return status
        status = read_status(comparison_id)
        if status.get("state") == "running" and status.get("pid") == process.pid:
            return status
        time.sleep(0.2)
    return read_status(comparison_id)

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
    check_parallel(parallel, in_process)
    if not in_process:
        for entry in plan["runs"]:
            if run_state(entry["run_id"]) != "finished":
                train_arguments(plan, entry)  # model_options are refused here, before anything runs
    status = effective_status(comparison_id)
    if status.get("state") in runs.ACTIVE_STATES and status.get("pid") not in (None, os.getpid()) \
            and runs.pid_alive(status["pid"]):
        raise ComparisonError(f"Comparison {comparison_id!r} is already running in process {status['pid']}.")
    runs.clear_stop(comparison_path(comparison_id))  # a STOP left from before this start must not stop it
    update_status(comparison_id, state="running", pid=os.getpid(), error=None, traceback=None, ended=None,
                  started=status.get("started") or runs.now_iso(), parallel=parallel)
    with jobs.TerminationFlag.installed():
        failed = _train_runs(comparison_id, plan, in_process, parallel, poll_seconds, log)
    states = {e["run_id"]: run_state(e["run_id"]) for e in plan["runs"]}
    if failed:
        final = dict(state="failed", error=f"run {failed[0]} failed: {_run_error(failed[0])}; fix it and resume "
                                          f"with `python -m sentiment_core compare-losses --resume {comparison_id}`")
    elif all(state == "finished" for state in states.values()):
        final = dict(state="finished", error=None)
    else:
        final = dict(state="stopped", error=None)
    if final["state"] == "finished":
        _run_behaviour_suites(plan, log)
    runs.clear_stop(comparison_path(comparison_id))  # handled: a resume starts clean
    update_status(comparison_id, ended=runs.now_iso(), current_run=None, **final)
    result = write_comparison(comparison_id)
    log(f"comparison {comparison_id}: {final['state']}")
    return result


def _train_runs(comparison_id: str, plan: dict, in_process: bool, parallel: int, poll_seconds: float,
                log) -> list[str]:
    """Train the runs not finished yet (the data checked first, once); the runs that failed. A stop or a crash
    ends the comparison's status here, with what comparison.json can say so far."""
    try:
        from sentiment_core.data.imdb import load_imdb

        load_imdb(plan["options"].get("data"))  # a bad source fails once, clearly, before any run
        if not plan.get("data_source"):  # recorded once, by the first process that reads the data
            plan = {**plan, "data_source": source_record(plan["options"].get("data"))}
            runs.write_json(comparison_path(comparison_id) / PLAN_FILE, plan)
        if in_process:
            return _run_in_process(comparison_id, plan, log)
        return _run_subprocesses(comparison_id, plan, parallel, poll_seconds, log)
    except BaseException as error:
        stopped = isinstance(error, KeyboardInterrupt)
        update_status(comparison_id, state="stopped" if stopped else "failed", ended=runs.now_iso(), current_run=None,
                      error=None if stopped else f"{type(error).__name__}: {error}")
        write_comparison(comparison_id)
        raise


def _run_behaviour_suites(plan: dict, log) -> None:
    """The behaviour suite on every run (cached in each run): comparison.json reports it per loss."""
    from sentiment_core.evaluation import behaviour

    for entry in plan["runs"]:
        run_id = entry["run_id"]
        if behaviour.cached_result(behaviour.run_fingerprint(run_id), run_id=run_id) is None:
            log(f"behaviour tests: {run_id}")
            behaviour.suite_for_run(run_id)


def _stop_wanted(comparison_id: str) -> bool:
    return stop_requested(comparison_id) or jobs.TerminationFlag.requested


def _run_error(run_id: str) -> str:
    try:
        return monitor.run_status(run_id).get("error") or "see its train.log"
    except runs.RunError as error:
        return str(error)


def _run_in_process(comparison_id: str, plan: dict, log) -> list[str]:
    from sentiment_core.training.run import train

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
                jobs.stop_run(run_id)
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
                    jobs.stop_run(run_id)
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
                    process = jobs.start_run(["train", "--resume"], run_id)
                else:
                    _clear_unusable_run(run_id)
                    log(f"[{index}/{total}] training {run_id}")
                    process = jobs.start_run(train_arguments(plan, entry), run_id)
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
                runs.write_stop(comparison_path(comparison_id))
            write_comparison(comparison_id)
