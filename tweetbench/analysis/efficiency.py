"""Efficiency figures derived from what the harness measured: energy per sample, FLOP/s against the
measured matmul peak. (Timer agreement, device clock against host clock, is ``analysis/timers.py``.)

Pure functions of raw measurements, so that every derived figure is computed in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tweetbench.workload.flops import WorkloadFlops, percent_of

# The precision a workload trains in -> the matmul peak its FLOP/s is compared with.
REFERENCE_PEAK = {"32-true": "fp32", "bf16-mixed": "bf16", "16-mixed": "bf16"}


def energy_per_1k(window: Mapping[str, Any] | None, samples: int) -> dict[str, Any] | None:
    """One measured window's energy, with joules per 1,000 samples; None if the device reports no energy."""
    if not window:
        return None
    joules = window.get("joules")
    out = {key: window.get(key) for key in ("source", "scope", "joules", "window_s", "mean_power_w", "reason")}
    out["samples"] = samples
    out["j_per_1k"] = joules / samples * 1000 if joules is not None and samples > 0 else None
    if "counter_updates" in window:
        out["counter_updates"] = window["counter_updates"]
    return out


def energy_metrics(windows: Mapping[str, tuple[Mapping[str, Any], int]]) -> dict[str, Any]:
    """``{window name: energy_per_1k}`` for each window whose device counters carry an ``energy`` record.

    ``windows`` maps a name to (what ``end_measurement`` returned for it, samples processed in it).
    """
    out: dict[str, Any] = {}
    for name, (counters, samples) in windows.items():
        energy = energy_per_1k((counters or {}).get("energy"), samples)
        if energy is not None:
            out[name] = energy
    return out


def achieved(flops_per_sample: int, samples_per_s: float | None, peak: float | None) -> dict[str, Any]:
    rate = flops_per_sample * samples_per_s if samples_per_s else None
    return {"achieved_flops_per_s": rate, "pct_of_peak": percent_of(rate, peak)}


def efficiency_metrics(flops: WorkloadFlops, peaks: Mapping[str, Mapping[str, Any]], precision: str, *,
                       train_samples_per_s: float | None, offline_samples_per_s: float | None,
                       latency_p50_s: float | None) -> dict[str, Any]:
    """Achieved FLOP/s of training and inference, each as a percentage of the measured peak."""
    reference = REFERENCE_PEAK.get(precision, "fp32")
    peak = (peaks.get(reference) or {}).get("flops_per_s")
    out: dict[str, Any] = {
        "flops": flops.to_dict(),
        "peak": {name: dict(value) for name, value in peaks.items()},
        "reference_peak": reference,
        "reference_peak_flops_per_s": peak,
        "training": achieved(flops.training_per_sample, train_samples_per_s, peak),
        "inference_offline": achieved(flops.forward_per_sample, offline_samples_per_s, peak),
        "inference_batch1": achieved(flops.forward_per_sample, 1.0 / latency_p50_s if latency_p50_s else None,
                                     peak),
    }
    if peak is None:
        out["reason"] = (peaks.get(reference) or {}).get("reason") or f"no {reference} peak measured"
    return out
