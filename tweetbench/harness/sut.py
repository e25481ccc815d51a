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
RESPONSE_BYTES = 8  # a response is the class id as one int64


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
    """Hands predictions back to LoadGen (``QuerySamplesComplete``), each as the class id's int64 bytes.

    A response points at a constant int64 of its class id, kept for the responder's life (LoadGen needs the data
    only while ``QuerySamplesComplete`` runs, and copies what it logs): no array is built per response, which
    after a forward pass, with the caches cold, cost more than the rest of the hand-off.
    """

    def __init__(self, lg: Any) -> None:
        self._lg = lg
        self.completed = 0
        self._values: dict[int, np.ndarray] = {}  # class id -> its constant int64
        self._addresses: dict[int, int] = {}  # class id -> the address of that int64

    def _address(self, value: int) -> int:
        address = self._addresses.get(value)
        if address is None:
            array = self._values.setdefault(value, np.array([value], dtype=np.int64))
            address = self._addresses.setdefault(value, array.__array_interface__["data"][0])
        return address

    def __call__(self, ids: Sequence[int], predictions: Sequence[int]) -> None:
        response, address = self._lg.QuerySampleResponse, self._address
        self._lg.QuerySamplesComplete([response(rid, address(value), RESPONSE_BYTES)
                                       for rid, value in zip(ids, predictions)])
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
    """The model's forward on a batch of validation samples, padded to the batcher's size: class ids back.

    ``one(index)`` is SingleStream's path, one sample and nothing around the forward that can be done before:
    the sample's row is a view made at construction, and the grad mode is entered once per thread
    (``grad_mode_entered``), not per call.
    """

    def __init__(self, model: torch.nn.Module, backend: DeviceBackend, tokens: torch.Tensor,
                 grad_mode: Callable[[], Any] = torch.inference_mode) -> None:
        self.model, self.backend, self.tokens, self.grad_mode = model.eval(), backend, tokens, grad_mode
        self._rows = tokens.split(1)  # one view per sample, no copy

    def __call__(self, indices: Sequence[int], size: int) -> list[int]:
        if len(indices) == 1:  # a batch of one: its view, no gather
            rows = self._rows[indices[0]]
        else:
            rows = self.tokens.index_select(0, torch.as_tensor(indices, dtype=torch.long))
        if size > len(indices):
            rows = torch.cat([rows, rows.new_zeros((size - len(indices), rows.shape[1]))])
        with self.grad_mode():
            logits = self.model(rows.to(self.backend.torch_device))
            classes = logits.argmax(dim=-1).cpu()  # the copy back waits for the device
        return classes[: len(indices)].tolist()

    def one(self, index: int) -> int:
        """The class of one sample, as ``self([index], 1)[0]``, in the grad mode if this thread is not in it."""
        if torch.is_grad_enabled():  # not on a thread that entered the grad mode
            with self.grad_mode():
                return self._one(index)
        return self._one(index)

    def _one(self, index: int) -> int:
        # The batch path's graph and copy back (on XLA, int() of the device tensor itself, an .item(), is another
        # graph than the warm-up compiled); the copy back waits for the device.
        return int(self.model(self._rows[index].to(self.backend.torch_device)).argmax(dim=-1).cpu())

    @contextlib.contextmanager
    def grad_mode_entered(self) -> Iterator[None]:
        """The grad mode, entered once for the calling thread (for the duration of a LoadGen test)."""
        with self.grad_mode():
            yield


class BatchPredictor(Protocol):
    """Class ids for the samples at ``indices``, run as a batch of ``size`` (padded)."""

    def __call__(self, indices: Sequence[int], size: int) -> list[int]: ...


class InProcessSUT:
    """LoadGen's queries go straight into a dynamic batcher in this process; its results back to LoadGen.

    With a batch of one and no wait (SingleStream), a query runs inline on LoadGen's issuing thread, which is the
    thread that enters this SUT: there, a ``Predictor``'s grad mode is entered once, on entry, and each query
    takes its single-sample path (``Predictor.one``).
    """

    def __init__(self, predictor: BatchPredictor, config: BatcherConfig, complete: CompleteFn) -> None:
        self.predictor, self.complete = predictor, complete
        self.inline = config.max_batch_size == 1 and config.timeout_s == 0
        self._one: Callable[[int], int] = getattr(predictor, "one", None) or (lambda index: predictor([index], 1)[0])
        self._thread_mode: contextlib.ExitStack | None = None
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

    def _run_one(self, index: int) -> int:
        if self.error is None:
            try:
                return self._one(index)
            except Exception as exc:  # noqa: BLE001  (raised when the test ends)
                self.error = exc
        return -1

    def issue(self, requests: list[Request]) -> None:
        if self.inline:
            # Batch size 1 and no wait: run on LoadGen's issuing thread, with no hand-off to the batcher's thread
            # (as MLPerf's reference SUTs do for SingleStream, where the next query waits for this one).
            for rid, index in requests:
                self.complete((rid,), (self._run_one(index),))
            return
        self.batcher.submit(requests)

    def flush(self) -> None:
        """Nothing is held back: the batcher never waits past its timeout."""

    def stats(self) -> dict[str, Any]:
        """The batcher's (inline: every query was a batch of one, run on LoadGen's thread, not counted)."""
        return {**self.batcher.stats(), "inline": self.inline}

    def __enter__(self) -> InProcessSUT:
        if self.inline:
            entered = getattr(self.predictor, "grad_mode_entered", None)
            if entered is not None:
                self._thread_mode = contextlib.ExitStack()
                self._thread_mode.enter_context(entered())
            return self
        self.batcher.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.batcher.stop()
        if self._thread_mode is not None:
            self._thread_mode.close()
            self._thread_mode = None
        error = self.error or self.batcher.error
        if error is not None:
            raise error
