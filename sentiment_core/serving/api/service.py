"""The per-app state routes reach through `Depends`: the served model, its batcher and explanation pool.

Nothing is module-level: each app (each worker process) builds its own `Service` in `create_app`.
"""

from __future__ import annotations

import asyncio
import os
import threading

from fastapi import Request

from sentiment_core.core import runs
from sentiment_core.core.settings import Settings
from sentiment_core.serving.api.batching import MicroBatcher
from sentiment_core.serving.api.errors import ApiError, location
from sentiment_core.serving.api.explain_pool import ExplainPool
from sentiment_core.serving.api.runtime import choose_runtime
from sentiment_core.serving.api.schemas import HealthResponse, LimitsOut, QueuesOut


class Service:
    """Per-app state: the served predictor, its batcher, its explanation pool and the prediction
    lock. Nothing module-level."""

    def __init__(self, settings: Settings, source: str | None, predictor=None):
        self.settings = settings
        self.requested_source = source
        self.predictor = predictor
        self.served = predictor  # the predictor /predict's batches run: `predictor`, or it on onnxruntime
        self.runtime_note: str | None = None  # why auto chose torch, or the ONNX check's figures
        self.batcher: MicroBatcher | None = None
        self.explainers: ExplainPool | None = None
        self.lock = threading.Lock()  # predictions only: explanations run in their own processes
        self.default_threads = 1  # torch's own thread count, read at startup

    def load(self) -> None:
        """Load the served model: the requested source, else the settings', else the best finished run."""
        from sentiment_core.inference.default_model import served_source
        from sentiment_core.inference.sources import load_predictor

        if self.predictor is None:
            self.predictor = load_predictor(served_source(self.requested_source, self.settings))

    def choose_runtime(self) -> None:
        """Run /predict's batches on onnxruntime or torch, as SENTIMENT_SERVE_RUNTIME says (see Settings)."""
        self.served, self.runtime_note = choose_runtime(
            self.predictor, self.settings.serve_runtime, self.threads_for(self.predictor))

    def predict_served(self, texts: list[str]):
        return self.run_model(self.served, "predict", texts, batch_size=self.settings.serve_batch_size)

    def threads_for(self, predictor) -> int:
        """SENTIMENT_SERVE_THREADS, else 1 for the small from-scratch families (small batches run
        fastest on one, the other cores serve the event loop) and torch's default for a transformer
        backbone (ours or any Hugging Face checkpoint)."""
        if self.settings.serve_threads:
            return self.settings.serve_threads
        from sentiment_core.inference.predictor import WORD_FAMILIES

        return 1 if predictor.family in WORD_FAMILIES else self.default_threads

    def explain_threads(self) -> int:
        """SENTIMENT_EXPLAIN_THREADS, else half the cores this process may use, shared by the
        explanation processes (at least 1 each): on 2 cores, 1, and a core stays for predictions."""
        if self.settings.explain_threads:
            return self.settings.explain_threads
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return max(1, cores // (2 * self.settings.explain_concurrency))

    def explain_pool(self) -> ExplainPool:
        settings = self.settings
        return ExplainPool(self.predictor, settings.explain_concurrency, settings.explain_queue,
                           settings.explain_timeout_s, self.explain_threads())

    def health(self) -> HealthResponse:
        p, batcher, explainers, settings = self.predictor, self.batcher, self.explainers, self.settings
        queues = QueuesOut(
            predictions_waiting=batcher.waiting if batcher else 0,
            predictions_running=batcher.running if batcher else 0,
            explanations_running=explainers.running if explainers else 0,
            explanations_waiting=explainers.waiting if explainers else 0,
            explainers_ready=explainers.ready if explainers else 0)
        limits = LimitsOut(
            serve_batch_size=settings.serve_batch_size, explain_concurrency=settings.explain_concurrency,
            explain_queue=settings.explain_queue, explain_timeout_s=settings.explain_timeout_s,
            explain_threads=self.explain_threads())
        return HealthResponse(status="ok", model_loaded=p is not None, model=p.name, run=p.run_id, family=p.family,
                              device=str(p.device), max_length=p.max_length, long_text=p.long_text,
                              runtime=self.served.runtime, runtime_note=self.runtime_note, queues=queues, limits=limits)

    def run_model(self, predictor, call: str, *args, **kwargs):
        """Call `predictor.<call>` (in a worker thread) alone and on `threads_for` torch threads.

        A thread keeps the torch thread count it started with, so each model call sets it where it runs.
        """
        import torch

        threads = self.threads_for(predictor)
        with self.lock:
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
            return (getattr(predictor, call)(*args, **kwargs) if isinstance(call, str)
                    else call(predictor, *args, **kwargs))

    async def predictor_for(self, source: str | None):
        """The served predictor, or a finished run's (loaded off the event loop, cached). Other folders and
        hub ids are not loaded on request: a server serves the models GET /models lists."""
        if source is None or source in (self.predictor.name, self.predictor.run_id):
            return self.predictor
        from sentiment_core.inference.sources import load_run

        if not runs.is_plain_name(source):
            raise ApiError(404, f"This server does not serve {source!r}: GET /models lists the runs and the model it "
                                "serves. Serve another checkpoint with `python -m sentiment_core serve --model SRC`.")
        if not (runs.models_dir() / source).is_dir():
            raise ApiError(404, f"No run {source!r}: GET /models lists the runs and the model this server serves.")
        try:
            return await asyncio.to_thread(load_run, source)
        except runs.RunError as error:
            raise ApiError(409, str(error)) from None

    def check_text(self, text: str, loc: list) -> None:
        """Refuse a text over SENTIMENT_MAX_CHARS (413), empty (422) or not encodable as UTF-8 (422)."""
        limit = self.settings.max_chars
        if len(text) > limit:
            raise ApiError(413, f"{location(loc)} has {len(text)} characters; the limit is {limit} per text "
                                "(SENTIMENT_MAX_CHARS): shorten it or split it.")
        if not text.strip():
            raise ApiError(422, f"{location(loc)} is empty: send the text of a review.", loc)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ApiError(422, f"{location(loc)} holds an unpaired surrogate ({error.object[error.start]!r} at "
                                f"character {error.start}), which is not valid Unicode text: "
                                "send UTF-8 text.", loc) from None


def get_service(request: Request) -> Service:
    """The app's `Service` (a route dependency)."""
    return request.app.state.service


def get_app_settings(request: Request) -> Settings:
    """The settings the app was built with (a route dependency; tests build apps with their own)."""
    return request.app.state.service.settings
