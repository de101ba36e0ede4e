"""The command line: `python -m sentiment_core <command> ...` (`--help` on every command)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from sentiment_core.cli import counterfactual, models, serving, training
from sentiment_core.core.errors import SentimentError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sentiment_core",
        description="IMDB Sentiment Studio: load data, train, evaluate, explain and serve sentiment models.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    training.add_data_parser(commands)
    training.add_train_parser(commands)
    training.add_runs_parser(commands)
    models.add_parsers(commands)
    counterfactual.add_parser(commands)
    training.add_compare_parser(commands)
    serving.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors a user can fix (SentimentError) print one clear line to stderr and exit
    with status 2. Any other exception is a bug and keeps its traceback."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except SentimentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`... | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 128 + signal.SIGPIPE
