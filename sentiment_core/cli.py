"""The command line: `python -m sentiment_core <command> ...` (`--help` on every command)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def _data_info(args: argparse.Namespace) -> int:
    import datasets

    from sentiment_core.data import data_info

    datasets.disable_progress_bars()
    print(json.dumps(data_info(args.data), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sentiment_core",
        description="IMDB Sentiment Studio: load data, train, evaluate, explain and serve sentiment models.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = commands.add_parser("data", help="inspect the IMDB data source", description="Inspect the IMDB data source.")
    data_commands = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    info = data_commands.add_parser(
        "info",
        help="rows per split and label, as JSON",
        description="Print, as JSON, the row count and the count of each label per split "
        "(train, validation, test) of the data source.",
    )
    info.add_argument(
        "--data",
        metavar="SRC",
        default=None,
        help="hub id, parquet folder, aclImdb folder or CSV (default: IMDB_DATA, else stanfordnlp/imdb)",
    )
    info.set_defaults(handler=_data_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user errors print one clear line to stderr and exit with status 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ValueError as error:  # DataSourceError and every other bad-input error
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
