"""`create_app`: the FastAPI app, its lifespan (the model loads at start-up) and `serve` under uvicorn."""

from __future__ import annotations

import asyncio
import gc
import logging
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from sentiment_core.core import runs
from sentiment_core.core.settings import Settings, get_settings
from sentiment_core.serving.api.batching import MicroBatcher
from sentiment_core.serving.api.errors import install_handlers
from sentiment_core.serving.api.routers import explain, health, models, predict
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
    )
    app.state.service = Service(settings, model or run_id, predictor)
    app.openapi = lambda: _openapi_with_limits(app, settings)
    install_handlers(app)
    guarded = [Depends(require_api_key)] if api_key else []  # declares the key in OpenAPI (the Authorize button)
    app.include_router(health.router)
    for area in (models, predict, explain):
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


def serve(model: str | None = None, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          access_log: bool = True, log_level: str = "info") -> None:
    """Run the API under uvicorn for a model source; with several workers each process loads its own model."""
    import os

    import uvicorn

    if model is not None:
        # Each worker process builds the app with create_app() and reads the model from its Settings:
        # the environment is how the choice reaches them.
        os.environ["SENTIMENT_SERVE_MODEL"] = model
        get_settings.cache_clear()
    uvicorn.run("sentiment_core.serving.api:create_app", factory=True, host=host, port=port, workers=workers,
                access_log=access_log, log_level=log_level)
