"""Counterfactual augmentation in training: the edits flip the label, are cached per source, lexicon and seed,
are recorded in run.json and the model card, and never touch the test split."""
import json
import random
import re
from pathlib import Path

import pandas as pd
import pytest

from sentiment_core.cli import main
from sentiment_core.core import runs
from sentiment_core.core.errors import InputError
from sentiment_core.data import heldout
from sentiment_core.data import opposites as lexicon
from sentiment_core.data.imdb import column, load_imdb
from sentiment_core.serving.export import model_card
from sentiment_core.training import augment
from sentiment_core.training.options import TrainConfig, command_arguments
from sentiment_core.training.run import train
from tests.conftest import TINY, TINY_OPTIONS

# Sentences of the seen half (augmentation may edit them) and one with a held-out word.
POSITIVE = ["The plot was good.", "The acting is excellent.", "It was a wonderful film.", "The score was brilliant.",
            "The ending wasn't bad.", "I give it 8/10."]
NEGATIVE = ["The plot was bad.", "The acting is terrible.", "It was an awful film.", "The ending wasn't clever.",
            "The score was lame.", "I give it 3/10."]
NEUTRAL = ["I saw it on a Sunday.", "It came out in 1998.", "My sister rented it."]
TEST_NEUTRAL = ["I watched it in Oslo.", "It was shown on a Monday."]  # no test review is a training review


def reviews(n_per_label: int, seed: int, neutral=NEUTRAL) -> pd.DataFrame:
    rng = random.Random(seed)
    rows = []
    for label, pool in ((0, NEGATIVE), (1, POSITIVE)):
        for _ in range(n_per_label):
            sentences = rng.sample(pool, 3) + [rng.choice(neutral)]
            if rng.random() < 0.2:
                sentences.append("A great cast." if label else "A boring cast.")  # held out: left out of the copy
            rng.shuffle(sentences)
            rows.append({"text": " ".join(sentences), "label": label})
    return pd.DataFrame(rows)


@pytest.fixture
def flippable(tmp_path) -> str:
    folder = tmp_path / "flippable"
    folder.mkdir()
    reviews(40, 1).to_parquet(folder / "train.parquet")
    reviews(15, 2, TEST_NEUTRAL).to_parquet(folder / "test.parquet")
    return str(folder)


def words_of(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"\w+(?:['’]\w+)*", text)}


def test_edits_flip_the_label_and_never_use_a_held_out_word(flippable):
    split = load_imdb(flippable)["train"]
    augmented, record = augment.augment_split(split, 0.5, seed=3, source=flippable)
    texts, labels = column(augmented, "text"), column(augmented, "label")
    n = split.num_rows
    assert texts[:n] == column(split, "text") and labels[:n] == column(split, "label")  # originals first, kept
    rows, for_scores = augment.rows_to_pair(column(split, "text"), 0.5, 3)
    scored = {r for r, t in enumerate(column(split, "text")) if "/10" in t}
    assert set(rows) == set(augment.chosen_rows(n, 0.5, 3)) | scored  # every review with a score
    assert record["chosen"] == len(rows) == round(0.5 * n) + for_scores and record["chosen_for_a_score"] == for_scores
    assert record["rows_added"] == 2 * record["added"] == len(texts) - n > 0
    assert record["added"] + sum(record["skipped"].values()) == record["chosen"]
    original = dict(zip(column(split, "text"), column(split, "label")))
    chosen = [column(split, "text")[r] for r in rows]
    added = list(zip(texts[n:], labels[n:]))
    for (excerpt, label), (text, flipped) in zip(added[::2], added[1::2]):
        source = next(t for t in chosen if augment.flip_review(t, 3, label=original[t]).text == text)
        assert label == original[source] and flipped == 1 - label  # as written, then the flipped label
        assert excerpt == augment.flip_review(source, 3, label=label).original
        assert set(excerpt.split(". ")) <= set(source.split(". ")) | {s + "." for s in source.split(". ")}
        assert not words_of(text + " " + excerpt) & (heldout.HELD_OUT_WORDS - heldout.SCORE_WORDS)
    assert set(record["edits"]) <= set(augment.AUGMENT_KINDS) and "deletion" not in record["edits"]
    assert sum(record["edits"].values()) == pytest.approx(record["edits_per_review"] * record["added"], abs=0.01 * n)


