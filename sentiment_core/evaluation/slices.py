"""Where a model errs: error slices (wording, unknown words, length, rating), ROC and PR curves, and a
movable decision threshold."""

from __future__ import annotations

import re

import numpy as np

from sentiment_core.core.metrics import assign_buckets, classification_metrics, confusion, length_bucket_edges
from sentiment_core.data.text import NEGATIONS

CONTRAST_MARKERS = ("but", "however", "although", "though", "yet")
_NUMBER = r"(?:\d{1,2}(?:[.,]\d)?|zero|one|two|three|four|five|six|seven|eight|nine|ten|half)"
# A score written in the (lower-cased) review: "7/10", "8 out of 10", "nine out of ten", "two stars", "3.5/5".
RATING_PATTERN = (rf"\b{_NUMBER}\s*(?:/|out\s+of)\s*(?:10|ten|5|five|4|four)\b"
                  rf"|\b{_NUMBER}(?:\s+and\s+a\s+half)?[\s-]+stars?\b")
UNKNOWN_SHARE_EDGES = (0.0, 0.01, 0.02, 0.05)  # slices: none, (0, 1%], (1%, 2%], (2%, 5%], over 5% unknown words

NEGATOR_SLICE, CONTRAST_SLICE, SCORE_SLICE = "with a negator", "with a contrast marker", "with a score in the text"
SLICE_DESCRIPTIONS = {
    NEGATOR_SLICE: f"{', '.join(sorted(NEGATIONS))} or a word ending in n't",
    CONTRAST_SLICE: ", ".join(CONTRAST_MARKERS),
    SCORE_SLICE: "a score such as 7/10, 8 out of 10, nine out of ten, 3.5/5 or two stars",
}


_TEXT_PATTERNS = {
    NEGATOR_SLICE: re.compile(rf"\b(?:{'|'.join(sorted(NEGATIONS))})\b|n['’]t\b"),
    CONTRAST_SLICE: re.compile(rf"\b(?:{'|'.join(CONTRAST_MARKERS)})\b"),
    SCORE_SLICE: re.compile(RATING_PATTERN),
}


_RATING_ANCHOR = re.compile(r"/|out\s+of|stars?\b")


def _has_rating(text: str, pattern: re.Pattern) -> bool:
    """`pattern` searched only around each "/", "out of" and "star" (a search over whole reviews is far slower)."""
    for anchor in _RATING_ANCHOR.finditer(text):
        start = text.rfind(" ", 0, max(anchor.start() - 24, 0)) + 1
        if pattern.search(text, start, anchor.end() + 12):
            return True
    return False


def text_slices(texts) -> dict[str, np.ndarray]:
    """Boolean masks over reviews: with a negator, with a contrast marker, with a score written in the text."""
    patterns = _TEXT_PATTERNS
    lowered = [t.replace("<br />", " ").lower() for t in texts]  # the slash of <br /> is not a score's
    return {
        NEGATOR_SLICE: np.array([patterns[NEGATOR_SLICE].search(t) is not None for t in lowered], dtype=bool),
        CONTRAST_SLICE: np.array([patterns[CONTRAST_SLICE].search(t) is not None for t in lowered], dtype=bool),
        SCORE_SLICE: np.array([_has_rating(t, patterns[SCORE_SLICE]) for t in lowered], dtype=bool),
    }


def unknown_share_slices(shares) -> dict[str, np.ndarray]:
    """Masks by the share of a review's words unknown to the model (bins of `UNKNOWN_SHARE_EDGES`)."""
    shares = np.asarray(shares, dtype=float)
    edges = UNKNOWN_SHARE_EDGES
    masks = {"no unknown words": shares <= edges[0]}
    for low, high in zip(edges, edges[1:]):
        masks[f"{low:.0%}-{high:.0%} unknown words"] = (shares > low) & (shares <= high)
    masks[f"over {edges[-1]:.0%} unknown words"] = shares > edges[-1]
    return masks


def rating_slices(ratings) -> dict[str, np.ndarray]:
    """Masks by the rating (out of 10) the source gives each review (aclImdb: 1-4 negative, 7-10 positive);
    missing ratings are skipped."""
    ratings = np.asarray([np.nan if r is None else r for r in ratings], dtype=float)
    return {f"rated {int(r)}/10": ratings == r for r in np.unique(ratings[~np.isnan(ratings)])}


