"""Metrics on predicted probabilities: overall, per review-length bucket, calibration, and significance
tests between two models (McNemar on paired predictions, t-tests across seeds)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

N_CALIBRATION_BINS = 10


def classification_metrics(labels, probabilities, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy, precision, recall, F1, ROC-AUC and unweighted BCE (log loss) of P(pos)."""
    labels = np.asarray(labels, dtype=int)
    probabilities = np.clip(np.asarray(probabilities, dtype=float), 1e-7, 1 - 1e-7)
    if labels.shape != probabilities.shape or labels.size == 0:
        raise ValueError(
            f"labels and probabilities must be non-empty and the same length, got {labels.size} and {probabilities.size}"
        )
    from sklearn import metrics as skm  # here, not at import: the Dataset page needs only the buckets

    predicted = (probabilities >= threshold).astype(int)
    both_classes = len(np.unique(labels)) == 2
    return {
        "n": int(labels.size),
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "precision": float(skm.precision_score(labels, predicted, zero_division=0)),
        "recall": float(skm.recall_score(labels, predicted, zero_division=0)),
        "f1": float(skm.f1_score(labels, predicted, zero_division=0)),
        "roc_auc": float(skm.roc_auc_score(labels, probabilities)) if both_classes else float("nan"),
        "bce": float(skm.log_loss(labels, probabilities, labels=[0, 1])),
    }


def length_bucket_edges(lengths) -> list[float]:
    """Quartile edges of token counts: [min, q25, q50, q75, max]."""
    lengths = np.asarray(lengths, dtype=float)
    if lengths.size == 0:
        raise ValueError("no lengths to bucket")
    return [float(v) for v in np.quantile(lengths, [0.0, 0.25, 0.5, 0.75, 1.0])]


def assign_buckets(lengths, edges) -> np.ndarray:
    """Bucket index 0..3 of each length for quartile edges (a length on an edge goes to the lower bucket)."""
    inner = np.asarray(edges[1:-1], dtype=float)
    return np.searchsorted(inner, np.asarray(lengths, dtype=float), side="left")


def bucket_metrics(labels, probabilities, lengths, edges=None) -> list[dict]:
    """Accuracy (and count) per token-count quartile: the key view of the loss comparison."""
    labels = np.asarray(labels, dtype=int)
    probabilities = np.asarray(probabilities, dtype=float)
    lengths = np.asarray(lengths, dtype=float)
    edges = edges or length_bucket_edges(lengths)
    buckets = assign_buckets(lengths, edges)
    rows = []
    for index in range(len(edges) - 1):
        chosen = buckets == index
        low, high = edges[index], edges[index + 1]
        correct = (probabilities[chosen] >= 0.5).astype(int) == labels[chosen]
        rows.append(
            {
                "bucket": f"Q{index + 1}",
                "label": f"Q{index + 1}: {int(low)}-{int(high)} tokens",
                "min_tokens": low,
                "max_tokens": high,
                "n": int(chosen.sum()),
                "accuracy": float(correct.mean()) if chosen.any() else float("nan"),
            }
        )
    return rows


def calibration(labels, probabilities, n_bins: int = N_CALIBRATION_BINS) -> dict:
    """Expected calibration error and the reliability curve on equal-width probability bins."""
    labels = np.asarray(labels, dtype=int)
    probabilities = np.asarray(probabilities, dtype=float)
    bins = np.minimum((probabilities * n_bins).astype(int), n_bins - 1)
    curve, ece = [], 0.0
    for index in range(n_bins):
        chosen = bins == index
        if not chosen.any():
            continue
        confidence = float(probabilities[chosen].mean())
        observed = float(labels[chosen].mean())
        ece += chosen.mean() * abs(confidence - observed)
        curve.append({"bin": index, "mean_probability": confidence, "fraction_positive": observed, "n": int(chosen.sum())})
    return {"ece": float(ece), "n_bins": n_bins, "reliability": curve}


def confusion(labels, probabilities) -> list[list[int]]:
    """2x2 confusion matrix, rows = true (neg, pos), columns = predicted."""
    predicted = (np.asarray(probabilities, dtype=float) >= 0.5).astype(int)
    matrix = np.zeros((2, 2), dtype=int)
    np.add.at(matrix, (np.asarray(labels, dtype=int), predicted), 1)
    return matrix.tolist()


