"""The REST API: FastAPI over `inference.Predictor`.

    python -m sentiment_core serve --run R [--host 127.0.0.1] [--port 8000] [--workers N]
    uvicorn sentiment_core.api:create_app --factory       # the same app, SENTIMENT_SERVE_RUN=R

Endpoints: `GET /health`, `GET /models`, `POST /predict`, `POST /explain`; OpenAPI docs at
`/docs`. The model is loaded once per worker process at startup (the lifespan), for the run
named by `create_app(run_id)`, else `SENTIMENT_SERVE_RUN`, else the finished run with the best
test accuracy. Workers share nothing: each process builds its own app, model, batcher and
explanation processes.

Model work never runs on the event loop, and the two kinds of work never queue behind each
other. Concurrent `/predict` requests go through a `MicroBatcher`, which collects their texts
for a few milliseconds (up to `SENTIMENT_SERVE_BATCH_SIZE` texts) and runs one
`predictor.predict` for all of them in a worker thread. `/explain` requests go to an
`ExplainPool`: `SENTIMENT_EXPLAIN_CONCURRENCY` processes of their own, each with its own copy of
the model (an explanation hooks the embedding layer) on `SENTIMENT_EXPLAIN_THREADS` torch
threads, and at most `SENTIMENT_EXPLAIN_QUEUE` requests waiting: one more gets 503 with
Retry-After. An explanation running past `SENTIMENT_EXPLAIN_TIMEOUT_S` is stopped by killing its
process (504). `/health` reports the queue depths and these limits.

Every error is a 4xx whose message says what to fix: limits (413, naming the setting),
malformed JSON, invalid UTF-8, wrong types and unreadable texts (400/422), a missing or wrong
API key (401), an unknown run (404) or one without a usable model (409); busy (503, naming the
setting) and too slow (504) for explanations. Anything else is a bug: it is logged and answered 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import multiprocessing
import os
import secrets
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from sentiment_core.core import errors
from sentiment_core.core import runs
from sentiment_core.core.errors import BusyError, InputError, SentimentError, SettingsError, TimeLimitError
from sentiment_core.explain.methods import BASELINES, MAX_STEPS, METHODS, check_steps, default_method
from sentiment_core.core.settings import Settings, get_settings

logger = logging.getLogger("sentiment_core.serving.api")

OPEN_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
LABEL = Literal["negative", "positive"]


# --- request and response models ---------------------------------------------------------

def _check_run_id(value: str | None) -> str | None:
    return None if value is None else runs.validate_run_id(value)


class RunChoice(BaseModel):
    """Which model answers: `model` (a finished run's id, or the model this server serves, as GET /models
    lists them) or `run` (a run id); default: the served model."""

    run: str | None = Field(default=None, description="run id (default: the model this server serves)",
                            json_schema_extra={"pattern": runs.RUN_ID_PATTERN.pattern})
    model: str | None = Field(default=None, max_length=500, description="a model GET /models lists: a finished "
                              "run's id or the served model's source (default: the served model)")

    @field_validator("run")
    @classmethod
    def _valid_run(cls, value: str | None) -> str | None:
        return _check_run_id(value)

    def chosen_source(self) -> str | None:
        if self.run is not None and self.model is not None and self.run != self.model:
            raise ApiError(422, f"Give `model` or `run`, not both (got model {self.model!r} and run {self.run!r}).",
                           ["body", "model"])
        return self.model if self.model is not None else self.run


class PredictRequest(RunChoice):
    """Reviews to classify, in one request (at most SENTIMENT_MAX_TEXTS texts)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"texts": ["A moving, beautifully acted film.", "Two hours I will never get back."]}]})

    texts: list[str] = Field(description="review texts, each at most SENTIMENT_MAX_CHARS characters")


