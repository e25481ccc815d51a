"""What every LoadGen run of the serve scenario shares, whichever system is under test: the device's context,
and the runner that drives one scenario after another (SingleStream, Offline, MultiStream, the Server search and
its overload point, AccuracyOnly), keeping each run's figures, its compile count and the responses LoadGen logged.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tweetbench.analysis.qps_search import SearchConfig, search_max_qps
from tweetbench.config import DeviceJob, ServeConfig
from tweetbench.devices import DeviceBackend
from tweetbench.harness.batcher import BatcherConfig, power_of_two_buckets
from tweetbench.harness.interference import CpuProbe, interference_section
from tweetbench.harness.sut import InProcessSUT, LoadGenTest, run_loadgen
from tweetbench.scenarios.outcome import Phases, measure
from tweetbench.scenarios.serve_checks import accuracy_check, check_compiles
from tweetbench.workload.dataset import TweetData

NOT_COMPLIANT = ("Not MLPerf-compliant: LoadGen's scenarios and rules, but runs of seconds to minutes instead of "
                 "600 s, and no audit beyond a TEST01-like response check.")
# LoadGen's early stopping needs at least this many queries to bound a p99 (its own message says so).
SERVER_MIN_QUERIES = 500
MULTI_STREAM_MIN_QUERIES = 662
# A run that ended before its minimum duration is run again asking LoadGen for this much more work.
OFFLINE_HEADROOM = 1.5
@dataclass
class ServeContext:
    """What every LoadGen run of one device shares."""

    job: DeviceJob
    backend: DeviceBackend
    config: ServeConfig
    data: TweetData
    log_root: Path
    phases: Phases
    run_dir: Path

    @property
    def bound_s(self) -> float:
        return self.config.latency_bound_ms / 1000

    @property
    def samples(self) -> int:
        return len(self.data.val)

    def log_dir(self, server: str, name: str) -> Path:
        return self.log_root / server / name


def grad_mode(backend: DeviceBackend) -> Callable[[], Any]:
    """Lightning's own predict mode on this device: inference_mode, no_grad on XLA (as its predict loop does)."""
    return torch.no_grad if "compile_count" in backend.counters() else torch.inference_mode


def batcher_buckets(backend: DeviceBackend, max_batch: int) -> tuple[int, ...] | None:
    """Fixed batch sizes on a device that compiles a graph per shape (it counts compiles), else None."""
    return power_of_two_buckets(max_batch) if "compile_count" in backend.counters() else None