def slice_metrics(labels, probabilities, masks: dict[str, np.ndarray], group: str,
                  threshold: float = 0.5) -> list[dict]:
    """Per slice: n, share of the reviews, accuracy (None when empty) and the 2x2 confusion matrix."""
    labels = np.asarray(labels, dtype=int)
    probabilities = np.asarray(probabilities, dtype=float)
    rows = []
    for name, mask in masks.items():
        mask = np.asarray(mask, dtype=bool)
        chosen_labels, chosen = labels[mask], probabilities[mask]
        correct = (chosen >= threshold).astype(int) == chosen_labels
        rows.append({"group": group, "slice": name, "n": int(mask.sum()),
                     "share": float(mask.mean()) if mask.size else 0.0,
                     "accuracy": float(correct.mean()) if mask.any() else None,
                     "confusion_matrix": confusion(chosen_labels, chosen, threshold)})
    return rows


def slice_masks(texts, unknown_shares=None, ratings=None, lengths=None) -> dict[str, dict[str, np.ndarray]]:
    """Every slice of a test split as masks, by group: all reviews; length quartiles (given token counts);
    wording (negation, contrast, a written score); share of unknown words (given per-review shares);
    star rating (given a rating per review, as aclImdb sources have)."""
    n = len(texts)
    groups = {"all": {"all reviews": np.ones(n, dtype=bool)}}
    if lengths is not None:
        edges = length_bucket_edges(lengths)
        buckets = assign_buckets(lengths, edges)
        groups["length"] = {f"Q{i + 1}: {int(edges[i])}-{int(edges[i + 1])} tokens": buckets == i
                            for i in range(len(edges) - 1)}
    groups["wording"] = text_slices(texts)
    if unknown_shares is not None:
        groups["unknown words"] = unknown_share_slices(unknown_shares)
    if ratings is not None:
        groups["star rating"] = rating_slices(ratings)
    for group, masks in groups.items():
        for name, mask in masks.items():
            if len(mask) != n:
                raise ValueError(f"slice {group}/{name} has {len(mask)} values for {n} reviews")
    return groups


def error_slices(labels, probabilities, masks: dict[str, dict[str, np.ndarray]], threshold: float = 0.5) -> list[dict]:
    """`slice_metrics` of every group of `slice_masks`: rows of group, slice, n, share, accuracy, confusion_matrix."""
    if any(len(m) != len(labels) for group in masks.values() for m in group.values()):
        raise ValueError("each slice needs one value per prediction")
    return [row for group, group_masks in masks.items()
            for row in slice_metrics(labels, probabilities, group_masks, group, threshold)]


def _thin(values: np.ndarray, max_points: int | None) -> np.ndarray:
    """Indices of at most `max_points` evenly spread points, the first and last kept."""
    if max_points is None or len(values) <= max_points:
        return np.arange(len(values))
    return np.unique(np.linspace(0, len(values) - 1, max_points).round().astype(int))


def curves(labels, probabilities, max_points: int | None = None) -> dict:
    """ROC and precision-recall curves (scikit-learn) with their areas; lists, ready for JSON and plotting.
    max_points: keep at most this many points per curve (evenly spread) for a light chart."""
    from sklearn import metrics as skm

    labels = np.asarray(labels, dtype=int)
    probabilities = np.asarray(probabilities, dtype=float)
    if len(np.unique(labels)) < 2:
        raise ValueError("ROC and precision-recall curves need reviews of both labels")
    fpr, tpr, roc_thresholds = skm.roc_curve(labels, probabilities)
    precision, recall, pr_thresholds = skm.precision_recall_curve(labels, probabilities)
    finite = np.isfinite(roc_thresholds)  # scikit-learn starts the ROC curve at threshold +inf
    fpr, tpr, roc_thresholds = fpr[finite], tpr[finite], roc_thresholds[finite]
    precision, recall = precision[:-1], recall[:-1]  # the last point (recall 0, precision 1) has no threshold
    roc, pr = _thin(fpr, max_points), _thin(recall, max_points)
    return {
        "roc": {"fpr": fpr[roc].tolist(), "tpr": tpr[roc].tolist(), "threshold": roc_thresholds[roc].tolist(),
                "auc": float(skm.roc_auc_score(labels, probabilities))},
        "pr": {"precision": precision[pr].tolist(), "recall": recall[pr].tolist(),
               "threshold": pr_thresholds[pr].tolist(),
               "average_precision": float(skm.average_precision_score(labels, probabilities))},
    }