class ExplainRequest(RunChoice):
    """One review to explain word by word."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "A moving, beautifully acted film.", "method": "integrated_gradients"}]})

    text: str = Field(description="the review, at most SENTIMENT_MAX_CHARS characters")
    method: Literal[tuple(METHODS)] | None = Field(  # type: ignore[valid-type]
        default=None,
        description="attribution method (default: the model family's, gradient_x_input for bow, integrated_gradients "
        "otherwise): " + "; ".join(f"{name}: {method.title}" for name, method in METHODS.items()))
    target: LABEL | None = Field(default=None, description="class to explain (default: the predicted one)")
    baseline: Literal[tuple(BASELINES)] = Field(  # type: ignore[valid-type]
        default="empty", description="what a removed word becomes: empty (the empty review) or undecided (the point "
        "between the empty review and this one where the model's log-odds are 0)")
    steps: int | None = Field(
        default=None, ge=1, le=MAX_STEPS,
        description="; ".join(f"{name}: {method.option} (default {method.default})"
                              for name, method in METHODS.items() if method.option))


class PredictionOut(BaseModel):
    label: LABEL
    probability: float = Field(description="P(positive)")
    truncated: bool = Field(description="the review was longer than the model reads; it read the start")
    tokens_read: int
    total_tokens: int
    read_until: int = Field(description="the model read characters [0, read_until) of the text")
    notes: list[str]
    class_probabilities: dict[str, float] = Field(
        default_factory=dict, description="each of the model's classes (a neutral or star-rated model has more than two)")


class PredictResponse(BaseModel):
    model: str = Field(description="the model that answered (its source: run id, folder or hub id)")
    run: str | None
    predictions: list[PredictionOut]


class WordOut(BaseModel):
    word: str
    start: int
    end: int
    score: float = Field(description="log-odds toward the target class")


class ExplainResponse(BaseModel):
    model: str = Field(description="the model that answered (its source: run id, folder or hub id)")
    run: str | None
    text: str
    method: str
    label: LABEL = Field(description="the predicted class")
    probability: float = Field(description="P(positive)")
    target: LABEL = Field(description="the class the scores push toward")
    delta: float | None = Field(description="completeness gap (Captum): sum(scores) - delta = output - baseline_output")
    delta_is_large: bool
    output: float | None
    baseline_output: float | None
    truncated: bool
    read_until: int
    notes: list[str]
    words: list[WordOut]
    class_probabilities: dict[str, float] = Field(default_factory=dict, description="each of the model's classes")


class QueuesOut(BaseModel):
    predictions_waiting: int = Field(description="/predict requests waiting for the micro-batcher")
    predictions_running: int = Field(description="/predict requests in the batch the model is running")
    explanations_running: int = Field(description="/explain requests holding an explanation process")
    explanations_waiting: int = Field(description="/explain requests waiting for a free process")
    explainers_ready: int = Field(description="explanation processes started, their model loaded")


class LimitsOut(BaseModel):
    serve_batch_size: int = Field(description="most texts per model call (SENTIMENT_SERVE_BATCH_SIZE)")
    explain_concurrency: int = Field(description="explanations at once (SENTIMENT_EXPLAIN_CONCURRENCY)")
    explain_queue: int = Field(description="explanation requests that may wait (SENTIMENT_EXPLAIN_QUEUE)")
    explain_timeout_s: float = Field(description="time limit of one explanation (SENTIMENT_EXPLAIN_TIMEOUT_S)")
    explain_threads: int = Field(description="torch threads of each explanation process (SENTIMENT_EXPLAIN_THREADS)")


class HealthResponse(BaseModel):
    status: Literal["ok"]
    model_loaded: bool
    model: str = Field(description="the served model's source: run id, folder or hub id")
    run: str | None
    family: str
    device: str
    max_length: int
    long_text: str = Field(description="how a review longer than max_length is read: truncate, head_tail or windows")
    runtime: Literal["torch", "onnxruntime"] = Field(
        description="what runs /predict for the served model (SENTIMENT_SERVE_RUNTIME); explanations run torch")
    runtime_note: str | None = Field(description="why this runtime: the ONNX check's timing, or why not onnxruntime")
    queues: QueuesOut = Field(description="this worker's queues (with --workers N, the worker that answered)")
    limits: LimitsOut


class ModelOut(BaseModel):
    model: str = Field(description="what to send as `model`: a run id, or the served model's source")
    run: str | None
    kind: Literal["trained", "evaluation", "served"] = Field(
        description="a training run, an evaluation run of an outside model, or the served model (not a run)")
    family: str | None
    loss: str | None
    serving: bool
    created: str | None
    test: dict[str, float | None] = Field(description="test accuracy, f1, roc_auc, bce and ece (calibration)")


class ModelsResponse(BaseModel):
    models: list[ModelOut]


class ErrorOut(BaseModel):
    detail: Any


ERRORS = {
    400: {"model": ErrorOut, "description": "the body is not UTF-8, or its Content-Length is not a number"},
    401: {"model": ErrorOut, "description": "missing or wrong API key (when SENTIMENT_API_KEY is set)"},
    413: {"model": ErrorOut, "description": "over a limit (the message names it)"},
}
RUN_ERRORS = {
    404: {"model": ErrorOut, "description": "no such run"},
    409: {"model": ErrorOut, "description": "the run has no usable model (unfinished or corrupted)"},
}
EXPLAIN_ERRORS = {
    503: {"model": ErrorOut, "description": "every explanation process is busy and the queue is full, or the wait "
                                             "reached the time limit: retry after Retry-After seconds"},
    504: {"model": ErrorOut, "description": "the explanation ran past SENTIMENT_EXPLAIN_TIMEOUT_S and was stopped"},
}


# --- the micro-batcher ---------------------------------------------------------------------

class MicroBatcher:
    """Collects the texts of concurrent requests and runs one model call per batch, in a thread.

    `predict(texts)` queues a request and waits for its results. A background task takes the
    queued requests in arrival order, waiting `max_wait_ms` for more when fewer than `max_batch`
    texts are queued, and runs `predict_fn` on all their texts in a worker thread (a request
    larger than `max_batch` runs alone). When a batch fails, each of its requests is retried
    alone, so one bad request never fails the others.
    """

    def __init__(self, predict_fn: Callable[[list[str]], Sequence[Any]], max_batch: int = 16,
                 max_wait_ms: float = 2.0):
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError(f"max_batch must be >= 1 and max_wait_ms >= 0, got {max_batch} and {max_wait_ms}")
        self.predict_fn = predict_fn
        self.max_batch = int(max_batch)
        self.max_wait = float(max_wait_ms) / 1000
        self.batches = 0  # model calls made (for tests and stats)
        self.largest_batch = 0
        self.running = 0  # requests in the batch the model is running now
        self._pending: deque[tuple[list[str], asyncio.Future]] = deque()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="micro-batcher")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        while self._pending:
            _, future = self._pending.popleft()
            if not future.done():
                future.set_exception(RuntimeError("the server is shutting down"))

    async def predict(self, texts: Sequence[str]) -> list[Any]:
        if self._task is None or self._task.done():
            raise RuntimeError("the micro-batcher is not running (start() it in the app's lifespan)")
        future = asyncio.get_running_loop().create_future()
        self._pending.append((list(texts), future))
        self._wakeup.set()
        return await future

    @property
    def waiting(self) -> int:
        """Requests queued for the next batch."""
        return len(self._pending)

    def _queued_texts(self) -> int:
        return sum(len(texts) for texts, _ in self._pending)

    def _take(self) -> list[tuple[list[str], asyncio.Future]]:
        batch, size = [], 0
        while self._pending:
            texts, future = self._pending[0]
            if future.done():  # the caller went away
                self._pending.popleft()
                continue
            if batch and size + len(texts) > self.max_batch:
                break
            self._pending.popleft()
            batch.append((texts, future))
            size += len(texts)
        return batch

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            if self.max_wait > 0 and self._queued_texts() < self.max_batch:
                await asyncio.sleep(self.max_wait)
            self._wakeup.clear()
            batch = self._take()
            if batch:
                await self._run_batch(batch)
            if self._pending:
                self._wakeup.set()

    async def _run_batch(self, batch: list[tuple[list[str], asyncio.Future]]) -> None:
        texts = [text for item, _ in batch for text in item]
        self.batches += 1
        self.largest_batch = max(self.largest_batch, len(texts))
        self.running = len(batch)
        try:
            await self._answer(batch, texts)
        finally:
            self.running = 0

    async def _answer(self, batch: list[tuple[list[str], asyncio.Future]], texts: list[str]) -> None:
        try:
            results = await asyncio.to_thread(self.predict_fn, texts)
        except Exception as error:  # noqa: BLE001 - handed to the callers
            if len(batch) == 1:
                _settle(batch[0][1], error=error)
                return
            for item, future in batch:  # find whose request failed; the others still get answers
                try:
                    _settle(future, result=list(await asyncio.to_thread(self.predict_fn, item)))
                except Exception as single_error:  # noqa: BLE001
                    _settle(future, error=single_error)
            return
        offset = 0
        for item, future in batch:
            _settle(future, result=list(results[offset:offset + len(item)]))
            offset += len(item)


def _settle(future: asyncio.Future, result=None, error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


# --- the explanation processes -------------------------------------------------------------

EXPLAIN_STARTUP_TIMEOUT_S = 300.0  # for a new explanation process to load its model; a bug past it
_PRELOAD = ["sentiment_core.serving.api", "sentiment_core.explain.attribution", "sentiment_core.modeling", "captum.attr"]


def _process_context():
    """forkserver where the platform has one, else spawn. A forkserver child forks from a clean
    server process that imported torch and Captum once, so it starts in well under a second and
    inherits no lock another thread of this server held (a plain fork of a threaded server could).
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


