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


def _train(args: argparse.Namespace) -> int:
    from sentiment_core.training import TrainConfig, train

    config = TrainConfig(
        model=args.model, loss=args.loss, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        max_length=args.max_length, max_train_samples=args.max_train_samples,
        max_eval_samples=args.max_eval_samples, max_test_samples=args.max_test_samples, seed=args.seed,
        run_id=args.run_id, backbone=args.backbone, data=args.data, report_to=args.report_to,
        resume=args.resume, eval_steps=args.eval_steps, early_stopping_patience=args.early_stopping_patience,
        vocab_size=args.vocab_size, min_frequency=args.min_frequency,
    )
    run_dir = train(config)
    _print_run_result(run_dir)
    return 0


def _print_run_result(run_dir) -> None:
    from sentiment_core import runs

    status = runs.read_status(run_dir)
    print(f"run directory: {run_dir}")
    print(f"state: {status.get('state')}")
    report = runs.read_json(run_dir / runs.EVAL_FILE)
    if report:
        test = report["test"]
        summary = {k: round(test[k], 4) for k in ("accuracy", "precision", "recall", "f1", "roc_auc", "bce")}
        summary["per_length_bucket_accuracy"] = {b["label"]: round(b["accuracy"], 4) for b in test["length_buckets"]}
        print("test metrics:", json.dumps(summary, indent=2))
    elif status.get("state") == "stopped":
        print(f"resume with: python -m sentiment_core train --resume --run-id {run_dir.name}")


def _runs_list(args: argparse.Namespace) -> int:
    from sentiment_core.runs import list_runs

    table = list_runs()
    if table.empty:
        print("no runs yet: start one with `python -m sentiment_core train --model bow`")
        return 0
    columns = ["run_id", "family", "loss", "state", "best_val_accuracy", "test_accuracy", "duration_s", "created"]
    print(table[[c for c in columns if c in table]].to_string(index=False))
    return 0


def _runs_stop(args: argparse.Namespace) -> int:
    from sentiment_core.runs import request_stop

    print(f"asked {args.run_id} to stop: {request_stop(args.run_id)}")
    return 0


def _runs_delete(args: argparse.Namespace) -> int:
    from sentiment_core.runs import delete_run

    delete_run(args.run_id)
    print(f"deleted {args.run_id}")
    return 0


def _add_train_parser(commands) -> None:
    from sentiment_core.losses import LOSSES
    from sentiment_core.training import FAMILIES, FAMILY_DEFAULTS, REPORT_TO

    defaults = "; ".join(
        f"{family}: epochs {d['epochs']}, batch {d['batch_size']}, lr {d['lr']}, max length {d['max_length']}"
        for family, d in FAMILY_DEFAULTS.items()
    )
    train = commands.add_parser(
        "train",
        help="train a model into a run directory",
        description="Train one model on IMDB into SENTIMENT_MODELS_DIR/<run-id>/ and print its test metrics. "
        f"Family defaults: {defaults}.",
    )
    train.add_argument("--model", choices=FAMILIES, default="bow", help="model family (default: bow)")
    train.add_argument("--loss", choices=LOSSES, default="bce", help="training loss (default: bce)")
    train.add_argument("--epochs", type=float, help="passes over the training data (family default)")
    train.add_argument("--batch-size", type=int, help="reviews per step and device (family default)")
    train.add_argument("--lr", type=float, help="peak learning rate, linear decay (family default)")
    train.add_argument("--max-length", type=int, help="tokens read per review; longer ones are truncated")
    train.add_argument("--max-train-samples", type=int, metavar="N", help="train on a seeded random subset of N reviews")
    train.add_argument("--max-eval-samples", type=int, metavar="N", help="validate on a seeded random subset of N reviews")
    train.add_argument("--max-test-samples", type=int, metavar="N", help="test on a seeded random subset of N reviews")
    train.add_argument("--seed", type=int, default=42, help="seed of the subset, the initial weights and the order")
    train.add_argument("--run-id", help="run folder name (default: <family>-<loss>-<timestamp>)")
    train.add_argument("--backbone", help="pretrained family: hub id or local model folder (default distilbert-base-uncased)")
    train.add_argument("--data", metavar="SRC", help="IMDB source (default: IMDB_DATA)")
    train.add_argument("--report-to", choices=REPORT_TO, default="none", help="experiment tracker (default: none)")
    train.add_argument("--resume", action="store_true", help="continue --run-id from its last checkpoint")
    train.add_argument("--eval-steps", type=int, metavar="N", help="evaluate on validation every N steps (default: each epoch)")
    train.add_argument("--early-stopping-patience", type=int, metavar="N", help="stop after N evaluations without improvement")
    train.add_argument("--vocab-size", type=int, help="word tokenizer vocabulary size (bow/lstm/transformer)")
    train.add_argument("--min-frequency", type=int, help="word tokenizer minimum word count")
    train.set_defaults(handler=_train)


def _add_runs_parser(commands) -> None:
    runs_parser = commands.add_parser("runs", help="list, stop or delete runs", description="Manage training runs.")
    runs_commands = runs_parser.add_subparsers(dest="runs_command", metavar="SUBCOMMAND", required=True)
    listing = runs_commands.add_parser("list", help="table of all runs", description="Print a table of all runs.")
    listing.set_defaults(handler=_runs_list)
    stop = runs_commands.add_parser("stop", help="ask a run to stop cleanly", description="Write the run's STOP file.")
    stop.add_argument("run_id")
    stop.set_defaults(handler=_runs_stop)
    delete = runs_commands.add_parser("delete", help="delete a finished run", description="Delete a run folder.")
    delete.add_argument("run_id")
    delete.set_defaults(handler=_runs_delete)


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
    _add_train_parser(commands)
    _add_runs_parser(commands)
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
