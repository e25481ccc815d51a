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

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from tweetbench.analysis.qps_search import best_point
from tweetbench.analysis.serve_gap import server_gap
from tweetbench.config import SERVE_PRESETS, DeviceJob, ServeConfig
from tweetbench.devices import DeviceBackend, file_stem
from tweetbench.harness import coldstart
from tweetbench.harness.memory import PeakRSS
from tweetbench.harness.progress import ProgressEmitter
from tweetbench.harness.sut import Predictor, ServingUnavailable, loadgen
from tweetbench.harness.trainer import make_trainer
from tweetbench.scenarios.outcome import Outcome, Phases, name_interference
from tweetbench.scenarios.serve_checks import audit_check
from tweetbench.scenarios.serve_http import serve_litserve
from tweetbench.scenarios.serve_runner import (
    NOT_COMPLIANT,
    LoadGenRunner,
    ServeContext,
    batcher_buckets,
    grad_mode,
    inprocess_threads,
    interference_windows,
    median_seconds,
    torch_threads,
)
from tweetbench.workload.dataset import TweetData, make_loader
from tweetbench.workload.module import TweetClassifier

# The serving process's cold start: imports done, data loaded, model built, trained, its first response (batch 1),
# every batch size the runs use run once (on XLA: compiled), the first measured scenario done (steady state).
COLD_START_ORDER = ("imports", "data_loaded", "model_built", "trained", "first_response", "batch_sizes_compiled",
                    "steady_state")


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
            inprocess = serving["servers"]["inprocess"] or {}
            serving["servers"]["litserve"] = serve_litserve(context, model, (inprocess.get("offline") or {}).get(
                "samples_per_s"))
    except ServingUnavailable as exc:
        outcome.status, outcome.reason = "unavailable", str(exc)
    phases.stop()
    serving["servers"] = {name: value for name, value in serving["servers"].items() if value is not None}
    serving["loadgen_version"] = _version(serving) or serving["loadgen_version"]
    serving["ratio_inprocess_over_litserve"] = _ratio(serving["servers"])
    outcome.metrics["serving"] = serving
    _judge(outcome, serving)
    name_interference(outcome, job.on_interference, {what: section for name, server in serving["servers"].items()
                                                      for what, section in interference_windows(name, server).items()})


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


def serve_inprocess(context: ServeContext, model: torch.nn.Module) -> dict[str, Any]:
    """Every LoadGen scenario against the in-process batcher on this device, with torch's threads leaving LoadGen
    a core (``inprocess_threads``)."""
    threads = inprocess_threads(context.job.threads)
    with torch_threads(threads):
        return {**_serve_inprocess(context, model), "torch_threads": threads}


def _serve_inprocess(context: ServeContext, model: torch.nn.Module) -> dict[str, Any]:
    config, backend = context.config, context.backend
    buckets = batcher_buckets(backend, config.max_batch_size)
    predictor = Predictor(model, backend, context.data.val.tokens, grad_mode(backend))
    calibration = _warm_up(context, predictor, buckets)
    result: dict[str, Any] = {"calibration": calibration, "problems": []}
    runner = LoadGenRunner(context, "inprocess", predictor, buckets, result)
    result["single_stream"] = runner.single_stream(calibration["batch1_forward_p50_s"])
    coldstart.mark("steady_state")
    result["offline"] = runner.offline(calibration["max_batch_samples_per_s"])
    result["multi_stream"] = runner.multi_stream(calibration["multi_stream_batch_s"])
    search = runner.search(0.7 * (result["offline"]["samples_per_s"] or calibration["max_batch_samples_per_s"]))
    result.update(search)
    result["server_gap"] = server_gap(result["offline"], best_point(search["search"]["points"]))
    result["accuracy"] = runner.accuracy(context.data.val.labels)
    result["audit"] = audit_check(runner.audited, result["accuracy"]["predictions"])
    result["accuracy"].pop("predictions")
    result["problems"] += [p for p in (result["accuracy"]["problem"], result["audit"]["problem"]) if p]
    result["cold_start"] = coldstart.timeline(COLD_START_ORDER)
    return result


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
    predictor.one(0)  # SingleStream's path too: on XLA its graph must be compiled before the measured runs
    coldstart.mark("batch_sizes_compiled")
    after = context.backend.counters()
    full = min(config.max_batch_size, len(indices))
    batch_s = median_seconds(lambda: predictor(indices[:full], full), sync, 10)
    return {
        "warmup_s": time.perf_counter() - started,
        "warmup_compiles": int(after.get("compile_count", 0)) - int(before.get("compile_count", 0)),
        "batch_sizes_warmed": sizes,
        "batch1_forward_p50_s": median_seconds(lambda: predictor([0], 1), sync, 30),
        "max_batch_forward_s": batch_s,
        "max_batch_samples_per_s": full / batch_s,
        "multi_stream_batch_s": median_seconds(lambda: predictor(indices[:config.multi_stream_samples],
                                                                  config.multi_stream_samples), sync, 10),
        "max_batch_share_of_bound": batch_s / context.bound_s,
    }


