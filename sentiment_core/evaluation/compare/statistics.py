"""The numbers of a comparison: finished runs' reports and predictions, grouped by loss, summarised
over seeds, tested pairwise (McNemar per seed pair, t-tests across seeds: `evaluation`'s tests) overall
and per review-length bucket, and each run's convergence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sentiment_core.core import runs
from sentiment_core.core.errors import ComparisonError
from sentiment_core.core.metrics import assign_buckets, length_bucket_edges
from sentiment_core.evaluation.significance import mcnemar, paired_t_test, welch_t_test

ALPHA = 0.05
PLATEAU_TOLERANCE = 0.01  # relative change of validation BCE that counts as "still moving"
LONG_BUCKET = "Q4"
SUMMARY_METRICS = ("accuracy", "f1", "roc_auc", "bce", "precision", "recall")


@dataclass
class RunResult:
    """A finished run's test report, test predictions and validation history."""

    run_id: str
    group: str
    seed: int | None
    loss: str | None
    report: dict
    predictions: pd.DataFrame
    metrics: pd.DataFrame
    config: dict


def load_run(run_id: str, group: str | None = None) -> RunResult:
    """A finished run's results; ValueError naming the run when it has none yet."""
    run_dir = runs.run_path(run_id)
    if not run_dir.is_dir():
        raise ComparisonError(f"No run {run_id!r} in {runs.models_dir()}.")
    config = runs.read_config(run_dir)
    report = runs.read_json(run_dir / runs.EVAL_FILE)
    predictions_file = run_dir / runs.PREDICTIONS_FILE
    if report is None or not predictions_file.exists():
        state = runs.effective_status(run_dir).get("state", "unknown")
        raise ComparisonError(f"Run {run_id!r} has no test report yet (it is {state}): "
                              "only finished runs can be compared.")
    predictions = pd.read_csv(predictions_file)
    return RunResult(run_id=run_id, group=group or config.get("loss") or run_id, seed=config.get("seed"),
                     loss=config.get("loss"), report=report, predictions=predictions,
                     metrics=runs.read_metrics(run_dir), config=config)


