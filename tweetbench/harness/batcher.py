"""A dynamic batcher: requests queue up, one thread runs them through the model in batches.

A batch starts with the oldest queued request and takes every request queued behind it, up to
``max_batch_size``; it waits at most ``timeout_s`` after its first request for more to arrive (0: it runs at
once with what is queued, so a lone request never waits). On a device that compiles a graph per shape (XLA),
the batch is padded up to the next of a fixed set of bucket sizes, so that after each bucket's first batch a
measured window compiles nothing; the padding rows are computed and dropped.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Request = TypeVar("Request")


@dataclass(frozen=True)
class BatcherConfig:
    """The batcher's knobs, recorded with every serving figure."""

    max_batch_size: int
    timeout_s: float
    # Sizes a batch is padded up to (None: every batch runs at its own size).
    buckets: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.timeout_s < 0:
            raise ValueError("a batcher needs max_batch_size >= 1 and timeout_s >= 0")
        if self.buckets is not None and (not self.buckets or max(self.buckets) < self.max_batch_size):
            raise ValueError(f"buckets {self.buckets} must reach max_batch_size {self.max_batch_size}")

    def to_dict(self) -> dict[str, Any]:
        return {"max_batch_size": self.max_batch_size, "timeout_s": self.timeout_s,
                "buckets": None if self.buckets is None else list(self.buckets)}


def power_of_two_buckets(max_batch_size: int) -> tuple[int, ...]:
    """1, 2, 4, ... up to the first power of two that holds ``max_batch_size``: at most log2(max)+1 graphs."""
    sizes, size = [1], 1
    while size < max_batch_size:
        size *= 2
        sizes.append(size)
    return tuple(sizes)


def bucket_for(count: int, buckets: Sequence[int] | None) -> int:
    """The size a batch of ``count`` requests runs at: the smallest bucket that holds it (itself without buckets)."""
    if count < 1:
        raise ValueError("a batch has at least one request")
    if buckets is None:
        return count
    fitting = [size for size in buckets if size >= count]
    if not fitting:
        raise ValueError(f"a batch of {count} exceeds the largest bucket {max(buckets)}")
    return min(fitting)


# run(requests, padded_size) -> one result per request; done(requests, results) hands them back.
RunFn = Callable[[list[Any], int], Sequence[Any]]
DoneFn = Callable[[list[Any], Sequence[Any]], None]


class DynamicBatcher(Generic[Request]):
    """One worker thread that batches submitted requests through ``run`` and hands results to ``done``."""

    def __init__(self, config: BatcherConfig, run: RunFn, done: DoneFn) -> None:
        self.config, self._run, self._done = config, run, done
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.batch_sizes: Counter[int] = Counter()  # requests per batch, as run (before padding)
        self.padded_sizes: Counter[int] = Counter()
        self.busy_s = 0.0  # seconds spent in ``run``: the rest of a test the worker waited for requests
        self.error: BaseException | None = None

    def submit(self, requests: Sequence[Request]) -> None:
        for request in requests:
            self._queue.put(request)

    def start(self) -> DynamicBatcher[Request]:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="tweetbench-batcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> DynamicBatcher[Request]:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next_batch(self) -> list[Request]:
        try:
            first = self._queue.get(timeout=0.05)
        except queue.Empty:
            return []
        batch, deadline = [first], time.perf_counter() + self.config.timeout_s
        while len(batch) < self.config.max_batch_size:
            wait = deadline - time.perf_counter()
            try:
                batch.append(self._queue.get_nowait() if wait <= 0 else self._queue.get(timeout=wait))
            except queue.Empty:
                break
        return batch

    def _loop(self) -> None:
        while not self._stop.is_set():
            batch = self._next_batch()
            if not batch:
                continue
            size = bucket_for(len(batch), self.config.buckets)
            self.batch_sizes[len(batch)] += 1
            self.padded_sizes[size] += 1
            began = time.perf_counter()
            try:
                results = self._run(batch, size)
            except BaseException as exc:  # noqa: BLE001  (kept and raised by the caller, never lost in a thread)
                self.error = exc
                self._stop.set()
                return
            self.busy_s += time.perf_counter() - began
            self._done(batch, results)

    def stats(self) -> dict[str, Any]:
        """How the requests were batched: the count of batches of each size, before and after padding, and the
        seconds the worker spent running them (``busy_s``; per request, ``busy_ms_per_request``)."""
        batches = sum(self.batch_sizes.values())
        requests = sum(size * count for size, count in self.batch_sizes.items())
        return {"batches": batches, "mean_batch": requests / batches if batches else None, "busy_s": self.busy_s,
                "busy_ms_per_request": 1000 * self.busy_s / requests if requests else None,
                "batch_sizes": {str(k): v for k, v in sorted(self.batch_sizes.items())},
                "padded_sizes": {str(k): v for k, v in sorted(self.padded_sizes.items())}}
