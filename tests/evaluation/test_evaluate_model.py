import numpy as np
import pandas as pd
import pytest

from sentiment_core.core import runs
from sentiment_core.core.errors import ModelSourceError, RunError
from sentiment_core.data.imdb import load_imdb, seeded_subset
from sentiment_core.evaluation.evaluate_model import evaluate_model
from sentiment_core.inference import sources
from sentiment_core.inference.default_model import finished_runs
from sentiment_core.inference.predictor import FOREIGN_FAMILY, Predictor
from sentiment_core.inference.sources import load_run
from tests.checkpoint_helpers import albert_checkpoint, bert_checkpoint
from tests.conftest import write_parquet_dir


@pytest.fixture(autouse=True)
def no_resident_models():
    sources.clear_loaded_models()
    yield
    sources.clear_loaded_models()


@pytest.fixture
def data(tmp_path) -> str:
    return str(write_parquet_dir(tmp_path / "data", n_train=20, n_test=24))


def test_a_folder_is_evaluated_into_a_run_like_a_trained_one(tmp_path, data):
    folder = albert_checkpoint(tmp_path / "stars")
    progress = []
    run_dir = evaluate_model(str(folder), max_test_samples=16, run_id="eval-stars", data=data,
                             progress=lambda done, total: progress.append((done, total)))
    assert run_dir == runs.run_path("eval-stars") and progress[-1] == (16, 16)
    config = runs.read_config(run_dir)
    assert (config["kind"] == "evaluation" and config["source"] == str(folder.resolve())
            and config["source_kind"] == "folder")
    assert config["model"] == FOREIGN_FAMILY and config["max_length"] == 64 and config["revision"] is None
    assert config["labels"] == "0=negative,1=negative,2=neutral,3=positive,4=positive"
    assert config["label_map"]["definition"] == "P(positive) = 0.5 x P(3 stars) + P(4 stars) + P(5 stars)"
    status = runs.read_status(run_dir)
    assert status["state"] == "finished" and status["step"] == status["total_steps"] == 16 and status["ended"]
    report = runs.read_json(run_dir / runs.EVAL_FILE)
    assert report["test"]["n"] == 16 and 0 <= report["test"]["accuracy"] <= 1
    assert {"length_buckets", "calibration", "confusion_matrix", "roc_auc", "bce"} <= set(report["test"])
    predictions = pd.read_csv(run_dir / runs.PREDICTIONS_FILE)
    assert list(predictions.columns) == ["id", "probability", "label", "predicted", "length", "truncated"]
    test = seeded_subset(load_imdb(data)["test"], 16, 42)  # the subset training's --max-test-samples 16 scores
    assert predictions["label"].tolist() == list(test["label"]) and predictions["id"].tolist() == list(range(16))

    table = runs.list_runs()  # in the runs table beside trained runs
    row = table[table["run_id"] == "eval-stars"].iloc[0]
    assert (row["state"] == "finished" and row["family"] == FOREIGN_FAMILY
            and row["test_accuracy"] == report["test"]["accuracy"])
    assert [r["run_id"] for r in finished_runs()] == ["eval-stars"]
    sources.clear_loaded_models()
    again = load_run("eval-stars")  # best/ holds the model as scored, with its label mapping
    assert again.label_map.weights == (0.0, 0.0, 0.5, 1.0, 1.0) and again.run_id == "eval-stars"
    np.testing.assert_allclose([p.probability for p in again.predict(list(test["text"]), batch=True)],
                               predictions["probability"], atol=1e-5)


def test_a_trained_run_evaluated_again_scores_what_its_training_scored(tiny_bow_run):
    run_dir, data = tiny_bow_run
    evaluated = evaluate_model("tiny-bow", run_id="tiny-bow-again", data=data)
    trained = pd.read_csv(run_dir / runs.PREDICTIONS_FILE)
    again = pd.read_csv(evaluated / runs.PREDICTIONS_FILE)
    pd.testing.assert_frame_equal(again.drop(columns="probability"), trained.drop(columns="probability"))
    np.testing.assert_allclose(again["probability"], trained["probability"], atol=1e-5)
    config = runs.read_config(evaluated)
    assert config["source_kind"] == "run" and config["model"] == "bow" and config["labels"] is None


