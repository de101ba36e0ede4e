"""comparison.json and what the Compare page draws: the analysis of groups of finished runs (numbers
from `statistics`, sentences from `verdict`), the comparison's runs, tables, curves and the test
reviews two runs disagree on."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from sentiment_core.core import runs
from sentiment_core.core.errors import ComparisonError, InputError, SentimentError
from sentiment_core.core.jsonio import json_safe
from sentiment_core.core.metrics import N_CALIBRATION_BINS, assign_buckets, calibration, length_bucket_edges
from sentiment_core.evaluation.compare.plan import (
    COMPARISON_FILE,
    comparison_path,
    comparisons_dir,
    effective_status,
    read_plan,
    read_status,
)
from sentiment_core.evaluation.compare.statistics import (
    ALPHA,
    LONG_BUCKET,
    PLATEAU_TOLERANCE,
    SUMMARY_METRICS,
    RunResult,
    aligned,
    bucket_accuracy,
    bucket_labels,
    convergence,
    load_run,
    pair_significance,
    shared_edges,
    summarise,
)
from sentiment_core.evaluation.compare.verdict import format_p, mean_std, verdict
from sentiment_core.training import dashboard as monitor
from sentiment_core.training.options import COMMON_DEFAULTS

LOSS_SCALE_NOTE = (
    "Raw training losses are not on one scale: length_weighted_bce multiplies each review's BCE by "
    "length / longest length in its batch (every weight at most 1), so its values are smaller by "
    "construction. The runs are compared on unweighted yardsticks only: test accuracy, F1, ROC-AUC, "
    "unweighted BCE, and the unweighted validation BCE for convergence."
)
SETTING_NOTE = (
    "The arms differ in {setting} only (same seeds, so the same data order, subset and initial weights per seed). "
    "They are compared on the test split, which no arm trained or chose its checkpoint on: accuracy, F1, "
    "ROC-AUC, unweighted BCE, and the unweighted validation BCE for convergence."
)


def comparison_note(setting: str = "loss") -> str:
    return LOSS_SCALE_NOTE if setting == "loss" else SETTING_NOTE.format(setting=setting)


def analyze(groups: dict[str, Sequence[str]], alpha: float = ALPHA, setting: str = "loss") -> dict:
    """Compare groups of finished runs (e.g. {"bce": [...], "length_weighted_bce": [...]}, or the arms of another
    `setting`: {"none": [...], "counterfactual": [...]}).

    Returns metrics (mean/std over runs), length_buckets, calibration, significance (every pair of
    groups), convergence and a verdict, all on unweighted yardsticks. ValueError when a group is
    empty or a run has no test report.
    """
    if len(groups) < 2:
        raise InputError(f"Compare two or more groups of runs, got {len(groups)}.")
    loaded: dict[str, list[RunResult]] = {}
    for name, run_ids in groups.items():
        if not run_ids:
            raise InputError(f"Group {name!r} has no runs: pick at least one finished run.")
        loaded[name] = [load_run(r, name) for r in run_ids]
    everyone = [r for results in loaded.values() for r in results]
    if len({r.run_id for r in everyone}) != len(everyone):
        raise InputError("A run is in two groups: each run can be in one group only.")
    edges, shared = shared_edges(everyone)
    labels = bucket_labels(edges)

    metrics = {name: {m: summarise([r.report["test"].get(m) for r in results]) for m in SUMMARY_METRICS}
               for name, results in loaded.items()}
    bucket_rows = []
    for name, results in loaded.items():
        per_run = [bucket_accuracy(r.predictions, edges) for r in results]
        counts = np.bincount(assign_buckets(results[0].predictions["length"], edges), minlength=len(labels))
        for index, info in enumerate(labels):
            bucket_rows.append({**info, "group": name, "n": int(counts[index]),
                                **summarise([values[index] for values in per_run])})
    calibration_rows = {}
    for name, results in loaded.items():
        pooled = calibration(np.concatenate([r.predictions["label"].to_numpy() for r in results]),
                             np.concatenate([r.predictions["probability"].to_numpy() for r in results]),
                             N_CALIBRATION_BINS)
        calibration_rows[name] = {"ece": summarise([r.report["test"].get("calibration", {}).get("ece")
                                                    for r in results]),
                                  "pooled_ece": pooled["ece"], "n_bins": pooled["n_bins"],
                                  "reliability": pooled["reliability"]}
        metrics[name]["ece"] = calibration_rows[name]["ece"]
    significance = [pair_significance(a, loaded[a], b, loaded[b], edges, alpha)
                    for a, b in itertools.combinations(loaded, 2)]
    convergence_rows = [{"run_id": r.run_id, "group": r.group, "seed": r.seed, **convergence(r.metrics),
                         "kept_by": r.config.get("best_metric") or COMMON_DEFAULTS["best_metric"]}  # its checkpoint's
                        for r in everyone]
    convergence_groups = {}
    for name in loaded:
        rows = [row for row in convergence_rows if row["group"] == name]
        convergence_groups[name] = {
            "runs": len(rows),
            "epochs_to_best": summarise([row["best_accuracy_epoch"] for row in rows]),
            "still_improving": sum(row["trend"] == "still improving" for row in rows),
            "plateaued": sum(bool(row["plateaued"]) for row in rows),
        }
    time_rows = {}
    for name, results in loaded.items():  # augmentation (its generation) counts in the time a setting costs
        train = [r.report.get("train_seconds") for r in results]
        augment = [r.report.get("augment_seconds") or 0.0 for r in results]
        time_rows[name] = {"train_seconds": summarise(train), "augment_seconds": summarise(augment),
                           "total_seconds": summarise([t + a if t is not None else None
                                                       for t, a in zip(train, augment)])}
    result = {
        "groups": {name: [r.run_id for r in results] for name, results in loaded.items()},
        "seeds": {name: [r.seed for r in results] for name, results in loaded.items()},
        "alpha": alpha,
        "setting": setting,
        "note": comparison_note(setting),
        "metrics": metrics,
        "length_buckets": {"edges": edges, "shared_test_set": shared, "long_bucket": LONG_BUCKET,
                           "buckets": labels, "rows": bucket_rows},
        "calibration": calibration_rows,
        "significance": significance,
        "convergence": {"tolerance": PLATEAU_TOLERANCE, "runs": convergence_rows, "groups": convergence_groups},
        "time": time_rows,
    }
    result["verdict"] = verdict(result)
    return json_safe(result)


def comparison_runs(comparison_id: str, plan: dict | None = None) -> pd.DataFrame:
    """One row per planned run: run_id, arm, loss, seed, state, step, total_steps, test_accuracy, error."""
    plan = plan or read_plan(comparison_id)
    rows = []
    for entry in plan["runs"]:
        run_dir = runs.run_path(entry["run_id"])
        row = {**{k: v for k, v in entry.items() if k != "value"}, "state": "not started", "step": None,
               "total_steps": None, "epoch": None, "test_accuracy": None, "error": None}
        if run_dir.is_dir():
            status = monitor.run_status(entry["run_id"])
            report = runs.read_json(run_dir / runs.EVAL_FILE) or {}
            row.update(state=status.get("state", "queued"), step=status.get("step"),
                       total_steps=status.get("total_steps"), epoch=status.get("epoch"),
                       test_accuracy=(report.get("test") or {}).get("accuracy"), error=status.get("error"))
        rows.append(row)
    return pd.DataFrame(rows, columns=["run_id", "arm", "loss", "seed", "state", "step", "total_steps", "epoch",
                                       "test_accuracy", "error"])


def write_comparison(comparison_id: str) -> dict:
    """(Re)write comparison.json: plan, status, runs, and results once every arm has a finished run."""
    plan = read_plan(comparison_id)
    table = comparison_runs(comparison_id, plan)
    finished = table[table["state"] == "finished"]
    groups = {arm: finished.loc[finished["arm"] == arm, "run_id"].tolist() for arm in plan["arms"]}
    results, problem = None, None
    if all(groups.values()):
        try:
            results = analyze(groups, setting=plan["vary"])
        except SentimentError as error:
            problem = str(error)
    else:
        waiting = [arm for arm, ids in groups.items() if not ids]
        problem = f"waiting for a finished run of {', '.join(waiting)}"
    suites = behaviour_results(groups) if results else None
    payload = json_safe({
        "comparison_id": comparison_id,
        "state": effective_status(comparison_id).get("state"),
        "complete": len(finished) == len(plan["runs"]),
        "plan": plan,
        "status": read_status(comparison_id),
        "runs": table.astype(object).where(table.notna(), None).to_dict(orient="records"),
        "note": comparison_note(plan["vary"]),
        "results": results,
        "results_problem": problem,
        "behaviour": behaviour_summary(groups, suites) if suites else None,
        "behaviour_held_out": behaviour_held_out(suites) if suites else None,
        "behaviour_verdict": behaviour_verdict(suites, groups, run_seeds(plan)) if suites else None,
        "updated": runs.now_iso(),
    })
    runs.write_json(comparison_path(comparison_id) / COMPARISON_FILE, payload)
    return payload


def behaviour_results(groups: dict[str, list[str]]) -> dict[str, list] | None:
    """Each group's behaviour-suite results (cached in its runs: the runner computes them when the comparison
    finishes); None until every run has one."""
    from sentiment_core.evaluation import behaviour

    results = {name: [behaviour.cached_result(behaviour.run_fingerprint(r), run_id=r) for r in run_ids]
               for name, run_ids in groups.items()}
    if any(result is None for found in results.values() for result in found):
        return None
    return results


def behaviour_summary(groups: dict[str, list[str]], suites: dict[str, list] | None = None) -> list[dict] | None:
    """Behaviour-suite failure rates per test, averaged over each arm's runs; None until every run has them."""
    from sentiment_core.evaluation import behaviour

    suites = suites if suites is not None else behaviour_results(groups)
    if suites is None:
        return None
    return json_safe(behaviour.group_table(suites).to_dict(orient="records"))


