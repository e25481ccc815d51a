"""The benchmark scenario on one device: train, infer, overhead and profile, then derive the metrics.

The passes run in a fixed order: the timed ones first (training, batch-1 and batched inference,
the Lightning-vs-bare-PyTorch overhead), then the profiled ones, the matmul peak probe and the
numerical-parity check last, so that none of them can warm or heat what the timed passes measure.
A data-parallel job runs ``scenarios/dataparallel.py`` instead.

Each timed pass's window is probed for interference (other processes' CPU, stalls). What follows
from it is the job's ``on_interference``: flag (record and name it), remeasure (measure the window
again, at most ``outcome.REMEASURE_ATTEMPTS`` times, every attempt kept under ``remeasured``) or invalid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tweetbench.analysis.efficiency import efficiency_metrics, energy_metrics
from tweetbench.config import DeviceJob, StepOptions
from tweetbench.devices import DeviceBackend, file_stem
from tweetbench.harness.infer import InferenceRun, run_inference
from tweetbench.harness.memory import PeakRSS
from tweetbench.harness.interference import combine
from tweetbench.harness.overhead import OverheadRun, run_overhead
from tweetbench.harness.parity import run_parity
from tweetbench.harness.peak import PeakConfig, measure_peak
from tweetbench.harness.profiling import run_profiles
from tweetbench.harness.progress import ProgressEmitter
from tweetbench.harness.tracing import TraceConfig, run_traces
from tweetbench.harness.train import TrainingRun, run_training, synced_steps
from tweetbench.scenarios.metrics import (
    inference_metrics,
    offline_metrics,
    overhead_metrics,
    profile_breakdown,
    traced_passes,
    training_metrics,
)
from tweetbench.scenarios.outcome import Outcome, Phases, check_interference, check_timers, check_windows, measure
from tweetbench.workload.dataset import TweetData
from tweetbench.workload.flops import workload_flops
from tweetbench.workload.model import build_model
from tweetbench.workload.module import TweetClassifier

def _phase(name: str, attempt: int) -> str:
    return name if attempt == 1 else f"{name}-attempt{attempt}"


def run_benchmark(job: DeviceJob, backend: DeviceBackend, module: TweetClassifier, data: TweetData,
                  run_dir: Path, progress: ProgressEmitter) -> Outcome:
    """Every measured pass of the benchmark scenario, in order, on one device."""
    outcome = Outcome()
    phases = Phases(progress, outcome, backend)
    with PeakRSS() as rss:
        backend.reset_peak_memory()
        training = _train(job, backend, module, data, phases)
        device_memory = {"training": _phase_memory(backend)}
        _infer(job, backend, module, data, phases, training, device_memory)
        _overhead(job, backend, module, data, phases)
        if job.profile:
            _profile(job, backend, module, data, run_dir, phases)
            _trace(job, backend, module, data, run_dir, phases)
        _peak_and_parity(job, backend, data, phases, module.step_options)
        phases.stop()
        check_timers(outcome)
        check_interference(outcome, job.on_interference)
        totals = backend.counters()
        if totals:
            outcome.metrics["device_totals"] = totals
    outcome.metrics["memory"] = {
        "peak_rss_bytes": rss.peak,
        "kernel_max_rss_bytes": PeakRSS.kernel_peak_bytes(),
        # Training's peak; every measured phase's own peak (reset before it) is under device_phases.
        "device": device_memory["training"],
        "device_phases": device_memory,
    }
    return outcome


def _common(job: DeviceJob) -> dict[str, Any]:
    return dict(batch_size=job.workload.batch_size, seed=job.workload.seed)


def _train(job: DeviceJob, backend: DeviceBackend, module: TweetClassifier, data: TweetData,
           phases: Phases) -> TrainingRun:
    preset, outcome = job.preset, phases.outcome

    def attempt(n: int) -> TrainingRun:
        step = phases.start(_phase("train", n), preset.max_warmup_steps + preset.measured_steps
                            + synced_steps(preset.measured_steps)).step
        return run_training(module, backend, data.train, preset=preset, precision=job.workload.precision,
                            on_step=step, **_common(job))

    training, earlier = measure(job, attempt, lambda run: run.interference)
    outcome.metrics["training"] = training_metrics(training)
    if earlier:
        outcome.metrics["training"]["remeasured"] = [training_metrics(run) for run in earlier]
    outcome.metrics["device_counters"] = training.device_counters
    if training.first_non_finite_step is not None:
        outcome.status = "invalid"
        outcome.reason = f"training loss became NaN/Inf at step {training.first_non_finite_step}"
    return training


def _phase_memory(backend: DeviceBackend) -> dict[str, Any]:
    """The device's memory figures of the phase that just ended; then a new peak window for the next."""
    figures = backend.memory()
    backend.reset_peak_memory()
    return figures


