"""Prediction and explanation speed, and explanation faithfulness, for trained runs.

    IMDB_DATA=../shared/data/imdb python bench/predict_bench.py [--runs RUN|SRC,...] [--reviews 200]

Default runs: the finished run with the best test accuracy of each family in SENTIMENT_MODELS_DIR.
Per run, on a test review of mean length (230 words; the median is 174): prediction latency (median of 30
after a warm-up) and 50-step Integrated Gradients latency (median of 5); then on `--reviews`
test reviews, how much deleting the top 10% of words by IG attribution moves P(predicted
class), against deleting 10% of the words at random (mean of 5 draws), and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

TARGETS = {  # prediction ms, 50-step IG ms
    "bow": (20, 300), "lstm": (100, 300), "transformer": (100, 300), "pretrained": (None, 3000),
}
FAITHFULNESS_TARGET = 3.0


def _median_ms(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def default_runs() -> list[str]:
    from sentiment_core.inference.default_model import finished_runs

    best: dict[str, str] = {}
    for row in finished_runs():  # best test accuracy first
        best.setdefault(row["family"], row["run_id"])
    return list(best.values())


def bench_run(run_id: str, test, n_reviews: int, seed: int, target_words: int = 230) -> dict:
    from sentiment_core.explain.attribution import deletion_curve, explain
    from sentiment_core.inference.sources import load_predictor

    predictor = load_predictor(run_id)  # a run id, or any model source (a checkpoint folder, a hub id)
    words = test["text"].str.split().str.len()
    median_review = test["text"].iloc[int((words - target_words).abs().argmin())]
    predictor.predict([median_review])
    explain(predictor, median_review)
    predict_ms = _median_ms(lambda: predictor.predict([median_review]), 30)
    explain_ms = _median_ms(lambda: explain(predictor, median_review, steps=50), 5)

    if n_reviews <= 0:  # latency only
        return {"run": run_id, "family": predictor.family, "median_words": int(len(median_review.split())),
                "predict_ms": predict_ms, "ig50_ms": explain_ms, "top10_shift": float("nan"),
                "random10_shift": float("nan"), "ratio": float("nan"), "faithfulness_s": 0.0}
    sample = test.sample(n=min(n_reviews, len(test)), random_state=seed)
    top, random = [], []
    started = time.perf_counter()
    for text in sample["text"]:
        (explanation,) = explain(predictor, text, steps=50)
        curve = deletion_curve(predictor, explanation, steps=1, max_fraction=0.1, random_repeats=5, seed=seed)
        top.append(curve.attributed[0] - curve.attributed[1])
        random.append(curve.random[0] - curve.random[1])
    faithfulness_s = time.perf_counter() - started
    top_shift, random_shift = float(np.mean(top)), float(np.mean(random))
    return {
        "run": run_id, "family": predictor.family, "median_words": int(len(median_review.split())),
        "predict_ms": predict_ms, "ig50_ms": explain_ms, "top10_shift": top_shift, "random10_shift": random_shift,
        "ratio": top_shift / random_shift if random_shift > 0 else float("inf"), "faithfulness_s": faithfulness_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", help="comma-separated run ids (default: the best finished run of each family)")
    parser.add_argument("--reviews", type=int, default=200,
                        help="test reviews for the faithfulness check (0: timings only)")
    parser.add_argument("--words", type=int, default=230,
                        help="length of the timed review in words (default 230, the mean)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from sentiment_core.core.settings import describe_device
    from sentiment_core.data.imdb import load_imdb

    run_ids = args.runs.split(",") if args.runs else default_runs()
    if not run_ids:
        raise SystemExit("no finished runs: train one first (python -m sentiment_core train --model bow)")
    test = load_imdb()["test"].to_pandas()
    print(f"device: {describe_device()}; torch threads: {torch.get_num_threads()}")
    header = (f"{'run':34} {'family':12} {'predict ms':>10} {'IG-50 ms':>9} {'top10% dP':>10} {'rand10% dP':>11} "
              f"{'ratio':>6}  targets")
    print(header)
    for run_id in run_ids:
        row = bench_run(run_id, test, args.reviews, args.seed, args.words)
        predict_target, explain_target = TARGETS.get(row["family"], (None, None))
        verdicts = []
        if predict_target:
            verdicts.append(f"predict<{predict_target}ms {'ok' if row['predict_ms'] < predict_target else 'MISSED'}")
        if explain_target:
            verdicts.append(f"IG<{explain_target}ms {'ok' if row['ig50_ms'] < explain_target else 'MISSED'}")
        if args.reviews > 0:
            verdicts.append(f"ratio>={FAITHFULNESS_TARGET:g} "
                            f"{'ok' if row['ratio'] >= FAITHFULNESS_TARGET else 'MISSED'}")
        print(f"{row['run']:34} {row['family']:12} {row['predict_ms']:10.1f} {row['ig50_ms']:9.1f} "
              f"{row['top10_shift']:10.4f} {row['random10_shift']:11.4f} {row['ratio']:6.1f}  {'; '.join(verdicts)}"
              f"  ({row['median_words']} words; faithfulness on {args.reviews} reviews took "
              f"{row['faithfulness_s']:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