def behaviour_held_out(suites: dict[str, list]) -> list[dict]:
    """Failure rates per capability on the held-out words (and beside them the seen words), averaged over each
    arm's runs: the figure that counts for counterfactual augmentation."""
    from sentiment_core.evaluation import behaviour

    return json_safe(behaviour.group_held_out_table(suites).to_dict(orient="records"))


def run_seeds(plan: dict) -> dict[str, int]:
    """run id -> seed, for pairing the arms' behaviour results seed by seed."""
    return {entry["run_id"]: entry["seed"] for entry in plan["runs"]}


def _held_out(result, capability: str) -> tuple[int, int, float | None]:
    """(failed, cases, failure rate) of one suite result on a capability's held-out cases."""
    tests = [t for t in result.tests if t.capability == capability and t.held_out_cases]
    rate = next((c["held_out_failure_rate"] for c in result.capabilities() if c["capability"] == capability), None)
    return sum(t.held_out_failed for t in tests), sum(t.held_out_cases for t in tests), rate


def behaviour_verdict(suites: dict[str, list], groups: dict[str, list[str]], seeds: dict[str, int],
                      alpha: float = ALPHA) -> dict:
    """Per capability, the held-out failure rates of every pair of arms, tested: a paired t-test across seeds on
    the per-run rates with two or more seeds, else Fisher's exact test on the pooled cases (both arms answer the
    same cases: unpaired, so conservative). Sentences claim only significant differences."""
    from scipy import stats

    from sentiment_core.evaluation.significance import paired_t_test

    rows, sentences = [], []
    capabilities = list(dict.fromkeys(c["capability"] for results in suites.values() for r in results
                                      for c in r.capabilities() if c["held_out_cases"]))
    for capability in capabilities:
        for a, b in itertools.combinations(list(suites), 2):
            by_seed_a = {seeds.get(run_id): _held_out(r, capability) for run_id, r in zip(groups[a], suites[a])}
            by_seed_b = {seeds.get(run_id): _held_out(r, capability) for run_id, r in zip(groups[b], suites[b])}
            if not all(v[1] for v in (*by_seed_a.values(), *by_seed_b.values())):
                continue
            shared = [s for s in by_seed_a if s in by_seed_b and s is not None]
            rate_a = float(np.mean([v[2] for v in by_seed_a.values()]))
            rate_b = float(np.mean([v[2] for v in by_seed_b.values()]))
            if len(shared) >= 2:
                test = paired_t_test([by_seed_a[s][2] for s in shared], [by_seed_b[s][2] for s in shared])
                name, p = "paired t-test", test["p_value"]
            else:
                failed_a, cases_a = (sum(v[i] for v in by_seed_a.values()) for i in (0, 1))
                failed_b, cases_b = (sum(v[i] for v in by_seed_b.values()) for i in (0, 1))
                table = [[failed_a, cases_a - failed_a], [failed_b, cases_b - failed_b]]
                name, p = "Fisher's exact test", float(stats.fisher_exact(table)[1])
            significant = p is not None and p < alpha
            rows.append({"capability": f"{capability} (held-out words)", "a": a, "b": b, "failure_rate_a": rate_a,
                         "failure_rate_b": rate_b, "test": name, "p_value": p, "significant": significant})
            numbers = f"{a} {rate_a:.1%} vs {b} {rate_b:.1%}; {name} {format_p(p)}"
            if significant:
                better = a if rate_a < rate_b else b
                sentences.append(f"{capability} (held-out words): {better} fails less ({numbers}).")
            else:
                sentences.append(f"{capability} (held-out words): no significant difference ({numbers}).")
    return json_safe({"alpha": alpha, "rows": rows, "sentences": sentences})


