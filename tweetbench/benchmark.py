"""The benchmark scenario on one device: train, infer, baseline and profile, then derive the metrics."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tweetbench.config import DeviceJob
from tweetbench.dataset import TweetData
from tweetbench.devices import DeviceBackend
from tweetbench.devices.base import diff_counters
from tweetbench.efficiency import efficiency_metrics, energy_metrics, timer_agreement
from tweetbench.flops import workload_flops
from tweetbench.harness.baseline import OverheadRun, run_overhead
from tweetbench.harness.infer import InferenceRun, run_inference
from tweetbench.harness.memory import PeakRSS
from tweetbench.harness.peak import PeakConfig, measure_peak
from tweetbench.harness.train import TrainingRun, run_training
from tweetbench.model import build_model
from tweetbench.module import TweetClassifier
from tweetbench.parity import run_parity
from tweetbench.profiling import ProfileResult, run_profiles
from tweetbench.progress import ProgressEmitter
from tweetbench.stats import Summary

OVERHEAD_TARGET = 0.95


@dataclass
class Outcome:
    """What the scenario measured, and whether the result is valid."""

    status: str = "ok"
    reason: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    breakdown: dict[str, Any] | None = None
    phases_s: dict[str, float] = field(default_factory=dict)
    # A data-parallel run's world, per-rank figures, communication and scaling (tweetbench.distributed).
    distributed: dict[str, Any] | None = None


def _ms(values: list[float]) -> dict[str, Any]:
    return Summary.from_samples([v * 1e3 for v in values]).to_dict()


def training_metrics(run: TrainingRun) -> dict[str, Any]:
    seconds = sum(run.step_seconds)
    finite = [loss for loss in run.losses if math.isfinite(loss)]
    return {
        "samples_per_s": run.batch_size * len(run.step_seconds) / seconds,
        "tokens_per_s": run.non_pad_tokens / seconds,
        "step_ms": _ms(run.step_seconds),
        "final_loss": run.losses[-1] if run.losses and math.isfinite(run.losses[-1]) else None,
        "first_loss": finite[0] if finite else None,
        "batch_size": run.batch_size,
        "time_to_first_step_s": run.time_to_first_step_s,
        "warmup_steps": len(run.warmup_seconds),
        "warmup_rule": run.warmup_rule,
        "warmup_capped": run.warmup_capped,
        "measured_steps": len(run.step_seconds),
        "measured_seconds": seconds,
        "non_finite_loss_step": run.first_non_finite_step,
        "raw_step_s": run.step_seconds,
        "raw_warmup_s": run.warmup_seconds,
        "raw_loss": [loss if math.isfinite(loss) else None for loss in run.losses],
        # The same steps by the device's own timer (CUDA events), where it has one.
        "device_timer": timer_agreement(run.device_timer, run.step_seconds, run.device_step_seconds),
    }


def inference_metrics(latency: InferenceRun, offline: InferenceRun) -> dict[str, Any]:
    return {
        "latency_batch1_ms": _ms(latency.batch_seconds),
        "latency_warmup_requests": len(latency.warmup_seconds),
        "raw_latency_s": latency.batch_seconds,
        "device_counters": latency.device_counters,
        "device_timer": timer_agreement(latency.device_timer, latency.batch_seconds, latency.device_batch_seconds),
        "offline": {
            "batch_size": offline.batch_size,
            "samples_per_s": offline.batch_size * len(offline.batch_seconds) / sum(offline.batch_seconds),
            "batch_ms": _ms(offline.batch_seconds),
            "warmup_batches": len(offline.warmup_seconds),
            "raw_batch_s": offline.batch_seconds,
            "device_counters": offline.device_counters,
            "device_timer": timer_agreement(offline.device_timer, offline.batch_seconds,
                                            offline.device_batch_seconds),
        },
    }


def overhead_metrics(run: OverheadRun) -> dict[str, Any]:
    lightning = [s for block in run.lightning_seconds for s in block]
    bare = [s for block in run.bare_seconds for s in block]
    return {
        "ratio": run.ratio,
        "target": OVERHEAD_TARGET,
        "meets_target": run.ratio >= OVERHEAD_TARGET,
        "round_ratios": run.round_ratios,
        "order": run.order,
        "method": "median bare step / median Lightning step, interleaved blocks, whole steps",
        "lightning_step_ms": _ms(lightning),
        "bare_step_ms": _ms(bare),
        "raw_lightning_s": run.lightning_seconds,
        "raw_bare_s": run.bare_seconds,
    }


def profile_breakdown(result: ProfileResult, unprofiled_p50_s: float, run_dir: Path) -> dict[str, Any]:
    profiled = statistics.median(result.profiled_step_seconds)
    breakdown = dict(result.breakdown)
    breakdown.update({
        "profiled_step_ms": profiled * 1e3,
        "unprofiled_step_ms": unprofiled_p50_s * 1e3,
        "profiler_overhead": profiled / unprofiled_p50_s - 1.0,
        "top_functions": result.top_functions,
        "prof_dir": str(Path(result.prof_dir).relative_to(run_dir)) if run_dir in Path(result.prof_dir).parents
        else result.prof_dir,
    })
    return breakdown


class _Phases:
    """Times each phase and, where the device keeps counters (XLA compiles), what it counted in it."""

    def __init__(self, progress: ProgressEmitter, outcome: Outcome, backend: DeviceBackend) -> None:
        self.progress, self.outcome, self.backend = progress, outcome, backend
        self._name, self._start = "", 0.0
        self._counters: dict[str, Any] = {}

    def start(self, name: str, total: int) -> ProgressEmitter:
        self.stop()
        self._name, self._start = name, time.perf_counter()
        self._counters = self.backend.counters()
        self.progress.start_phase(name, total)
        return self.progress

    def stop(self) -> None:
        if self._name:
            self.outcome.phases_s[self._name] = time.perf_counter() - self._start
            if self._counters:
                phases = self.outcome.metrics.setdefault("device_phases", {})
                phases[self._name] = diff_counters(self.backend.counters(), self._counters)
            self._name = ""


def _check_windows(outcome: Outcome, backend: DeviceBackend, windows: dict[str, dict[str, Any]]) -> None:
    """Mark the outcome invalid if the device rejects a measured window (e.g. an XLA compile inside it)."""
    for what, window in windows.items():
        problem = backend.check_measurement(window)
        if problem and outcome.status == "ok":
            outcome.status, outcome.reason = "invalid", f"{problem} of {what}"


def run_benchmark(job: DeviceJob, backend: DeviceBackend, module: TweetClassifier, data: TweetData,
                  run_dir: Path, progress: ProgressEmitter) -> Outcome | None:
    """Every measured pass of the benchmark scenario, in order, on one device.

    A data-parallel job runs ``distributed.run_distributed_benchmark`` instead (training and
    profiles under the strategy); there only rank 0 returns an outcome, the other ranks None.
    """
    if job.parallel is not None:
        from tweetbench.distributed import run_distributed_benchmark

        return run_distributed_benchmark(job, backend, module, data, progress)
    wl, preset, outcome = job.workload, job.preset, Outcome()
    phases = _Phases(progress, outcome, backend)
    common = dict(batch_size=wl.batch_size, seed=wl.seed)
    with PeakRSS() as rss:
        backend.reset_peak_memory()
        step = phases.start("train", preset.max_warmup_steps + preset.measured_steps).step
        training = run_training(module, backend, data.train, preset=preset, precision=wl.precision,
                                on_step=step, **common)
        outcome.metrics["training"] = training_metrics(training)
        outcome.metrics["device_counters"] = training.device_counters
        if training.first_non_finite_step is not None:
            outcome.status = "invalid"
            outcome.reason = f"training loss became NaN/Inf at step {training.first_non_finite_step}"
        step = phases.start("infer-latency", preset.latency_warmup + preset.latency_requests).step
        latency = run_inference(module, backend, data.val, batch_size=1, warmup=preset.latency_warmup,
                                batches=preset.latency_requests, seed=wl.seed, precision=wl.precision, on_step=step)
        step = phases.start("infer-offline", preset.offline_warmup_batches + preset.offline_batches).step
        offline = run_inference(module, backend, data.val, batch_size=preset.offline_batch_size,
                                warmup=preset.offline_warmup_batches, batches=preset.offline_batches,
                                seed=wl.seed, precision=wl.precision, on_step=step)
        outcome.metrics["inference"] = inference_metrics(latency, offline)
        outcome.metrics["energy"] = energy_metrics({
            "training": (training.device_counters, training.batch_size * len(training.step_seconds)),
            "inference_batch1": (latency.device_counters, len(latency.batch_seconds)),
            "inference_offline": (offline.device_counters, offline.batch_size * len(offline.batch_seconds)),
        })
        _check_windows(outcome, backend, {"training": training.device_counters,
                                          "batch-1 inference": latency.device_counters,
                                          f"batch-{offline.batch_size} inference": offline.device_counters})
        device_memory = backend.memory()
        overhead_total = preset.overhead_rounds * 2 * (preset.min_warmup_steps + preset.overhead_steps)
        step = phases.start("overhead", overhead_total).step
        overhead = run_overhead(module, backend, data.train, lr=wl.lr, preset=preset, on_step=step, **common)
        outcome.metrics["overhead"] = overhead_metrics(overhead)
        if job.profile:
            step = phases.start("profile", preset.profile_steps + preset.advanced_profile_steps).step
            profiles = run_profiles(module, backend, data.train, run_dir / "profiles" / job.device,
                                    simple_steps=preset.profile_steps, advanced_steps=preset.advanced_profile_steps,
                                    precision=wl.precision, skip=min(preset.min_warmup_steps, 5),
                                    on_step=step, **common)
            p50 = statistics.median(training.step_seconds)
            outcome.breakdown = profile_breakdown(profiles, p50, run_dir)
            # False on XLA: no sync between the parts, so they are host-side (tracing) time.
            outcome.breakdown["parts_synced"] = backend.part_sync is not None
        # After every timed pass, so that its heat and clocks cannot touch them.
        phases.start("peak", 2)
        peaks = measure_peak(backend.torch_device, backend.synchronize,
                             supports=lambda dtype: (False, backend.peak_probe_problem())
                             if backend.peak_probe_problem()
                             else backend.supports_precision("bf16-mixed") if dtype == "bf16"
                             else (True, ""), config=PeakConfig.for_budget(preset.peak_budget_s))
        outcome.metrics["efficiency"] = efficiency_metrics(
            workload_flops(wl, data.num_classes), {name: peak.to_dict() for name, peak in peaks.items()},
            wl.precision, train_samples_per_s=outcome.metrics["training"]["samples_per_s"],
            offline_samples_per_s=outcome.metrics["inference"]["offline"]["samples_per_s"],
            latency_p50_s=statistics.median(latency.batch_seconds))
        # Last, so that it cannot warm anything the timed passes measure; the model is built afresh
        # from the workload's seed, so every device starts it from the same weights.
        phases.start("parity", preset.parity_steps)
        outcome.metrics["parity"] = run_parity(build_model(wl, data.num_classes), backend, data.train,
                                               steps=preset.parity_steps, lr=wl.lr, precision=wl.precision,
                                               **common)
        phases.stop()
        totals = backend.counters()
        if totals:
            outcome.metrics["device_totals"] = totals
    outcome.metrics["memory"] = {
        "peak_rss_bytes": rss.peak,
        "kernel_max_rss_bytes": PeakRSS.kernel_peak_bytes(),
        "device": device_memory,
    }
    return outcome
