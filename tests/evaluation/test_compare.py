import json
import math
import re
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sentiment_core.cli import main
from sentiment_core.core import runs
from sentiment_core.core.errors import ComparisonError
from sentiment_core.core.metrics import full_report
from sentiment_core.evaluation import compare
from sentiment_core.training import dashboard as monitor
from sentiment_core.training import jobs
from sentiment_core.training.run import train
from tests.conftest import TINY, TINY_OPTIONS, write_parquet_dir

LENGTHS = np.arange(1, 41)  # 40 test reviews of 1..40 tokens: Q4 (long) = 31..40 tokens, 10 reviews
LABELS = np.arange(40) % 2


def fake_run(run_id: str, loss: str, seed: int, correct, lengths=LENGTHS, labels=LABELS, data: str | None = None,
             validation_bce=(0.60, 0.50, 0.45)) -> None:
    """A finished run written by hand: predictions right where `correct` says, a report, a validation history."""
    correct = np.asarray(correct, dtype=bool)
    labels = np.asarray(labels)
    positive = np.where(correct, labels == 1, labels == 0)
    probabilities = np.where(positive, 0.9, 0.1) + np.where(correct, 0.0, 0.05 * np.sign(0.5 - positive))
    path = runs.create_run(run_id, {"model": "bow", "loss": loss, "seed": seed, "data": data, "max_test_samples": None,
                                    "epochs": len(validation_bce)})
    pd.DataFrame({"id": np.arange(len(labels)), "probability": probabilities, "label": labels,
                  "predicted": (probabilities >= 0.5).astype(int), "length": lengths, "truncated": False}
                 ).to_csv(path / runs.PREDICTIONS_FILE, index=False)
    runs.write_json(path / runs.EVAL_FILE, {"run_id": run_id, "model": "bow", "loss": loss,
                                            "test": full_report(labels, probabilities, lengths)})
    runs.append_metrics(path, [{"step": 10 * (i + 1), "epoch": i + 1, "split": "validation", "loss": bce * 0.4,
                                "accuracy": 0.7 + 0.05 * i, "f1": 0.7, "bce": bce}
                               for i, bce in enumerate(validation_bce)])
    runs.append_metrics(path, [{"step": 10 * (i + 1), "epoch": i + 1, "split": "train", "loss": 0.5 - 0.1 * i,
                                "accuracy": 0.6 + 0.1 * i} for i in range(len(validation_bce))])
    runs.update_status(path, state="finished", step=30, total_steps=30, ended=runs.now_iso())


def long_review_comparison(comparison_id: str = "handmade", data: str | None = None) -> dict:
    """bce misses 6, 7 and 8 of the 10 long reviews (seeds 1-3); length_weighted_bce gets every review right."""
    plan = compare.make_plan("bow", seeds=[1, 2, 3], comparison_id=comparison_id, data=data)
    compare.create_comparison(plan)
    for entry in plan["runs"]:
        correct = np.ones(40, dtype=bool)
        if entry["loss"] == "bce":
            correct[30:30 + 5 + entry["seed"]] = False
        fake_run(entry["run_id"], entry["loss"], entry["seed"], correct, data=data)
    compare.update_status(comparison_id, state="finished")
    return compare.write_comparison(comparison_id)


# --- plans -----------------------------------------------------------------------------

def test_a_plan_pairs_every_loss_with_every_seed():
    plan = compare.make_plan("transformer", "bce,length_weighted_bce", 3, first_seed=7, comparison_id="c1", epochs=2)
    assert plan["seeds"] == [7, 8, 9] and plan["losses"] == ["bce", "length_weighted_bce"]
    assert [(r["loss"], r["seed"]) for r in plan["runs"]][:2] == [("bce", 7), ("length_weighted_bce", 7)]
    assert plan["runs"][1]["run_id"] == "c1-length_weighted_bce-s7"
    assert plan["options"] == {"epochs": 2}
    # one pair differs only in the loss: the same seed (data order, subset, initial weights)
    first, second = (compare.train_config(plan, entry) for entry in plan["runs"][:2])
    assert {k: v for k, v in vars(first).items() if k not in ("loss", "run_id")} == \
           {k: v for k, v in vars(second).items() if k not in ("loss", "run_id")}
    assert compare.train_arguments(plan, plan["runs"][1]) == [
        "train", "--model", "transformer", "--loss", "length_weighted_bce", "--epochs", "2", "--seed", "7"]
    assert compare.parse_seeds("1,5,9") == [1, 5, 9] and compare.parse_seeds("2", 10) == [10, 11]