def behaviour_table(payload: dict) -> pd.DataFrame:
    """The comparison's behaviour failure rates: capability, test, type, one column per arm."""
    return pd.DataFrame(payload.get("behaviour") or [])


def behaviour_held_out_table(payload: dict) -> pd.DataFrame:
    """The comparison's held-out failure rates: capability ("Negation (held-out words)"), held_out_cases, one column
    per arm and one per arm on the seen words."""
    return pd.DataFrame(payload.get("behaviour_held_out") or [])


def read_comparison(comparison_id: str) -> dict:
    """comparison.json (written when missing), with the live state of the comparison and its runs."""
    path = comparison_path(comparison_id)
    read_plan(comparison_id)
    payload = runs.read_json(path / COMPARISON_FILE) or write_comparison(comparison_id)
    return {**payload, "state": effective_status(comparison_id).get("state"), "status": effective_status(comparison_id)}


def list_comparisons() -> pd.DataFrame:
    """Every comparison folder, newest first: id, model, the setting varied and its arms (losses: the same, kept
    for older readers), seeds, state, finished/total runs, verdict."""
    columns = ["comparison_id", "model", "vary", "arms", "losses", "seeds", "state", "finished", "total", "created",
               "headline"]
    root = comparisons_dir()
    rows = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if not path.is_dir() or not runs.is_plain_name(path.name):
            continue
        try:
            plan = read_plan(path.name)
            payload = runs.read_json(path / COMPARISON_FILE) or {}
        except (runs.RunError, KeyError):
            continue
        finished = sum(r.get("state") == "finished" for r in payload.get("runs") or [])
        rows.append({"comparison_id": path.name, "model": plan["model"], "vary": plan["vary"],
                     "arms": ", ".join(plan["arms"]), "losses": ", ".join(plan["arms"]),
                     "seeds": len(plan["seeds"]), "state": effective_status(path.name).get("state"),
                     "finished": finished, "total": len(plan["runs"]), "created": plan.get("created"),
                     "headline": ((payload.get("results") or {}).get("verdict") or {}).get("headline")})
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("created", ascending=False, na_position="last").reset_index(drop=True)


