"""The serve scenario on one device: the trained model served, and measured by MLPerf's LoadGen.

The model first trains for ``ServeConfig.train_steps`` steps (through Lightning, as the benchmark does), then
each system under test (``--server``: the in-process batcher, LitServe) runs LoadGen's scenarios in turn:
SingleStream (one query at a time: p50/p90/p99 and the early-stopping estimate), Offline (every sample at once:
samples/s at the batcher's maximum batch), MultiStream (queries of 8 samples), the Server search (Poisson
arrivals at a target QPS, bisected for the highest target LoadGen calls VALID at the p99 bound), an overload
point (twice that maximum, which must come out INVALID without a hang) and AccuracyOnly over the whole
validation split, whose predictions must equal the model's own. A sample of the performance runs' responses is
logged by LoadGen and checked against the accuracy run's (in the spirit of MLPerf's TEST01).

LoadGen's logs stay under ``<run>/loadgen/<device>/<server>/<run name>/``. The durations are seconds to minutes,
not MLPerf's 600 s: these are not MLPerf-compliant results.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tweetbench.analysis.qps_search import SearchConfig, search_max_qps
from tweetbench.config import SERVE_PRESETS, DeviceJob, ServeConfig
from tweetbench.devices import DeviceBackend, file_stem
from tweetbench.harness import coldstart
from tweetbench.harness.memory import PeakRSS
from tweetbench.harness.batcher import BatcherConfig, power_of_two_buckets
from tweetbench.harness.progress import ProgressEmitter
from tweetbench.harness.sut import InProcessSUT, LoadGenTest, Predictor, ServingUnavailable, loadgen, run_loadgen
from tweetbench.harness.trainer import make_trainer
from tweetbench.scenarios.outcome import Outcome, Phases
from tweetbench.scenarios.serve_checks import accuracy_check, audit_check, check_compiles
from tweetbench.workload.dataset import TweetData, make_loader
from tweetbench.workload.module import TweetClassifier

NOT_COMPLIANT = ("Not MLPerf-compliant: LoadGen's scenarios and rules, but runs of seconds to minutes instead of "
                 "600 s, and no audit beyond a TEST01-like response check.")
# LoadGen's early stopping needs at least this many queries to bound a p99 (its own message says so).
SERVER_MIN_QUERIES = 500
MULTI_STREAM_MIN_QUERIES = 662
# A run that ended before its minimum duration is run again asking LoadGen for this much more work.
OFFLINE_HEADROOM = 1.5
# The serving process's cold start: imports done, data loaded, model built, trained, its first response (batch 1),
# every batch size the runs use run once (on XLA: compiled), the first measured scenario done (steady state).
COLD_START_ORDER = ("imports", "data_loaded", "model_built", "trained", "first_response", "batch_sizes_compiled",
                    "steady_state")


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


def serve_config(job: DeviceJob) -> ServeConfig:
    return job.serve or SERVE_PRESETS.get(job.preset.name, ServeConfig())


def run_serve(job: DeviceJob, backend: DeviceBackend, module: TweetClassifier, data: TweetData, run_dir: Path,
              progress: ProgressEmitter) -> Outcome:
    """Train, then serve through each configured SUT; LoadGen missing is ``unavailable``, one line."""
    outcome = Outcome()
    config = serve_config(job)
    try:
        lg = loadgen()
    except ServingUnavailable as exc:
        outcome.status, outcome.reason = "unavailable", str(exc)
        return outcome
    phases = Phases(progress, outcome, backend)
    with PeakRSS() as rss:
        _serve(job, backend, module, data, run_dir, phases, config, lg)
    outcome.metrics["memory"] = {"peak_rss_bytes": rss.peak, "kernel_max_rss_bytes": PeakRSS.kernel_peak_bytes()}
    return outcome


def _serve(job: DeviceJob, backend: DeviceBackend, module: TweetClassifier, data: TweetData, run_dir: Path,
           phases: Phases, config: ServeConfig, lg: Any) -> None:
    outcome = phases.outcome
    _train(job, backend, module, data, phases, config)
    coldstart.mark("trained")
    model = module.model.to(backend.torch_device).eval()
    context = ServeContext(job, backend, config, data, run_dir / "loadgen" / file_stem(job.device), phases, run_dir)
    serving: dict[str, Any] = {"loadgen_version": lg.__version__ if hasattr(lg, "__version__") else None,
                               "latency_bound_s": context.bound_s, "config": config.to_dict(),
                               "compliance": NOT_COMPLIANT, "servers": {}}
    try:
        serving["servers"]["inprocess"] = serve_inprocess(context, model) if "inprocess" in config.servers else None
        if "litserve" in config.servers:
            from tweetbench.scenarios.serve_http import serve_litserve

            serving["servers"]["litserve"] = serve_litserve(context, module.model)
    except ServingUnavailable as exc:
        outcome.status, outcome.reason = "unavailable", str(exc)
    phases.stop()
    serving["servers"] = {name: value for name, value in serving["servers"].items() if value is not None}
    serving["loadgen_version"] = _version(serving) or serving["loadgen_version"]
    serving["ratio_inprocess_over_litserve"] = _ratio(serving["servers"])
    outcome.metrics["serving"] = serving
    _judge(outcome, serving)


def _train(job: DeviceJob, backend: DeviceBackend, module: TweetClassifier, data: TweetData, phases: Phases,
           config: ServeConfig) -> None:
    """A short Lightning fit, so that the served model is a trained one (its accuracy is recorded)."""
    phases.start("train", config.train_steps)
    wl = job.workload
    loader = backend.device_loader(make_loader(data.train, wl.batch_size, seed=wl.seed,
                                               total_batches=config.train_steps))
    make_trainer(backend, max_steps=config.train_steps, precision=wl.precision).fit(module, train_dataloaders=loader)


def _version(serving: dict[str, Any]) -> str | None:
    for server in serving["servers"].values():
        version = (server.get("single_stream") or {}).get("loadgen_version")
        if version:
            return str(version)
    return None


def _ratio(servers: dict[str, Any]) -> float | None:
    """Max Server QPS in-process over through LitServe: what the HTTP server costs."""
    ours = (servers.get("inprocess") or {}).get("max_qps")
    theirs = (servers.get("litserve") or {}).get("max_qps")
    return ours / theirs if ours and theirs else None


def _judge(outcome: Outcome, serving: dict[str, Any]) -> None:
    """Invalid where the served predictions differ from the model's own, or a measured window compiled."""
    if outcome.status != "ok":
        return
    for name, server in serving["servers"].items():
        for problem in server.get("problems") or []:
            outcome.status, outcome.reason = "invalid", f"{name}: {problem}"
            return


