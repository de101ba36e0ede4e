"""Commands about data and training: `data info`, `train`, `runs list|stop|delete`, `compare-losses` (an A/B of
the loss or, with --vary, of any shared training setting)."""

from __future__ import annotations

import argparse

from sentiment_core.cli.common import print_run_result
from sentiment_core.core.jsonio import dumps


def _data_info(args: argparse.Namespace) -> int:
    import datasets

    from sentiment_core.data.imdb import data_info

    datasets.disable_progress_bars()
    print(dumps(data_info(args.data), indent=2))
    return 0


def _train(args: argparse.Namespace) -> int:
    from sentiment_core.training.options import from_arguments
    from sentiment_core.training.run import train

    run_dir = train(from_arguments(args))
    print_run_result(run_dir)
    return 0


def _runs_list(args: argparse.Namespace) -> int:
    from sentiment_core.core.runs import list_runs

    table = list_runs()
    if table.empty:
        print("no runs yet: start one with `python -m sentiment_core train --model bow`")
        return 0
    columns = ["run_id", "family", "loss", "state", "best_val_accuracy", "test_accuracy", "duration_s", "created"]
    print(table[[c for c in columns if c in table]].to_string(index=False, na_rep="–"))  # no loss: an evaluation run
    return 0


def _runs_stop(args: argparse.Namespace) -> int:
    from sentiment_core.core.runs import request_stop

    print(f"asked {args.run_id} to stop: {request_stop(args.run_id)}")
    return 0


def _runs_delete(args: argparse.Namespace) -> int:
    from sentiment_core.core.runs import delete_run

    delete_run(args.run_id)
    print(f"deleted {args.run_id}")
    return 0


def add_train_parser(commands) -> None:
    from sentiment_core.training.options import CLI_OPTIONS, FAMILY_DEFAULTS, add_arguments

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
    add_arguments(train, CLI_OPTIONS)
    train.set_defaults(handler=_train)


def add_runs_parser(commands) -> None:
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


def _compare_losses(args: argparse.Namespace) -> int:
    import datasets

    from sentiment_core.evaluation import compare
    from sentiment_core.training.options import SHARED_OPTIONS

    datasets.disable_progress_bars()
    if args.stop:
        status = compare.request_stop(args.stop)
        print(f"asked comparison {args.stop} to stop (state: {status.get('state')}); "
              f"continue it with: python -m sentiment_core compare-losses --resume {args.stop}")
        return 0
    options = {name: getattr(args, name) for name in SHARED_OPTIONS}
    options = {k: v for k, v in options.items() if v is not None and v is not False}  # left off: the default
    if args.loss is not None:
        if args.vary is None or args.losses is not None:
            from sentiment_core.core.errors import InputError

            raise InputError("--loss fixes the loss of every run when --vary changes another setting; to compare "
                             "losses give --losses a,b (or --vary loss=a,b).")
        options["loss"] = args.loss
    if args.resume:  # the training options given again replace the plan's while nothing has trained yet
        plan = compare.revise_plan(args.resume, options)
    else:
        plan = compare.make_plan(args.model, args.losses, args.seeds, first_seed=args.seed,
                                 comparison_id=args.id, vary=args.vary, **options)
    # Everything is checked before anything is written or started: a refused comparison leaves no trace.
    compare.check_parallel(args.parallel, args.in_process)
    compare.check_plan(plan, in_process=args.in_process)
    compare.create_comparison(plan, revised=bool(args.resume))
    comparison_id = plan["comparison_id"]
    path = compare.comparison_path(comparison_id)
    if args.background:
        process = compare.launch_comparison(comparison_id, parallel=args.parallel)
        compare.wait_started(comparison_id, process)
        print(f"comparison {comparison_id} started in process {process.pid}; log: {path / compare.LOG_FILE}")
        print(f"stop it with: python -m sentiment_core compare-losses --stop {comparison_id}")
        return 0
    print(f"comparison {comparison_id}: {path}", flush=True)
    result = compare.run_comparison(comparison_id, in_process=args.in_process, parallel=args.parallel,
                                    log=lambda line: print(line, flush=True))
    _print_comparison(result)
    return 1 if result.get("state") == "failed" else 0