def test_the_cache_is_reused_and_invalidated_when_the_lexicon_changes(flippable, monkeypatch):
    split = load_imdb(flippable)["train"]
    first, record = augment.augment_split(split, 0.5, seed=3, source=flippable)
    path = Path(record["cache_file"])
    assert path.is_relative_to(runs.models_dir() / ".cache" / augment.CACHE_FOLDER)
    assert record["generated"] > 0
    # a second run pays nothing: no review is generated again (flip_review is not even called)
    monkeypatch.setattr(augment, "flip_review", lambda *a, **k: pytest.fail("generated again"))
    second, again = augment.augment_split(split, 0.5, seed=3, source=flippable)
    assert again["generated"] == 0 and again["cached"] == record["chosen"]
    assert column(second, "text") == column(first, "text") and again["edits"] == record["edits"]
    monkeypatch.undo()
    # a larger share generates only the reviews it adds
    _, larger = augment.augment_split(split, 0.8, seed=3, source=flippable)
    assert 0 < larger["generated"] < larger["chosen"]
    # another seed, another file; a changed lexicon ignores and rewrites the file
    assert Path(augment.augment_split(split, 0.5, seed=4, source=flippable)[1]["cache_file"]) != path
    monkeypatch.setattr(lexicon, "OPPOSITE_PAIRS", lexicon.OPPOSITE_PAIRS + (("spiffy", "grotty"),))
    _, changed = augment.augment_split(split, 0.5, seed=3, source=flippable)
    assert changed["generated"] == record["generated"]  # every chosen review again (duplicates once)
    assert json.loads(path.read_text())["lexicon"] == augment.lexicon_fingerprint()
    path.write_text("{broken")  # an unreadable cache is generated again
    assert augment.augment_split(split, 0.5, seed=3, source=flippable)[1]["generated"] > 0


def test_the_cache_lives_in_the_cache_dir_setting(flippable, tmp_path, monkeypatch):
    from sentiment_core.core.settings import get_settings

    monkeypatch.setenv("SENTIMENT_CACHE_DIR", str(tmp_path / "elsewhere"))
    get_settings.cache_clear()
    assert augment.cache_path(flippable, 1).parent == tmp_path / "elsewhere" / augment.CACHE_FOLDER


def test_options_are_checked_and_recorded():
    base = dict(model="bow", run_id="x")
    assert TrainConfig(**base, augment="counterfactual").resolved().augment_share == 0.2  # bow's own share
    assert TrainConfig(model="lstm", augment="counterfactual").resolved().augment_share == augment.DEFAULT_SHARE
    assert TrainConfig(**base, augment="counterfactual", augment_share=0.7).resolved().augment_share == 0.7
    assert TrainConfig(**base).resolved().augment_share is None
    for values, message in [(dict(augment_share=0.5), "--augment-share only applies with --augment counterfactual"),
                            (dict(augment_eval=True), "--augment-eval only applies"),
                            (dict(augment="counterfactual", augment_share=0.0), "augment_share must be a number in"),
                            (dict(augment="counterfactual", augment_share=1.5), "augment_share must be a number in"),
                            (dict(augment="mixup"), "Unknown --augment 'mixup'")]:
        with pytest.raises(InputError, match=re.escape(message)):
            TrainConfig(**base, **values).resolved()
    assert command_arguments({"model": "bow", "augment": "counterfactual", "augment_share": 0.5,
                              "augment_eval": True})[-5:] == ["--augment", "counterfactual", "--augment-share", "0.5",
                                                              "--augment-eval"]


def test_the_train_form_passes_augmentation_only_when_it_is_on():
    from sentiment_core.training import dashboard

    assert "--augment-share" not in dashboard.train_arguments({"model": "bow", "augment": "none",
                                                               "augment_share": 0.5, "augment_eval": True})
    assert dashboard.train_arguments({"model": "bow", "augment": "counterfactual", "augment_share": 0.5,
                                      "augment_eval": False})[-4:] == ["--augment", "counterfactual",
                                                                       "--augment-share", "0.5"]
    status = {"state": "running", "phase": "augmenting", "augment_done": 50, "augment_total": 200}
    shown = dashboard.progress(status)
    assert shown.fraction == 0.25 and "50 / 200" in shown.step_text and "augmenting" in shown.eta_text