def aligned(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Two prediction tables on the same test reviews (same ids, labels and lengths, in order)."""
    return (len(a) == len(b) and np.array_equal(a["id"].to_numpy(), b["id"].to_numpy())
            and np.array_equal(a["label"].to_numpy(), b["label"].to_numpy())
            and np.array_equal(a["length"].to_numpy(), b["length"].to_numpy()))


def shared_edges(results: Sequence[RunResult]) -> tuple[list[float], bool]:
    """One set of token-count quartile edges for every run, and whether all were tested on the same reviews.

    When every run saw the same test reviews, these are exactly the edges in each run's eval.json.
    """
    first = results[0].predictions
    shared = all(aligned(first, r.predictions) for r in results[1:])
    if shared:
        return length_bucket_edges(first["length"]), True
    tables, seen = [], set()
    for result in results:
        key = (len(result.predictions), tuple(result.predictions["length"].head(50)))
        if key not in seen:
            seen.add(key)
            tables.append(result.predictions["length"])
    return length_bucket_edges(pd.concat(tables)), False


def summarise(values: Sequence[float]) -> dict:
    """Mean and sample standard deviation (ddof 1; None with one value) over seeds."""
    array = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    return {"mean": float(array.mean()) if array.size else None,
            "std": float(array.std(ddof=1)) if array.size > 1 else None,
            "values": [float(v) if v is not None else None for v in values], "runs": int(array.size)}


def bucket_accuracy(predictions: pd.DataFrame, edges: list[float]) -> list[float]:
    buckets = assign_buckets(predictions["length"], edges)
    correct = (predictions["probability"].to_numpy() >= 0.5).astype(int) == predictions["label"].to_numpy()
    return [float(correct[buckets == i].mean()) if (buckets == i).any() else float("nan")
            for i in range(len(edges) - 1)]


def bucket_labels(edges: list[float]) -> list[dict]:
    return [{"bucket": f"Q{i + 1}", "label": f"Q{i + 1}: {int(edges[i])}-{int(edges[i + 1])} tokens",
             "min_tokens": edges[i], "max_tokens": edges[i + 1]} for i in range(len(edges) - 1)]


def _decide(t_test: dict, tests: list[dict], alpha: float) -> dict:
    """Which test decides, its p-value, and whether the difference is significant at alpha.

    Two or more seeds: the paired t-test across seeds. One seed (or no spread across seeds): McNemar,
    which must agree in every seed (p < alpha, same direction) to count.
    """
    mcnemar_ps = [t["p_value"] for t in tests]
    significant_seeds = sum(p < alpha for p in mcnemar_ps)
    differences = [t["difference"] for t in tests]
    if t_test.get("p_value") is not None:
        return {"test": "paired t-test across seeds", "p_value": t_test["p_value"],
                "significant": t_test["p_value"] < alpha, "mean_difference": t_test["mean_difference"],
                "mcnemar_significant": significant_seeds, "mcnemar_pairs": len(tests)}
    if tests:
        same_direction = all(d > 0 for d in differences) or all(d < 0 for d in differences)
        return {"test": "McNemar" if len(tests) == 1 else "McNemar in every seed", "p_value": max(mcnemar_ps),
                "significant": significant_seeds == len(tests) and same_direction,
                "mean_difference": float(np.mean(differences)),
                "mcnemar_significant": significant_seeds, "mcnemar_pairs": len(tests)}
    return {"test": None, "p_value": None, "significant": False,
            "mean_difference": t_test.get("mean_difference"), "mcnemar_significant": 0, "mcnemar_pairs": 0,
            "reason": t_test.get("reason")}


def _pairs(a: list[RunResult], b: list[RunResult]) -> tuple[list[tuple[RunResult, RunResult]], str]:
    """Runs of two groups paired by seed (or by order when no seed matches and the sizes agree)."""
    by_seed_b = {r.seed: r for r in b}
    matched = [(r, by_seed_b[r.seed]) for r in a if r.seed in by_seed_b]
    if matched and len({r.seed for r in a}) == len(a) and len(by_seed_b) == len(b):
        return matched, "seed"
    if len(a) == len(b):
        return list(zip(a, b)), "order"
    return [], "none"


def pair_significance(name_a: str, group_a: list[RunResult], name_b: str, group_b: list[RunResult],
                      edges: list[float], alpha: float = ALPHA) -> dict:
    """McNemar per seed pair (overall and per length bucket), paired t-tests across seeds, the decision."""
    pairs, paired_by = _pairs(group_a, group_b)
    labels = bucket_labels(edges)
    per_pair, bucket_tests = [], {row["bucket"]: [] for row in labels}
    for run_a, run_b in pairs:
        row = {"seed": run_a.seed if paired_by == "seed" else None, "run_a": run_a.run_id, "run_b": run_b.run_id}
        if not aligned(run_a.predictions, run_b.predictions):
            per_pair.append({**row, "p_value": None, "reason": "the two runs were tested on different reviews"})
            continue
        correct_a = ((run_a.predictions["probability"].to_numpy() >= 0.5)
                     == run_a.predictions["label"].to_numpy().astype(bool))
        correct_b = ((run_b.predictions["probability"].to_numpy() >= 0.5)
                     == run_b.predictions["label"].to_numpy().astype(bool))
        test = mcnemar(correct_a, correct_b)
        buckets = assign_buckets(run_a.predictions["length"], edges)
        per_bucket = {}
        for index, info in enumerate(labels):
            chosen = buckets == index
            per_bucket[info["bucket"]] = mcnemar(correct_a[chosen], correct_b[chosen])
            bucket_tests[info["bucket"]].append(per_bucket[info["bucket"]])
        per_pair.append({**row, **test, "significant": test["p_value"] < alpha, "buckets": per_bucket})
    tested = [p for p in per_pair if p.get("p_value") is not None]
    accuracy_a = [float(a.report["test"]["accuracy"]) for a, _ in pairs]
    accuracy_b = [float(b.report["test"]["accuracy"]) for _, b in pairs]
    if paired_by == "none":
        t_test = welch_t_test([float(r.report["test"]["accuracy"]) for r in group_a],
                        [float(r.report["test"]["accuracy"]) for r in group_b])
    else:
        t_test = paired_t_test(accuracy_a, accuracy_b)
    overall = {**_decide(t_test, [p for p in tested], alpha), "t_test": t_test}
    bucket_rows = []
    for index, info in enumerate(labels):
        if paired_by == "none":
            bucket_t = welch_t_test([bucket_accuracy(r.predictions, edges)[index] for r in group_a],
                              [bucket_accuracy(r.predictions, edges)[index] for r in group_b])
        else:
            bucket_t = paired_t_test([bucket_accuracy(a.predictions, edges)[index] for a, _ in pairs],
                                     [bucket_accuracy(b.predictions, edges)[index] for _, b in pairs])
        bucket_rows.append({**info, **_decide(bucket_t, bucket_tests[info["bucket"]], alpha), "t_test": bucket_t,
                            "mcnemar_p_values": [t["p_value"] for t in bucket_tests[info["bucket"]]]})
    return {"a": name_a, "b": name_b, "paired_by": paired_by, "pairs": per_pair, "overall": overall,
            "buckets": bucket_rows, "alpha": alpha}


def convergence(metrics: pd.DataFrame, tolerance: float = PLATEAU_TOLERANCE) -> dict:
    """Did the unweighted validation BCE plateau, and when was the best epoch?

    trend: `still improving` (the last evaluation beat every earlier one by more than `tolerance`,
    relative: train longer), `rising` (the last is more than `tolerance` above the minimum:
    overfitting), `plateaued` (within `tolerance` of the minimum), or `unknown` (fewer than two
    evaluations). The best epoch by accuracy is the checkpoint the Trainer keeps.
    """
    validation = metrics[metrics["split"] == "validation"].sort_values("step") if not metrics.empty else metrics
    out = {"evaluations": int(len(validation)), "best_accuracy_epoch": None, "best_accuracy_step": None,
           "best_accuracy": None, "best_bce_epoch": None, "best_bce": None, "last_bce": None, "last_epoch": None,
           "trend": "unknown", "plateaued": None, "loss_column": None}
    if validation.empty:
        return out
    accuracy = pd.to_numeric(validation["accuracy"], errors="coerce")
    if accuracy.notna().any():
        best = validation.loc[accuracy.idxmax()]
        out.update(best_accuracy_epoch=float(best["epoch"]), best_accuracy_step=int(best["step"]),
                   best_accuracy=float(best["accuracy"]))
    column = "bce" if pd.to_numeric(validation["bce"], errors="coerce").notna().any() else "loss"
    loss = pd.to_numeric(validation[column], errors="coerce")
    keep = loss.notna()
    loss, epochs = loss[keep].to_numpy(), pd.to_numeric(validation.loc[keep, "epoch"]).to_numpy()
    out["loss_column"] = column
    out["last_epoch"] = float(epochs[-1]) if len(epochs) else None
    if not len(loss):
        return out
    best_index = int(np.argmin(loss))
    out.update(best_bce_epoch=float(epochs[best_index]), best_bce=float(loss[best_index]), last_bce=float(loss[-1]))
    if len(loss) < 2:
        return out
    earlier_best = float(loss[:-1].min())
    if loss[-1] < earlier_best * (1 - tolerance):
        out.update(trend="still improving", plateaued=False)
    elif loss[-1] > float(loss.min()) * (1 + tolerance):
        out.update(trend="rising", plateaued=True)
    else:
        out.update(trend="plateaued", plateaued=True)
    return out