def _infer(job: DeviceJob, backend: DeviceBackend, module: TweetClassifier, data: TweetData,
           phases: Phases, training: TrainingRun,
           memory: dict[str, dict[str, Any]]) -> None:
    """Batch-1 latency and batched throughput, then the energy and validity of every measured window."""
    wl, preset, outcome = job.workload, job.preset, phases.outcome

    def latency_attempt(n: int) -> InferenceRun:
        step = phases.start(_phase("infer-latency", n), preset.latency_warmup + preset.latency_requests).step
        return run_inference(module, backend, data.val, batch_size=1, warmup=preset.latency_warmup,
                             batches=preset.latency_requests, seed=wl.seed, precision=wl.precision, on_step=step)

    def offline_attempt(n: int) -> InferenceRun:
        step = phases.start(_phase("infer-offline", n), preset.offline_warmup_batches + preset.offline_batches
                            + synced_steps(preset.offline_batches)).step
        return run_inference(module, backend, data.val, batch_size=preset.offline_batch_size,
                             warmup=preset.offline_warmup_batches, batches=preset.offline_batches,
                             seed=wl.seed, precision=wl.precision, overlap=True, on_step=step)

    latency, earlier_latency = measure(job, latency_attempt, lambda run: run.interference)
    memory["inference_batch1"] = _phase_memory(backend)
    offline, earlier_offline = measure(job, offline_attempt, lambda run: run.interference)
    memory["inference_offline"] = _phase_memory(backend)
    outcome.metrics["inference"] = inference_metrics(latency, offline)
    _keep_attempts(outcome.metrics["inference"], earlier_latency, earlier_offline, offline)
    counters = training.device_counters
    outcome.metrics["energy"] = energy_metrics({
        "training": (counters, training.batch_size * len(training.step_seconds)),
        "inference_batch1": (latency.device_counters, len(latency.batch_seconds)),
        "inference_offline": (offline.device_counters, offline.batch_size * len(offline.batch_seconds)),
    })
    check_windows(outcome, backend, {"training": (counters, len(training.step_seconds)),
                                     "batch-1 inference": (latency.device_counters, len(latency.batch_seconds)),
                                     f"batch-{offline.batch_size} inference": (offline.device_counters,
                                                                               len(offline.batch_seconds))})


def _overhead(job: DeviceJob, backend: DeviceBackend, module: TweetClassifier, data: TweetData,
              phases: Phases) -> None:
    preset = job.preset
    total = preset.overhead_rounds * 2 * (preset.min_warmup_steps + preset.overhead_steps)

    def attempt(n: int) -> OverheadRun:
        step = phases.start(_phase("overhead", n), total).step
        return run_overhead(module, backend, data.train, preset=preset, precision=job.workload.precision,
                            on_step=step, **_common(job))

    overhead, earlier = measure(job, attempt, lambda run: combine(run.interference) if run.interference else None)
    phases.outcome.metrics["overhead"] = overhead_metrics(overhead, job.workload.precision)
    if earlier:
        phases.outcome.metrics["overhead"]["remeasured"] = [overhead_metrics(run, job.workload.precision)
                                                            for run in earlier]


def _keep_attempts(inference: dict[str, Any], latency: list[InferenceRun], offline: list[InferenceRun],
                   kept_offline: InferenceRun) -> None:
    """The earlier, interfered attempts of each inference window, kept beside the one reported."""
    if latency:
        inference["remeasured_batch1"] = [
            {key: value for key, value in inference_metrics(run, kept_offline).items() if key != "offline"}
            for run in latency]
    if offline:
        inference["offline"]["remeasured"] = [offline_metrics(run) for run in offline]


