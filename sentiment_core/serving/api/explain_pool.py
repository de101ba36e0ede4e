"""Explanations in processes of their own, so they never hold up predictions and can be stopped.

Each process gets the served predictor (its weights in shared memory) and its own torch thread count;
a pool bounds how many run and how many wait (503 beyond), and kills one past its time limit (504).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import threading
import time
import traceback
from collections import deque

from sentiment_core.core import errors
from sentiment_core.core.errors import BusyError, SentimentError, TimeLimitError
from sentiment_core.core.settings import get_settings
from sentiment_core.serving.api.batching import settle

logger = logging.getLogger("sentiment_core.serving.api")

EXPLAIN_STARTUP_TIMEOUT_S = 300.0  # for a new explanation process to load its model; a bug past it
_PRELOAD = ["sentiment_core.serving.api.explain_pool", "sentiment_core.explain.attribution",
            "sentiment_core.explain.counterfactual", "sentiment_core.modeling", "captum.attr"]


def _process_context():
    """forkserver where the platform has one, else spawn. A forkserver child forks from a clean
    server process that imported torch and Captum once, so it starts without importing them again and
    inherits no lock another thread of this server held (a plain fork of a threaded server could).
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


EXPLAIN_NICENESS = 10  # explanation processes run at a lower CPU priority than the server's predictions


def _explainer_main(conn, predictor, threads: int, environ: dict[str, str], cwd: str, parent_pid: int) -> None:
    """One explanation process: answer `(task, source, text, method, target, options)` messages (task: explain or
    counterfactual) with `("ok", result dict)`, `("user_error", kind, message)` or `("bug", traceback)` until
    the server closes the pipe. `predictor` is the served one; multiprocessing hands its weights over
    in shared memory (torch's reductions), so this process holds no second copy of them."""
    import signal

    import torch

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
            task, source, text, method, target, options = conn.recv()
        except (EOFError, OSError):  # the server closed the pipe: done
            return
        try:
            chosen = predictor if source in (None, predictor.name) else load_predictor(source)
            reply = ("ok", _answer(task, chosen, text, method, target, options))
        except SentimentError as error:
            reply = ("user_error", type(error).__name__, str(error))
        except Exception:  # noqa: BLE001 - a bug: the server answers 500 and logs this
            reply = ("bug", traceback.format_exc())
        conn.send(reply)


def _answer(task: str, predictor, text: str, method: str | None, target: str | None, options: dict) -> dict:
    """What an explanation process computes: an explanation's dict, or {"counterfactuals": [...]}."""
    if task == "counterfactual":
        from sentiment_core.explain.counterfactual import counterfactuals

        found = counterfactuals(predictor, text, target=target, **options)
        return {"counterfactuals": [result.to_dict() for result in found]}
    from sentiment_core.explain.attribution import explain

    (explanation,) = explain(predictor, [text], method=method, target=target, **options)
    return explanation.to_dict()


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
            settle(self._waiters.popleft(), error=BusyError("The server is shutting down: retry on another one."))
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
            return await self._run(explainer, ("explain", run_id, text, method, target, options))
        finally:
            self._release(explainer)

    async def counterfactuals(self, run_id: str | None, text: str, target: str | None, n: int) -> list[dict]:
        """The edited reviews (`Counterfactual.to_dict()`) of `text`, searched in a free process."""
        explainer = await self._acquire()
        try:
            reply = await self._run(explainer, ("counterfactual", run_id, text, None, target, {"n": n}))
            return reply["counterfactuals"]
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
