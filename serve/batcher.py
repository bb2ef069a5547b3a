"""Dynamic (micro-)batching in front of one model worker thread, as Triton does it.

Requests put their validated columns on an asyncio queue. A collector task takes the
oldest, then keeps taking whatever arrives until the batch holds ``max_batch_size`` rows
or the oldest request has waited ``max_delay_ms``; the batch's columns are concatenated
and run in ONE model call on a single-thread executor, and each request gets its slice of
the outputs back. While the model runs, new requests queue up, so under load batches
grow by themselves and the delay matters only when the server is idle.

A request with more rows than ``max_batch_size`` runs alone (it is never split). With
batching off every request still runs on the worker thread, one call each.

What a batch is made of is pluggable: ``merge`` joins the requests' payloads (default:
concatenate every column along axis 0) and ``split`` hands each request its part of the
outputs (default: slices of :class:`Outputs`, refusing outputs of the wrong length).
Requests only share a batch when their ``key`` is equal (tensor requests whose non-batch
dimensions differ cannot be concatenated); one with another key waits, in arrival order,
to open a later batch. Tabular requests all have the same key.

Callers that wrap each request's whole handling in :meth:`MicroBatcher.in_flight` let
the batcher skip the wait when no other request is being handled: then nobody can join
the batch, and waiting would only add ``max_delay_ms`` to every request at low load.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Mapping, Sequence

import numpy as np

from edgekit.runtime.errors import InferenceError
from edgekit.serve.errors import UnavailableError
from edgekit.serve.predictors import Outputs

BatchFunction = Callable[[Any], Any]
MergeFunction = Callable[[list[Any]], Any]
SplitFunction = Callable[[Any, Sequence[int]], list[Any]]


@dataclass
class BatchStats:
    """Counters for the statistics endpoint; durations in nanoseconds."""

    requests: int = 0
    rows: int = 0
    batches: int = 0
    failed_requests: int = 0
    success_ns: int = 0
    fail_ns: int = 0
    queue_ns: int = 0
    compute_ns: int = 0
    last_inference_ms: int = 0
    max_requests: int = 0
    max_rows: int = 0
    # rows in one model call -> [calls, ns]; requests in one model call -> calls
    by_rows: dict[int, list[int]] = field(default_factory=dict)
    by_requests: Counter = field(default_factory=Counter)

    def record_batch(self, requests: int, rows: int, compute_ns: int) -> None:
        self.batches += 1
        self.compute_ns += compute_ns
        self.max_requests = max(self.max_requests, requests)
        self.max_rows = max(self.max_rows, rows)
        entry = self.by_rows.setdefault(rows, [0, 0])
        entry[0] += 1
        entry[1] += compute_ns
        self.by_requests[requests] += 1
        self.last_inference_ms = int(time.time() * 1000)

    def record_request(self, rows: int, ok: bool, total_ns: int, queue_ns: int) -> None:
        self.requests += 1
        self.rows += rows if ok else 0
        self.queue_ns += queue_ns
        if ok:
            self.success_ns += total_ns
        else:
            self.failed_requests += 1
            self.fail_ns += total_ns

    def summary(self) -> dict:
        return {
            "requests": self.requests,
            "rows": self.rows,
            "batches": self.batches,
            "mean_requests_per_batch": sum(k * v for k, v in self.by_requests.items()) / self.batches if self.batches else 0.0,
            "max_requests_per_batch": self.max_requests,
            "mean_rows_per_batch": sum(k * v[0] for k, v in self.by_rows.items()) / self.batches if self.batches else 0.0,
            "max_rows_per_batch": self.max_rows,
            "requests_per_batch": {str(k): v for k, v in sorted(self.by_requests.items())},
        }


@dataclass
class _Job:
    columns: Mapping[str, np.ndarray]
    rows: int
    future: asyncio.Future
    enqueued: float  # loop.time()
    key: Hashable = ()  # only jobs with equal keys share a batch
    started: int = 0  # perf_counter_ns when its batch started


class MicroBatcher:
    """Runs ``predict`` for concatenated requests on one worker thread."""

    def __init__(self, predict: BatchFunction, *, max_batch_size: int = 32, max_delay_ms: float = 2.0,
                 enabled: bool = True, merge: MergeFunction | None = None, split: SplitFunction | None = None):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        if max_delay_ms < 0:
            raise ValueError(f"max_delay_ms cannot be negative, got {max_delay_ms}")
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_delay_ms = max_delay_ms
        self.enabled = enabled
        self.merge = merge or concatenate_rows
        self.split = split or split_rows
        self.stats = BatchStats()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edgekit-model")
        self._queue: asyncio.Queue[_Job] | None = None
        self._waiting: deque[_Job] = deque()
        self._collector: asyncio.Task | None = None
        self._closed = False
        self._in_flight = 0
        self._tracking = False

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Start the collector on the running loop (also done lazily on first submit)."""
        if self.enabled and self._collector is None:
            self._queue = asyncio.Queue()
            self._collector = asyncio.get_running_loop().create_task(self._collect(), name="edgekit-batcher")

    async def run_on_worker(self, fn: Callable, *args):
        """Run any call on the model thread (warm-up, closing a log, ...)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def close(self) -> None:
        self._closed = True
        if self._collector is not None:
            self._collector.cancel()
            try:
                await self._collector
            except asyncio.CancelledError:
                pass
            self._collector = None
        while self._waiting:
            _settle(self._waiting.popleft(), exc=UnavailableError("the server is shutting down"))
        if self._queue is not None:
            while not self._queue.empty():
                _settle(self._queue.get_nowait(), exc=UnavailableError("the server is shutting down"))

    def shutdown_executor(self) -> None:
        self.executor.shutdown(wait=True)

    # -- requests ------------------------------------------------------------------------
    @contextlib.contextmanager
    def in_flight(self):
        """Wrap one request's handling (parsing included): while others are in flight the
        batcher waits for them; when none are, it runs the batch at once."""
        self._tracking = True
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1

    async def submit(self, columns: Mapping[str, np.ndarray], rows: int, *, key: Hashable = ()) -> Outputs:
        """Queue validated columns of ``rows`` rows; return their outputs. Only requests
        with an equal ``key`` are batched together."""
        if self._closed:
            raise UnavailableError("the server is shutting down")
        loop = asyncio.get_running_loop()
        if not self.enabled:
            return await self._run_alone(columns, rows, loop)
        if self._collector is None:
            self.start()
        job = _Job(columns, rows, loop.create_future(), loop.time(), key)
        t0 = time.perf_counter_ns()
        self._queue.put_nowait(job)
        try:
            outputs = await job.future
        except BaseException:
            self._record(job, rows, False, t0)
            raise
        self._record(job, rows, True, t0)
        return outputs

    def _record(self, job: _Job, rows: int, ok: bool, t0: int) -> None:
        end = time.perf_counter_ns()
        queued = (job.started or end) - t0
        self.stats.record_request(rows, ok, end - t0, max(queued, 0))

    async def _run_alone(self, columns, rows: int, loop) -> Outputs:
        t0 = time.perf_counter_ns()
        started: list[int] = []

        def call():
            started.append(time.perf_counter_ns())
            return self.predict(columns)

        ok = False
        try:
            outputs = await loop.run_in_executor(self.executor, call)
            ok = True
            return outputs
        finally:
            end = time.perf_counter_ns()
            begin = started[0] if started else end
            if ok:
                self.stats.record_batch(1, rows, end - begin)
            self.stats.record_request(rows, ok, end - t0, begin - t0)

    # -- the collector ---------------------------------------------------------------------
    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self._queue
        waiting = self._waiting  # taken from the queue, not yet batched: oldest first
        while True:
            first = waiting.popleft() if waiting else await queue.get()
            jobs, rows, full = [first], first.rows, False
            for job in list(waiting):  # those that arrived earlier go before the queue's
                if job.key == first.key and not full:
                    if rows + job.rows > self.max_batch_size:
                        full = True
                    else:
                        waiting.remove(job)
                        jobs.append(job)
                        rows += job.rows
            deadline = first.enqueued + self.max_delay_ms / 1000.0
            while not full and rows < self.max_batch_size:
                if queue.empty():
                    if self._tracking and self._in_flight <= len(jobs) + len(waiting):
                        break  # every request being handled is in this batch or waiting: nobody else to wait for
                    timeout = deadline - loop.time()
                    if timeout <= 0:
                        break
                    try:
                        job = await asyncio.wait_for(queue.get(), timeout)
                    except asyncio.TimeoutError:
                        break
                else:
                    job = queue.get_nowait()
                if job.key != first.key:
                    waiting.append(job)  # cannot join this batch: it opens a later one
                elif rows + job.rows > self.max_batch_size:
                    waiting.append(job)
                    break
                else:
                    jobs.append(job)
                    rows += job.rows
            try:
                await self._run_batch(jobs, loop)
            except Exception as exc:  # a bug here must fail these requests, not stall all later ones
                for job in jobs:
                    _settle(job, exc=exc)

    async def _run_batch(self, jobs: list[_Job], loop) -> None:
        jobs = [j for j in jobs if not j.future.done()]  # cancelled while queued
        if not jobs:
            return
        started = time.perf_counter_ns()
        for job in jobs:
            job.started = started
        try:
            outputs = await self._call(self.merge([j.columns for j in jobs]), loop)
            parts = self.split(outputs, [j.rows for j in jobs])
        except Exception as exc:
            if len(jobs) == 1:
                _settle(jobs[0], exc=exc)
                return
            # One request's rows broke the batch: run each alone so only it fails.
            for job in jobs:
                begin = time.perf_counter_ns()
                try:
                    (one,) = self.split(await self._call(job.columns, loop), [job.rows])
                except Exception as single_exc:
                    _settle(job, exc=single_exc)
                else:
                    self.stats.record_batch(1, job.rows, time.perf_counter_ns() - begin)
                    _settle(job, result=one)
            return
        self.stats.record_batch(len(jobs), sum(j.rows for j in jobs), time.perf_counter_ns() - started)
        for job, part in zip(jobs, parts, strict=True):
            _settle(job, result=part)

    async def _call(self, payload: Any, loop) -> Any:
        return await loop.run_in_executor(self.executor, self.predict, payload)


def concatenate_rows(parts: list[Mapping[str, np.ndarray]]) -> Mapping[str, np.ndarray]:
    """Every named array of every part, joined along axis 0 (the rows)."""
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def split_rows(outputs: Outputs, sizes: Sequence[int]) -> list[Outputs]:
    """Consecutive row slices of ``outputs``, one per request of ``sizes`` rows."""
    total = sum(sizes)
    if len(outputs) != total:  # slicing would hand requests each other's rows
        raise InferenceError(f"the model returned {len(outputs)} rows of outputs for {total} rows of inputs")
    parts, offset = [], 0
    for size in sizes:
        parts.append(outputs.slice(offset, offset + size))
        offset += size
    return parts


def _settle(job: _Job, *, result: Outputs | None = None, exc: BaseException | None = None) -> None:
    if job.future.done():  # the client went away
        return
    if exc is not None:
        job.future.set_exception(exc)
    else:
        job.future.set_result(result)