EXPLAIN_NICENESS = 10  # explanation processes run at a lower CPU priority than the server's predictions


def _explainer_main(conn, predictor, threads: int, environ: dict[str, str], cwd: str, parent_pid: int) -> None:
    """One explanation process: answer `(run_id, text, method, target, options)` messages with
    `("ok", explanation dict)`, `("user_error", kind, message)` or `("bug", traceback)` until the
    server closes the pipe. `predictor` is the served one; multiprocessing hands its weights over
    in shared memory (torch's reductions), so this process holds no second copy of them."""
    import signal

    import torch

    from sentiment_core.explain.attribution import explain
    from sentiment_core.inference.sources import load_predictor

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops this process
    os.environ.clear()  # the server's settings, as they are now (a forkserver child inherits the
    os.environ.update(environ)  # environment the forkserver started with)
    with contextlib.suppress(OSError):
        os.chdir(cwd)
    get_settings.cache_clear()
    with contextlib.suppress(OSError):  # predictions come first: the OS gives this process the CPU they leave
        os.nice(EXPLAIN_NICENESS)
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # already set in this process
        torch.set_num_interop_threads(1)
    threading.Thread(target=_exit_with, args=(parent_pid,), daemon=True, name="exit-with-server").start()
    conn.send(("ready", os.getpid()))
    while True:
        try:
            source, text, method, target, options = conn.recv()
        except (EOFError, OSError):  # the server closed the pipe: done
            return
        try:
            chosen = predictor if source in (None, predictor.name) else load_predictor(source)
            (explanation,) = explain(chosen, [text], method=method, target=target, **options)
            reply = ("ok", explanation.to_dict())
        except SentimentError as error:
            reply = ("user_error", type(error).__name__, str(error))
        except Exception:  # noqa: BLE001 - a bug: the server answers 500 and logs this
            reply = ("bug", traceback.format_exc())
        conn.send(reply)


