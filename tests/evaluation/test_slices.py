import numpy as np
import pytest

from sentiment_core.core.metrics import classification_metrics
from sentiment_core.evaluation import slices

SLICE_TEXTS = [
    "I did not like it.",  # negator
    "It wasn't good<br />at all.",  # negator (n't)
    "Great acting, but a dull plot.",  # contrast
    "However you look at it, a mess.",  # contrast
    "I give it 7/10.",  # score
    "Nine out of ten.<br /><br />A classic.",  # score in words
    "Two stars, and that is generous. Yet I smiled.",  # score and contrast
    "A film about a star is born 1/2 way through.",  # none: "1/2" is no score, "star" has no number
    "Butterflies and nothing else.",  # negator (nothing), not "but"
    "Lovely.",  # none
]


def test_text_slices_count_the_reviews_they_claim():
    masks = slices.text_slices(SLICE_TEXTS)
    assert np.flatnonzero(masks[slices.NEGATOR_SLICE]).tolist() == [0, 1, 8]
    assert np.flatnonzero(masks[slices.CONTRAST_SLICE]).tolist() == [2, 3, 6]
    assert np.flatnonzero(masks[slices.SCORE_SLICE]).tolist() == [4, 5, 6]


def test_unknown_share_and_rating_slices():
    masks = slices.unknown_share_slices([0.0, 0.005, 0.01, 0.015, 0.03, 0.2, 0.0])
    assert {name: int(mask.sum()) for name, mask in masks.items()} == {
        "no unknown words": 2, "0%-1% unknown words": 2, "1%-2% unknown words": 1, "2%-5% unknown words": 1,
        "over 5% unknown words": 1}
    ratings = slices.rating_slices([1, 10, 1, None, 8])
    assert {name: int(mask.sum()) for name, mask in ratings.items()} == {"rated 1/10": 2, "rated 8/10": 1,
                                                                          "rated 10/10": 1}


def test_error_slices_give_n_accuracy_and_confusion_per_slice():
    labels = [0, 0, 1, 0, 1, 1, 0, 1, 0, 1]
    probabilities = [0.1, 0.8, 0.9, 0.2, 0.7, 0.6, 0.4, 0.3, 0.45, 0.99]
    masks = slices.slice_masks(SLICE_TEXTS, unknown_shares=[0.0] * 5 + [0.5] * 5,
                               ratings=[1, 2, 9, 3, 7, 8, 4, 10, 1, 9], lengths=list(range(10, 20)))
    rows = {(r["group"], r["slice"]): r for r in slices.error_slices(labels, probabilities, masks)}
    everything = rows["all", "all reviews"]
    assert everything["n"] == 10 and everything["accuracy"] == pytest.approx(0.8)
    negation = rows["wording", slices.NEGATOR_SLICE]
    assert negation["n"] == 3 and negation["accuracy"] == pytest.approx(2 / 3)  # review 1 is a false positive
    assert negation["confusion_matrix"] == [[2, 1], [0, 0]]
    assert rows["unknown words", "over 5% unknown words"]["n"] == 5
    assert rows["unknown words", "1%-2% unknown words"]["accuracy"] is None  # empty slice
    assert rows["star rating", "rated 9/10"]["n"] == 2
    assert sum(r["n"] for (group, _), r in rows.items() if group == "length") == 10
    for row in rows.values():
        assert sum(map(sum, row["confusion_matrix"])) == row["n"]
    # A stricter threshold changes the verdicts.
    strict = {(r["group"], r["slice"]): r for r in slices.error_slices(labels, probabilities, masks, threshold=0.95)}
    assert strict["all", "all reviews"]["accuracy"] == pytest.approx(0.6)
    with pytest.raises(ValueError):
        slices.error_slices(labels[:5], probabilities[:5], masks)


