"""The command line: `python -m sentiment_core <command> ...` (`--help` on every command)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from collections.abc import Sequence

from sentiment_core.core.errors import InputError, RunError, SentimentError
from sentiment_core.core.jsonio import dumps
from sentiment_core.training.options import check_option
from sentiment_core.data.reading import LONG_TEXT


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
    _print_run_result(run_dir)
    return 0


def _print_run_result(run_dir) -> None:
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


def _runs_list(args: argparse.Namespace) -> int:
    from sentiment_core.core.runs import list_runs

    table = list_runs()
    if table.empty:
        print("no runs yet: start one with `python -m sentiment_core train --model bow`")
        return 0
    columns = ["run_id", "family", "loss", "state", "best_val_accuracy", "test_accuracy", "duration_s", "created"]
    print(table[[c for c in columns if c in table]].to_string(index=False))
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


MODEL_HELP = ("model source: a run id, a folder holding a Hugging Face sequence-classification checkpoint (an export "
              "of this project or any fine-tuned BERT, RoBERTa, DeBERTa, ... model), or a hub id org/name[@revision] "
              "(default: the finished run with the best test accuracy)")


def _add_model_options(parser: argparse.ArgumentParser, reading: bool = True) -> None:
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


def _model_source(args: argparse.Namespace) -> str:
    """--model, else --run, else the finished run with the best test accuracy."""
    from sentiment_core.inference.default_model import best_run_id

    from sentiment_core.core.runs import validate_run_id

    if args.model and args.run and args.model != args.run:
        raise InputError(f"Give --model or --run, not both (got --model {args.model} and --run {args.run}).")
    if args.run:
        validate_run_id(args.run)  # --run is a run id, never a path
    source = args.model or args.run or best_run_id()
    if source is None:
        raise RunError("No finished run to use and no --model given: train one first "
                       "(python -m sentiment_core train --model bow), or pass --model with a checkpoint folder or hub id.")
    return source


def _load_model(args: argparse.Namespace):
    from sentiment_core.inference.sources import load_predictor

    predictor = load_predictor(_model_source(args), labels=args.labels, progress=_progress_bar("downloading", "B"))
    return _reading(predictor, args)


def _reading(predictor, args: argparse.Namespace):
    """The predictor reading long reviews as --long-text (and --head-tokens, --window-stride) say."""
    if args.long_text is None and args.head_tokens is None and args.window_stride is None:
        return predictor
    for name in ("head_tokens", "window_stride"):
        if getattr(args, name) is not None:
            check_option(name, getattr(args, name))
    return predictor.with_reading(args.long_text, args.head_tokens, args.window_stride)


def _progress_bar(description: str, unit: str):
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


def _predict(args: argparse.Namespace) -> int:
    from sentiment_core.inference.files import predict_records, read_reviews_csv

    if not args.texts and not args.file:
        raise InputError("Give one or more review texts, or --file reviews.csv.")
    rows = [("argument", index, text) for index, text in enumerate(args.texts)]
    if args.file:
        frame, column = read_reviews_csv(args.file)  # refused before the model loads
        rows += [("file", int(index), "" if text != text else str(text)) for index, text in frame[column].items()]
    predictor = _load_model(args)
    records = predict_records(predictor, [text for _, _, text in rows[:len(args.texts)]])  # as typed: float32
    records += predict_records(predictor, [text for _, _, text in rows[len(args.texts):]], batch=True)  # a file
    for (origin, index, text), record in zip(rows, records):
        print(dumps({"model": predictor.name, "input": origin, "row": index, "text": text, **record}))
    return 0


def _explain(args: argparse.Namespace) -> int:
    from sentiment_core.explain.attribution import explain
    from sentiment_core.explain.methods import check_steps, default_method

    if (args.text is None) == (args.file is None):
        raise InputError("Give one review TEXT, or --file reviews.csv with --out explanations.jsonl (not both).")
    if not args.file and (args.out or args.html):
        raise InputError("--out and --html go with --file; for one TEXT the explanation is printed.")
    if args.file and not args.out:
        raise InputError("--file needs --out explanations.jsonl: the file the explanations are written to, one "
                         "JSON line per row (an interrupted export continues where it stopped).")
    if args.steps is not None and args.method:
        check_steps(args.steps, args.method)  # refused before the model loads
    predictor = _load_model(args)
    args.method = args.method or default_method(predictor.family)
    check_steps(args.steps, args.method)
    if args.file:
        return _explain_file(args, predictor)
    (explanation,) = explain(predictor, [args.text], method=args.method, target=args.target, baseline=args.baseline,
                             steps=args.steps)
    print(dumps({"model": predictor.name, "run": predictor.run_id, **explanation.to_dict()}, indent=2))
    return 0


def _explain_file(args: argparse.Namespace, predictor) -> int:
    from sentiment_core.explain.files import explain_file, export_state

    if Path(args.out).is_file():
        state = export_state(args.out)
        if state["state"] == "failed":
            print(f"continuing an interrupted export after row {state['rows_written']} of {state['rows']} (the process "
                  "writing it ended: killed or crashed)", file=sys.stderr)
    result = explain_file(predictor, args.file, args.out, method=args.method, target=args.target, steps=args.steps,
                          baseline=args.baseline, html_path=args.html, progress=_progress_bar("explaining", "row"), model=predictor.name)
    print(dumps(result.to_dict(), indent=2))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from sentiment_core.evaluation.evaluate_model import evaluate_model

    run_dir = evaluate_model(_model_source(args), max_test_samples=args.max_test_samples, run_id=args.run_id,
                             labels=args.labels, data=args.data, seed=args.seed, long_text=args.long_text,
                             head_tokens=args.head_tokens, window_stride=args.window_stride)
    _print_run_result(run_dir)
    return 0


def _check(args: argparse.Namespace) -> int:
    from sentiment_core.evaluation import behaviour

    result = behaviour.check_model(_model_source(args), labels=args.labels, tests=args.tests, seed=args.seed,
                                   progress=_progress_bar("behaviour tests", "text"))
    print(dumps(result.to_dict(), indent=2) if args.json else behaviour.format_suite(result))
    return 0


def _add_predict_parsers(commands) -> None:
    from sentiment_core.explain.methods import BASELINES, MAX_STEPS, METHODS

    predict = commands.add_parser(
        "predict", help="predict the sentiment of reviews (JSON lines)",
        description="Predict each TEXT and each row of --file with a model; one JSON object per line, the same keys "
        "for every line: model, input (argument or file), row, text, label, probability (of positive), "
        "truncated, tokens_read, total_tokens, read_until, notes, class_probabilities. An empty review gets "
        "label and probability null and a note; the others are still predicted.",
    )
    predict.add_argument("texts", nargs="*", metavar="TEXT", help="review texts")
    _add_model_options(predict)
    predict.add_argument("--file", metavar="F.csv", help="CSV with a 'text' or 'review' column")
    predict.set_defaults(handler=_predict)
    explain = commands.add_parser(
        "explain", help="which words drove a prediction (JSON)",
        description="Word-level attributions (Captum) for one review: label, probability, words with scores "
        "(log-odds toward the target class) and character spans, and the convergence delta. With --file, every "
        "row of a CSV into --out (JSON lines; resumes after an interruption) and optionally an HTML report.",
    )
    explain.add_argument("text", nargs="?", metavar="TEXT", help="review text (or use --file)")
    _add_model_options(explain)
    explain.add_argument("--method", choices=METHODS, help="attribution method (default: the model family's, "
                         "chosen on measured faithfulness: gradient_x_input for bow, integrated_gradients otherwise)")
    explain.add_argument("--target", choices=["positive", "negative"], help="class to explain (default: the predicted one)")
    explain.add_argument("--steps", type=int, metavar="N", help=f"IG steps / GradientSHAP or LIME samples / occlusion "
                         f"window, 1 to {MAX_STEPS} (default: the method's)")
    explain.add_argument("--baseline", choices=BASELINES, default="empty", help="what a removed word becomes: "
                         "empty (the empty review, which a model may already judge strongly) or undecided (the point "
                         "between the empty review and this one where the model's log-odds are 0); default empty")
    explain.add_argument("--file", metavar="F.csv", help="explain every row of a CSV with a 'text' or 'review' column")
    explain.add_argument("--out", metavar="F.jsonl", help="with --file: where the explanations go (JSON lines)")
    explain.add_argument("--html", metavar="REPORT.html", help="with --file: also write a self-contained HTML report")
    explain.set_defaults(handler=_explain)
    evaluate = commands.add_parser(
        "evaluate", help="score any model source on the IMDB test split into an evaluation run",
        description="Predict the IMDB test split (or a seeded subset) with a model source and write an "
        "evaluation-only run directory (run.json with the source and its revision, eval.json, predictions.csv, "
        "state finished): it sits in the runs table beside trained runs and can be compared with them.",
    )
    _add_model_options(evaluate)
    evaluate.add_argument("--max-test-samples", type=int, metavar="N", help="score a seeded random subset of N test reviews")
    evaluate.add_argument("--run-id", help="run folder name (default: eval-<source name>-<timestamp>)")
    evaluate.add_argument("--data", metavar="SRC", help="IMDB source (default: IMDB_DATA)")
    evaluate.add_argument("--seed", type=int, help="seed of the test subset (default: SENTIMENT_SEED)")
    evaluate.set_defaults(handler=_evaluate)
    check = commands.add_parser(
        "check", help="behaviour tests: negation, contrast, intensity, typos, names ... (failure rates)",
        description="Run the behaviour suite (minimum functionality, invariance and directional tests generated "
        "from templates) on a model and print each test's failure rate; results are cached per model.",
    )
    _add_model_options(check, reading=False)  # its texts are short: every reading reads them whole
    check.add_argument("--tests", metavar="NAMES", help="comma-separated test names or capabilities (default: all)")
    check.add_argument("--seed", type=int, default=0, help="seed of the generated cases (default 0)")
    check.add_argument("--json", action="store_true", help='print {"model": ..., "tests": [...]} as JSON')
    check.set_defaults(handler=_check)


def _add_train_parser(commands) -> None:
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


def _compare_losses(args: argparse.Namespace) -> int:
    import datasets

    from sentiment_core.evaluation import compare
    from sentiment_core.data.imdb import load_imdb
    from sentiment_core.training.options import SHARED_OPTIONS

    datasets.disable_progress_bars()
    if args.stop:
        status = compare.request_stop(args.stop)
        print(f"asked comparison {args.stop} to stop (state: {status.get('state')}); "
              f"continue it with: python -m sentiment_core compare-losses --resume {args.stop}")
        return 0
    if args.resume:
        comparison_id = args.resume
        compare.read_plan(comparison_id)
    else:
        options = {name: getattr(args, name) for name in SHARED_OPTIONS}
        plan = compare.make_plan(args.model, args.losses, args.seeds, first_seed=args.seed,
                                 comparison_id=args.id, **options)
        load_imdb(plan["options"].get("data"))  # a bad source is refused before anything is written
        compare.create_comparison(plan)
        comparison_id = plan["comparison_id"]
    path = compare.comparison_path(comparison_id)
    if args.background:
        process = compare.launch_comparison(comparison_id, parallel=args.parallel)
        print(f"comparison {comparison_id} started in process {process.pid}; log: {path / compare.LOG_FILE}")
        print(f"stop it with: python -m sentiment_core compare-losses --stop {comparison_id}")
        return 0
    print(f"comparison {comparison_id}: {path}", flush=True)
    result = compare.run_comparison(comparison_id, in_process=args.in_process, parallel=args.parallel,
                                    log=lambda line: print(line, flush=True))
    _print_comparison(result)
    return 1 if result.get("state") == "failed" else 0


def _print_comparison(result: dict) -> None:
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
    table = compare.metrics_table(results)[["loss", "runs", "accuracy", "f1", "roc_auc", "bce", "ece"]]
    print("test metrics (mean ± std over seeds):")
    print(table.to_string(index=False))
    buckets = compare.buckets_frame(results).pivot(index="label", columns="group", values="mean")
    print("test accuracy per review length (token quartiles):")
    print(buckets.round(4).to_string())
    behaviour = compare.behaviour_table(result)
    if not behaviour.empty:
        print("behaviour tests, failure rate (mean over seeds):")
        print(behaviour.to_string(index=False, float_format=lambda v: f"{v:.1%}"))
    print(results["note"])
    print("verdict:", results["verdict"]["text"])
    print(f"comparison.json: {compare.comparison_path(result['comparison_id']) / compare.COMPARISON_FILE}")


def _add_compare_parser(commands) -> None:
    from sentiment_core.evaluation.compare import DEFAULT_LOSSES, DEFAULT_SEEDS
    from sentiment_core.training.options import SHARED_OPTIONS, add_arguments

    compare = commands.add_parser(
        "compare-losses",
        help="train one run per loss and seed, and judge the losses on unweighted test metrics",
        description="Train one run per loss and seed with everything else identical (same data, same initial "
        "weights per seed), one after another, then write SENTIMENT_MODELS_DIR/comparisons/<id>/comparison.json: "
        "mean ± std of test accuracy, F1, ROC-AUC and unweighted BCE, accuracy per review-length quartile, "
        "calibration, McNemar and paired t-tests, convergence and a verdict. A comparison that was stopped "
        "or crashed continues with --resume ID.",
    )
    add_arguments(compare, ["model"], defaults={"model": "transformer"})
    compare.add_argument("--losses", default=",".join(DEFAULT_LOSSES),
                         help=f"comma-separated losses to compare (default: {','.join(DEFAULT_LOSSES)})")
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
                         help="train the runs in this process instead of one process per run (a stop then acts between runs)")
    compare.set_defaults(handler=_compare_losses)


def _serve(args: argparse.Namespace) -> int:
    from sentiment_core.serving import api
    from sentiment_core.core.settings import get_settings
    from sentiment_core.inference.sources import load_predictor

    if args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    settings = get_settings()
    if args.model or args.run:
        source = _model_source(args)
    else:
        source = api.served_source(settings) or _model_source(args)
    # A clear error now rather than a failed startup (and a hub model downloaded once, before the workers
    # start); with one worker the loaded model is the one the server uses.
    loaded = load_predictor(source, progress=_progress_bar("downloading", "B"))
    print(f"serving {loaded.name} ({loaded.family}) on http://{args.host}:{args.port} (docs: /docs), "
          f"{args.workers} worker(s)", flush=True)
    api.serve(source, host=args.host, port=args.port, workers=args.workers,
              access_log=not args.no_access_log, log_level=args.log_level)
    return 0


def _export(args: argparse.Namespace) -> int:
    from sentiment_core.serving.export.folder import export_model

    report = export_model(_model_source(args), args.out, onnx=args.onnx, force=args.force)
    print(dumps(report, indent=2))
    return 0


def _add_serve_parsers(commands) -> None:
    serve = commands.add_parser(
        "serve", help="serve a model over a REST API (FastAPI + uvicorn)",
        description="Serve a model (a run, a checkpoint folder or a hub id) over HTTP: GET /health, GET /models, POST /predict, POST /explain, "
        "OpenAPI docs at /docs. Limits and the optional API key come from the settings (SENTIMENT_MAX_TEXTS, "
        "SENTIMENT_MAX_CHARS, SENTIMENT_MAX_BODY_BYTES, SENTIMENT_API_KEY).",
    )
    serve.add_argument("--model", metavar="SRC", help=MODEL_HELP.replace("(default:", "(default: SENTIMENT_SERVE_MODEL, "
                       "else"))
    serve.add_argument("--run", metavar="RUN", help="a run id (the same as --model RUN)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; 0.0.0.0 in a container)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes, each with its own model (default 1)")
    serve.add_argument("--no-access-log", action="store_true", help="do not log every request")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(handler=_serve)
    export = commands.add_parser(
        "export", help="export a model as a self-contained folder with a model card",
        description="Write the run's best model (safetensors) with its config and tokenizer, a pinned requirements "
        "file, a model card (README.md) from the run's config and test report, and a SageMaker-style code/ folder "
        "to --out; check that it loads back with identical predictions. --onnx adds onnx/model.onnx, checked "
        "against PyTorch and timed with onnxruntime.",
    )
    export.add_argument("--model", metavar="SRC", help=MODEL_HELP + "; a folder or hub id is exported from its "
                        "latest `evaluate` run, whose test metrics the model card needs")
    export.add_argument("--run", metavar="RUN", help="a run id (the same as --model RUN)")
    export.add_argument("--out", required=True, metavar="DIR", help="folder to write (must be empty or missing)")
    export.add_argument("--onnx", action="store_true", help="also export and check an ONNX model")
    export.add_argument("--force", action="store_true", help="replace an existing export in --out")
    export.set_defaults(handler=_export)


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
    _add_predict_parsers(commands)
    _add_compare_parser(commands)
    _add_serve_parsers(commands)
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