def test_a_run_records_the_augmentation_and_never_augments_the_test_split(flippable, monkeypatch):
    seen_splits = []
    real = augment.augment_split

    def spy(split, *args, **kwargs):
        seen_splits.append(set(column(split, "text")))
        return real(split, *args, **kwargs)

    monkeypatch.setattr(augment, "augment_split", spy)
    run_dir = train(TrainConfig(model="bow", data=flippable, epochs=1, run_id="aug", augment="counterfactual",
                                augment_share=0.5, model_options=TINY_OPTIONS["bow"], **TINY))
    config = runs.read_config(run_dir)
    record = config["augmentation"]
    assert (config["augment"], config["augment_share"], record["method"], record["share"]) == \
           ("counterfactual", 0.5, "counterfactual", 0.5)
    assert record["seed"] == config["seed"] and record["train"]["added"] > 0 and record["validation"] is None
    assert record["test"] == "never augmented" and record["kinds"] == list(augment.AUGMENT_KINDS)
    assert sum(record["train"]["edits"].values()) >= record["train"]["added"]
    dataset = load_imdb(flippable)
    test_texts = set(column(dataset["test"], "text"))
    assert len(seen_splits) == 1 and not seen_splits[0] & test_texts  # only train was given
    report = runs.read_json(run_dir / runs.EVAL_FILE)
    assert report["test"]["n"] == dataset["test"].num_rows and report["augment_seconds"] >= 0
    assert len(pd.read_csv(run_dir / runs.PREDICTIONS_FILE)) == dataset["test"].num_rows
    assert "preparing" not in json.dumps(runs.read_status(run_dir)) and runs.read_status(run_dir)["phase"] is None
    # the model card says what was done
    note = next(n for n in model_card.training_notes(config, report) if n.startswith("Counterfactual augmentation"))
    assert f"{record['train']['added']:,} of them were added as two rows" in note and "negation" in note
    assert ("augment", "counterfactual") in model_card.training_rows(config)
    assert "never augmented" in note


def test_augment_eval_adds_the_validation_edits_and_the_cli_takes_the_flags(flippable, capsys):
    assert main(["train", "--model", "bow", "--data", flippable, "--epochs", "1", "--run-id", "aug-eval",
                 "--augment", "counterfactual", "--augment-share", "0.6", "--augment-eval", "--vocab-size", "200",
                 "--min-frequency", "1", "--batch-size", "8", "--max-length", "64"]) == 0
    record = runs.read_config(runs.run_path("aug-eval"))["augmentation"]
    assert record["share"] == 0.6 and record["validation"]["chosen"] > 0 and record["train"]["chosen"] > 0
    assert "counterfactual edits" in capsys.readouterr().err  # the progress bar
    assert main(["train", "--model", "bow", "--data", flippable, "--augment-share", "0.3"]) == 2


def test_the_augmentation_benchmark_summarizes_a_sample(flippable, capsys):
    from tests.test_bench_scripts import bench_module

    bench = bench_module("augmentation")
    assert bench.main(["--data", flippable, "--n", "20", "--seed", "1", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["reviews"] == 20 and figures["edited"] + sum(figures["skipped"].values()) == 20
    assert set(figures["edits"]) == set(augment.AUGMENT_KINDS) and figures["reviews_per_second"] > 0


def test_word_dropout_never_hides_what_an_edit_turns_on(flippable):
    from transformers import AutoConfig, AutoTokenizer

    from sentiment_core.data.augment import PROTECTED_WORDS

    assert {"not", "never", "wasn't", "isn't", "8", "3"} <= PROTECTED_WORDS and not PROTECTED_WORDS & (
        heldout.HELD_OUT_WORDS | {"was", "is", "good", "bad"})
    run_dir = train(TrainConfig(model="lstm", data=flippable, epochs=1, run_id="aug-lstm", augment="counterfactual",
                                augment_share=0.5, model_options=TINY_OPTIONS["lstm"], **TINY))
    vocabulary = AutoTokenizer.from_pretrained(run_dir / runs.BEST_DIR).get_vocab()
    keep = AutoConfig.from_pretrained(run_dir / runs.BEST_DIR).token_dropout_keep
    assert keep and keep == sorted(vocabulary[w] for w in PROTECTED_WORDS if w in vocabulary)
    assert "not" in runs.read_config(run_dir)["augmentation"]["kept_from_word_dropout"]
    plain = train(TrainConfig(model="lstm", data=flippable, epochs=1, run_id="plain-lstm",
                              model_options=TINY_OPTIONS["lstm"], **TINY))
    assert AutoConfig.from_pretrained(plain / runs.BEST_DIR).token_dropout_keep == []  # only with augmentation