def test_a_hub_style_label_override_is_kept_with_the_run(tmp_path, data):
    folder = bert_checkpoint(tmp_path / "bert", {0: "joy", 1: "anger"})
    with pytest.raises(ModelSourceError, match="0=joy, 1=anger"):
        evaluate_model(str(folder), data=data, run_id="eval-joy")
    assert not runs.run_path("eval-joy").exists()  # refused before anything is written
    run_dir = evaluate_model(str(folder), data=data, run_id="eval-joy", labels="joy=positive,anger=negative")
    assert runs.read_config(run_dir)["labels"] == "0=positive,1=negative"
    sources.clear_loaded_models()
    assert load_run("eval-joy").label_map.weights == (1.0, 0.0)


def test_a_taken_run_id_and_bad_input_are_refused_before_any_work(tmp_path, data):
    folder = str(bert_checkpoint(tmp_path / "bert"))
    evaluate_model(folder, data=data, run_id="taken", max_test_samples=4)
    with pytest.raises(RunError, match=r"already exists.*or delete it \(python -m sentiment_core runs delete") as taken:
        evaluate_model(folder, data=data, run_id="taken")
    assert "--resume" not in str(taken.value)  # evaluate has no --resume
    with pytest.raises(ValueError, match="max_test_samples must be a positive whole number"):
        evaluate_model(folder, data=data, max_test_samples=0)
    with pytest.raises(ModelSourceError, match="No run 'no-such-thing'"):
        evaluate_model("no-such-thing", data=data)
    assert [p.name for p in runs.run_dirs()] == ["taken"]


def test_a_failure_is_recorded_and_a_stop_request_stops(tmp_path, data, monkeypatch):
    folder = str(bert_checkpoint(tmp_path / "bert"))
    run_dir = evaluate_model(folder, data=data, run_id="stopped", batch_size=4,
                             progress=lambda done, total: runs.request_stop("stopped"))
    assert runs.read_status(run_dir)["state"] == "stopped" and not (run_dir / runs.STOP_FILE).exists()

    def broken(self, texts, **options):
        raise RuntimeError("the model broke")

    monkeypatch.setattr(Predictor, "predict", broken)
    with pytest.raises(RuntimeError):
        evaluate_model(folder, data=data, run_id="broken")
    status = runs.read_status(runs.run_path("broken"))
    assert status["state"] == "failed" and status["error"] == "RuntimeError: the model broke"


PAIRS_CSV = ("pair,text,label,kind\n"
             "a,a great movie and a wonderful story,positive,antonym\n"
             "a,a terrible movie and a boring story,negative,antonym\n"
             "b,the plot was not bad,1,negation\n"
             "b,the plot was bad,0,negation\n"
             "c,the actor was superb,pos,\n"
             "c,the actor was superb and the scene moving,pos,\n")


def expected_pairs(predictor, pair_set) -> dict:
    """Accuracy on originals and edits, and consistency, counted here from the model's own predictions."""
    texts = [t for p in pair_set.pairs for t in (p.original, p.edit)]
    answers = [p.label for p in predictor.predict(texts, batch=True)]
    right = [(answers[2 * i] == ("negative", "positive")[p.original_label],
              answers[2 * i + 1] == ("negative", "positive")[p.edit_label]) for i, p in enumerate(pair_set.pairs)]
    n = len(right)
    return {"original_accuracy": sum(o for o, _ in right) / n, "edit_accuracy": sum(e for _, e in right) / n,
            "consistency": sum(o and e for o, e in right) / n}


