"""The benchmark scenario's metrics, derived from what the timed passes measured (raw samples kept)."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from tweetbench.analysis.efficiency import timer_agreement
from tweetbench.analysis.stats import Summary
from tweetbench.harness.infer import InferenceRun
from tweetbench.harness.overhead import OverheadRun
from tweetbench.harness.profiling import ProfileResult
from tweetbench.harness.train import TrainingRun

OVERHEAD_TARGET = 0.95


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