def metrics_table(results: dict) -> pd.DataFrame:
    """Rows = groups (arms), columns = `mean ± std` strings of the unweighted test metrics, plus the means."""
    rows = []
    for name, metrics in results["metrics"].items():
        row = {"arm": name, "runs": metrics["accuracy"]["runs"]}
        for metric in ("accuracy", "f1", "roc_auc", "bce", "ece"):
            row[metric] = mean_std(metrics[metric])
            row[f"{metric}_mean"] = metrics[metric]["mean"]
        rows.append(row)
    return pd.DataFrame(rows)


def buckets_frame(results: dict) -> pd.DataFrame:
    """Accuracy per length bucket and group: bucket, label, group, n, mean, std."""
    rows = results["length_buckets"]["rows"]
    return pd.DataFrame([{k: row.get(k) for k in ("bucket", "label", "group", "n", "mean", "std")} for row in rows])


def reliability_frame(results: dict) -> pd.DataFrame:
    """Pooled reliability curves: group, mean_probability, fraction_positive, n."""
    rows = [{"group": name, **point} for name, info in results["calibration"].items() for point in info["reliability"]]
    return pd.DataFrame(rows, columns=["group", "bin", "mean_probability", "fraction_positive", "n"])


def significance_table(results: dict) -> pd.DataFrame:
    """One row per seed pair: the McNemar counts and p-values, overall and on long reviews."""
    rows = []
    for pair in results["significance"]:
        for item in pair["pairs"]:
            long = (item.get("buckets") or {}).get(LONG_BUCKET) or {}
            rows.append({"a": pair["a"], "b": pair["b"], "seed": item.get("seed"), "run_a": item["run_a"],
                         "run_b": item["run_b"], "accuracy_a": item.get("accuracy_a"),
                         "accuracy_b": item.get("accuracy_b"),
                         "a_only": item.get("a_only"), "b_only": item.get("b_only"), "p_value": item.get("p_value"),
                         "long_a_only": long.get("a_only"), "long_b_only": long.get("b_only"),
                         "long_p_value": long.get("p_value"), "note": item.get("reason")})
    return pd.DataFrame(rows)