def _print_comparison(result: dict) -> None:
    import pandas as pd

    from sentiment_core.evaluation import compare

    print(f"state: {result.get('state')} ({sum(r['state'] == 'finished' for r in result['runs'])}/"
          f"{len(result['runs'])} runs finished)")
    if result.get("status", {}).get("error"):
        print(f"error: {result['status']['error']}")
    results = result.get("results")
    if not results:
        print(f"no results yet: {result.get('results_problem')}")
        if result.get("state") == "stopped":
            print(f"resume with: python -m sentiment_core compare-losses --resume {result['comparison_id']}")
        return
    setting = results.get("setting", "loss")
    table = compare.metrics_table(results)[["arm", "runs", "accuracy", "f1", "roc_auc", "bce", "ece"]]
    print(f"test metrics (mean ± std over seeds), one row per {setting}:")
    print(table.rename(columns={"arm": setting}).to_string(index=False))
    if results.get("time"):
        times = {name: {k: (v["mean"] if v["mean"] is not None else float("nan")) for k, v in row.items()}
                 for name, row in results["time"].items()}
        print("training time, seconds (mean over seeds; total = training + augmentation):")
        print(pd.DataFrame(times).T.round(1).to_string())
    buckets = compare.buckets_frame(results).pivot(index="label", columns="group", values="mean")
    print("test accuracy per review length (token quartiles):")
    print(buckets.round(4).to_string())
    behaviour = compare.behaviour_table(result)
    if not behaviour.empty:
        print("behaviour tests, failure rate (mean over seeds):")
        print(behaviour.to_string(index=False, float_format=lambda v: f"{v:.1%}"))
    held_out = compare.behaviour_held_out_table(result)
    if not held_out.empty:
        print("behaviour tests on the held-out words (counterfactual augmentation never uses them), failure rate "
              "(mean over seeds):")
        print(held_out.to_string(index=False, float_format=lambda v: f"{v:.1%}"))
    print(results["note"])
    print("verdict:", results["verdict"]["text"])
    for sentence in (result.get("behaviour_verdict") or {}).get("sentences", []):
        print("behaviour:", sentence)
    print(f"comparison.json: {compare.comparison_path(result['comparison_id']) / compare.COMPARISON_FILE}")


def add_compare_parser(commands) -> None:
    from sentiment_core.evaluation.compare import DEFAULT_LOSSES, DEFAULT_SEEDS
    from sentiment_core.training.options import SHARED_OPTIONS, add_arguments

    compare = commands.add_parser(
        "compare-losses",
        help="A/B of one training setting (the loss by default, or --vary SETTING=A,B): one run per value and seed, "
        "judged on unweighted test metrics and the behaviour suite",
        description="Train one run per loss (or per value of the --vary setting) and seed with everything else "
        "identical (same data, same initial weights per seed), one after another, then write "
        "SENTIMENT_MODELS_DIR/comparisons/<id>/comparison.json: mean ± std of test accuracy, F1, ROC-AUC and "
        "unweighted BCE, accuracy per review-length quartile, calibration, McNemar and paired t-tests, convergence, "
        "a verdict, and the behaviour suite per arm with its failure rates on the held-out words. A comparison that "
        "was stopped or crashed continues with --resume ID.",
    )
    add_arguments(compare, ["model"], defaults={"model": "transformer"})
    compare.add_argument("--losses", default=None,
                         help=f"comma-separated losses to compare (default: {','.join(DEFAULT_LOSSES)}); the same "
                         "as --vary loss=A,B")
    compare.add_argument("--vary", metavar="SETTING=A,B", help="the training setting the arms differ in and its "
                         "values, e.g. augment=none,counterfactual or lr=0.001,0.003 (any option below, or loss)")
    add_arguments(compare, ["loss"], defaults={"loss": None})  # with --vary: one loss for every run (default bce)
    compare.add_argument("--seeds", default=str(DEFAULT_SEEDS), help="how many seeds (3: --seed, --seed+1, "
                         f"--seed+2) or a comma-separated list (1,7,9); default {DEFAULT_SEEDS}")
    compare.add_argument("--seed", type=int, help="first seed when --seeds is a count (default: SENTIMENT_SEED)")
    add_arguments(compare, SHARED_OPTIONS)
    compare.add_argument("--id", help="comparison id (default: cmp-<family>-<timestamp>); the same id and "
                         "settings again resume it")
    compare.add_argument("--resume", metavar="ID", help="continue comparison ID: keep finished runs, resume stopped "
                         "ones from their checkpoint, start the missing ones")
    compare.add_argument("--stop", metavar="ID", help="ask comparison ID to stop: the run in progress saves a "
                         "checkpoint and stops, no other run starts")
    compare.add_argument("--parallel", type=int, default=1, metavar="N",
                         help="runs trained at the same time (default 1: one after another)")
    compare.add_argument("--background", action="store_true",
                         help="run the comparison in its own process (log in the comparison folder) and return")
    compare.add_argument("--in-process", action="store_true",
                         help="train the runs in this process instead of one process per run "
                         "(a stop then acts between runs)")
    compare.set_defaults(handler=_compare_losses)


def add_data_parser(commands) -> None:
    data = commands.add_parser("data", help="inspect the IMDB data source", description="Inspect the IMDB data source.")
    data_commands = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    info = data_commands.add_parser(
        "info", help="rows per split and label, as JSON",
        description="Print, as JSON, the row count and the count of each label per split (train, validation, test) "
        "of the data source.",
    )
    info.add_argument("--data", metavar="SRC", default=None, help="hub id, parquet folder, aclImdb folder or CSV "
                      "(default: IMDB_DATA, else stanfordnlp/imdb)")
    info.set_defaults(handler=_data_info)