def _profile(job: DeviceJob, backend: DeviceBackend, module: TweetClassifier, data: TweetData, run_dir: Path,
             phases: Phases) -> None:
    """SimpleProfiler's and AdvancedProfiler's passes, each against the timed training pass's p50 step."""
    preset = job.preset
    step = phases.start("profile", preset.profile_steps + preset.advanced_profile_steps).step
    profiles = run_profiles(module, backend, data.train, run_dir / "profiles" / file_stem(job.device),
                            simple_steps=preset.profile_steps, advanced_steps=preset.advanced_profile_steps,
                            precision=job.workload.precision, skip=min(preset.min_warmup_steps, 5),
                            on_step=step, **_common(job))
    breakdown = profile_breakdown(profiles, phases.outcome.metrics["training"]["step_ms"]["p50"], run_dir)
    # False on XLA: no sync between the parts, so they are host-side (tracing) time.
    breakdown["parts_synced"] = backend.part_sync is not None
    phases.outcome.breakdown = breakdown


def _trace(job: DeviceJob, backend: DeviceBackend, module: TweetClassifier, data: TweetData, run_dir: Path,
           phases: Phases) -> None:
    """The PyTorchProfiler pass: operators and the device's timeline, beside the SimpleProfiler breakdown."""
    config, sizes = TraceConfig(), (1, job.preset.offline_batch_size)
    step = phases.start("trace", config.batches * (1 + len(sizes))).step
    traces = run_traces(module, backend, data.train, data.val, run_dir / "profiles" / file_stem(job.device),
                        predict_batch_sizes=sizes, precision=job.workload.precision, config=config, on_step=step,
                        **_common(job))
    metrics = phases.outcome.metrics
    offline = metrics["inference"]["offline"]
    unprofiled = {"training": metrics["training"]["step_ms"]["p50"],
                  "predict_b1": metrics["inference"]["latency_batch1_ms"]["p50"],
                  f"predict_b{offline['batch_size']}": offline["batch_ms"]["p50"]}
    breakdown = phases.outcome.breakdown
    if breakdown is not None:
        breakdown["operators"] = traced_passes(traces, unprofiled, run_dir)
        pytorch = (breakdown["operators"].get("training") or {}).get("profiler")
        if pytorch:
            breakdown.setdefault("profilers", {})["pytorch"] = pytorch


def _peak_and_parity(job: DeviceJob, backend: DeviceBackend, data: TweetData, phases: Phases,
                     options: StepOptions) -> None:
    wl, metrics = job.workload, phases.outcome.metrics
    # After every timed pass, so that its heat and clocks cannot touch them.
    phases.start("peak", 2)
    peaks = measure_peak(backend.torch_device, backend.synchronize, supports=lambda dtype: _peak_support(backend, dtype),
                         config=PeakConfig.for_budget(job.preset.peak_budget_s))
    metrics["efficiency"] = efficiency_metrics(
        workload_flops(wl, data.num_classes), {name: peak.to_dict() for name, peak in peaks.items()},
        wl.precision, train_samples_per_s=metrics["training"]["samples_per_s"],
        offline_samples_per_s=metrics["inference"]["offline"]["samples_per_s"],
        latency_p50_s=metrics["inference"]["latency_batch1_ms"]["p50"] / 1e3)
    # Last, so that it cannot warm anything the timed passes measure; the model is built afresh
    # from the workload's seed, so every device starts it from the same weights.
    phases.start("parity", job.preset.parity_steps)
    metrics["parity"] = run_parity(build_model(wl, data.num_classes), backend, data.train,
                                   steps=job.preset.parity_steps, lr=wl.lr, precision=wl.precision, options=options,
                                   **_common(job))


def _peak_support(backend: DeviceBackend, dtype: str) -> tuple[bool, str]:
    """Whether the matmul peak probe runs in ``dtype`` on this device, and if not, why."""
    problem = backend.peak_probe_problem()
    if problem:
        return False, problem
    return backend.supports_precision("bf16-mixed") if dtype == "bf16" else (True, "")