def tests_table(results: dict) -> pd.DataFrame:
    """The decisions: one row per pair of groups and scope (all reviews, each length bucket)."""
    rows = []
    for pair in results["significance"]:
        for scope, decision in [("all reviews", pair["overall"])] + [(b["label"], b) for b in pair["buckets"]]:
            rows.append({"a": pair["a"], "b": pair["b"], "reviews": scope,
                         "difference_points": None if decision.get("mean_difference") is None
                         else decision["mean_difference"] * 100,
                         "test": decision.get("test") or "–", "p_value": decision.get("p_value"),
                         "significant": bool(decision.get("significant"))})
    return pd.DataFrame(rows)


def convergence_table(results: dict) -> pd.DataFrame:
    columns = ["run_id", "group", "seed", "evaluations", "best_accuracy_epoch", "best_accuracy", "best_bce_epoch",
               "best_bce", "last_bce", "trend", "kept_by"]
    return pd.DataFrame(results["convergence"]["runs"]).reindex(columns=columns)


def disagreements(run_a: str, run_b: str, min_tokens: float | None = None, max_tokens: float | None = None,
                  edges: list[float] | None = None) -> pd.DataFrame:
    """Test reviews the two runs classify differently: id, length, bucket, label, both probabilities, who is right."""
    a, b = load_run(run_a), load_run(run_b)
    if not aligned(a.predictions, b.predictions):
        raise ComparisonError(f"Runs {run_a!r} and {run_b!r} were tested on different reviews: "
                              "their predictions cannot be paired.")
    edges = edges or length_bucket_edges(a.predictions["length"])
    frame = pd.DataFrame({
        "id": a.predictions["id"], "length": a.predictions["length"], "label": a.predictions["label"],
        "probability_a": a.predictions["probability"], "probability_b": b.predictions["probability"],
    })
    frame["bucket"] = [f"Q{i + 1}" for i in assign_buckets(frame["length"], edges)]
    predicted_a = frame["probability_a"] >= 0.5
    predicted_b = frame["probability_b"] >= 0.5
    frame = frame[predicted_a != predicted_b].copy()
    frame["right"] = np.where((frame["probability_a"] >= 0.5) == frame["label"].astype(bool), run_a, run_b)
    if min_tokens is not None:
        frame = frame[frame["length"] >= min_tokens]
    if max_tokens is not None:
        frame = frame[frame["length"] <= max_tokens]
    frame["confidence_gap"] = (frame["probability_a"] - frame["probability_b"]).abs()
    return frame.sort_values("confidence_gap", ascending=False).reset_index(drop=True)[
        ["id", "length", "bucket", "label", "probability_a", "probability_b", "right"]]