def _exit_with(parent_pid: int) -> None:
    """Exit when the server process is gone, even in the middle of an explanation."""
    while True:
        time.sleep(1.0)
        try:
            os.kill(parent_pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except OSError:  # exists, not ours to signal
            pass


def _user_error(kind: str, message: str) -> SentimentError:
    """The SentimentError an explanation process reported, rebuilt here (by kind, with its message)."""
    error_class = getattr(errors, kind, None)
    if not (isinstance(error_class, type) and issubclass(error_class, SentimentError)):
        error_class = SentimentError
    error = error_class.__new__(error_class)
    Exception.__init__(error, message)
    return error


class _Explainer:
    """One explanation process and this server's end of its pipe. Blocking methods run in threads."""

    def __init__(self, context, predictor, threads: int):
        self.context, self.predictor, self.threads = context, predictor, threads
        self.process = None
        self.conn = None
        self.ready = False
        self.closing = False  # the pool is closing: a process that starts now stops at once
        self._starting: asyncio.Future | None = None

    async def started(self) -> None:
        """Start the process unless it runs (a failed or killed one is started anew)."""
        if self.ready:
            return
        if self.closing:
            raise BusyError("The server is shutting down: retry on another one.")
        if self._starting is None or self._starting.done():
            self._starting = asyncio.ensure_future(asyncio.to_thread(self._start))
        await asyncio.shield(self._starting)

    def _start(self) -> None:
        self.ready = False
        self.close_pipe()  # the previous process's: nothing reads it any more
        conn, child_conn = self.context.Pipe()
        process = self.context.Process(
            target=_explainer_main, name="sentiment-explainer", daemon=True,
            args=(child_conn, self.predictor, self.threads, dict(os.environ), os.getcwd(), os.getpid()))
        process.start()
        child_conn.close()
        self.process, self.conn = process, conn
        if self.closing:
            self.kill()
            raise RuntimeError("the server is shutting down")
        try:
            reply = conn.recv() if conn.poll(EXPLAIN_STARTUP_TIMEOUT_S) else ("bug", "no answer")
        except (EOFError, OSError):
            reply = ("bug", f"it exited with status {process.exitcode}")
        if reply[0] != "ready":
            self.kill()
            self.close_pipe()
            raise RuntimeError(f"an explanation process could not load the model: {reply[-1]}")
        self.ready = True

    def ask(self, message: tuple):
        """Send one request, wait for its reply (blocking)."""
        self.conn.send(message)
        return self.conn.recv()

    def kill(self) -> None:
        """SIGKILL the process and wait for it: whatever it computed stops now."""
        self.ready = False
        process = self.process
        if process is not None and process.pid is not None:
            with contextlib.suppress(OSError, ValueError):
                process.kill()
                process.join(10)

    def close_pipe(self) -> None:
        """Close this end of the pipe (only once no thread reads it)."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class ExplainPool:
    """Explanations in processes of their own: `concurrency` at once, at most `queue` waiting.

    `explain(...)` takes a free process, or waits in line for one (a request beyond `queue`
    waiting, or one that waited `timeout_s`, gets a BusyError: 503 with Retry-After); the
    process gets `timeout_s` to answer, else it is killed, which stops the work, and the
    request gets a TimeLimitError (504); the next request starts a fresh process. Each process
    has its own predictor object (its weights in shared memory, read only) and runs torch on
    `threads` threads, so neither its embedding hooks nor its thread count reach the predictions
    of the server process.
    """

    def __init__(self, predictor, concurrency: int, queue: int, timeout_s: float, threads: int):
        self.concurrency, self.queue, self.timeout_s, self.threads = concurrency, queue, timeout_s, threads
        # Move the weights to shared memory now, before predictions run: moving them later, while
        # handing the predictor to a process, would free the memory a prediction may be reading.
        predictor.model.share_memory()
        context = _process_context()
        self._explainers = [_Explainer(context, predictor, threads) for _ in range(concurrency)]
        self._idle = list(self._explainers)
        self._waiters: deque[asyncio.Future] = deque()
        self.running = 0
        self.mean_seconds: float | None = None  # of recent explanations, for Retry-After
        self._warming: list[asyncio.Future] = []

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @property
    def ready(self) -> int:
        return sum(explainer.ready for explainer in self._explainers)

    def warm_up(self) -> None:
        """Start the processes in the background (a request waits for its own)."""
        for explainer in self._explainers:
            task = asyncio.ensure_future(explainer.started())
            task.add_done_callback(_log_failed_start)
            self._warming.append(task)

    async def close(self) -> None:
        while self._waiters:
            _settle(self._waiters.popleft(), error=BusyError("The server is shutting down: retry on another one."))
        for explainer in self._explainers:
            explainer.closing = True
            await asyncio.to_thread(explainer.kill)
        for task in self._warming:
            with contextlib.suppress(Exception):
                await task
        for explainer in self._explainers:
            await asyncio.to_thread(explainer.kill)  # one that started while the others were stopped
        for explainer in self._idle:  # a busy one's pipe is still read by its request's thread
            explainer.close_pipe()

    def retry_after(self) -> float:
        """Seconds until a request sent now would likely find room."""
        mean = self.mean_seconds if self.mean_seconds is not None else self.timeout_s / 4
        return max(1.0, min(self.timeout_s, mean * (self.waiting + 1) / self.concurrency))

    async def explain(self, run_id: str | None, text: str, method: str, target: str | None, options: dict) -> dict:
        """The explanation dict (`Explanation.to_dict()`) of `text`, computed in a free process."""
        explainer = await self._acquire()
        try:
            return await self._run(explainer, (run_id, text, method, target, options))
        finally:
            self._release(explainer)

    async def _acquire(self) -> _Explainer:
        if self._idle and not self._waiters:
            self.running += 1
            return self._idle.pop()
        if len(self._waiters) >= self.queue:
            raise BusyError(
                f"All {self.concurrency} explanation process(es) are busy and {len(self._waiters)} request(s) "
                f"already wait (SENTIMENT_EXPLAIN_CONCURRENCY={self.concurrency}, "
                f"SENTIMENT_EXPLAIN_QUEUE={self.queue}): retry later, or raise those settings.",
                retry_after=self.retry_after())
        future = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await asyncio.wait({future}, timeout=self.timeout_s)
        except asyncio.CancelledError:
            self._forget(future)
            raise
        if not future.done():
            self._forget(future)
            raise BusyError(
                f"Waited {self.timeout_s:g} s (SENTIMENT_EXPLAIN_TIMEOUT_S) for one of the {self.concurrency} "
                f"explanation process(es) (SENTIMENT_EXPLAIN_CONCURRENCY): retry later, or raise "
                "SENTIMENT_EXPLAIN_CONCURRENCY.", retry_after=self.retry_after())
        return future.result()

    def _forget(self, future: asyncio.Future) -> None:
        """A waiter that gave up: pass on the process it may have been handed just now."""
        if future.done() and not future.cancelled() and future.exception() is None:
            self._release(future.result())
            return
        with contextlib.suppress(ValueError):
            self._waiters.remove(future)
        future.cancel()

    def _release(self, explainer: _Explainer) -> None:
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(explainer)  # it stays running, now for this waiter
                return
        self.running -= 1
        self._idle.append(explainer)

    async def _run(self, explainer: _Explainer, message: tuple) -> dict:
        await explainer.started()  # loading the model does not count against the time limit
        began = time.monotonic()
        asked = asyncio.ensure_future(asyncio.to_thread(explainer.ask, message))
        try:
            await asyncio.wait({asked}, timeout=self.timeout_s)
        except asyncio.CancelledError:  # the request was dropped: stop its work too
            await self._stop(explainer, asked)
            raise
        if not asked.done():
            await self._stop(explainer, asked)
            raise TimeLimitError(
                f"The explanation took longer than {self.timeout_s:g} s (SENTIMENT_EXPLAIN_TIMEOUT_S) and was "
                "stopped: use fewer steps, a faster method (gradient_x_input, occlusion), a shorter text, or "
                "raise SENTIMENT_EXPLAIN_TIMEOUT_S.")
        try:
            reply = asked.result()
        except (EOFError, OSError) as error:  # the process died (killed from outside, out of memory)
            await self._stop(explainer, asked)
            raise RuntimeError(f"the explanation process exited while explaining "
                               f"(status {explainer.process.exitcode})") from error
        seconds = time.monotonic() - began
        self.mean_seconds = seconds if self.mean_seconds is None else 0.7 * self.mean_seconds + 0.3 * seconds
        if reply[0] == "ok":
            return reply[1]
        if reply[0] == "user_error":
            raise _user_error(reply[1], reply[2])
        raise RuntimeError(f"the explanation process failed:\n{reply[-1]}")

    @staticmethod
    async def _stop(explainer: _Explainer, asked: asyncio.Future) -> None:
        await asyncio.shield(asyncio.to_thread(explainer.kill))
        with contextlib.suppress(BaseException):
            await asyncio.wait({asked}, timeout=10)  # the reading thread sees the pipe close
        if asked.done():
            explainer.close_pipe()
            if not asked.cancelled():
                asked.exception()  # retrieved: the pipe's EOFError is expected here


def _log_failed_start(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("an explanation process did not start (requests will retry): %s", task.exception())


# --- errors --------------------------------------------------------------------------------

class ApiError(Exception):
    """An error answered with `status` and `detail` (a message saying what to fix).

    A 422 takes FastAPI's validation-error shape (`detail` a list, with `loc`) plus `message`.
    """

    def __init__(self, status: int, detail: str, loc: Sequence[str | int] = ("body",),
                 headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.loc, self.headers = status, detail, list(loc), headers

    @classmethod
    def from_error(cls, error: SentimentError, loc: Sequence[str | int] = ("body",), prefix: str = "") -> ApiError:
        """The answer to a SentimentError: its own status (4xx; 503 with Retry-After)."""
        headers = {"Retry-After": str(max(1, math.ceil(error.retry_after)))} if isinstance(error, BusyError) else None
        return cls(error.http_status, f"{prefix}{error}", loc, headers)

    def response(self) -> JSONResponse:
        if self.status == 422:
            return JSONResponse(status_code=422, content={
                "detail": [{"type": "value_error", "loc": self.loc, "msg": self.detail}], "message": self.detail})
        return JSONResponse(status_code=self.status, content={"detail": self.detail}, headers=self.headers)


def _where(loc: Sequence[str | int]) -> str:
    """["body", "texts", 3] -> "texts[3]"."""
    text = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def _error_message(errors: Sequence[dict]) -> str:
    """One line naming each bad field and what is wrong with it."""
    parts = []
    for error in errors[:3]:
        loc = [str(part) for part in error.get("loc", ())]
        where = ".".join(loc[1:] if loc and loc[0] == "body" else loc) or "body"
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "json_invalid":
            where = f"body (character {loc[1]})" if len(loc) > 1 else "body"
            message = f"not valid JSON ({(error.get('ctx') or {}).get('error', 'decode error')})"
        elif where == "body" and error.get("type") in ("model_attributes_type", "dict_type", "missing"):
            message += ': send a JSON object such as {"texts": ["..."]} with Content-Type: application/json'
        parts.append(f"{where}: {message}")
    if len(errors) > 3:
        parts.append(f"and {len(errors) - 3} more")
    return "; ".join(parts)


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    errors = []
    for item in error.errors():  # keep it JSON-safe: inputs can be bytes, ctx can hold exceptions
        item = {key: value for key, value in item.items() if key in ("type", "loc", "msg", "ctx")}
        if "ctx" in item:
            item["ctx"] = {key: str(value) for key, value in item["ctx"].items()}
        item["loc"] = [part if isinstance(part, (str, int)) else str(part) for part in item.get("loc", ())]
        errors.append(item)
    return JSONResponse(status_code=422, content={"detail": errors, "message": _error_message(errors)})


async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    """FastAPI's own HTTP errors; its vague "error parsing the body" gets the cause and the fix."""
    detail = error.detail
    if error.status_code == 400 and detail == "There was an error parsing the body":
        cause = error.__cause__
        if isinstance(cause, RecursionError):
            detail = 'The JSON body is nested too deeply: send a flat object such as {"texts": ["..."]}.'
        elif isinstance(cause, UnicodeDecodeError):
            detail = "The request body is not valid UTF-8: send JSON encoded as UTF-8."
        else:
            detail = (f"The request body could not be parsed ({type(cause).__name__ if cause else 'unknown error'}): "
                      'send JSON such as {"texts": ["..."]} with Content-Type: application/json.')
    return JSONResponse(status_code=error.status_code, content={"detail": detail}, headers=error.headers)


async def _api_error(request: Request, error: ApiError) -> JSONResponse:
    return error.response()


async def _sentiment_error(request: Request, error: SentimentError) -> JSONResponse:
    """A SentimentError no endpoint caught: the library named the bad value and the fix."""
    return ApiError.from_error(error).response()


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    """Anything else is a bug: 500 with a request id, logged with its traceback under that id."""
    request_id = uuid.uuid4().hex[:16]
    logger.error("request %s: unexpected error on %s %s", request_id, request.method, request.url.path,
                 exc_info=error)
    return JSONResponse(status_code=500, headers={"X-Request-ID": request_id}, content={
        "detail": f"Internal error ({type(error).__name__}); it was logged on the server with request id "
                  f"{request_id}: quote it when you report the problem.", "request_id": request_id})


# --- the guard: API key, body size, UTF-8 --------------------------------------------------

class RequestGuard:
    """Pure ASGI middleware, before any parsing: API key, body size limit, UTF-8 JSON bodies.

    The body is read here (at most `max_body_bytes`) and replayed to the app, so an oversized
    body is refused with 413 before the app sees it, whatever its Content-Length says.
    """

    def __init__(self, app, api_key: str | None, max_body_bytes: int):
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.max_body_bytes = int(max_body_bytes)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {}
        for name, value in scope.get("headers", ()):
            headers[name.lower()] = value
        if self.api_key is not None and scope["path"] not in OPEN_PATHS and scope["method"] != "OPTIONS":
            given = headers.get(b"x-api-key")
            authorization = headers.get(b"authorization", b"")
            if given is None and authorization[:7].lower() == b"bearer ":
                given = authorization[7:].strip()
            if given is None or not secrets.compare_digest(given, self.api_key):
                problem = "no API key was sent" if given is None else "the API key is wrong"
                await _send_json(send, 401, {"detail": f"This API needs a key and {problem}: send it in the "
                                             "X-API-Key header (or as Authorization: Bearer <key>)."},
                                 extra_headers=[(b"www-authenticate", b"ApiKey")])
                return
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _send_json(send, 400, {"detail": "The Content-Length header is not a number."})
                return
            if declared > self.max_body_bytes:
                await self._too_large(send, f"{declared} bytes")
                return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(send, f"more than {self.max_body_bytes} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if body and (content_type in (b"", b"application/json") or content_type.endswith(b"+json")):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as error:
                await _send_json(send, 400, {"detail": (
                    f"The request body is not valid UTF-8 (byte 0x{body[error.start]:02x} at position {error.start}): "
                    "send JSON encoded as UTF-8.")})
                return
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send, size: str) -> None:
        await _send_json(send, 413, {"detail": (
            f"The request body is {size}; the limit is {self.max_body_bytes} bytes (SENTIMENT_MAX_BODY_BYTES): "
            "send fewer or shorter texts per request.")})


async def _send_json(send, status: int, payload: dict, extra_headers=()) -> None:
    body = JSONResponse(payload).body
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra_headers]})
    await send({"type": "http.response.body", "body": body})


