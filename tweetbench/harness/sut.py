"""MLPerf LoadGen driving a system under test (SUT) in this process, and the in-process SUT itself.

``run_loadgen`` builds LoadGen's TestSettings from a ``LoadGenTest``, constructs the query sample library (QSL:
the validation split, all of it resident, so loading is a no-op) and the SUT, runs ``StartTestWithLogSettings``
with its logs in a folder of the run directory, and reads the figures back from those logs
(``records/loadgen.py``): LoadGen measures, tweetbench only reads what it wrote.

A SUT is anything with ``issue(requests)`` and ``flush()``; a request is ``(response_id, sample_index)`` and every
response goes back through ``complete`` (LoadGen's ``QuerySamplesComplete``) as the predicted class, an int64.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch

from tweetbench.devices import DeviceBackend
from tweetbench.harness.batcher import BatcherConfig, DynamicBatcher
from tweetbench.records.loadgen import read_accuracy, read_run

LoadGenScenario = Literal["SingleStream", "MultiStream", "Server", "Offline"]
LoadGenMode = Literal["PerformanceOnly", "AccuracyOnly"]
Request = tuple[int, int]  # (LoadGen's response id, the sample's index in the QSL)
CompleteFn = Callable[[Sequence[int], Sequence[int]], None]
# The scenarios whose queries go one after another: their run's length follows from the expected latency.
LATENCY_SCENARIOS = ("SingleStream", "MultiStream")


class ServingUnavailable(Exception):
    """Serving cannot run here (LoadGen missing or failing to start, LitServe unable to use the device)."""


def loadgen() -> Any:
    """The ``mlperf_loadgen`` module, or ServingUnavailable with the one line that says how to get it."""
    try:
        import mlperf_loadgen
    except ImportError as exc:
        raise ServingUnavailable(f"MLPerf LoadGen is not installed ({exc.msg}): pip install mlcommons-loadgen") \
            from None
    return mlperf_loadgen


class SystemUnderTest(Protocol):
    def issue(self, requests: list[Request]) -> None: ...

    def flush(self) -> None: ...


@dataclass(frozen=True)
class LoadGenTest:
    """One LoadGen run: its scenario, mode, duration and the scenario's own targets."""

    scenario: LoadGenScenario
    mode: LoadGenMode = "PerformanceOnly"
    min_duration_s: float = 1.0
    min_query_count: int = 1
    target_qps: float = 0.0  # Server: the Poisson arrival rate; Offline: the expected samples/s
    latency_bound_s: float = 0.05  # Server: the p99 bound
    expected_latency_s: float = 0.001  # SingleStream / MultiStream
    samples_per_query: int = 8  # MultiStream
    audit_probability: float = 0.0  # the share of responses logged in a performance run (TEST01-like)
    # Server: LoadGen issues the queries already past their scheduled time in one IssueQuery call (its
    # ``server_coalesce_queries``); latency is still counted per sample from its scheduled time.
    coalesce: bool = False
    seed: int = 0

    def settings(self, lg: Any) -> Any:
        settings = lg.TestSettings()
        settings.scenario = getattr(lg.TestScenario, self.scenario)
        settings.mode = getattr(lg.TestMode, self.mode)
        settings.min_duration_ms = int(self.min_duration_s * 1000)
        # Bounded, so that an overloaded SUT ends the run as INVALID rather than running on; long enough for a
        # SingleStream or MultiStream run to reach its minimum query count at the expected latency.
        needed = 3 * self.min_query_count * self.expected_latency_s if self.scenario in LATENCY_SCENARIOS else 0.0
        if self.scenario == "Server" and self.target_qps > 0:  # its minimum query count at the target rate
            needed = 1.5 * self.min_query_count / self.target_qps
        settings.max_duration_ms = int(max(4 * self.min_duration_s, self.min_duration_s + 30, needed) * 1000)
        settings.min_query_count = self.min_query_count
        settings.server_target_qps = self.target_qps or 1.0
        settings.server_target_latency_ns = int(self.latency_bound_s * 1e9)
        settings.server_coalesce_queries = self.coalesce
        settings.offline_expected_qps = self.target_qps or 1.0
        settings.single_stream_expected_latency_ns = int(self.expected_latency_s * 1e9)
        settings.multi_stream_expected_latency_ns = int(self.expected_latency_s * 1e9)
        settings.multi_stream_samples_per_query = self.samples_per_query
        settings.accuracy_log_probability = self.audit_probability
        settings.accuracy_log_rng_seed = 0x5EED if self.audit_probability else 0
        for name in ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed"):
            setattr(settings, name, self.seed)
        return settings


class Responder:
    """Hands predictions back to LoadGen (``QuerySamplesComplete``), each as the class id's int64 bytes."""

    def __init__(self, lg: Any) -> None:
        self._lg = lg
        self.completed = 0

    def __call__(self, ids: Sequence[int], predictions: Sequence[int]) -> None:
        values = np.asarray(predictions, dtype=np.int64)  # alive until LoadGen has copied what it logs
        base, size = values.ctypes.data, values.itemsize
        self._lg.QuerySamplesComplete([self._lg.QuerySampleResponse(rid, base + i * size, size)
                                       for i, rid in enumerate(ids)])
        self.completed += len(ids)


