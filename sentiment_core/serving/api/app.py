"""`create_app`: the FastAPI app, its lifespan (the model loads at start-up) and `serve` under uvicorn."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import socket
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from sentiment_core.core import runs
from sentiment_core.core.errors import InputError
from sentiment_core.core.settings import Settings, get_settings
from sentiment_core.serving.api.batching import MicroBatcher
from sentiment_core.serving.api.errors import install_handlers
from sentiment_core.serving.api.routers import counterfactual, docs, explain, health, models, predict
from sentiment_core.serving.api.security import RequestGuard, require_api_key
from sentiment_core.serving.api.service import Service

logger = logging.getLogger("sentiment_core.serving.api")


@asynccontextmanager
async def lifespan(app: FastAPI):
    """Load the model, choose its runtime, start the explanation processes and the batcher; stop them after."""
    import torch

    service: Service = app.state.service
    service.default_threads = torch.get_num_threads()
    try:
        await asyncio.to_thread(service.load)
        await asyncio.to_thread(service.choose_runtime)
        logger.info("serving %s (%s) on %s with %d thread(s); predictions run %s", service.predictor.name,
                    service.predictor.family, service.predictor.device, service.threads_for(service.predictor),
                    service.runtime_note or service.served.runtime)
        service.explainers = await asyncio.to_thread(service.explain_pool)
        service.batcher = MicroBatcher(service.predict_served, service.settings.serve_batch_size,
                                       service.settings.serve_batch_wait_ms)
        await service.batcher.start()
        service.explainers.warm_up()
        # The objects of the loaded libraries and model live as long as the server: keep them out of the
        # collector, whose full passes over them stalled every request in flight.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await service.explainers.close()
            await service.batcher.close()
    finally:
        torch.set_num_threads(service.default_threads)  # run_model changed it for the whole process


def create_app(run_id: str | None = None, *, model: str | None = None, predictor=None,
               settings: Settings | None = None) -> FastAPI:
    """The API for `model` (a model source: run id, checkpoint folder or hub id) or `run_id`, else
    SENTIMENT_SERVE_MODEL (or SENTIMENT_SERVE_RUN), else the best finished run.

    The model loads at start-up; `predictor` skips loading (tests). Pass
    `sentiment_core.serving.api:create_app` with `factory=True` to uvicorn: each worker builds its own.
    """
    settings = settings or get_settings()
    api_key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    if run_id is not None:
        runs.validate_run_id(run_id)
    app = FastAPI(
        title="IMDB Sentiment Studio API",
        version="1.0",
        description=(
            "Sentiment of English movie reviews with a trained run of the studio, and the words that drove it.\n\n"
            f"Limits: {settings.max_texts} texts per request (SENTIMENT_MAX_TEXTS), {settings.max_chars} characters "
            f"per text (SENTIMENT_MAX_CHARS), {settings.max_body_bytes} bytes per body (SENTIMENT_MAX_BODY_BYTES). "
            + ("Every endpoint but /health needs the X-API-Key header." if api_key else "")),
        lifespan=lifespan,
        docs_url=None,  # served by routers.docs, with their assets from this server
        redoc_url=None,
    )
    app.state.service = Service(settings, model or run_id, predictor)
    app.openapi = lambda: _openapi_with_limits(app, settings)
    install_handlers(app)
    guarded = [Depends(require_api_key)] if api_key else []  # declares the key in OpenAPI (the Authorize button)
    app.include_router(health.router)
    docs.install(app)
    for area in (models, predict, explain, counterfactual):
        app.include_router(area.router, dependencies=guarded)
    app.add_middleware(RequestGuard, api_key=api_key, max_body_bytes=settings.max_body_bytes)
    origins = [origin.strip() for origin in settings.cors_origins.split(",") if origin.strip()]
    if origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "X-API-Key", "Authorization"])
    return app


def _openapi_with_limits(app: FastAPI, settings: Settings) -> dict:
    """The OpenAPI schema, with this server's limits on texts (the endpoints check them with clearer messages)."""
    if app.openapi_schema is None:
        schema = FastAPI.openapi(app)
        components = schema.get("components", {}).get("schemas", {})
        text_rules = {"minLength": 1, "maxLength": settings.max_chars, "pattern": r"\S"}
        if "PredictRequest" in components:
            texts = components["PredictRequest"]["properties"]["texts"]
            texts.update(minItems=1, maxItems=settings.max_texts)
            texts["items"].update(text_rules)
        if "ExplainRequest" in components:
            components["ExplainRequest"]["properties"]["text"].update(text_rules)
        app.openapi_schema = schema
    return app.openapi_schema


def check_address(host: str, port: int) -> None:
    """An InputError unless a server could listen on host:port now: a port from 1 to 65535 that nothing holds, on an
    address of this machine (checked before a model loads, so a typo costs no start-up)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InputError(f"--port must be a whole number from 1 to 65535, got {port!r}.")
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise InputError(f"Cannot listen on --host {host!r} ({error.strerror}): give an address of this machine, "
                         "e.g. 127.0.0.1, or 0.0.0.0 for every interface.") from None
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise InputError(f"Port {port} on {host} is already in use (another server is listening there): "
                                 "stop it, or pass another --port.") from None
            raise InputError(f"Cannot listen on {host}:{port} ({error.strerror}): give an address of this machine "
                             "and a port you may use (ports below 1024 need root).") from None


def serve(model: str | None = None, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          access_log: bool = True, log_level: str = "info") -> None:
    """Run the API under uvicorn for a model source; with several workers each process loads its own model."""
    import os

    import uvicorn

    check_address(host, port)
    if model is not None:
        # Each worker process builds the app with create_app() and reads the model from its Settings:
        # the environment is how the choice reaches them.
        os.environ["SENTIMENT_SERVE_MODEL"] = model
        get_settings.cache_clear()
    uvicorn.run("sentiment_core.serving.api:create_app", factory=True, host=host, port=port, workers=workers,
                access_log=access_log, log_level=log_level)