# --- the app -------------------------------------------------------------------------------

def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


# The families SENTIMENT_SERVE_RUNTIME=auto exports and times at startup (the others stay on torch, saving the
# 10-25 s): onnxruntime ran the full-data transformer 1.4x faster per review; it was 170x slower for bow (its
# EmbeddingBag) and 1.1x slower for MiniLM (`pretrained`) on one review, on a 2-core CPU (README).
AUTO_ONNX_FAMILIES = ("transformer",)


class _Service:
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
        from sentiment_core.inference.default_model import best_run_id
        from sentiment_core.inference.sources import load_predictor

        if self.predictor is not None:
            return
        source = self.requested_source or served_source(self.settings) or best_run_id()
        if source is None:
            raise runs.RunError(
                f"No finished run to serve in {runs.models_dir()}: train one first "
                "(python -m sentiment_core train --model bow), or pass --model (a checkpoint folder or hub id).")
        self.predictor = load_predictor(source)

    def choose_runtime(self) -> None:
        """Run /predict's batches on onnxruntime or torch, as SENTIMENT_SERVE_RUNTIME says (see Settings)."""
        from sentiment_core.serving.export import onnx_export

        wanted, predictor = self.settings.serve_runtime, self.predictor
        self.served = predictor
        if wanted == "torch":
            return
        if str(predictor.device) != "cpu":
            self.runtime_note = f"torch: the model runs on {predictor.device} (onnxruntime serves on the CPU only)"
            if wanted == "onnxruntime":
                raise SettingsError(f"SENTIMENT_SERVE_RUNTIME=onnxruntime runs on the CPU, but the model is on "
                                    f"{predictor.device}: set SENTIMENT_DEVICE=cpu or SENTIMENT_SERVE_RUNTIME=torch.")
            return
        if wanted == "auto" and predictor.family not in AUTO_ONNX_FAMILIES:
            self.runtime_note = (f"torch: auto tries onnxruntime for {', '.join(AUTO_ONNX_FAMILIES)} models only; "
                                 f"SENTIMENT_SERVE_RUNTIME=onnxruntime tries it for {predictor.family}")
            return
        model, report = onnx_export.serving_model(predictor, self.threads_for(predictor))
        if model is None:
            self.runtime_note = f"torch: {report['reason']}"
            if wanted == "onnxruntime":
                raise SettingsError(f"SENTIMENT_SERVE_RUNTIME=onnxruntime, but {report['reason']}. Set "
                                    "SENTIMENT_SERVE_RUNTIME=torch (or auto) to serve with PyTorch.")
            return
        figures = (f"{report['onnxruntime_ms_per_batch']} ms against torch's {report['torch_ms_per_batch']} ms for "
                   f"a batch of {report['timed_batch'][0]}, logits within {report['max_abs_logit_diff']:.1e}")
        if wanted == "auto" and report["speedup"] < 1:
            self.runtime_note = f"torch: faster than onnxruntime here ({figures})"
            return
        self.served = predictor.with_runtime(model)
        self.runtime_note = f"onnxruntime: {figures}"

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
            return getattr(predictor, call)(*args, **kwargs) if isinstance(call, str) else call(predictor, *args, **kwargs)

    async def predictor_for(self, source: str | None):
        """The served predictor, or a finished run's (loaded off the event loop, cached). Other folders and
        hub ids are not loaded on request: a server serves the models GET /models lists."""
        if source is None or source in (self.predictor.name, self.predictor.run_id):
            return self.predictor
        from sentiment_core.inference.sources import load_run

        if runs.RUN_ID_PATTERN.match(source) and ".." not in source and not runs.run_path(source).is_dir():
            raise ApiError(404, f"No run {source!r}: GET /models lists the runs and the model this server serves.")
        if not runs.RUN_ID_PATTERN.match(source) or ".." in source:
            raise ApiError(404, f"This server does not serve {source!r}: GET /models lists the runs and the model it "
                                "serves. Serve another checkpoint with `python -m sentiment_core serve --model SRC`.")
        try:
            return await asyncio.to_thread(load_run, source)
        except runs.RunError as error:
            raise ApiError(409, str(error)) from None

    def check_text(self, text: str, loc: list) -> None:
        """Refuse a text over SENTIMENT_MAX_CHARS (413), empty (422) or not encodable as UTF-8 (422)."""
        limit = self.settings.max_chars
        if len(text) > limit:
            raise ApiError(413, f"{_where(loc)} has {len(text)} characters; the limit is {limit} per text "
                                "(SENTIMENT_MAX_CHARS): shorten it or split it.")
        if not text.strip():
            raise ApiError(422, f"{_where(loc)} is empty: send the text of a review.", loc)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ApiError(422, f"{_where(loc)} holds an unpaired surrogate ({error.object[error.start]!r} at "
                                f"character {error.start}), which is not valid Unicode text: send UTF-8 text.", loc) from None


