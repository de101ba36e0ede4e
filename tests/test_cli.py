import argparse
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from sentiment_core.cli import build_parser, main
from tests.conftest import REPO_ROOT


def test_data_info_prints_json(parquet_dir, capsys):
    assert main(["data", "info", "--data", str(parquet_dir)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["splits"]["train"] == {"rows": 18, "neg": 9, "pos": 9}
    assert info["splits"]["validation"] == {"rows": 2, "neg": 1, "pos": 1}
    assert info["splits"]["test"] == {"rows": 10, "neg": 5, "pos": 5}


def test_data_info_uses_imdb_data(csv_file, use_source, capsys):
    use_source(csv_file)
    assert main(["data", "info"]) == 0
    assert json.loads(capsys.readouterr().out)["splits"]["test"]["rows"] == 20


def test_bad_source_is_one_clear_line(tmp_path, capsys):
    assert main(["data", "info", "--data", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Cannot load IMDB data") and "Traceback" not in err


def _command_paths(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and sub-command of `parser`, as argv prefixes."""
    paths = [path]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths += _command_paths(sub, (*path, name))
    return paths


@pytest.mark.parametrize("argv", [[*path, "--help"] for path in _command_paths(build_parser())], ids=" ".join)
def test_help_everywhere(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_module_entry_point(parquet_dir):
    done = subprocess.run(
        [sys.executable, "-m", "sentiment_core", "data", "info", "--data", str(parquet_dir)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["splits"]["validation"]["rows"] == 2


def test_predict_prints_json_lines_for_texts_and_a_file(tiny_bow_run, tmp_path, capsys):
    reviews = tmp_path / "reviews.csv"
    pd.DataFrame({"Review": ["a great film", "", "awful and boring"]}).to_csv(reviews, index=False)
    assert main(["predict", "--run", "tiny-bow", "loved it", "--file", str(reviews)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["text"] == "loved it" and lines[0]["label"] in ("positive", "negative")
    assert [line["row"] for line in lines[1:]] == [0, 1, 2]
    assert lines[2]["label"] is None and "empty review" in lines[2]["notes"][0]  # one schema: `notes` everywhere
    assert 0 <= lines[3]["probability"] <= 1


def test_predict_without_run_uses_the_best_one_and_refuses_bad_files(tiny_bow_run, tmp_path, capsys):
    assert main(["predict", "great"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] in ("positive", "negative")
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"comment": ["x"]}).to_csv(bad, index=False)
    assert main(["predict", "--file", str(bad)]) == 2
    assert "no 'text' or 'review' column (columns: comment)" in capsys.readouterr().err


def test_explain_prints_words_with_spans(tiny_bow_run, capsys):
    text = "The plot was dull, but the actor was great."
    assert main(["explain", "--run", "tiny-bow", "--method", "occlusion", text]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["run"] == "tiny-bow" and result["method"] == "occlusion" and result["delta"] is None
    assert all(text[w["start"]:w["end"]] == w["word"] for w in result["words"])
    assert main(["explain", "--run", "missing-run", text]) == 2
    assert "No run 'missing-run'" in capsys.readouterr().err


def test_predict_with_no_run_at_all_says_what_to_do(capsys):
    assert main(["predict", "great"]) == 2
    assert "train one first" in capsys.readouterr().err


def test_an_internal_value_error_is_a_bug_with_a_traceback(monkeypatch):
    """Only SentimentError means "your mistake" (exit 2); a ValueError from numpy or torch is a bug."""
    from sentiment_core.data import imdb as data

    def broken(source=None):
        raise ValueError("planted internal error")

    monkeypatch.setattr(data, "data_info", broken)
    with pytest.raises(ValueError, match="planted internal error"):
        main(["data", "info"])


# --- what a newcomer trips over (issue 18) -------------------------------------------------

def test_stopping_a_finished_run_is_refused_and_a_resume_ignores_a_leftover_stop(tmp_path, capsys):
    from sentiment_core.core import runs
    from tests.conftest import write_parquet_dir

    data = str(write_parquet_dir(tmp_path / "data", n_train=80, n_test=20))
    tiny = ["--data", data, "--vocab-size", "200", "--min-frequency", "1", "--batch-size", "8", "--max-length", "64"]
    assert main(["train", "--model", "bow", "--epochs", "1", "--run-id", "R", *tiny]) == 0
    assert main(["runs", "stop", "R"]) == 2
    assert "is not running (it is finished): there is nothing to stop" in capsys.readouterr().err
    assert not runs.stop_requested(runs.run_path("R"))
    runs.write_stop(runs.run_path("R"))  # a STOP left behind (e.g. by an older version) before the resume
    assert main(["train", "--resume", "--run-id", "R", "--epochs", "2"]) == 0
    status = runs.read_status(runs.run_path("R"))
    assert status["state"] == "finished" and status["step"] == status["total_steps"]


def test_predict_has_one_schema_and_one_policy_for_empty_input(tiny_bow_run, tmp_path, capsys):
    reviews = tmp_path / "reviews.csv"
    pd.DataFrame({"text": ["a great film", None, "ça, c'est un film formidable"]}).to_csv(reviews, index=False)
    assert main(["predict", "--run", "tiny-bow", "loved it", "", "--file", str(reviews)]) == 0
    out = capsys.readouterr().out
    assert "NaN" not in out and "\\u00e7" not in out and "ça" in out  # strict JSON, written as UTF-8
    lines = [json.loads(line) for line in out.splitlines()]
    assert len({tuple(line) for line in lines}) == 1  # the same keys on every line
    assert [(line["input"], line["row"]) for line in lines] == [("argument", 0), ("argument", 1), ("file", 0),
                                                                 ("file", 1), ("file", 2)]
    assert all(line["model"] == "tiny-bow" for line in lines)
    for empty in (lines[1], lines[3]):
        assert empty["label"] is None and empty["probability"] is None and "empty review" in empty["notes"][0]
    assert lines[0]["label"] in ("positive", "negative") and lines[4]["text"] == "ça, c'est un film formidable"


def test_predict_file_that_does_not_exist_is_a_clear_error(tiny_bow_run, tmp_path, capsys):
    assert main(["predict", "--run", "tiny-bow", "--file", str(tmp_path / "missing.csv")]) == 2
    err = capsys.readouterr().err
    assert "missing.csv does not exist" in err and "Traceback" not in err


@pytest.mark.parametrize("steps", ["-3", "0", "501"])
def test_explain_steps_are_validated_like_the_api(tiny_bow_run, capsys, steps):
    assert main(["explain", "--run", "tiny-bow", "--method", "integrated_gradients", "--steps", steps,
                 "great film"]) == 2
    assert "must be a whole number from 1 to 500" in capsys.readouterr().err


def test_explain_uses_the_family_default_method(tiny_bow_run, capsys):
    assert main(["explain", "--run", "tiny-bow", "great film"]) == 0
    assert json.loads(capsys.readouterr().out)["method"] == "gradient_x_input"  # bow: exact and fastest
    assert main(["explain", "--run", "tiny-bow", "--steps", "10", "great film"]) == 2
    assert "gradient_x_input takes no steps option" in capsys.readouterr().err


def test_model_loading_prints_no_progress_bars(tiny_bow_run, capsys):
    assert main(["predict", "--run", "tiny-bow", "great"]) == 0
    assert "Loading weights" not in capsys.readouterr().err


def test_a_models_dir_that_is_a_file_is_one_clear_line(tmp_path, monkeypatch, capsys):
    from sentiment_core.core.settings import get_settings

    (tmp_path / "runs.txt").write_text("not a folder")
    monkeypatch.setenv("SENTIMENT_MODELS_DIR", str(tmp_path / "runs.txt"))
    get_settings.cache_clear()
    for argv in (["runs", "list"], ["predict", "great"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "SENTIMENT_MODELS_DIR=" in err and "is a file, not a folder" in err and "Traceback" not in err


def test_output_cut_short_by_its_reader_ends_quietly(tiny_bow_run, tmp_path):
    """`predict --file F | head -1`: the reader goes away; no BrokenPipeError traceback, SIGPIPE's status."""
    run_dir, _ = tiny_bow_run
    reviews = tmp_path / "many.csv"
    pd.DataFrame({"text": [f"a great film, number {i}" for i in range(3000)]}).to_csv(reviews, index=False)
    process = subprocess.Popen([sys.executable, "-m", "sentiment_core", "predict", "--model", "tiny-bow", "--file",
                                str(reviews)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "SENTIMENT_MODELS_DIR": str(run_dir.parent)}, cwd=REPO_ROOT)
    assert json.loads(process.stdout.readline())["row"] == 0
    process.stdout.close()  # as `head -1` does after its line
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141 and "Traceback" not in err and "BrokenPipe" not in err


def test_evaluate_pairs_into_a_new_run_or_an_existing_one(tiny_bow_run, tmp_path, capsys):
    """`evaluate --pairs`: consistency on a hand-made file, as the model's own predictions give it."""
    from sentiment_core.core import runs
    from sentiment_core.evaluation import pairs as paired
    from sentiment_core.inference.sources import load_run

    run_dir, data = tiny_bow_run
    pairs_file = tmp_path / "contrast.tsv"
    pairs_file.write_text("pair\ttext\tlabel\tkind\n"
                          "1\ta great and wonderful film\tpositive\tantonym\n"
                          "1\tan awful and boring film\tnegative\tantonym\n"
                          "2\tthe story was not bad\tpositive\tnegation\n"
                          "2\tthe story was bad\tnegative\tnegation\n"
                          "3\ta brilliant actor\tpositive\tnegation\n"
                          "3\tnot a brilliant actor\tnegative\tnegation\n", encoding="utf-8")
    answers = [p.label for p in load_run("tiny-bow").predict(
        ["a great and wonderful film", "an awful and boring film", "the story was not bad", "the story was bad",
         "a brilliant actor", "not a brilliant actor"], batch=True)]
    right = [a == e for a, e in zip(answers, ["positive", "negative"] * 3)]
    consistent = [right[0] and right[1], right[2] and right[3], right[4] and right[5]]

    def printed_pairs() -> dict:
        return json.loads(capsys.readouterr().out.split("paired edits (", 1)[1].split("): ", 1)[1])

    # Into the trained run itself (--run-id names it): only the pairs are scored; eval.json stays as it was.
    before = (run_dir / runs.EVAL_FILE).read_bytes(), (run_dir / runs.STATUS_FILE).read_bytes()
    assert main(["evaluate", "--run", "tiny-bow", "--run-id", "tiny-bow", "--pairs", str(pairs_file)]) == 0
    shown = printed_pairs()
    assert shown["pairs"] == 3 and shown["consistency"] == round(sum(consistent) / 3, 4)
    assert shown["original_accuracy"] == round(sum(right[0::2]) / 3, 4)
    assert shown["edit_accuracy"] == round(sum(right[1::2]) / 3, 4)
    assert shown["per_kind"]["negation"]["consistency"] == round(sum(consistent[1:]) / 2, 4)
    assert shown["inconsistent_pairs"] == [str(i + 1) for i, ok in enumerate(consistent) if not ok]
    assert ((run_dir / runs.EVAL_FILE).read_bytes(), (run_dir / runs.STATUS_FILE).read_bytes()) == before
    assert [r.name for r in paired.run_pairs("tiny-bow")] == ["contrast"]
    assert main(["evaluate", "--run-id", "tiny-bow", "--pairs", str(pairs_file)]) == 0  # the run's model by default
    assert printed_pairs() == shown and [r.name for r in paired.run_pairs("tiny-bow")] == ["contrast"]  # replaced

    # A new run id: the test split and the pairs, into a new evaluation run.
    assert main(["evaluate", "--run", "tiny-bow", "--run-id", "eval-contrast", "--pairs", str(pairs_file),
                 "--max-test-samples", "8", "--data", data]) == 0
    assert printed_pairs()["consistency"] == shown["consistency"]
    new = runs.run_path("eval-contrast")
    assert runs.read_json(new / runs.EVAL_FILE)["test"]["n"] == 8 and (new / paired.PAIRS_FILE).exists()

    # Options of a new evaluation with an existing run, another model, a bad file: one line each, nothing written.
    assert main(["evaluate", "--run-id", "tiny-bow", "--pairs", str(pairs_file), "--max-test-samples", "8"]) == 2
    assert "names an existing run: --pairs adds the paired edits to it" in capsys.readouterr().err
    assert main(["evaluate", "--run", "eval-contrast", "--run-id", "tiny-bow", "--pairs", str(pairs_file)]) == 2
    assert "paired edits go into a run only with its own model" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("pair,text,label\n1,great,1\n2,awful,0\n", encoding="utf-8")
    assert main(["evaluate", "--run-id", "eval-bad", "--pairs", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "every pair needs exactly 2 rows" in err and "pairs 1 (1 row), 2 (1 row)" in err and "Traceback" not in err
    assert not runs.run_path("eval-bad").exists()
    assert [r.name for r in paired.run_pairs("tiny-bow")] == ["contrast"]


def test_counterfactual_prints_json_lines_and_edits_a_file(tiny_bow_run, tmp_path, capsys):
    text = "The movie was great and the story was wonderful."
    assert main(["counterfactual", "--run", "tiny-bow", "--n", "2", text]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert 1 <= len(lines) <= 2 and lines[0]["text"] == text and lines[0]["flipped"]
    assert {"edited", "edits", "label_before", "label_after"} <= set(lines[0])
    assert all(text[e["start"]:e["end"]] == e["old"] for line in lines for e in line["edits"])
    reviews, out = tmp_path / "reviews.csv", tmp_path / "edits.jsonl"
    pd.DataFrame({"text": [text, "", "awful and boring"]}).to_csv(reviews, index=False)
    assert main(["counterfactual", "--run", "tiny-bow", "--file", str(reviews), "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["row"] for row in rows] == [0, 1, 2] and rows[1]["counterfactuals"] is None
    assert rows[2]["counterfactuals"][0]["label_before"] == "negative"
    assert main(["counterfactual", "--run", "tiny-bow", "--file", str(reviews), "--out", str(out)]) == 0  # resumes
    assert out.read_text().count("\n") == 3
    capsys.readouterr()
    assert main(["counterfactual", "--run", "tiny-bow", "--file", str(reviews)]) == 2
    assert "--file needs --out" in capsys.readouterr().err
    assert main(["counterfactual", "--run", "tiny-bow", "--n", "9", text]) == 2
    assert "--n must be from 1 to 5" in capsys.readouterr().err