@pytest.mark.parametrize("arguments,message", [
    (dict(losses="bce"), "needs two or more losses"),
    (dict(losses="bce,hinge"), "Unknown loss 'hinge'"),
    (dict(losses="bce,bce"), "losses must be distinct"),
    (dict(seeds=0), "seeds must be at least 1"),
    (dict(seeds="1,1"), "seeds must be distinct"),
    (dict(seeds="three"), "seeds must be a count"),
    (dict(epochs=-1), "epochs must be a positive number"),
    (dict(batch_size=0), "batch_size must be a positive whole number"),
    (dict(comparison_id="../up"), "Invalid comparison id"),
    (dict(model="svm"), "Unknown model family 'svm'"),
    (dict(colour="red"), "Unknown comparison option"),
])
def test_bad_plans_are_refused_before_anything_is_written(arguments, message):
    values = {"model": "bow", **arguments}
    with pytest.raises(ValueError, match=message):
        compare.make_plan(values.pop("model"), **values)
    assert not runs.models_dir().exists()


def test_an_id_taken_by_another_plan_is_refused():
    compare.create_comparison(compare.make_plan("bow", seeds=2, comparison_id="same"))
    compare.create_comparison(compare.make_plan("bow", seeds=2, comparison_id="same"))  # same plan: resumes
    with pytest.raises(ValueError, match="already exists with a different plan"):
        compare.create_comparison(compare.make_plan("bow", seeds=3, comparison_id="same"))


def test_the_comparisons_folder_is_not_a_run():
    long_review_comparison()
    listed = runs.list_runs()["run_id"].tolist()
    assert "comparisons" not in listed and len(listed) == 6
    assert "comparisons" not in monitor.runs_table()["run_id"].tolist()
    with pytest.raises(runs.RunError, match="reserved"):
        runs.run_path("comparisons")


# --- statistics on hand-made predictions -----------------------------------------------

def test_mcnemar_on_a_hand_made_table():
    # 20 both right, 10 only A right, 2 only B right, 3 both wrong
    correct_a = np.array([1] * 20 + [1] * 10 + [0] * 2 + [0] * 3, dtype=bool)
    correct_b = np.array([1] * 20 + [0] * 10 + [1] * 2 + [0] * 3, dtype=bool)
    result = compare.mcnemar(correct_a, correct_b)
    assert (result["both_correct"], result["a_only"], result["b_only"], result["both_wrong"]) == (20, 10, 2, 3)
    assert result["p_value"] == pytest.approx(2 * (1 + 12 + 66) / 2 ** 12)  # exact binomial, two-sided: 0.0386
    assert result["difference"] == pytest.approx(8 / 35)
    assert compare.mcnemar(correct_a, correct_a)["p_value"] == 1.0  # no discordant pairs


def test_paired_t_test_across_seeds():
    result = compare.paired_t_test([0.80, 0.82, 0.84], [0.79, 0.80, 0.81])  # differences 0.01, 0.02, 0.03
    assert result["mean_difference"] == pytest.approx(0.02) and result["std_difference"] == pytest.approx(0.01)
    assert result["statistic"] == pytest.approx(0.02 / (0.01 / math.sqrt(3)))
    assert result["p_value"] == pytest.approx(0.0742, abs=1e-4)
    one = compare.paired_t_test([0.8], [0.7])
    assert one["p_value"] is None and "two or more seeds" in one["reason"]
    assert compare.paired_t_test([0.8, 0.9], [0.8, 0.9])["p_value"] == 1.0


