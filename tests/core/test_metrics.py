import numpy as np
import pytest

from sentiment_core.core.metrics import (
    assign_buckets,
    bucket_metrics,
    calibration,
    classification_metrics,
    full_report,
    length_bucket_edges,
)


def test_classification_metrics_known_values():
    labels = [1, 1, 0, 0]
    probabilities = [0.9, 0.4, 0.2, 0.6]
    report = classification_metrics(labels, probabilities)
    assert report["accuracy"] == 0.5
    assert report["precision"] == 0.5 and report["recall"] == 0.5 and report["f1"] == 0.5
    assert report["roc_auc"] == 0.75
    expected_bce = -np.mean(np.log([0.9, 0.4, 0.8, 0.4]))
    assert report["bce"] == pytest.approx(expected_bce)


def test_length_buckets_are_quartiles():
    lengths = np.arange(1, 101)
    edges = length_bucket_edges(lengths)
    assert edges[0] == 1 and edges[-1] == 100
    buckets = assign_buckets(lengths, edges)
    assert np.bincount(buckets).tolist() == [25, 25, 25, 25]
    labels = np.ones(100, dtype=int)
    probabilities = np.where(lengths > 75, 0.9, 0.1)  # only the longest quarter is right
    rows = bucket_metrics(labels, probabilities, lengths, edges)
    assert [row["accuracy"] for row in rows] == [0.0, 0.0, 0.0, 1.0]
    assert [row["n"] for row in rows] == [25, 25, 25, 25]


def test_calibration_perfect_and_overconfident():
    rng = np.random.default_rng(0)
    probabilities = rng.uniform(size=20_000)
    labels = (rng.uniform(size=20_000) < probabilities).astype(int)
    assert calibration(labels, probabilities)["ece"] < 0.02
    overconfident = calibration(np.array([1, 0] * 50), np.array([0.99, 0.99] * 50))
    assert overconfident["ece"] == pytest.approx(0.49)


def test_full_report_has_everything():
    report = full_report([0, 1, 1, 0], [0.1, 0.8, 0.7, 0.3], [10, 20, 30, 40])
    for key in ("accuracy", "f1", "roc_auc", "bce", "length_buckets", "calibration", "confusion_matrix"):
        assert key in report
    assert report["confusion_matrix"] == [[2, 0], [0, 2]]


def test_bad_input():
    with pytest.raises(ValueError):
        classification_metrics([1, 0], [0.5])


def test_confusion_matches_scikit_learn():
    from sklearn.metrics import confusion_matrix

    from sentiment_core.core.metrics import confusion

    rng = np.random.default_rng(0)
    labels, probabilities = rng.integers(0, 2, 200), rng.random(200)
    assert confusion(labels, probabilities) == confusion_matrix(labels, probabilities >= 0.5, labels=[0, 1]).tolist()