# --- significance ------------------------------------------------------------------------

def mcnemar(correct_a, correct_b) -> dict:
    """McNemar's exact test on paired correctness (two-sided binomial test on the discordant pairs).

    a_only: reviews A gets right and B wrong; b_only: the reverse. p = 1 when there are none.
    """
    from scipy import stats  # here, not at import: the Dataset page needs only the buckets

    correct_a = np.asarray(correct_a, dtype=bool)
    correct_b = np.asarray(correct_b, dtype=bool)
    if correct_a.shape != correct_b.shape:
        raise ValueError(f"McNemar needs paired predictions, got {correct_a.size} and {correct_b.size}.")
    a_only = int((correct_a & ~correct_b).sum())
    b_only = int((~correct_a & correct_b).sum())
    discordant = a_only + b_only
    p_value = float(stats.binomtest(a_only, discordant, 0.5).pvalue) if discordant else 1.0
    return {"n": int(correct_a.size), "both_correct": int((correct_a & correct_b).sum()), "a_only": a_only,
            "b_only": b_only, "both_wrong": int((~correct_a & ~correct_b).sum()),
            "accuracy_a": float(correct_a.mean()) if correct_a.size else None,
            "accuracy_b": float(correct_b.mean()) if correct_b.size else None,
            "difference": float(correct_a.mean() - correct_b.mean()) if correct_a.size else None,
            "p_value": min(1.0, p_value)}


def paired_t_test(values_a: Sequence[float], values_b: Sequence[float]) -> dict:
    """Paired t-test across seeds on a - b; p is None (with the reason) when it cannot be computed."""
    a = np.asarray(values_a, dtype=float)
    b = np.asarray(values_b, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    differences = a - b
    out = {"test": "paired t-test", "n_pairs": int(differences.size),
           "mean_difference": float(differences.mean()) if differences.size else None,
           "std_difference": float(differences.std(ddof=1)) if differences.size > 1 else None,
           "statistic": None, "p_value": None, "reason": None}
    if differences.size < 2:
        out["reason"] = "needs two or more seeds"
    elif np.allclose(differences, differences[0], rtol=0, atol=1e-12):
        if abs(differences[0]) < 1e-12:
            out.update(statistic=0.0, p_value=1.0)
        else:
            out["reason"] = "the difference is the same in every seed (no spread): the t-test is undefined"
    else:
        from scipy import stats

        result = stats.ttest_rel(a, b)
        out.update(statistic=float(result.statistic), p_value=float(result.pvalue))
    return out


def welch_t_test(values_a: Sequence[float], values_b: Sequence[float]) -> dict:
    """Unpaired (Welch) t-test, for two groups of runs that cannot be paired."""
    a = np.asarray([v for v in values_a if np.isfinite(v)], dtype=float)
    b = np.asarray([v for v in values_b if np.isfinite(v)], dtype=float)
    out = {"test": "Welch t-test", "n_pairs": 0, "mean_difference": float(a.mean() - b.mean()) if a.size and b.size else None,
           "std_difference": None, "statistic": None, "p_value": None, "reason": None}
    if a.size < 2 or b.size < 2:
        out["reason"] = "needs two or more runs in each group"
    elif np.ptp(a) == 0 and np.ptp(b) == 0:
        out["reason"] = "no spread within the groups: the t-test is undefined"
    else:
        from scipy import stats

        result = stats.ttest_ind(a, b, equal_var=False)
        out.update(statistic=float(result.statistic), p_value=float(result.pvalue))
    return out


def full_report(labels, probabilities, lengths) -> dict:
    """Everything `eval.json` holds for one split."""
    edges = length_bucket_edges(lengths)
    return {
        **classification_metrics(labels, probabilities),
        "length_bucket_edges": edges,
        "length_buckets": bucket_metrics(labels, probabilities, lengths, edges),
        "calibration": calibration(labels, probabilities),
        "confusion_matrix": confusion(labels, probabilities),
    }
