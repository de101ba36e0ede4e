"""The verdict of a comparison in plain language: only what the p-values support is claimed."""

from __future__ import annotations

from sentiment_core.evaluation.compare.statistics import LONG_BUCKET


def format_p(p: float | None) -> str:
    if p is None:
        return "p not computable"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def mean_std(summary: dict) -> str:
    if summary.get("mean") is None:
        return "–"
    return f"{summary['mean']:.3f}" + (f" ± {summary['std']:.3f}" if summary.get("std") is not None else "")


def verdict(result: dict) -> dict:
    """Plain-language sentences that follow from the numbers; only significant differences are claimed."""
    alpha = result["alpha"]
    sentences, findings = [], []
    long_label = next((b["label"] for b in result["length_buckets"]["buckets"] if b["bucket"] == LONG_BUCKET),
                      LONG_BUCKET)
    long_text = long_label
    for pair in result["significance"]:
        a, b = pair["a"], pair["b"]
        overall = pair["overall"]
        acc_a, acc_b = result["metrics"][a]["accuracy"], result["metrics"][b]["accuracy"]
        test = f"{overall['test']} {format_p(overall['p_value'])}" if overall["test"] else format_p(None)
        mcnemar_note = (f"; McNemar p < {alpha:g} in {overall['mcnemar_significant']}/{overall['mcnemar_pairs']} seeds"
                        if overall["mcnemar_pairs"] and overall["test"] != "McNemar" else "")
        if overall["significant"]:
            winner, loser = (a, b) if overall["mean_difference"] > 0 else (b, a)
            points = abs(overall["mean_difference"]) * 100
            sentence = (f"{winner} is better overall by {points:.1f} points of test accuracy "
                        f"({winner} {mean_std(result['metrics'][winner]['accuracy'])} vs "
                        f"{loser} {mean_std(result['metrics'][loser]['accuracy'])}; {test}{mcnemar_note}).")
            findings.append(sentence)
        else:
            sentence = (f"No significant difference in test accuracy between {a} and {b} "
                        f"({a} {mean_std(acc_a)} vs {b} {mean_std(acc_b)}; {test}{mcnemar_note}).")
        sentences.append(sentence)
        long = next((row for row in pair["buckets"] if row["bucket"] == LONG_BUCKET), None)
        if long is not None:
            rows = {row["group"]: row for row in result["length_buckets"]["rows"] if row["bucket"] == LONG_BUCKET}
            long_test = f"{long['test']} {format_p(long['p_value'])}" if long["test"] else format_p(None)
            if long["significant"]:
                winner, loser = (a, b) if long["mean_difference"] > 0 else (b, a)
                sentence = (f"{winner} is better on long reviews ({long_text}) by "
                            f"{abs(long['mean_difference']) * 100:.1f} points ({winner} {mean_std(rows[winner])} vs "
                            f"{loser} {mean_std(rows[loser])}; {long_test}).")
                findings.insert(0, sentence)
            else:
                sentence = (f"No significant difference on long reviews ({long_text}): "
                            f"{a} {mean_std(rows[a])} vs {b} {mean_std(rows[b])} ({long_test}).")
            sentences.append(sentence)
    caveats = []
    seeds = [len(v) for v in result["groups"].values()]
    if min(seeds) < 2:
        arm = "loss" if result.get("setting", "loss") == "loss" else "arm"
        caveats.append(f"With one run per {arm} the across-seed t-test cannot be computed; the verdict rests on "
                       "McNemar's test on that seed's test predictions. Use --seeds 3 or more for a firmer answer.")
    runs_info = result["convergence"]["runs"]
    improving = [row for row in runs_info if row["trend"] == "still improving"]
    if improving:
        caveats.append(f"{len(improving)} of {len(runs_info)} runs were still improving (validation BCE) when "
                       "training ended: more epochs could change the verdict.")
    elif runs_info and all(row["plateaued"] for row in runs_info):
        caveats.append("Every run's validation BCE had plateaued (or started rising) by the end of training.")
    if not result["length_buckets"]["shared_test_set"]:
        caveats.append(_test_set_caveat(result["significance"], result.get("setting", "loss")))
    names = list(result["groups"])
    headline = findings[0] if findings else (
        f"No significant difference between {' and '.join(names)} (alpha {alpha:g}).")
    return {"headline": headline, "sentences": sentences, "caveats": caveats,
            "text": " ".join([*sentences, *caveats])}


def _test_set_caveat(significance: list[dict], setting: str = "loss") -> str:
    """What testing the runs on different reviews changed: the pooled quartile edges, and which McNemar tests ran."""
    pairs = [pair for comparison in significance for pair in comparison["pairs"]]
    skipped = sum(pair.get("p_value") is None for pair in pairs)
    text = ("The runs were not all tested on the same reviews (--max-test-samples draws a subset per seed): the "
            "review-length quartiles pool their lengths")
    if not skipped:
        return text + (f", and McNemar's test compared each of the {len(pairs)} seed pair(s) on the reviews both runs "
                       "saw.")
    return text + (f"; McNemar's test is skipped for {skipped} of {len(pairs)} pair(s) tested on different reviews "
                   f"(give both {'losses' if setting == 'loss' else 'arms'} the same seeds and test subset to pair "
                   "them).")
