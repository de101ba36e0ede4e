"""Which explanation to trust, measured: every attribution method's faithfulness per model, and the time
it takes to explain a whole file.

    IMDB_DATA=../shared/data/imdb python bench/faithfulness.py [--runs bow-full,lstm-full,transformer-full]
        [--models-dir models] [--reviews 200] [--seed 0] [--methods integrated_gradients,occlusion,...]
    IMDB_DATA=../shared/data/imdb python bench/faithfulness.py --file-bench --runs bow-full --rows 1000
        [--method integrated_gradients]

Faithfulness mode: per run, on `--reviews` test reviews drawn with `--seed`, each review is explained by
every method (`faithfulness.explain_all_methods`, default options) and scored; the table gives each
method's mean comprehensiveness (higher is better), sufficiency (lower is better), Kendall's tau with
occlusion and milliseconds per explanation (a first review, not counted, warms the model up).

File mode: writes `--rows` test reviews (seeded) to a CSV in a temporary folder and times
`explain_files.explain_file` on it (JSON lines), then the HTML report, against the targets: a 1,000-row
file in under 60 s with bow and Integrated Gradients, under 6 minutes with the transformer family.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_RUNS = "bow-full,lstm-full,transformer-full"
FILE_TARGETS_S = {"bow": 60.0, "transformer": 360.0}  # 1,000 rows, Integrated Gradients
FILE_TARGET_ROWS = 1000


def markdown_table(frame, digits: int = 3) -> str:
    """A DataFrame as a GitHub markdown table (numbers rounded; NaN as a dash)."""
    def cell(value) -> str:
        if isinstance(value, float):
            return "–" if math.isnan(value) else f"{value:.{digits}f}"
        return str(value)

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def test_reviews(data: str | None, n: int, seed: int):
    from sentiment_core.data.imdb import load_imdb

    test = load_imdb(data)["test"].to_pandas()
    return test.sample(n=min(n, len(test)), random_state=seed).reset_index(drop=True)


def bench_methods(run_id: str, texts: list[str], methods: list[str],
                  baseline: str = "empty") -> tuple[str, object, float]:
    """(family, per-method summary, seconds) for one run on `texts`."""
    from sentiment_core.explain.faithfulness import explain_all_methods, method_summary
    from sentiment_core.inference.sources import load_predictor

    predictor = load_predictor(run_id)
    explain_all_methods(predictor, texts[0], methods=methods, baseline=baseline)  # warm-up: first calls build caches
    scores, started = [], time.perf_counter()
    for index, text in enumerate(texts, 1):
        scores.extend(result.score
                      for result in explain_all_methods(predictor, text, methods=methods, baseline=baseline))
        if index % 20 == 0 or index == len(texts):
            print(f"  {run_id}: {index}/{len(texts)} reviews, {time.perf_counter() - started:.0f} s",
                  file=sys.stderr, flush=True)
    summary = method_summary(scores).drop(columns=["deletion_area"])
    return predictor.family, summary, time.perf_counter() - started


def bench_file(run_id: str, data: str | None, rows: int, seed: int, method: str) -> dict:
    """Time explain_file and the HTML report on a CSV of `rows` test reviews."""
    from sentiment_core.explain.files import explain_file, write_html_report
    from sentiment_core.inference.sources import load_predictor

    predictor = load_predictor(run_id)
    sample = test_reviews(data, rows, seed)
    with tempfile.TemporaryDirectory(prefix="explain-file-bench-") as folder:
        csv_path, out_path = Path(folder) / "reviews.csv", Path(folder) / "reviews.jsonl"
        sample[["text", "label"]].to_csv(csv_path, index=False)
        started = time.perf_counter()
        result = explain_file(predictor, csv_path, out_path, method=method)
        explain_s = time.perf_counter() - started
        started = time.perf_counter()
        write_html_report(out_path, Path(folder) / "report.html")
        report_s = time.perf_counter() - started
        size_mb = out_path.stat().st_size / 1e6
    return {"run": run_id, "family": predictor.family, "method": method, "rows": result.rows,
            "explain_s": explain_s, "ms_per_row": 1000 * explain_s / max(result.rows, 1),
            "report_s": report_s, "jsonl_mb": size_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default=DEFAULT_RUNS, help=f"comma-separated run ids (default {DEFAULT_RUNS})")
    parser.add_argument("--models-dir", help="folder holding the runs (default: SENTIMENT_MODELS_DIR or models)")
    parser.add_argument("--data", help="IMDB source (default: IMDB_DATA)")
    parser.add_argument("--reviews", type=int, default=200, help="test reviews per run (faithfulness mode)")
    parser.add_argument("--methods", help="comma-separated methods (default: all)")
    parser.add_argument("--baseline", default="empty", help="what a removed word becomes: empty or undecided "
                        "(explain.BASELINES)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the review sample")
    parser.add_argument("--file-bench", action="store_true", help="time explaining a CSV of test reviews instead")
    parser.add_argument("--rows", type=int, default=FILE_TARGET_ROWS, help="rows of the CSV (file mode)")
    parser.add_argument("--method", default="integrated_gradients", help="explanation method (file mode)")
    args = parser.parse_args()

    if args.models_dir:  # before the settings are first read
        os.environ["SENTIMENT_MODELS_DIR"] = args.models_dir
    import torch

    from sentiment_core.core.settings import describe_device, get_settings
    from sentiment_core.explain.methods import METHODS

    get_settings.cache_clear()
    run_ids = [r for r in args.runs.split(",") if r]
    print(f"device: {describe_device()}; torch threads: {torch.get_num_threads()}; models: {get_settings().models_dir}")
    if args.file_bench:
        import pandas as pd

        results = []
        for run_id in run_ids:
            row = bench_file(run_id, args.data, args.rows, args.seed, args.method)
            target = FILE_TARGETS_S.get(row["family"]) if args.method == "integrated_gradients" else None
            scaled = row["explain_s"] * FILE_TARGET_ROWS / max(row["rows"], 1)
            row["target"] = (f"{FILE_TARGET_ROWS} rows < {target:.0f} s: {'ok' if scaled < target else 'MISSED'}"
                             f" ({scaled:.0f} s"
                             f"{'' if row['rows'] == FILE_TARGET_ROWS else ' scaled'})") if target else "–"
            results.append(row)
        print(markdown_table(pd.DataFrame(results), digits=2))
        return
    methods = args.methods.split(",") if args.methods else list(METHODS)
    texts = test_reviews(args.data, args.reviews, args.seed)["text"].tolist()
    for run_id in run_ids:
        family, summary, seconds = bench_methods(run_id, texts, methods, args.baseline)
        print(f"\n### {run_id} ({family}): {len(texts)} test reviews, seed {args.seed}, {seconds:.0f} s\n")
        print(markdown_table(summary.rename(columns={"tau_occlusion": "tau with occlusion",
                                                     "ms": "ms per explanation"})))


if __name__ == "__main__":
    main()