def test_a_hand_made_comparison_gives_the_known_answer():
    payload = long_review_comparison()
    results = payload["results"]
    (pair,) = results["significance"]
    assert (pair["a"], pair["b"], pair["paired_by"]) == ("bce", "length_weighted_bce", "seed")
    for item, missed in zip(pair["pairs"], (6, 7, 8)):
        assert (item["a_only"], item["b_only"], item["both_wrong"]) == (0, missed, 0)
        assert item["p_value"] == pytest.approx(2 * 0.5 ** missed)
        assert item["buckets"]["Q4"]["b_only"] == missed and item["buckets"]["Q1"]["b_only"] == 0
    differences = np.array([-6, -7, -8]) / 40
    t = differences.mean() / (differences.std(ddof=1) / math.sqrt(3))
    assert pair["overall"]["p_value"] == pytest.approx(2 * stats.t.sf(abs(t), df=2))
    assert pair["overall"]["significant"] and pair["overall"]["test"] == "paired t-test across seeds"
    long = next(b for b in pair["buckets"] if b["bucket"] == "Q4")
    assert long["mean_difference"] == pytest.approx(-0.7) and long["significant"]
    assert long["label"] == "Q4: 30-40 tokens"
    short = next(b for b in pair["buckets"] if b["bucket"] == "Q1")
    assert short["mean_difference"] == 0 and not short["significant"]
    rows = {(r["group"], r["bucket"]): r for r in results["length_buckets"]["rows"]}
    assert rows[("bce", "Q4")]["values"] == pytest.approx([0.4, 0.3, 0.2])
    assert rows[("length_weighted_bce", "Q4")]["mean"] == 1.0 and rows[("bce", "Q1")]["n"] == 10
    headline = results["verdict"]["headline"]
    assert headline.startswith("length_weighted_bce is better on long reviews (Q4: 30-40 tokens) by 70.0 points")
    assert "p = 0.007" in headline
    assert any(s.startswith("length_weighted_bce is better overall by 17.5 points")
               for s in results["verdict"]["sentences"])
    json.dumps(payload, allow_nan=False)  # strict JSON on disk


def test_no_difference_is_called_no_significant_difference():
    plan = compare.make_plan("bow", seeds=2, comparison_id="null")
    compare.create_comparison(plan)
    rng = np.random.default_rng(0)
    correct = {seed: rng.random(40) > 0.2 for seed in plan["seeds"]}
    for entry in plan["runs"]:
        fake_run(entry["run_id"], entry["loss"], entry["seed"], correct[entry["seed"]])
    results = compare.write_comparison("null")["results"]
    assert results["verdict"]["headline"] == ("No significant difference between bce and length_weighted_bce "
                                              "(alpha 0.05).")
    assert results["verdict"]["sentences"][0].startswith("No significant difference in test accuracy")
    assert "paired t-test across seeds p = 1.000" in results["verdict"]["sentences"][0]


def test_one_seed_falls_back_on_mcnemar_and_says_so():
    correct = np.ones(40, dtype=bool)
    fake_run("one-a", "bce", 1, correct)
    worse = correct.copy()
    worse[:12] = False
    fake_run("one-b", "length_weighted_bce", 1, worse)
    results = compare.analyze({"bce": ["one-a"], "length_weighted_bce": ["one-b"]})
    overall = results["significance"][0]["overall"]
    assert overall["test"] == "McNemar" and overall["p_value"] == pytest.approx(2 * 0.5 ** 12)
    assert results["verdict"]["headline"].startswith("bce is better overall by 30.0 points")
    assert any("one run per loss" in c for c in results["verdict"]["caveats"])


def test_analysis_refuses_unfinished_runs_and_empty_groups():
    fake_run("done", "bce", 1, np.ones(40, dtype=bool))
    runs.create_run("busy", {"model": "bow", "loss": "bce"})
    with pytest.raises(ValueError, match="'busy' has no test report yet"):
        compare.analyze({"a": ["done"], "b": ["busy"]})
    with pytest.raises(ValueError, match="has no runs"):
        compare.analyze({"a": ["done"], "b": []})


