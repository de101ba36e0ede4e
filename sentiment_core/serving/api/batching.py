"""The micro-batcher: concurrent /predict requests share one model call, run off the event loop."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any


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
                settle(batch[0][1], error=error)
                return
            for item, future in batch:  # find whose request failed; the others still get answers
                try:
                    settle(future, result=list(await asyncio.to_thread(self.predict_fn, item)))
                except Exception as single_error:  # noqa: BLE001
                    settle(future, error=single_error)
            return
        offset = 0
        for item, future in batch:
            settle(future, result=list(results[offset:offset + len(item)]))
            offset += len(item)


def settle(future: asyncio.Future, result=None, error: BaseException | None = None) -> None:
    """Give `future` its result or error, unless its caller went away (it is done already)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