def review_texts(run_id: str) -> list[str]:
    """The test reviews of a run in its predictions' order (its seeded test subset, if any)."""
    from sentiment_core.data.imdb import column
    from sentiment_core.evaluation.slices import run_test_split

    return column(run_test_split(run_id), "text")


def comparison_curves(entries: Sequence[dict], x: str = "step", smoothing: float = 0.0) -> pd.DataFrame:
    """Train/validation curves of several runs for the live charts, on `monitor.curves`' smoothing.

    entries: dicts with run_id, group (the loss) and seed. Train loss is the loss each run
    optimised (not comparable across losses); validation loss is the unweighted BCE (comparable).
    Rows: group, seed, run_id, x, split, metric, value, raw.
    """
    parts = []
    for entry in entries:
        run_dir = runs.run_path(entry["run_id"])
        if not run_dir.is_dir():
            continue
        metrics = runs.read_metrics(run_dir)
        if metrics.empty:
            continue
        bce = pd.to_numeric(metrics["bce"], errors="coerce")
        use_bce = (metrics["split"] == "validation") & bce.notna()
        metrics = metrics.assign(loss=np.where(use_bce, bce, pd.to_numeric(metrics["loss"], errors="coerce")))
        frame = monitor.curves(metrics, x=x, smoothing=smoothing)
        if not frame.empty:
            parts.append(frame.assign(group=entry.get("group") or entry.get("loss"), seed=entry.get("seed"),
                                      run_id=entry["run_id"]))
    columns = ["group", "seed", "run_id", "x", "split", "metric", "value", "raw"]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def mean_curves(frame: pd.DataFrame) -> pd.DataFrame:
    """The mean over seeds at each x of each group, split and metric (where at least one seed has a point)."""
    if frame.empty:
        return pd.DataFrame(columns=["group", "split", "metric", "x", "value", "seeds"])
    grouped = frame.groupby(["group", "split", "metric", "x"], sort=True)["value"]
    return grouped.agg(value="mean", seeds="count").reset_index()


def group_names(group_a: Sequence[str], group_b: Sequence[str]) -> tuple[str, str]:
    """Names for two hand-picked groups: their loss when each group has one, else A and B."""
    def loss_of(ids):
        losses = set()
        for run_id in ids:
            try:
                losses.add(runs.read_config(runs.run_path(run_id)).get("loss"))
            except runs.RunError:
                losses.add(None)
        return losses.pop() if len(losses) == 1 else None

    a, b = loss_of(group_a), loss_of(group_b)
    if a and b and a != b:
        return a, b
    return (f"A ({a})" if a else "A"), (f"B ({b})" if b else "B")
