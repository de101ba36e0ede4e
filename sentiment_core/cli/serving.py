"""Commands that serve or ship a model: `serve` (the REST API) and `export`."""

from __future__ import annotations

import argparse
import sys

from sentiment_core.cli.common import MODEL_HELP, model_source, progress_bar, requested_source
from sentiment_core.core.errors import InputError
from sentiment_core.core.jsonio import dumps


def _serve(args: argparse.Namespace) -> int:
    from sentiment_core.core.settings import get_settings
    from sentiment_core.inference.default_model import configured_source, served_source, why_chosen
    from sentiment_core.inference.sources import load_predictor
    from sentiment_core.serving import api

    if args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    api.check_address(args.host, args.port)
    requested, settings = requested_source(args), get_settings()
    source = served_source(requested, settings)
    if requested is None and configured_source(settings) is None:
        print(why_chosen(source), file=sys.stderr)
    # A clear error now rather than a failed startup (and a hub model downloaded once, before the workers
    # start); with one worker the loaded model is the one the server uses.
    loaded = load_predictor(source, progress=progress_bar("downloading", "B"))
    print(f"serving {loaded.name} ({loaded.family}) on http://{args.host}:{args.port} (docs: /docs), "
          f"{args.workers} worker(s)", flush=True)
    api.serve(source, host=args.host, port=args.port, workers=args.workers,
              access_log=not args.no_access_log, log_level=args.log_level)
    return 0


def _export(args: argparse.Namespace) -> int:
    from sentiment_core.serving.export.folder import export_model

    report = export_model(model_source(args), args.out, onnx=args.onnx, force=args.force)
    print(dumps(report, indent=2))
    return 0


def add_parsers(commands) -> None:
    serve = commands.add_parser(
        "serve", help="serve a model over a REST API (FastAPI + uvicorn)",
        description="Serve a model (a run, a checkpoint folder or a hub id) over HTTP: GET /health, GET /models, "
        "POST /predict, POST /explain, "
        "OpenAPI docs at /docs. Limits and the optional API key come from the settings (SENTIMENT_MAX_TEXTS, "
        "SENTIMENT_MAX_CHARS, SENTIMENT_MAX_BODY_BYTES, SENTIMENT_API_KEY).",
    )
    serve.add_argument("--model", metavar="SRC",
                       help=MODEL_HELP.replace("(default:", "(default: SENTIMENT_SERVE_MODEL, "
                                               "else"))
    serve.add_argument("--run", metavar="RUN", help="a run id (the same as --model RUN)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1; 0.0.0.0 in a container)")
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
