"""The REST API: FastAPI over `inference.Predictor`.

    python -m sentiment_core serve --run R [--host 127.0.0.1] [--port 8000] [--workers N]
    uvicorn sentiment_core.serving.api:create_app --factory       # the same app, SENTIMENT_SERVE_RUN=R

Endpoints: `GET /health`, `GET /models`, `POST /predict`, `POST /explain`; OpenAPI docs at `/docs`. Each
worker process loads its model at start-up and builds its own batcher and explanation processes.

The modules, after FastAPI's "bigger applications": `schemas` (request and response models), `routers/`
(one per area), `service` (the per-app state routes get through `Depends`), `batching` (the micro-batcher
behind /predict), `explain_pool` (explanations in processes of their own: 503 when full, 504 past the time
limit), `runtime` (torch or onnxruntime), `security` (the API key, the body guard), `errors` (every error a
4xx that says what to fix; anything else a logged 500), `app` (`create_app`, the lifespan, `serve`).
"""

from sentiment_core.serving.api.app import check_address, create_app, serve
from sentiment_core.serving.api.batching import MicroBatcher
from sentiment_core.serving.api.errors import ApiError
from sentiment_core.serving.api.explain_pool import ExplainPool
from sentiment_core.serving.api.service import Service

__all__ = ["ApiError", "check_address", "ExplainPool", "MicroBatcher", "Service", "create_app", "serve"]
