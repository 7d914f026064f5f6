"""Dynamic batching: concurrent requests for the same model version and signature merge into
one model call, as TF Serving's `--enable_batching` does.

A request's inputs join a bounded queue; one worker thread per (servable, signature) takes
whatever has arrived and runs the signature once on the concatenated batch, handing each
request its rows. It waits for more (at most `batch_timeout_s`, until `max_batch_size`
examples) only while requests already submitted are still on their way to it; with none, the
batch runs at once. So a lone request is never held for the timeout (TF Serving waits it out:
at concurrency 1 that cost 76% of the throughput here), and under load batches grow by
themselves from the requests that arrive while the model runs the previous one. Callers on
an asyncio event loop pass it and get an asyncio future; a batch's answers reach that loop
in one call (one wake-up per batch, not per request). A full queue refuses new requests at
once (`ResourceExhausted`: HTTP 429, gRPC RESOURCE_EXHAUSTED) rather than letting memory grow.

Example:
    >>> batcher = Batcher(function, BatchingOptions(max_batch_size=32))  # doctest: +SKIP
    >>> outputs = batcher.submit({"images": x}).result()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np

from zoo.serving.errors import InvalidArgument, ResourceExhausted, Unavailable


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's batching parameters (`--batching_parameters_file`), in seconds."""

    max_batch_size: int = 32
    batch_timeout_s: float = 0.002
    max_enqueued_requests: int = 1024

    def __post_init__(self):
        if self.max_batch_size < 1 or self.batch_timeout_s < 0 or self.max_enqueued_requests < 1:
            raise ValueError(f"Invalid batching options: {self}. Expected max_batch_size >= 1, "
                             "batch_timeout_s >= 0, max_enqueued_requests >= 1.")


@dataclasses.dataclass
class _Request:
    inputs: dict[str, np.ndarray]
    size: int
    future: Future | asyncio.Future
    loop: asyncio.AbstractEventLoop | None = None  # set for asyncio futures


