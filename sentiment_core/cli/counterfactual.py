"""`counterfactual`: the smallest edits that would flip a model's prediction."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sentiment_core.cli.common import add_model_options, load_model, progress_bar
from sentiment_core.core.errors import InputError
from sentiment_core.core.jsonio import dumps


def _counterfactual(args: argparse.Namespace) -> int:
    from sentiment_core.explain.counterfactual import MAX_COUNTERFACTUALS, counterfactual_file, counterfactuals

    if (args.text is None) == (args.file is None):
        raise InputError("Give one review TEXT, or --file reviews.csv with --out counterfactuals.jsonl (not both).")
    if args.file and not args.out:
        raise InputError("--file needs --out counterfactuals.jsonl: the file the edited reviews are written to, one "
                         "JSON line per row (an interrupted run continues where it stopped).")
    if args.out and not args.file:
        raise InputError("--out goes with --file; for one TEXT the edited reviews are printed.")
    if not 1 <= args.n <= MAX_COUNTERFACTUALS:
        raise InputError(f"--n must be from 1 to {MAX_COUNTERFACTUALS}, got {args.n}.")
    predictor = load_model(args)
    if args.file:
        if Path(args.out).is_file():
            print(f"continuing {args.out} where it stopped (or refusing it if it holds another request)",
                  file=sys.stderr)
        result = counterfactual_file(predictor, args.file, args.out, target=args.target, n=args.n,
                                     progress=progress_bar("editing", "row"), model=predictor.name)
        print(dumps(result.to_dict(), indent=2))
        return 0
    for found in counterfactuals(predictor, args.text, target=args.target, n=args.n):
        print(dumps({"model": predictor.name, **found.to_dict()}))
    return 0


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "counterfactual", help="the smallest edits that flip a prediction (JSON lines)",
        description="Search for the smallest edits of a review that make the model predict the target class "
        "(default: the other one): negations inserted or removed, words replaced by their opposites, ratings "
        "turned over, intensifiers turned down; deletions only as a last resort. One JSON line per edited review: "
        "text, edited, edits (start, end, old, new, kind; spans into the text as typed), target, label_before, "
        "label_after, probability_before and probability_after (of the target), flipped, deletions, "
        "share_changed, seconds, message. With --file, every row of a CSV into --out.",
    )
    parser.add_argument("text", nargs="?", metavar="TEXT", help="review text (or use --file)")
    add_model_options(parser)
    parser.add_argument("--target", choices=["positive", "negative"],
                        help="the class the edited review should get (default: the one not predicted)")
    parser.add_argument("--n", type=int, default=1, metavar="N",
                        help="how many diverse edited reviews, no word edited in two of them (default 1, at most 5)")
    parser.add_argument("--file", metavar="F.csv", help="edit every row of a CSV with a 'text' or 'review' column")
    parser.add_argument("--out", metavar="F.jsonl", help="with --file: where the edited reviews go (JSON lines)")
    parser.set_defaults(handler=_counterfactual)