def decode_prediction(data: bytes) -> int:
    """The class id a response carried."""
    return int(np.frombuffer(data, dtype=np.int64)[0])


def run_loadgen(test: LoadGenTest, make_sut: Callable[[CompleteFn], contextlib.AbstractContextManager[Any]],
                samples: int, log_dir: Path) -> dict[str, Any]:
    """Run one LoadGen test against the SUT ``make_sut(complete)`` builds (a context manager: started before the
    test, stopped after it, on any exit), and return its parsed figures, with ``accuracy_log`` (the responses
    LoadGen logged: index -> class id), ``wall_s`` and, from a SUT that batches, ``batching`` (its ``stats()``)."""
    lg = loadgen()
    log_dir.mkdir(parents=True, exist_ok=True)
    responder = Responder(lg)
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(log_dir)
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.enable_trace = False
    started = time.perf_counter()
    with make_sut(responder) as sut_impl, _constructed(lg, sut_impl, samples) as (sut, qsl):
        lg.StartTestWithLogSettings(sut, qsl, test.settings(lg), log_settings)
    wall = time.perf_counter() - started
    stats = getattr(sut_impl, "stats", None)
    figures = read_run(log_dir)
    accuracy = {index: decode_prediction(data) for index, data in read_accuracy(log_dir).items()}
    return {**figures, "accuracy_log": accuracy, "wall_s": wall, "completed": responder.completed,
            **({"batching": stats()} if stats is not None else {})}


@contextlib.contextmanager
def _constructed(lg: Any, impl: SystemUnderTest, samples: int) -> Iterator[tuple[Any, Any]]:
    def issue(queries: Any) -> None:
        impl.issue([(query.id, query.index) for query in queries])

    try:
        sut = lg.ConstructSUT(issue, impl.flush)
        qsl = lg.ConstructQSL(samples, samples, lambda _: None, lambda _: None)
    except Exception as exc:  # noqa: BLE001  (LoadGen's binding raises plain RuntimeErrors)
        raise ServingUnavailable(f"MLPerf LoadGen failed to start: {exc}") from None
    try:
        yield sut, qsl
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)


class Predictor:
    """The model's forward on a batch of validation samples, padded to the batcher's size: class ids back."""

    def __init__(self, model: torch.nn.Module, backend: DeviceBackend, tokens: torch.Tensor,
                 grad_mode: Callable[[], Any] = torch.inference_mode) -> None:
        self.model, self.backend, self.tokens, self.grad_mode = model.eval(), backend, tokens, grad_mode

    def __call__(self, indices: Sequence[int], size: int) -> list[int]:
        if len(indices) == 1:  # SingleStream's path: a view, no gather
            rows = self.tokens[indices[0]: indices[0] + 1]
        else:
            rows = self.tokens.index_select(0, torch.as_tensor(indices, dtype=torch.long))
        if size > len(indices):
            rows = torch.cat([rows, rows.new_zeros((size - len(indices), rows.shape[1]))])
        with self.grad_mode():
            logits = self.model(rows.to(self.backend.torch_device))
            classes = logits.argmax(dim=-1).cpu()  # the copy back waits for the device
        return classes[: len(indices)].tolist()


class InProcessSUT:
    """LoadGen's queries go straight into a dynamic batcher in this process; its results back to LoadGen."""

    def __init__(self, predictor: Callable[[Sequence[int], int], list[int]], config: BatcherConfig,
                 complete: CompleteFn) -> None:
        self.predictor, self.complete = predictor, complete
        self.inline = config.max_batch_size == 1 and config.timeout_s == 0
        self.error: BaseException | None = None
        self.batcher: DynamicBatcher[Request] = DynamicBatcher(
            config, self._run, lambda batch, results: complete([rid for rid, _ in batch], results))

    def _run(self, batch: list[Request], size: int) -> list[int]:
        if self.error is None:
            try:
                return self.predictor([index for _, index in batch], size)
            except Exception as exc:  # noqa: BLE001  (raised when the test ends, never lost in the thread)
                self.error = exc
        # After a failure every query is still answered (class -1), so that LoadGen ends instead of waiting.
        return [-1] * len(batch)

    def issue(self, requests: list[Request]) -> None:
        if self.inline:
            # Batch size 1 and no wait: run on LoadGen's issuing thread, with no hand-off to the batcher's thread
            # (as MLPerf's reference SUTs do for SingleStream, where the next query waits for this one).
            for rid, index in requests:
                self.complete([rid], self._run([(rid, index)], 1))
            return
        self.batcher.submit(requests)

    def flush(self) -> None:
        """Nothing is held back: the batcher never waits past its timeout."""

    def stats(self) -> dict[str, Any]:
        """The batcher's (inline: every query was a batch of one, run on LoadGen's thread, not counted)."""
        return {**self.batcher.stats(), "inline": self.inline}

    def __enter__(self) -> InProcessSUT:
        self.batcher.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.batcher.stop()
        error = self.error or self.batcher.error
        if error is not None:
            raise error