def threshold_metrics(labels, probabilities, threshold: float) -> dict:
    """Accuracy, precision, recall, F1 and the confusion matrix when reviews with P(positive) >= threshold
    are positive."""
    if not 0.0 <= threshold <= 1.0:
        from sentiment_core.core.errors import InputError

        raise InputError(f"The decision threshold must be between 0 and 1, got {threshold!r}.")
    report = classification_metrics(labels, probabilities, threshold)
    return {"threshold": float(threshold), **{k: report[k] for k in ("n", "accuracy", "precision", "recall", "f1")},
            "confusion_matrix": confusion(labels, probabilities, threshold)}


def best_threshold(labels, probabilities, metric: str = "accuracy") -> dict:
    """The threshold (among the predicted probabilities) that maximises accuracy or F1, with its metrics."""
    if metric not in ("accuracy", "f1"):
        raise ValueError(f"metric must be accuracy or f1, got {metric!r}")
    labels = np.asarray(labels, dtype=int)
    probabilities = np.asarray(probabilities, dtype=float)
    order = np.argsort(-probabilities, kind="stable")
    ranked_labels, ranked = labels[order], probabilities[order]
    true_positives = np.cumsum(ranked_labels)  # predicting the top k positive
    false_positives = np.arange(1, ranked.size + 1) - true_positives
    positives = labels.sum()
    true_negatives = (labels.size - positives) - false_positives
    if metric == "accuracy":
        score = (true_positives + true_negatives) / labels.size
    else:
        score = 2 * true_positives / np.maximum(np.arange(1, ranked.size + 1) + positives, 1)
    last_of_tie = np.r_[ranked[1:] != ranked[:-1], True]  # a threshold cannot split equal probabilities
    k = int(np.flatnonzero(last_of_tie)[np.argmax(score[last_of_tie])])
    return threshold_metrics(labels, probabilities, float(ranked[k]))


def unknown_shares(tokenizer, texts) -> np.ndarray:
    """Share of each review's tokens that the tokenizer maps to its unknown token (0 for an empty review)."""
    unknown = tokenizer.unk_token_id
    encodings = tokenizer.backend_tokenizer.encode_batch(list(texts), add_special_tokens=False)
    return np.array([e.ids.count(unknown) / len(e.ids) if e.ids else 0.0 for e in encodings])


def run_test_split(run_id: str):
    """The test reviews a run was scored on, in its predictions' order: the source's test split, or the same
    seeded subset of it (`max_test_samples`). -> datasets.Dataset (text, label, and rating when known)"""
    from sentiment_core.core import runs
    from sentiment_core.data.imdb import load_imdb, seeded_subset

    config = runs.read_config(runs.run_path(run_id))
    return seeded_subset(load_imdb(config.get("data"))["test"], config.get("max_test_samples"), config["seed"])


def run_predictions(run_id: str):
    """A finished run's predictions.csv (id, probability, label, predicted, length, truncated) as a DataFrame."""
    import pandas as pd

    from sentiment_core.core import runs
    from sentiment_core.core.errors import RunError

    path = runs.run_path(run_id) / runs.PREDICTIONS_FILE
    if not path.exists():
        raise RunError(f"Run {run_id!r} has no test predictions ({runs.PREDICTIONS_FILE}): only runs that finished "
                       "training and testing have them; pick another run.")
    return pd.read_csv(path)


def run_slice_masks(run_id: str):
    """A finished run's predictions.csv and the `slice_masks` of its test reviews: their wording, their share of
    words unknown to its tokenizer, their length and, for aclImdb sources, their star rating.
    -> (DataFrame, masks by group)"""
    from transformers import AutoTokenizer

    from sentiment_core.core import runs
    from sentiment_core.core.errors import RunError
    from sentiment_core.data.imdb import column

    predictions = run_predictions(run_id)
    test = run_test_split(run_id)
    if test.num_rows != len(predictions):
        raise RunError(f"Run {run_id!r} has {len(predictions)} test predictions but its data source now has "
                       f"{test.num_rows} test reviews: the data changed since the run; point IMDB_DATA (or the "
                       "run's --data) at the data it was trained on.")
    texts = column(test, "text")
    run_dir = runs.run_path(run_id)
    tokenizer_dir = run_dir / "tokenizer"  # the run's tokenizer alone; best/ holds the same beside the model
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir if tokenizer_dir.is_dir() else run_dir / runs.BEST_DIR)
    ratings = column(test, "rating") if "rating" in test.column_names else None
    return predictions, slice_masks(texts, unknown_shares(tokenizer, texts), ratings, predictions["length"])


def run_slices(run_id: str, threshold: float = 0.5) -> list[dict]:
    """`error_slices` of a finished run (see `run_slice_masks`)."""
    predictions, masks = run_slice_masks(run_id)
    return error_slices(predictions["label"], predictions["probability"], masks, threshold)
