"""What every command shares: the model options (--model, --run, --labels, long-text reading), the default
model, progress bars and a run's result."""

from __future__ import annotations

import argparse
import sys

from sentiment_core.core.errors import InputError
from sentiment_core.core.jsonio import dumps
from sentiment_core.data.reading import LONG_TEXT
from sentiment_core.training.options import check_option


def print_run_result(run_dir) -> None:
    from sentiment_core.core import runs

    status = runs.read_status(run_dir)
    print(f"run directory: {run_dir}")
    print(f"state: {status.get('state')}")
    report = runs.read_json(run_dir / runs.EVAL_FILE)
    if report:
        test = report["test"]
        summary = {k: round(test[k], 4) for k in ("accuracy", "precision", "recall", "f1", "roc_auc", "bce")}
        summary["per_length_bucket_accuracy"] = {b["label"]: round(b["accuracy"], 4) for b in test["length_buckets"]}
        print("test metrics:", dumps(summary, indent=2))
    elif status.get("state") == "stopped":
        print(f"resume with: python -m sentiment_core train --resume --run-id {run_dir.name}")


MODEL_HELP = ("model source: a run id, a folder holding a Hugging Face sequence-classification checkpoint (an export "
              "of this project or any fine-tuned BERT, RoBERTa, DeBERTa, ... model), or a hub id org/name[@revision] "
              "(default: the finished run whose test accuracy is highest at 95%% confidence, so a run scored on a "
              "few reviews does not win)")


def add_model_options(parser: argparse.ArgumentParser, reading: bool = True) -> None:
    from sentiment_core.inference.labels import SYNTAX_HELP

    parser.add_argument("--model", metavar="SRC", help=MODEL_HELP)
    parser.add_argument("--run", metavar="RUN", help="a run id (the same as --model RUN)")
    parser.add_argument("--labels", metavar="SPEC", help="how the model's classes map onto negative/positive, when "
                        "its labels do not say (e.g. 'negative,neutral,positive' or '0=negative,1=positive'). "
                        + SYNTAX_HELP)
    if not reading:
        return
    parser.add_argument("--long-text", choices=LONG_TEXT, help="how a review longer than the model reads is read: "
                        "truncate, head_tail or windows (default: the run's own setting; truncate for other models)")
    parser.add_argument("--head-tokens", type=int, metavar="K", help="head_tail: tokens kept from the start "
                        "(default: a quarter of the model's max length)")
    parser.add_argument("--window-stride", type=int, metavar="N", help="windows: tokens from one window's start "
                        "to the next (default: half a window)")


def requested_source(args: argparse.Namespace) -> str | None:
    """--model, else --run (a run id, never a path), else None; both at once must agree."""
    from sentiment_core.core.runs import validate_run_id

    if args.model and args.run and args.model != args.run:
        raise InputError(f"Give --model or --run, not both (got --model {args.model} and --run {args.run}).")
    if args.run:
        validate_run_id(args.run)
    return args.model or args.run


def model_source(args: argparse.Namespace) -> str:
    """--model, else --run, else the best finished run (`default_model.finished_runs`), saying why."""
    from sentiment_core.inference.default_model import chosen_source, why_chosen

    requested = requested_source(args)
    source = chosen_source(requested)
    if requested is None:
        print(why_chosen(source), file=sys.stderr)
    return source


def load_model(args: argparse.Namespace):
    from sentiment_core.inference.sources import load_predictor

    predictor = load_predictor(model_source(args), labels=args.labels, progress=progress_bar("downloading", "B"))
    return reading(predictor, args)


def reading(predictor, args: argparse.Namespace):
    """The predictor reading long reviews as --long-text (and --head-tokens, --window-stride) say."""
    if args.long_text is None and args.head_tokens is None and args.window_stride is None:
        return predictor
    for name in ("head_tokens", "window_stride"):
        if getattr(args, name) is not None:
            check_option(name, getattr(args, name))
    return predictor.with_reading(args.long_text, args.head_tokens, args.window_stride)


def progress_bar(description: str, unit: str):
    """A progress(done, total) callback drawing a tqdm bar on stderr."""
    from tqdm.auto import tqdm

    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit=unit, unit_scale=unit == "B", desc=description, file=sys.stderr)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return progress