def test_curves_threshold_and_best_threshold():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    probabilities = np.clip(labels * 0.3 + rng.random(500) * 0.7, 0, 1)
    curve = slices.curves(labels, probabilities)
    assert curve["roc"]["auc"] == pytest.approx(roc_auc_score(labels, probabilities))
    assert len(curve["roc"]["fpr"]) == len(curve["roc"]["tpr"]) == len(curve["roc"]["threshold"])
    assert len(curve["pr"]["precision"]) == len(curve["pr"]["recall"]) == len(curve["pr"]["threshold"])
    thin = slices.curves(labels, probabilities, max_points=50)
    assert len(thin["pr"]["recall"]) <= 50 and thin["pr"]["recall"][0] == curve["pr"]["recall"][0]
    assert thin["roc"]["tpr"][-1] == curve["roc"]["tpr"][-1] == 1.0
    at_half = slices.threshold_metrics(labels, probabilities, 0.5)
    metrics = classification_metrics(labels, probabilities)
    assert at_half["accuracy"] == metrics["accuracy"] and at_half["f1"] == metrics["f1"]
    def brute_force(t):  # accuracy and F1 when P >= t is positive
        predicted = probabilities >= t
        true_positives = (predicted & (labels == 1)).sum()
        return (predicted == labels).mean(), 2 * true_positives / (predicted.sum() + labels.sum())

    scores = np.array([brute_force(t) for t in np.unique(probabilities)])
    assert slices.best_threshold(labels, probabilities)["accuracy"] == pytest.approx(scores[:, 0].max())
    assert slices.best_threshold(labels, probabilities, "f1")["f1"] == pytest.approx(scores[:, 1].max())
    with pytest.raises(ValueError, match="between 0 and 1"):
        slices.threshold_metrics(labels, probabilities, 1.5)
    with pytest.raises(ValueError, match="both labels"):
        slices.curves([1, 1], [0.2, 0.9])


def _finished_run(data: str, max_test_samples: int | None = None, run_id: str = "sliced") -> str:
    """A run folder with what the slices read: run.json, predictions.csv (one row per test review, in the order
    of the run's test subset) and a tokenizer that knows only the positive reviews' words."""
    import pandas as pd

    from sentiment_core.core import runs
    from sentiment_core.data.imdb import load_imdb, seeded_subset
    from sentiment_core.data.text import TokenizerConfig, build_word_tokenizer

    run_dir = runs.create_run(run_id, {"model": "bow", "data": data, "seed": 42, "max_test_samples": max_test_samples})
    test = seeded_subset(load_imdb(data)["test"], max_test_samples, 42)
    known = [t for t, label in zip(test["text"], test["label"]) if label == 1]
    build_word_tokenizer(known, TokenizerConfig(vocab_size=500, min_frequency=1)).save_pretrained(run_dir / "tokenizer")
    probabilities = np.linspace(0.05, 0.95, test.num_rows)
    pd.DataFrame({"id": range(test.num_rows), "probability": probabilities, "label": test["label"],
                  "predicted": (probabilities >= 0.5).astype(int), "length": [len(t.split()) for t in test["text"]],
                  "truncated": False}).to_csv(run_dir / runs.PREDICTIONS_FILE, index=False)
    return run_id


def test_slices_of_a_finished_run_match_its_test_reviews(parquet_dir):
    from sentiment_core.data.imdb import load_imdb, seeded_subset

    run_id = _finished_run(str(parquet_dir), max_test_samples=6)
    predictions, masks = slices.run_slice_masks(run_id)
    texts = list(seeded_subset(load_imdb(str(parquet_dir))["test"], 6, 42)["text"])
    assert len(predictions) == len(texts) == masks["all"]["all reviews"].size == 6
    for name, mask in slices.text_slices(texts).items():
        assert (masks["wording"][name] == mask).all()
    assert "star rating" not in masks  # a parquet source has no ratings
    assert sum(int(m.sum()) for m in masks["unknown words"].values()) == 6
    # The tokenizer knows only the positive reviews' words: each negative review has unknown words.
    labels = predictions["label"].to_numpy()
    assert not masks["unknown words"]["no unknown words"][labels == 0].any()
    rows = slices.run_slices(run_id)
    assert rows[0]["n"] == 6 and rows[0]["accuracy"] == pytest.approx(
        float(((predictions["probability"] >= 0.5) == labels).mean()))


def test_run_slices_say_what_is_missing(parquet_dir):
    from sentiment_core.core import runs

    run_id = _finished_run(str(parquet_dir))
    (runs.run_path(run_id) / runs.PREDICTIONS_FILE).unlink()
    with pytest.raises(ValueError, match="no test predictions"):
        slices.run_slices(run_id)
    run_id = _finished_run(str(parquet_dir), max_test_samples=6, run_id="sliced-subset")
    runs.write_json(runs.run_path(run_id) / runs.RUN_FILE, {"model": "bow", "data": str(parquet_dir), "seed": 42})
    with pytest.raises(ValueError, match="6 test predictions but its data source now has 10"):
        slices.run_slices(run_id)


def test_star_rating_slices_of_an_acl_source(acl_dir):
    from sentiment_core.data.imdb import load_imdb

    test = load_imdb(str(acl_dir))["test"]
    masks = slices.slice_masks(list(test["text"]), ratings=list(test["rating"]))
    counts = {name: int(mask.sum()) for name, mask in masks["star rating"].items()}
    assert sum(counts.values()) == test.num_rows
    assert counts == {f"rated {r}/10": list(test["rating"]).count(r) for r in set(test["rating"])}