def create_app(run_id: str | None = None, *, model: str | None = None, predictor=None,
               settings: Settings | None = None) -> FastAPI:
    """The API for `model` (a model source: run id, checkpoint folder or hub id) or `run_id`, else
    SENTIMENT_SERVE_MODEL (or SENTIMENT_SERVE_RUN), else the best finished run.

    The model loads at startup; `predictor` skips loading (tests). Pass
    `sentiment_core.api:create_app` with `factory=True` to uvicorn: each worker builds its own.
    """
    settings = settings or get_settings()
    api_key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    if run_id is not None:
        runs.validate_run_id(run_id)
    service = _Service(settings, model or run_id, predictor)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import torch

        service.default_threads = torch.get_num_threads()
        try:
            await asyncio.to_thread(service.load)
            await asyncio.to_thread(service.choose_runtime)
            logger.info("serving %s (%s) on %s with %d thread(s); predictions run %s", service.predictor.name,
                        service.predictor.family, service.predictor.device, service.threads_for(service.predictor),
                        service.runtime_note or service.served.runtime)
            service.explainers = await asyncio.to_thread(service.explain_pool)
            service.batcher = MicroBatcher(service.predict_served, settings.serve_batch_size,
                                           settings.serve_batch_wait_ms)
            await service.batcher.start()
            service.explainers.warm_up()
            # The ~0.4M objects of the loaded libraries and model never die: keep them out of the collector, whose
            # full passes over them (0.2-0.3 s, measured) stalled every request in flight.
            gc.collect()
            gc.freeze()
            try:
                yield
            finally:
                await service.explainers.close()
                await service.batcher.close()
        finally:
            torch.set_num_threads(service.default_threads)  # run_model changed it for the whole process

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
    app.state.service = service
    app.openapi = lambda: _openapi_with_limits(app, settings)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(SentimentError, _sentiment_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(RequestGuard, api_key=api_key, max_body_bytes=settings.max_body_bytes)
    origins = [origin.strip() for origin in settings.cors_origins.split(",") if origin.strip()]
    if origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "X-API-Key", "Authorization"])

    @app.get("/health", response_model=HealthResponse, summary="Is the model loaded, which one, how busy and with what limits")
    async def health() -> HealthResponse:
        return service.health()

    @app.get("/models", response_model=ModelsResponse, responses=ERRORS,
             summary="What this server can answer with: the served model and every finished run, with test metrics")
    async def models() -> ModelsResponse:
        rows = await asyncio.to_thread(_model_rows, service.predictor)
        return ModelsResponse(models=rows)

    @app.post("/predict", response_model=PredictResponse, responses={**ERRORS, **RUN_ERRORS},
              summary="Label and P(positive) for each text")
    async def predict(request: PredictRequest):
        if not request.texts:
            raise ApiError(422, "texts is empty: send at least one review.", ["body", "texts"])
        if len(request.texts) > settings.max_texts:
            raise ApiError(413, f"{len(request.texts)} texts in one request; the limit is {settings.max_texts} "
                                "(SENTIMENT_MAX_TEXTS): split them over several requests.")
        for index, text in enumerate(request.texts):
            service.check_text(text, ["body", "texts", index])
        chosen = await service.predictor_for(request.chosen_source())
        try:
            if chosen is service.predictor:
                predictions = await service.batcher.predict(request.texts)
            else:
                predictions = await asyncio.to_thread(service.run_model, chosen, "predict", request.texts)
        except InputError as error:
            raise _unreadable(chosen, request.texts, error) from None
        return PredictResponse(model=chosen.name, run=chosen.run_id, predictions=[
            PredictionOut(**{**p.to_dict(), "probability": _finite(p.probability) or 0.0}) for p in predictions])

    @app.post("/explain", response_model=ExplainResponse, responses={**ERRORS, **RUN_ERRORS, **EXPLAIN_ERRORS},
              summary="Word attributions (Captum) for one text")
    async def explain(request: ExplainRequest):
        service.check_text(request.text, ["body", "text"])
        chosen = await service.predictor_for(request.chosen_source())
        method = request.method or default_method(chosen.family)
        try:
            check_steps(request.steps, method)
        except InputError as error:
            raise ApiError.from_error(error, ["body", "steps"], prefix="steps: ") from None
        options = {"steps": request.steps, "baseline": request.baseline}
        try:
            result = await service.explainers.explain(
                None if chosen is service.predictor else chosen.name, request.text, method,
                request.target, options)
        except InputError as error:
            raise ApiError.from_error(error, ["body", "text"], prefix="text: ") from None
        for key in ("probability", "delta", "output", "baseline_output"):
            result[key] = _finite(result[key])
        result["probability"] = result["probability"] or 0.0
        result["words"] = [{**w, "score": _finite(w["score"]) or 0.0} for w in result["words"]]
        return ExplainResponse(model=chosen.name, run=chosen.run_id, **result)

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