@pytest.mark.parametrize("bces,trend", [
    ([0.6, 0.5, 0.4], "still improving"),
    ([0.6, 0.5, 0.502], "plateaued"),
    ([0.6, 0.5, 0.6], "rising"),
    ([0.6], "unknown"),
])
def test_convergence_of_the_validation_bce(bces, trend):
    metrics = pd.DataFrame([{"step": i, "epoch": i, "split": "validation", "loss": 9.0, "accuracy": 0.8 - 0.01 * i,
                             "bce": bce} for i, bce in enumerate(bces, start=1)])
    result = compare.convergence(metrics)
    assert result["trend"] == trend and result["loss_column"] == "bce"
    assert result["best_accuracy_epoch"] == 1 and result["best_bce"] == min(bces)


# --- a real tiny comparison ------------------------------------------------------------

@pytest.fixture
def tiny_data(tmp_path):
    return str(write_parquet_dir(tmp_path / "data", n_train=80, n_test=40))


def test_a_tiny_comparison_resumes_and_agrees_with_its_runs(tiny_data, capsys, monkeypatch):
    plan = compare.make_plan("bow", seeds=2, comparison_id="tiny", model_options=TINY_OPTIONS["bow"],
                             data=tiny_data, epochs=2, lr=1e-2, **TINY)
    compare.create_comparison(plan)
    # half finished: the first run stopped after its first step (its STOP file was there when it started;
    # a start clears such a leftover, so it is kept for this one run)
    first = plan["runs"][0]["run_id"]
    runs.run_path(first).mkdir(parents=True)
    runs.update_status(runs.run_path(first), state="queued")
    (runs.run_path(first) / runs.STOP_FILE).write_text("now")
    with monkeypatch.context() as patch:
        patch.setattr(runs, "clear_stop", lambda job_dir: None)
        train(compare.train_config(plan, plan["runs"][0]))
    assert runs.read_status(runs.run_path(first))["state"] == "stopped" and compare.run_state(first) == "resume"

    lines = []
    payload = compare.run_comparison("tiny", in_process=True, log=lines.append)
    assert lines[0] == f"[1/4] resuming {first}" and lines[-1] == "comparison tiny: finished"
    assert payload["state"] == "finished" and payload["complete"]
    behaviour = compare.behaviour_table(payload)  # the suite's failure rates per loss, mean over seeds
    assert {"capability", "test", "bce", "length_weighted_bce"} <= set(behaviour.columns) and len(behaviour) >= 20
    on_disk = json.loads((compare.comparison_path("tiny") / "comparison.json").read_text())
    assert on_disk["results"] == payload["results"]
    results = payload["results"]
    assert set(results) >= {"metrics", "length_buckets", "calibration", "significance", "convergence", "verdict",
                            "note"}
    assert "smaller by construction" in results["note"]

    reports = {e["run_id"]: json.loads((runs.run_path(e["run_id"]) / "eval.json").read_text())["test"]
               for e in plan["runs"]}
    predictions = {e["run_id"]: pd.read_csv(runs.run_path(e["run_id"]) / "predictions.csv") for e in plan["runs"]}
    for loss in plan["losses"]:
        ids = [e["run_id"] for e in plan["runs"] if e["loss"] == loss]
        assert results["groups"][loss] == ids
        for metric in ("accuracy", "f1", "roc_auc", "bce"):
            values = [reports[r][metric] for r in ids]
            assert results["metrics"][loss][metric]["mean"] == pytest.approx(np.mean(values))
            assert results["metrics"][loss][metric]["std"] == pytest.approx(np.std(values, ddof=1))
        assert results["calibration"][loss]["ece"]["mean"] == pytest.approx(
            np.mean([reports[r]["calibration"]["ece"] for r in ids]))
        for row in (r for r in results["length_buckets"]["rows"] if r["group"] == loss):
            index = int(row["bucket"][1:]) - 1
            assert row["values"] == pytest.approx([reports[r]["length_buckets"][index]["accuracy"] for r in ids])
    assert results["length_buckets"]["edges"] == reports[first]["length_bucket_edges"]  # the same buckets
    assert results["length_buckets"]["shared_test_set"]
    for item in results["significance"][0]["pairs"]:
        a, b = predictions[item["run_a"]], predictions[item["run_b"]]
        right_a, right_b = a.predicted == a.label, b.predicted == b.label
        assert (item["a_only"], item["b_only"]) == (int((right_a & ~right_b).sum()), int((~right_a & right_b).sum()))
        assert item["accuracy_a"] == pytest.approx(reports[item["run_a"]]["accuracy"])
        # a pair shares everything but the loss
        config_a, config_b = (runs.read_config(runs.run_path(r)) for r in (item["run_a"], item["run_b"]))
        assert {k: v for k, v in config_a.items() if k not in ("loss", "run_id", "created")} == \
               {k: v for k, v in config_b.items() if k not in ("loss", "run_id", "created")}
    for row in results["convergence"]["runs"]:
        best = json.loads((runs.run_path(row["run_id"]) / "eval.json").read_text())["best_validation"]
        history = runs.read_metrics(runs.run_path(row["run_id"]))
        assert row["best_accuracy_epoch"] == best["epoch"] and row["kept_by"] == "accuracy"  # the default
        assert row["evaluations"] == (history.split == "validation").sum() >= 2  # the stopped run evaluated once more
    assert results["verdict"]["text"]

    # again: nothing is retrained
    ended = {e["run_id"]: runs.read_status(runs.run_path(e["run_id"]))["ended"] for e in plan["runs"]}
    lines.clear()
    compare.run_comparison("tiny", in_process=True, log=lines.append)
    assert lines == ["comparison tiny: finished"]
    assert ended == {e["run_id"]: runs.read_status(runs.run_path(e["run_id"]))["ended"] for e in plan["runs"]}
    assert sorted(runs.list_runs()["run_id"]) == sorted(e["run_id"] for e in plan["runs"])

    assert main(["compare-losses", "--resume", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "state: finished (4/4 runs finished)" in out and "verdict: " in out and "not on one scale" in out
    assert compare.list_comparisons().loc[0, "finished"] == 4


def test_cli_refuses_bad_arguments_before_writing(tmp_path, tiny_data, capsys):
    assert main(["compare-losses", "--losses", "bce", "--data", tiny_data]) == 2
    assert "needs two or more losses" in capsys.readouterr().err
    assert main(["compare-losses", "--data", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["compare-losses", "--resume", "never"]) == 2
    assert "No comparison 'never'" in capsys.readouterr().err
    assert main(["compare-losses", "--data", tiny_data, "--parallel", "0", "--background"]) == 2
    assert "--parallel must be a whole number >= 1" in capsys.readouterr().err
    assert main(["compare-losses", "--model", "pretrained", "--data", tiny_data, "--backbone",
                 str(tmp_path / "no-encoder"), "--background"]) == 2
    assert "Cannot load the tokenizer of backbone" in capsys.readouterr().err
    assert not runs.models_dir().exists()  # nothing written, nothing started


def test_a_resume_takes_corrected_options_until_a_run_has_trained(tmp_path, tiny_data, tiny_backbone, capsys):
    plan = compare.make_plan("pretrained", seeds=1, comparison_id="fixable", data=tiny_data,
                             backbone=str(tmp_path / "typo"))
    compare.create_comparison(plan)  # as a page would: the bad backbone surfaces when the first run starts
    assert main(["compare-losses", "--resume", "fixable", "--in-process"]) == 2
    assert "Cannot load the tokenizer of backbone" in capsys.readouterr().err
    revised = compare.revise_plan("fixable", {"backbone": tiny_backbone, "max_length": 32})
    assert revised["options"]["backbone"] == tiny_backbone and revised["runs"] == plan["runs"]
    assert compare.read_plan("fixable")["options"]["backbone"] == str(tmp_path / "typo")  # nothing written yet
    compare.create_comparison(revised, revised=True)
    finished = plan["runs"][0]["run_id"]
    fake_run(finished, "bce", 1, np.ones(40, dtype=bool))
    with pytest.raises(ComparisonError, match=r"has already trained .*--epochs cannot change now.*a new --id"):
        compare.revise_plan("fixable", {"epochs": 3})
    assert compare.revise_plan("fixable", {"backbone": tiny_backbone})["options"] == revised["options"]


def test_a_run_that_died_before_writing_run_json_is_listed_as_failed_not_corrupted(tmp_path):
    path = runs.run_path("early")
    path.mkdir(parents=True)
    runs.update_status(path, state="queued", pid=2 ** 22 + 7, created=runs.now_iso(),
                       command=["python", "-m", "sentiment_core", "train", "--model", "lstm", "--loss", "bce"])
    (path / runs.LOG_FILE).write_text("error: Cannot load the data source\n")
    row = runs.list_runs().iloc[0]
    assert (row["state"], row["family"], row["loss"]) == ("failed", "lstm", "bce")
    assert row["error"] == "Cannot load the data source"


def _wait(predicate, timeout=120.0, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_stop_stops_the_run_in_progress_and_starts_no_other(tmp_path):
    """The runner (here in a thread) trains each run as `python -m sentiment_core train` in its own process."""
    data = str(write_parquet_dir(tmp_path / "data", n_train=400, n_test=20))
    plan = compare.make_plan("transformer", seeds=1, comparison_id="bg", data=data, epochs=100, batch_size=8,
                             max_length=32, vocab_size=200, min_frequency=1)
    compare.create_comparison(plan)
    first, second = (e["run_id"] for e in plan["runs"])
    lines = []
    runner = threading.Thread(target=compare.run_comparison, args=("bg",),
                              kwargs=dict(poll_seconds=0.2, log=lines.append), daemon=True)
    runner.start()
    _wait(lambda: runs.run_path(first).is_dir() and (runs.read_status(runs.run_path(first)).get("step") or 0) >= 3,
          what="the first run to train")
    status = compare.effective_status("bg")
    assert status["state"] == "running" and status["current_run"] == first
    assert runs.read_status(runs.run_path(first))["command"][3:6] == ["train", "--model", "transformer"]
    compare.request_stop("bg")
    runner.join(timeout=90)
    assert not runner.is_alive()
    assert compare.effective_status("bg")["state"] == "stopped"
    assert runs.read_status(runs.run_path(first))["state"] == "stopped"
    assert compare.run_state(first) == "resume"  # a resumed comparison continues it from its checkpoint
    assert not runs.run_path(second).exists()
    payload = compare.read_comparison("bg")
    assert payload["results"] is None and "waiting for a finished run" in payload["results_problem"]
    assert lines[0] == f"[1/2] training {first}" and lines[-1] == "comparison bg: stopped"
    assert not compare.stop_requested("bg")  # handled: a resume starts clean


def test_a_killed_comparison_shows_as_failed_and_resumes(tmp_path, tiny_data):
    import os
    import signal

    plan = compare.make_plan("bow", seeds=1, comparison_id="killed", data=tiny_data, epochs=1, batch_size=8,
                             max_length=32, vocab_size=200, min_frequency=1)
    compare.create_comparison(plan)
    process = compare.launch_comparison("killed")
    _wait(lambda: compare.read_status("killed").get("state") == "running", what="the comparison to start")
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert compare.effective_status("killed")["state"] == "failed"
    assert compare.list_comparisons().set_index("comparison_id").loc["killed", "state"] == "failed"
    with pytest.raises(ValueError, match="is not running"):
        compare.request_stop("killed")
    for entry in plan["runs"]:  # a run it had started lives on in its own process: let it end
        run_dir = runs.run_path(entry["run_id"])
        _wait(lambda run_dir=run_dir: not run_dir.is_dir()
              or runs.effective_status(run_dir).get("state") not in runs.ACTIVE_STATES,
              what="the orphaned run to end")
    result = compare.run_comparison("killed", poll_seconds=0.2, log=lambda line: None)
    assert result["state"] == "finished" and result["complete"]


def test_a_test_subset_per_seed_still_pairs_each_seed_and_the_verdict_says_so():
    """--max-test-samples draws a subset per seed: the pairs of one seed share theirs, so McNemar runs on each."""
    plan = compare.make_plan("bow", seeds=[1, 2], comparison_id="subsets", max_test_samples=40)
    compare.create_comparison(plan)
    for entry in plan["runs"]:
        correct = np.ones(40, dtype=bool)
        if entry["loss"] == "bce":
            correct[30:36] = False
        fake_run(entry["run_id"], entry["loss"], entry["seed"], correct, lengths=LENGTHS + entry["seed"])
    compare.update_status("subsets", state="finished")
    results = compare.write_comparison("subsets")["results"]
    assert results["length_buckets"]["shared_test_set"] is False
    pairs = [pair for comparison in results["significance"] for pair in comparison["pairs"]]
    assert len(pairs) == 2 and all(pair["p_value"] is not None for pair in pairs)
    caveat = next(c for c in results["verdict"]["caveats"] if "not all tested on the same reviews" in c)
    assert "compared each of the 2 seed pair(s)" in caveat and "skipped" not in caveat


def test_a_background_comparison_whose_process_dies_at_once_is_reported_not_called_started():
    plan = compare.make_plan("bow", seeds=1, comparison_id="doomed")
    compare.create_comparison(plan)
    path = compare.comparison_path("doomed")
    process = jobs.start_process([sys.executable, "-c", "print('error: the data went away'); raise SystemExit(2)"],
                                 path, compare.LOG_FILE)
    compare.update_status("doomed", state="queued", pid=process.pid)
    with pytest.raises(ComparisonError, match="ended at once: the data went away"):
        compare.wait_started("doomed", process)


# --- any setting: --vary --------------------------------------------------------------------

def test_vary_plans_one_arm_per_value_with_the_same_seeds():
    plan = compare.make_plan("bow", seeds=2, first_seed=5, comparison_id="aug", vary="augment=none,counterfactual",
                             augment_share=0.5, epochs=1)
    assert (plan["vary"], plan["arms"], plan["seeds"]) == ("augment", ["none", "counterfactual"], [5, 6])
    assert [(r["arm"], r["seed"]) for r in plan["runs"]] == [("none", 5), ("counterfactual", 5), ("none", 6),
                                                            ("counterfactual", 6)]
    assert plan["runs"][1]["run_id"] == "aug-counterfactual-s5" and plan["losses"] == ["bce"]
    # the arm without augmentation does not get its share; everything else is the same
    assert compare.train_arguments(plan, plan["runs"][0]) == ["train", "--model", "bow", "--epochs", "1", "--seed",
                                                              "5", "--augment", "none"]
    assert compare.train_arguments(plan, plan["runs"][1])[-4:] == ["--augment", "counterfactual", "--augment-share",
                                                                   "0.5"]
    first, second = (compare.train_config(plan, entry).resolved() for entry in plan["runs"][:2])
    assert {k: v for k, v in vars(first).items() if not k.startswith("augment") and k != "run_id"} == \
           {k: v for k, v in vars(second).items() if not k.startswith("augment") and k != "run_id"}
    numbers = compare.make_plan("bow", seeds=1, comparison_id="lr", vary="lr=0.001,0.003", loss="length_weighted_bce")
    assert numbers["values"] == [0.001, 0.003] and numbers["arms"] == ["0.001", "0.003"]
    assert {compare.train_config(numbers, e).loss for e in numbers["runs"]} == {"length_weighted_bce"}
    flags = compare.make_plan("bow", seeds=1, comparison_id="f", vary="augment-eval=false,true",
                              augment="counterfactual")
    assert flags["values"] == [False, True] and flags["arms"] == ["false", "true"]
    assert compare.make_plan("bow", seeds=1, comparison_id="l", vary="loss=bce,cross_entropy")["losses"] == \
        ["bce", "cross_entropy"]


@pytest.mark.parametrize(("arguments", "message"), [
    (dict(vary="augment"), "--vary takes SETTING=A,B"),
    (dict(vary="colour=red,blue"), "cannot vary 'colour'"),
    (dict(vary="data=a,b"), "cannot vary 'data'"),
    (dict(vary="augment=none"), "two or more values of augment"),
    (dict(vary="augment=none,none"), "must be distinct"),
    (dict(vary="augment=none,mixup"), "Unknown --augment 'mixup'"),
    (dict(vary="lr=fast,slow"), "lr must be a positive number"),
    (dict(vary="augment-eval=maybe,true"), "is on or off"),
    (dict(vary="augment=none,counterfactual", losses="bce,cross_entropy"), "Give --losses or --vary, not both"),
    (dict(vary="augment=none,counterfactual", augment="counterfactual"), "--augment is what this comparison varies"),
    (dict(loss="bce"), "Unknown comparison option(s): loss"),
])
def test_bad_variations_are_refused(arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        compare.make_plan("bow", seeds=1, **arguments)
    assert not runs.models_dir().exists()


def test_a_plan_written_before_vary_is_read_as_a_loss_comparison():
    plan = compare.make_plan("bow", seeds=1, comparison_id="old")
    old = {k: v for k, v in plan.items() if k not in ("vary", "arms", "values")}
    old["runs"] = [{k: v for k, v in e.items() if k not in ("arm", "value")} for e in plan["runs"]]
    compare.comparison_path("old").mkdir(parents=True)
    runs.write_json(compare.comparison_path("old") / compare.PLAN_FILE, old)
    read = compare.read_plan("old")
    assert (read["vary"], read["arms"]) == ("loss", ["bce", "length_weighted_bce"])
    assert compare.train_arguments(read, read["runs"][1]) == compare.train_arguments(plan, plan["runs"][1])
    compare.create_comparison(plan)  # the same plan: accepted, it resumes
    assert compare.list_comparisons().loc[0, "vary"] == "loss"


def test_an_augmentation_ab_runs_both_arms_and_judges_them(tmp_path, capsys):
    from tests.training.test_augment import reviews

    data = tmp_path / "flippable"
    data.mkdir()
    reviews(40, 1).to_parquet(data / "train.parquet")
    reviews(15, 2, ["I watched it in Oslo.", "It was shown on a Monday."]).to_parquet(data / "test.parquet")
    plan = compare.make_plan("bow", seeds=[1, 2], comparison_id="ab", vary=("augment", ["none", "counterfactual"]),
                             model_options=TINY_OPTIONS["bow"], data=str(data), epochs=1, augment_share=0.5, **TINY)
    compare.create_comparison(plan)
    payload = compare.run_comparison("ab", in_process=True, log=lambda line: None)
    assert payload["state"] == "finished" and payload["complete"]
    results = payload["results"]
    assert results["groups"] == {"none": ["ab-none-s1", "ab-none-s2"],
                                 "counterfactual": ["ab-counterfactual-s1", "ab-counterfactual-s2"]}
    assert results["seeds"] == {"none": [1, 2], "counterfactual": [1, 2]}  # the same seeds in both arms
    assert results["setting"] == "augment" and "differ in augment only" in results["note"]
    assert results["verdict"]["headline"] and results["significance"][0]["pairs"][0]["p_value"] is not None
    for entry in plan["runs"]:
        config = runs.read_config(runs.run_path(entry["run_id"]))
        assert config["augment"] == entry["arm"] and ("augmentation" in config) == (entry["arm"] != "none")
    held_out = compare.behaviour_held_out_table(payload)
    assert {"capability", "held_out_cases", "none", "counterfactual", "none (seen words)"} <= set(held_out.columns)
    assert "Negation (held-out words)" in held_out["capability"].tolist()
    verdict = payload["behaviour_verdict"]
    negation = next(r for r in verdict["rows"] if r["capability"] == "Negation (held-out words)")
    assert negation["test"] == "paired t-test" and {negation["a"], negation["b"]} == {"none", "counterfactual"}
    assert any(s.startswith("Negation (held-out words)") for s in verdict["sentences"])
    assert main(["compare-losses", "--resume", "ab"]) == 0
    out = capsys.readouterr().out
    assert "one row per augment" in out and "held-out words" in out and "behaviour: Negation (held-out words)" in out
