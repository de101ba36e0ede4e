"""Commands that use a model: `predict`, `explain`, `evaluate`, `check`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sentiment_core.cli.common import add_model_options, load_model, model_source, print_run_result, progress_bar
from sentiment_core.core.errors import InputError
from sentiment_core.core.jsonio import dumps


def _predict(args: argparse.Namespace) -> int:
    from sentiment_core.inference.files import predict_records, read_reviews_csv

    if not args.texts and not args.file:
        raise InputError("Give one or more review texts, or --file reviews.csv.")
    rows = [("argument", index, text) for index, text in enumerate(args.texts)]
    if args.file:
        frame, column = read_reviews_csv(args.file)  # refused before the model loads
        rows += [("file", int(index), "" if text != text else str(text)) for index, text in frame[column].items()]
    predictor = load_model(args)
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
    predictor = load_model(args)
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
                          baseline=args.baseline, html_path=args.html, progress=progress_bar("explaining", "row"),
                          model=predictor.name)
    print(dumps(result.to_dict(), indent=2))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from sentiment_core.cli.common import requested_source
    from sentiment_core.core import runs
    from sentiment_core.evaluation import pairs as paired
    from sentiment_core.evaluation.evaluate_model import add_pairs, evaluate_model

    pair_set = paired.read_pairs(args.pairs) if args.pairs else None  # refused before the model loads
    if pair_set is not None and args.run_id and runs.run_path(args.run_id).is_dir():
        # Into the existing run, scored as it reads: options of a new evaluation would go unused, so they are refused.
        unused = [flag for flag, value in (("--max-test-samples", args.max_test_samples), ("--data", args.data),
                                           ("--seed", args.seed), ("--labels", args.labels),
                                           ("--long-text", args.long_text), ("--head-tokens", args.head_tokens),
                                           ("--window-stride", args.window_stride)) if value is not None]
        if unused:
            raise InputError(f"--run-id {args.run_id} names an existing run: --pairs adds the paired edits to it, "
                             f"scored with its model as it reads, so {', '.join(unused)} would go unused. Drop "
                             f"{'it' if len(unused) == 1 else 'them'}, or give a new --run-id for a new evaluation.")
        run_dir = add_pairs(args.run_id, pair_set, source=requested_source(args),
                            progress=progress_bar("paired edits", "review"))
    else:
        run_dir = evaluate_model(model_source(args), max_test_samples=args.max_test_samples, run_id=args.run_id,
                                 labels=args.labels, data=args.data, seed=args.seed, long_text=args.long_text,
                                 head_tokens=args.head_tokens, window_stride=args.window_stride, pairs=pair_set)
    print_run_result(run_dir)
    if pair_set is not None:
        result = next((r for r in paired.run_pairs(run_dir.name) if r.name == pair_set.name), None)
        if result is not None:  # None when the evaluation stopped before the pairs
            print(f"paired edits ({run_dir / paired.PAIRS_FILE}):", dumps(paired.summary(result), indent=2))
    return 0


def _check(args: argparse.Namespace) -> int:
    from sentiment_core.evaluation import behaviour

    result = behaviour.check_model(model_source(args), labels=args.labels, tests=args.tests, seed=args.seed,
                                   progress=progress_bar("behaviour tests", "text"))
    print(dumps(result.to_dict(), indent=2) if args.json else behaviour.format_suite(result))
    return 0


def add_parsers(commands) -> None:
    from sentiment_core.explain.methods import BASELINES, MAX_STEPS, METHODS

    predict = commands.add_parser(
        "predict", help="predict the sentiment of reviews (JSON lines)",
        description="Predict each TEXT and each row of --file with a model; one JSON object per line, the same keys "
        "for every line: model, input (argument or file), row, text, label, probability (of positive), "
        "truncated, tokens_read, total_tokens, read_until, notes, class_probabilities. An empty review gets "
        "label and probability null and a note; the others are still predicted.",
    )
    predict.add_argument("texts", nargs="*", metavar="TEXT", help="review texts")
    add_model_options(predict)
    predict.add_argument("--file", metavar="F.csv", help="CSV with a 'text' or 'review' column")
    predict.set_defaults(handler=_predict)
    explain = commands.add_parser(
        "explain", help="which words drove a prediction (JSON)",
        description="Word-level attributions (Captum) for one review: label, probability, words with scores "
        "(log-odds toward the target class) and character spans, and the convergence delta. With --file, every "
        "row of a CSV into --out (JSON lines; resumes after an interruption) and optionally an HTML report.",
    )
    explain.add_argument("text", nargs="?", metavar="TEXT", help="review text (or use --file)")
    add_model_options(explain)
    explain.add_argument("--method", choices=METHODS, help="attribution method (default: the model family's, "
                         "chosen on measured faithfulness: gradient_x_input for bow, integrated_gradients otherwise)")
    explain.add_argument("--target", choices=["positive", "negative"],
                         help="class to explain (default: the predicted one)")
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
        "state finished): it sits in the runs table beside trained runs and can be compared with them. With --pairs, "
        "a file of reviews and their edited twins is scored too (accuracy on the originals, on the edits, and "
        "consistency: both of a pair right, per edit kind) into the run's pairs.json; when --run-id names an "
        "existing finished run, only the pairs are scored, with that run's model, and added to it.",
    )
    add_model_options(evaluate)
    evaluate.add_argument("--max-test-samples", type=int, metavar="N",
                          help="score a seeded random subset of N test reviews")
    evaluate.add_argument("--run-id", help="run folder name (default: eval-<source name>-<timestamp>)")
    evaluate.add_argument("--data", metavar="SRC", help="IMDB source (default: IMDB_DATA)")
    evaluate.add_argument("--seed", type=int, help="seed of the test subset (default: SENTIMENT_SEED)")
    evaluate.add_argument("--pairs", metavar="FILE", help="also score paired edits: a CSV or TSV with columns pair "
                          "(an id shared by an original and its edited twin, the original first), text, label "
                          "(negative/positive or 0/1) and optionally kind; with the --run-id of an existing finished "
                          "run, only the pairs are scored, into that run")
    evaluate.set_defaults(handler=_evaluate)
    check = commands.add_parser(
        "check", help="behaviour tests: negation, contrast, intensity, typos, names ... (failure rates)",
        description="Run the behaviour suite (minimum functionality, invariance and directional tests generated "
        "from templates) on a model and print each test's failure rate; results are cached per model.",
    )
    add_model_options(check, reading=False)  # its texts are short: every reading reads them whole
    check.add_argument("--tests", metavar="NAMES", help="comma-separated test names or capabilities (default: all)")
    check.add_argument("--seed", type=int, default=0, help="seed of the generated cases (default 0)")
    check.add_argument("--json", action="store_true", help='print {"model": ..., "tests": [...]} as JSON')
    check.set_defaults(handler=_check)
