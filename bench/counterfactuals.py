"""How well the counterfactual search flips each model on test reviews, and how fast.

    IMDB_DATA=../shared/data/imdb python bench/counterfactuals.py --runs bow-full,transformer-full [--reviews 200]

For each run (any model source: a run id, a checkpoint folder, a hub id), searches one edited review for each of
`--reviews` test reviews (a seeded sample, the same for every run) and prints: flip rate, mean and median share of
words changed (over the flips), the share of flips reached without deletions, median and 90th-percentile seconds
per review, and the targets. `--out F.jsonl` keeps every review's result. Run it with nothing else on the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

TARGETS = {"flip_rate": 0.95, "median_share_changed": 0.05, "meaning_share": 0.80}
SECONDS_TARGETS = {"bow": 1.0, "transformer": 5.0, "pretrained": 15.0}


def sample_reviews(count: int, seed: int, data: str | None = None) -> list[str]:
    """`count` test reviews, a seeded shuffle of the test split."""
    from sentiment_core.data.imdb import load_imdb

    test = load_imdb(data)["test"].shuffle(seed=seed)
    return list(test.select(range(min(count, len(test))))["text"])


def summarize(results: list[dict]) -> dict:
    """The benchmark's figures of one model's results (Counterfactual.to_dict() records)."""
    flips = [r for r in results if r["flipped"]]
    shares = [r["share_changed"] for r in flips]
    seconds = sorted(r["seconds"] for r in results)
    return {
        "reviews": len(results), "flip_rate": len(flips) / max(len(results), 1),
        "mean_share_changed": statistics.fmean(shares) if shares else None,
        "median_share_changed": statistics.median(shares) if shares else None,
        "meaning_share": sum(not r["deletions"] for r in flips) / len(flips) if flips else None,
        "median_seconds": statistics.median(seconds) if seconds else None,
        "p90_seconds": seconds[int(0.9 * (len(seconds) - 1))] if seconds else None,
        "edits_by_kind": _kinds(flips),
    }


def _kinds(flips: list[dict]) -> dict:
    counts: dict[str, int] = {}
    for record in flips:
        for edit in record["edits"]:
            counts[edit["kind"]] = counts.get(edit["kind"], 0) + 1
    return dict(sorted(counts.items()))


def verdict(family: str, figures: dict) -> list[str]:
    """Each target, met or missed."""
    lines = []
    for name, bound in TARGETS.items():
        value = figures[name]
        met = value is not None and (value <= bound if name == "median_share_changed" else value >= bound)
        lines.append(f"{name} {'<=' if name == 'median_share_changed' else '>='} {bound}: "
                     f"{'met' if met else 'missed'} ({value if value is None else round(value, 3)})")
    limit = SECONDS_TARGETS.get(family)
    if limit is not None and figures["median_seconds"] is not None:
        lines.append(f"median seconds <= {limit}: {'met' if figures['median_seconds'] <= limit else 'missed'} "
                     f"({figures['median_seconds']:.2f})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", required=True, help="comma-separated model sources (run ids, folders, hub ids)")
    parser.add_argument("--reviews", type=int, default=200, help="test reviews per model (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the review sample (default 0)")
    parser.add_argument("--out", help="write every review's result here (JSON lines)")
    args = parser.parse_args(argv)

    from sentiment_core.explain.counterfactual import counterfactuals
    from sentiment_core.inference.sources import load_predictor

    reviews = sample_reviews(args.reviews, args.seed)
    out = open(args.out, "w", encoding="utf-8") if args.out else None  # noqa: SIM115
    for source in [s.strip() for s in args.runs.split(",") if s.strip()]:
        predictor = load_predictor(source)
        counterfactuals(predictor, reviews[0])  # warm-up: imports and the first explanation's set-up are not timed
        results, started = [], time.perf_counter()
        for index, text in enumerate(reviews):
            (found,) = counterfactuals(predictor, text)
            record = found.to_dict()
            results.append(record)
            if out:
                out.write(json.dumps({"model": source, "review": index, **record}) + "\n")
            print(f"\r{source}: {index + 1}/{len(reviews)}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        figures = summarize(results)
        print(json.dumps({"model": source, "family": predictor.family, "wall_seconds": time.perf_counter() - started,
                          **figures}, indent=2))
        for line in verdict(predictor.family, figures):
            print(f"  {line}")
    if out:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
