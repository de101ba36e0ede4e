"""Significance tests between two models: McNemar on paired predictions, t-tests across seeds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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
    out = {"test": "Welch t-test", "n_pairs": 0,
           "mean_difference": float(a.mean() - b.mean()) if a.size and b.size else None,
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
