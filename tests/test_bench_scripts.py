"""The benchmark scripts' own helpers (their figures are measured by running them, not here)."""

import importlib.util
import sys
from pathlib import Path

import pandas as pd

from tests.conftest import write_parquet_dir

BENCH = Path(__file__).resolve().parents[1] / "bench"


def bench_module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_load_mix_finds_its_long_review_or_falls_back(tmp_path):
    load_test = bench_module("load_test")
    data = write_parquet_dir(tmp_path / "data", n_train=20, n_test=10)
    texts = list(pd.read_parquet(data / "test.parquet")["text"])
    assert load_test.long_review(str(data), 5) in texts
    fallback = load_test.long_review(str(tmp_path / "missing"), 50)  # unreadable source: hand-written words
    assert len(fallback.split()) == 50
    assert load_test.reviews(str(tmp_path / "missing"), 3)


def test_the_counterfactual_benchmark_summarizes_and_judges():
    bench = bench_module("counterfactuals")
    edit = {"start": 0, "end": 4, "old": "good", "new": "bad", "kind": "antonym"}
    results = [{"flipped": True, "deletions": False, "share_changed": 0.02, "seconds": 0.5, "edits": [edit]},
               {"flipped": True, "deletions": True, "share_changed": 0.04, "seconds": 1.5,
                "edits": [{**edit, "kind": "deletion"}]},
               {"flipped": False, "deletions": False, "share_changed": 0.1, "seconds": 2.5, "edits": []}]
    figures = bench.summarize(results)
    assert figures["flip_rate"] == 2 / 3 and figures["median_share_changed"] == 0.03
    assert figures["meaning_share"] == 0.5 and figures["median_seconds"] == 1.5
    assert figures["edits_by_kind"] == {"antonym": 1, "deletion": 1}
    lines = bench.verdict("bow", figures)
    assert lines[0].startswith("flip_rate >= 0.95: missed") and "median seconds <= 1.0: missed" in lines[-1]