def inprocess_threads(requested: int | None) -> int:
    """torch's threads while LoadGen drives the in-process SUT, unless --threads says: every core but one. LoadGen's
    issuing thread and the batcher's Python run in this process; with a thread on every core, torch's pool stalls
    whenever they run (v1 on 2 cores: each Server request cost 1.8x Offline's, and the second thread added no QPS)."""
    return requested or max(1, len(os.sched_getaffinity(0)) - 1)


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def median_seconds(call: Callable[[], Any], sync: Callable[[], None], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        sync()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


class LoadGenRunner:
    """One LoadGen run after another against one SUT, each run's figures and compile count kept."""

    def __init__(self, context: ServeContext, server: str, predictor: Callable[[Sequence[int], int], list[int]],
                 buckets: tuple[int, ...] | None, result: dict[str, Any],
                 make_sut: Callable[[BatcherConfig], Callable[[Any], Any]] | None = None) -> None:
        self.context, self.server, self.predictor, self.buckets = context, server, predictor, buckets
        self.result = result
        self.audited: dict[int, int] = {}  # TEST01-like: responses LoadGen logged in performance runs
        self._make_sut = make_sut or (lambda batcher: lambda complete: InProcessSUT(predictor, batcher, complete))

    def batcher(self, max_batch: int, timeout_s: float) -> BatcherConfig:
        buckets = None if self.buckets is None else tuple(b for b in self.buckets if b <= max_batch) or (max_batch,)
        if buckets is not None and max(buckets) < max_batch:
            buckets = (*buckets, max_batch)
        return BatcherConfig(max_batch, timeout_s, buckets)

    def run(self, name: str, test: LoadGenTest, batcher: BatcherConfig) -> dict[str, Any]:
        """One LoadGen run, its window probed for interference (the CPU other processes took while it ran); under
        ``--on-interference remeasure``, run again while interfered, every attempt kept under ``remeasured``."""
        figures, earlier = measure(self.context.job, lambda n: self._run_once(
            name if n == 1 else f"{name}_attempt{n}", test, batcher), lambda run: run.get("interference"))
        if earlier:
            figures["remeasured"] = earlier
        return figures

    def _run_once(self, name: str, test: LoadGenTest, batcher: BatcherConfig) -> dict[str, Any]:
        context = self.context
        timed = test.mode == "PerformanceOnly"  # an accuracy run is not timed: what others took does not matter
        context.phases.start(f"{self.server}-{name}", 1)
        context.backend.begin_measurement()
        probe = CpuProbe()
        if timed:
            probe.start()
        figures = run_loadgen(test, self._make_sut(batcher), context.samples, context.log_dir(self.server, name))
        probe.stop()  # a probe never started reads nothing
        window = context.backend.end_measurement()
        logged = figures.pop("accuracy_log")
        if timed:
            figures["interference"] = interference_section(probe.result(), [], figures["wall_s"])
            self.audited.update(logged)
        else:
            figures["accuracy_log"] = logged
        if self.server == "inprocess":  # LitServe batches with its own settings (recorded once, per server)
            figures["batcher"] = batcher.to_dict()
        figures["log_dir"] = str(Path(figures["log_dir"]).relative_to(context.run_dir))  # the record travels
        problem = check_compiles(context.backend, window, name)
        figures["device_window"], figures["compile_problem"] = window, problem
        if problem:
            self.result["problems"].append(problem)
        return figures

    def _test(self, scenario: str, seconds: float, **fields: Any) -> LoadGenTest:
        return LoadGenTest(scenario, min_duration_s=seconds,  # type: ignore[arg-type]
                           audit_probability=self.context.config.audit_probability,
                           seed=self.context.job.workload.seed, **fields)

    def run_long_enough(self, name: str, make_test: Callable[[float], LoadGenTest], expected: float,
                        batcher: BatcherConfig) -> dict[str, Any]:
        """A run whose length LoadGen fixes up front from ``expected`` (latency or samples/s); once more, with
        what the first run measured, where it ended before the minimum duration (every run kept)."""
        figures = self.run(name, make_test(expected), batcher)
        if figures["constraints"]["min_duration_met"] is False:
            measured = figures["samples_per_s"] if make_test(1.0).scenario == "Offline" else \
                figures["latency_s"]["mean_s"]
            if measured:
                better = OFFLINE_HEADROOM * max(measured, expected) if make_test(1.0).scenario == "Offline" \
                    else min(measured, expected) / OFFLINE_HEADROOM
                figures = {**self.run(f"{name}_retry", make_test(better), batcher), "earlier": [figures]}
        return figures

    def single_stream(self, forward_s: float) -> dict[str, Any]:
        # 662 queries at least: what LoadGen's early stopping needs for a p99 estimate.
        return self.run_long_enough("single_stream", lambda expected: self._test(
            "SingleStream", self.context.config.single_stream_s, min_query_count=MULTI_STREAM_MIN_QUERIES,
            expected_latency_s=expected), forward_s / 2, self.batcher(1, 0.0))

    def offline(self, samples_per_s: float) -> dict[str, Any]:
        config = self.context.config
        return self.run_long_enough("offline", lambda expected: self._test(
            "Offline", config.offline_s, target_qps=expected), samples_per_s, self.batcher(config.max_batch_size, 0.0))

    def multi_stream(self, query_s: float) -> dict[str, Any]:
        config = self.context.config
        return self.run_long_enough("multi_stream", lambda expected: self._test(
            "MultiStream", config.multi_stream_s, min_query_count=MULTI_STREAM_MIN_QUERIES, expected_latency_s=expected,
            samples_per_query=config.multi_stream_samples), query_s / 2,
            self.batcher(config.multi_stream_samples, 0.0))

    def server_point(self, target_qps: float, name: str) -> dict[str, Any]:
        config = self.context.config
        test = self._test("Server", config.server_point_s, min_query_count=SERVER_MIN_QUERIES, target_qps=target_qps,
                          latency_bound_s=self.context.bound_s, coalesce=config.server_coalesce_queries)
        return self.run(name, test, self.batcher(config.max_batch_size, config.batch_timeout_ms / 1000))

    def search(self, first_qps: float) -> dict[str, Any]:
        """The highest VALID Server target (every point kept), then the overload point at twice it."""
        config = self.context.config
        # Below this rate a point could not gather the queries a p99 needs within 4x its duration: the search
        # stops there rather than spend minutes on one point.
        floor = SERVER_MIN_QUERIES / (4 * config.server_point_s)
        search = search_max_qps(lambda qps: self.server_point(qps, f"server_{qps:.0f}qps"),
                                SearchConfig(first_qps, config.search_tolerance, config.search_steps + 1,
                                             min_qps=floor))
        found = {**search.to_dict(), "floor_qps": floor}
        best = search.best
        overload = None
        if search.max_valid_qps:
            target = config.overload_factor * search.max_valid_qps
            overload = {**self.server_point(target, f"overload_{target:.0f}qps"), "target_qps": target}
            # A VALID overload point means the search stopped below the real maximum (a noisy point): said, kept.
            overload["note"] = "" if not overload["valid"] else (
                f"VALID at {config.overload_factor:g}x the found maximum: the search's maximum is below the real "
                "one (a point it tried was INVALID by noise, e.g. another process); rerun on a quiet machine")
        return {"search": found, "max_qps": search.max_valid_qps,
                "max_qps_p99_s": None if best is None else best["latency_s"]["p99_s"], "overload": overload}

    def accuracy(self, labels: torch.Tensor) -> dict[str, Any]:
        """AccuracyOnly over every validation sample; its predictions against the model's own."""
        config = self.context.config
        test = LoadGenTest("Offline", mode="AccuracyOnly", min_duration_s=0.0,
                           target_qps=float(self.context.samples), seed=self.context.job.workload.seed)
        figures = self.run("accuracy", test, self.batcher(config.max_batch_size, 0.0))
        own = _own_predictions(self.predictor, self.context.samples, config.max_batch_size)
        return accuracy_check(figures, own, labels.tolist())


def _own_predictions(predictor: Callable[[Sequence[int], int], list[int]], samples: int, batch: int) -> list[int]:
    """The model's own class for every validation sample: a plain loop of full batches, no batcher, no LoadGen."""
    predictions: list[int] = []
    for start in range(0, samples, batch):
        indices = list(range(start, min(samples, start + batch)))
        predictions += predictor(indices, len(indices))
    return predictions


def interference_windows(server: str, result: Any) -> dict[str, dict[str, Any]]:
    """Every kept LoadGen run's interference section in a server's result, by window (``"inprocess
    server_3046qps"``, from the run's log folder); attempts a remeasure replaced are left out, as the benchmark
    scenario leaves them out of its summary."""
    found: dict[str, dict[str, Any]] = {}
    if isinstance(result, dict):
        if isinstance(result.get("interference"), dict) and result.get("log_dir"):
            found[f"{server} {Path(result['log_dir']).name}"] = result["interference"]
        for key, value in result.items():
            if key != "remeasured":
                found.update(interference_windows(server, value))
    elif isinstance(result, list):
        for value in result:
            found.update(interference_windows(server, value))
    return found