def grad_mode(backend: DeviceBackend) -> Callable[[], Any]:
    """Lightning's own predict mode on this device: inference_mode, no_grad on XLA (as its predict loop does)."""
    return torch.no_grad if "compile_count" in backend.counters() else torch.inference_mode


def batcher_buckets(backend: DeviceBackend, max_batch: int) -> tuple[int, ...] | None:
    """Fixed batch sizes on a device that compiles a graph per shape (it counts compiles), else None."""
    return power_of_two_buckets(max_batch) if "compile_count" in backend.counters() else None


def serve_inprocess(context: ServeContext, model: torch.nn.Module) -> dict[str, Any]:
    """Every LoadGen scenario against the in-process batcher on this device."""
    config, backend = context.config, context.backend
    buckets = batcher_buckets(backend, config.max_batch_size)
    predictor = Predictor(model, backend, context.data.val.tokens, grad_mode(backend))
    calibration = _warm_up(context, predictor, buckets)
    result: dict[str, Any] = {"calibration": calibration, "problems": []}
    runner = _Runner(context, "inprocess", predictor, buckets, result)
    result["single_stream"] = runner.single_stream(calibration["batch1_forward_p50_s"])
    coldstart.mark("steady_state")
    result["offline"] = runner.offline(calibration["max_batch_samples_per_s"])
    result["multi_stream"] = runner.multi_stream(calibration["multi_stream_batch_s"])
    search = runner.search(0.7 * (result["offline"]["samples_per_s"] or calibration["max_batch_samples_per_s"]))
    result.update(search)
    result["accuracy"] = runner.accuracy(context.data.val.labels)
    result["audit"] = audit_check(runner.audited, result["accuracy"]["predictions"])
    result["accuracy"].pop("predictions")
    result["problems"] += [p for p in (result["accuracy"]["problem"], result["audit"]["problem"]) if p]
    result["cold_start"] = coldstart.timeline(COLD_START_ORDER)
    return result


def _median_seconds(call: Callable[[], Any], sync: Callable[[], None], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        sync()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _warm_up(context: ServeContext, predictor: Predictor, buckets: Sequence[int] | None) -> dict[str, Any]:
    """Run every batch size the measured runs can use (on XLA: compile every bucket), then time a bare batch-1
    forward and a full batch, which set LoadGen's expected latency and QPS."""
    config, sync = context.config, context.backend.synchronize
    sizes = sorted(set(buckets or (1, config.multi_stream_samples, config.max_batch_size)))
    context.phases.start("serve-warmup", len(sizes))
    before = context.backend.counters()
    started = time.perf_counter()
    indices = list(range(min(context.samples, max(sizes))))
    for size in sizes:
        predictor(indices[:size] or [0], size)
        if size == sizes[0]:
            coldstart.mark("first_response")
    coldstart.mark("batch_sizes_compiled")
    after = context.backend.counters()
    full = min(config.max_batch_size, len(indices))
    batch_s = _median_seconds(lambda: predictor(indices[:full], full), sync, 10)
    return {
        "warmup_s": time.perf_counter() - started,
        "warmup_compiles": int(after.get("compile_count", 0)) - int(before.get("compile_count", 0)),
        "batch_sizes_warmed": sizes,
        "batch1_forward_p50_s": _median_seconds(lambda: predictor([0], 1), sync, 30),
        "max_batch_forward_s": batch_s,
        "max_batch_samples_per_s": full / batch_s,
        "multi_stream_batch_s": _median_seconds(lambda: predictor(indices[:config.multi_stream_samples],
                                                                  config.multi_stream_samples), sync, 10),
        "max_batch_share_of_bound": batch_s / context.bound_s,
    }


class _Runner:
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
        context = self.context
        context.phases.start(f"{self.server}-{name}", 1)
        context.backend.begin_measurement()
        figures = run_loadgen(test, self._make_sut(batcher), context.samples, context.log_dir(self.server, name))
        window = context.backend.end_measurement()
        logged = figures.pop("accuracy_log")
        if test.mode == "PerformanceOnly":
            self.audited.update(logged)
        else:
            figures["accuracy_log"] = logged
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
                          latency_bound_s=self.context.bound_s)
        return self.run(name, test, self.batcher(config.max_batch_size, config.batch_timeout_ms / 1000))

    def search(self, first_qps: float) -> dict[str, Any]:
        """The highest VALID Server target (every point kept), then the overload point at twice it."""
        config = self.context.config
        search = search_max_qps(lambda qps: self.server_point(qps, f"server_{qps:.0f}qps"),
                                SearchConfig(first_qps, config.search_tolerance, config.search_steps + 1))
        found = search.to_dict()
        best = max((p for p in search.points if p["valid"]), key=lambda p: p["target_qps"], default=None)
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