def test_pairs_are_scored_after_the_test_split_and_added_to_the_run_later(tmp_path, data):
    from sentiment_core.evaluation import pairs as paired
    from sentiment_core.evaluation.evaluate_model import add_pairs

    folder = str(bert_checkpoint(tmp_path / "bert"))
    (tmp_path / "mine.csv").write_text(PAIRS_CSV, encoding="utf-8")
    run_dir = evaluate_model(folder, data=data, run_id="eval-pairs", max_test_samples=8,
                             pairs=tmp_path / "mine.csv", progress=lambda done, total: None)
    assert runs.read_status(run_dir)["state"] == "finished" and runs.read_status(run_dir)["step"] == 8
    assert runs.read_json(run_dir / runs.EVAL_FILE)["test"]["n"] == 8  # the test split as before
    assert runs.read_config(run_dir)["pairs_file"] == str(tmp_path / "mine.csv")
    (result,) = paired.run_pairs("eval-pairs")
    pair_set = paired.read_pairs(tmp_path / "mine.csv")
    assert {k: result.all[k] for k in ("original_accuracy", "edit_accuracy", "consistency")} == expected_pairs(
        sources.load_predictor(folder), pair_set)
    assert result.model == "eval-pairs" and result.all["pairs"] == 3 and result.all["label_kept"] == 1
    assert [k["kind"] for k in result.kinds] == ["antonym", "negation", None]
    assert not paired.is_stale(result, "eval-pairs")

    # A second file goes into the same run, scored with its model; nothing else in the run changes.
    before = {name: (run_dir / name).read_bytes() for name in (runs.EVAL_FILE, runs.STATUS_FILE, runs.RUN_FILE,
                                                               runs.PREDICTIONS_FILE)}
    (tmp_path / "more.tsv").write_text(PAIRS_CSV.replace(",", "\t"), encoding="utf-8")
    assert add_pairs("eval-pairs", tmp_path / "more.tsv", source=folder) == run_dir
    assert [r.name for r in paired.run_pairs("eval-pairs")] == ["mine", "more"]
    assert paired.run_pairs("eval-pairs")[1].all == result.all
    assert {name: (run_dir / name).read_bytes() for name in before} == before


def test_bad_pairs_and_another_model_are_refused_before_any_work(tmp_path, data):
    from sentiment_core.core.errors import InputError
    from sentiment_core.evaluation.evaluate_model import add_pairs

    folder = str(bert_checkpoint(tmp_path / "bert"))
    other = str(bert_checkpoint(tmp_path / "other", seed=1))
    (tmp_path / "odd.csv").write_text("pair,text,label\n1,great,1\n", encoding="utf-8")
    (tmp_path / "mine.csv").write_text(PAIRS_CSV, encoding="utf-8")
    with pytest.raises(InputError, match=r"exactly 2 rows .*pair 1 \(1 row\)"):
        evaluate_model(folder, data=data, run_id="eval-odd", pairs=tmp_path / "odd.csv")
    (tmp_path / "symbols.csv").write_text("pair,text,label\n1,great,1\n1,\u200b,0\n", encoding="utf-8")  # invisible
    with pytest.raises(InputError, match="pair 1 has a text with no word this model can read"):
        evaluate_model(folder, data=data, run_id="eval-symbols", pairs=tmp_path / "symbols.csv")
    assert runs.run_dirs() == []  # nothing written
    run_dir = evaluate_model(folder, data=data, run_id="eval-bert", max_test_samples=4)
    with pytest.raises(RunError, match=r"holds the evaluation of .*bert, not .*other: paired edits go into a run only"):
        add_pairs("eval-bert", tmp_path / "mine.csv", source=other)
    with pytest.raises(RunError, match="No run 'missing'"):
        add_pairs("missing", tmp_path / "mine.csv")
    runs.update_status(run_dir, state="running", pid=None)
    with pytest.raises(RunError, match="Run 'eval-bert' is running: paired edits are scored with a finished run"):
        add_pairs("eval-bert", tmp_path / "mine.csv")
    assert not (run_dir / "pairs.json").exists()


def test_a_stop_while_scoring_pairs_keeps_the_test_report(tmp_path, data):
    folder = str(bert_checkpoint(tmp_path / "bert"))
    (tmp_path / "mine.csv").write_text(PAIRS_CSV, encoding="utf-8")

    def stop_in_the_pairs(done: int, total: int) -> None:
        if total == 6:  # the 3 pairs' texts, after the 8 test reviews
            runs.request_stop("eval-stop")

    run_dir = evaluate_model(folder, data=data, run_id="eval-stop", max_test_samples=8, pairs=tmp_path / "mine.csv",
                             progress=stop_in_the_pairs, batch_size=4)
    assert runs.read_status(run_dir)["state"] == "stopped" and (run_dir / runs.EVAL_FILE).exists()
    assert not (run_dir / "pairs.json").exists()