def _text(value) -> str | None:
    """A runs-table cell as text, or None where the table has none (NaN: e.g. the loss of an evaluation run)."""
    return value if isinstance(value, str) else None


def _unreadable(predictor, texts: list[str], error: InputError) -> ApiError:
    """The 422 for a request whose prediction failed on bad input: name the first text the model cannot read."""
    for index, text in enumerate(texts):
        try:
            predictor.encode(text)
        except InputError as text_error:
            return ApiError.from_error(text_error, ["body", "texts", index], prefix=f"texts[{index}]: ")
    return ApiError.from_error(error, ["body", "texts"])


def _model_rows(served) -> list[ModelOut]:
    """What this server can answer with: every finished run (trained or evaluation) and the served model."""
    from sentiment_core.inference.default_model import finished_runs

    rows = []
    for row in finished_runs():
        try:
            run_dir = runs.run_path(row["run_id"])
            report = runs.read_json(run_dir / runs.EVAL_FILE) or {}
            kind = (runs.read_json(run_dir / runs.RUN_FILE) or {}).get("kind") or "trained"
        except runs.RunError:
            report, kind = {}, "trained"
        test = report.get("test") or {}
        metrics = {key: test.get(key) for key in ("accuracy", "f1", "roc_auc", "bce")}
        metrics["ece"] = (test.get("calibration") or {}).get("ece")
        rows.append(ModelOut(
            model=row["run_id"], run=row["run_id"], kind=kind if kind == "evaluation" else "trained",
            family=_text(row.get("family")), loss=_text(row.get("loss")), serving=row["run_id"] == served.run_id,
            created=_text(row.get("created")),
            test={key: _finite(value) if isinstance(value, (int, float)) else None for key, value in metrics.items()},
        ))
    if served.run_id is None:  # a checkpoint folder or hub model, not a run
        rows.insert(0, ModelOut(model=served.name, run=None, kind="served", family=served.family, loss=None,
                                serving=True, created=None, test={}))
    return rows


def served_source(settings: Settings) -> str | None:
    """The model source the settings ask a server to serve: SENTIMENT_SERVE_MODEL, else SENTIMENT_SERVE_RUN."""
    return settings.serve_model or settings.serve_run


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