class Batcher:
    """Merges concurrent calls of one signature into batched calls on a worker thread.

    `run(inputs) -> outputs` is the model call (NumPy in, NumPy out); `on_batch(size)` is told
    each batch's size (for metrics).

    Requests from an event loop are handed over together: those submitted in one pass of the
    loop go to the worker in one queue operation at the end of the pass (waking the worker
    once, not once per request), and their answers come back in one call.
    """

    def __init__(self, run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
                 options: BatchingOptions, on_batch: Callable[[int], None] | None = None, name: str = ""):
        self.run, self.options, self.on_batch = run, options, on_batch
        self._queue: queue.SimpleQueue[list[_Request] | None] = queue.SimpleQueue()
        self._queued = 0  # requests submitted and not yet taken into a batch (the bound)
        self._queued_lock = threading.Lock()
        self._from_loops: dict[asyncio.AbstractEventLoop, list[_Request]] = {}
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=f"zoo-batcher-{name}", daemon=True)
        self._thread.start()

    def submit(self, inputs: dict[str, np.ndarray], loop: asyncio.AbstractEventLoop | None = None
               ) -> Future | asyncio.Future:
        """Queues one request (arrays sharing their first dimension); returns its future: an
        asyncio future of `loop` when given (call this from that loop), else a thread future."""
        sizes = {array.shape[0] if array.ndim else None for array in inputs.values()}
        if len(sizes) != 1 or None in sizes:
            raise InvalidArgument("With batching on, every input needs the same first (batch) dimension.")
        request = _Request(inputs, sizes.pop(), loop.create_future() if loop is not None else Future(), loop)
        if request.size > self.options.max_batch_size:
            raise InvalidArgument(f"Task size {request.size} is larger than maximum input batch size "
                                  f"{self.options.max_batch_size}: send at most that many examples per request "
                                  "or raise --max-batch-size.")
        with self._queued_lock:  # with close(): a request is either refused or answered
            if self._closed:
                raise Unavailable("The model version is being unloaded; retry.")
            if self._queued >= self.options.max_enqueued_requests:
                raise ResourceExhausted(f"The batching queue is full ({self.options.max_enqueued_requests} "
                                        "requests waiting): the server is overloaded, retry later.")
            self._queued += 1
        if loop is None:
            self._queue.put([request])
        else:
            waiting = self._from_loops.setdefault(loop, [])
            if not waiting:
                loop.call_soon(self._hand_over, loop)
            waiting.append(request)
        return request.future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        self._queue.put(self._from_loops.pop(loop, []))

    def close(self) -> None:
        """Finishes the queued requests, then stops the worker."""
        with self._queued_lock:
            self._closed = True
        self._queue.put(None)

    def _work(self) -> None:
        waiting: collections.deque[_Request] = collections.deque()
        closing = False
        while True:
            if not waiting:
                with self._queued_lock:
                    if closing and self._queued == 0:
                        return  # every accepted request is answered (some may still be on their way)
                item = self._queue.get()
                if item is None:
                    closing = True
                    continue
                waiting.extend(item)
            first = waiting[0]
            batch, size = [], 0
            deadline = time.monotonic() + self.options.batch_timeout_s
            while True:
                while waiting and size + waiting[0].size <= self.options.max_batch_size \
                        and _compatible(waiting[0], first):
                    request = waiting.popleft()
                    batch.append(request)
                    size += request.size
                if waiting or size >= self.options.max_batch_size or closing:
                    break  # full, or the next request starts the next batch
                with self._queued_lock:
                    on_their_way = self._queued - len(batch)  # submitted, not yet handed over
                if on_their_way <= 0:
                    break  # nothing else can join: run now rather than wait out the timeout
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    closing = True  # stop once everything queued is answered
                else:
                    waiting.extend(item)
            with self._queued_lock:
                self._queued -= len(batch)
            self._run_batch(batch, size)

    def _run_batch(self, batch: list[_Request], size: int) -> None:
        if self.on_batch is not None:
            self.on_batch(size)
        try:
            merged = {key: np.concatenate([r.inputs[key] for r in batch]) if len(batch) > 1 else batch[0].inputs[key]
                      for key in batch[0].inputs}
            outputs = self.run(merged)
        except BaseException as error:  # every waiting request gets the failure
            _deliver([(request, None, error) for request in batch])
            return
        answers, start = [], 0
        for request in batch:
            end = start + request.size
            answers.append((request, {name: value[start:end] if np.ndim(value) and len(value) == size else value
                                      for name, value in outputs.items()}, None))
            start = end
        _deliver(answers)


def _compatible(request: _Request, first: _Request) -> bool:
    """Whether `request` can join `first`'s batch: the same inputs, the same example shapes."""
    return request is first or (request.inputs.keys() == first.inputs.keys() and all(
        request.inputs[key].shape[1:] == first.inputs[key].shape[1:] for key in first.inputs))


def _deliver(answers: list[tuple[_Request, Any, BaseException | None]]) -> None:
    """Sets each request's result or error: thread futures here, asyncio futures with one
    call per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list] = {}
    for request, result, error in answers:
        if request.loop is not None:
            by_loop.setdefault(request.loop, []).append((request.future, result, error))
        elif error is not None:
            request.future.set_exception(error)
        else:
            request.future.set_result(result)
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, items)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            pass


def _settle(items) -> None:
    for future, result, error in items:
        if future.done():  # answered already (the request timed out)
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


def wait(future: Future, timeout_s: float | None) -> Any:
    """The result of a batched call, or `DeadlineExceeded` after `timeout_s`."""
    from concurrent.futures import TimeoutError as FutureTimeout

    from zoo.serving.errors import DeadlineExceeded

    try:
        return future.result(timeout=timeout_s)
    except FutureTimeout:
        raise DeadlineExceeded(f"The request took longer than the server's {timeout_s} s timeout.") from None
